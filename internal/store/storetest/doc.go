// Package storetest is the conformance suite every store backend runs:
// Run checks each method of store.Store against the contract written in
// package store, RunConcurrency checks that concurrent updates lose nothing,
// single-use tickets are used once and concurrent audit appends form one
// chain, RunObserve checks that every method reports to the Observer, and
// RunTamper checks that audit.Verify finds audit events changed with SQL.
//
// It owns the executable form of the store contract. It must not know about
// any backend: a backend's own tests supply an open function, and anything
// specific to one backend (files, schemas, migrations) is tested there.
//
// Every test makes its own IDs and keeps to its own time range, so open may
// hand out one shared database; only GarbageCollect and PruneAudit reach
// across records: the GarbageCollect test uses dates (1990) no other test
// uses, and the PruneAudit test prunes every other test's events and runs
// last among the audit tests.
//
// Where package store is silent, the suite pins these choices so that the
// backends agree:
//
//   - Times come back in UTC, truncated to the microsecond.
//   - An empty byte slice, string slice or result list comes back nil.
//   - Every Create returns ErrConflict on a duplicate key, and every Delete
//     by key returns ErrNotFound when nothing was there.
//   - An Update keeps the record's key whatever fn returns, works on expired
//     but uncollected records, returns the record as a Get would, and
//     returns ErrConflict when fn's change collides with another record.
//   - GetCredentialByLookupKey with an empty key finds nothing.
//   - ListUserSessions returns live sessions only; ListCredentials
//     returns oldest first (CreatedAt, then ID).
//   - QueryAudit orders by Time, then ID, newest first; PruneAudit removes
//     the events from the start of the chain up to the first whose Time is
//     at or after the cutoff.
//   - IncrementCounter with a window that is not positive is an error.
//   - A ConsumeTicket that fails leaves the ticket as it was.
package storetest
