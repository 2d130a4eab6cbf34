// Package storetest is the conformance suite every store backend runs:
// Run checks each method of store.Store against the contract written in
// package store, RunConcurrency checks that concurrent updates lose nothing
// and single-use tickets are used once, and RunObserve checks that every
// method reports to the Observer.
//
// It owns the executable form of the store contract. It must not know about
// any backend: a backend's own tests supply an open function, and anything
// specific to one backend (files, schemas, migrations) is tested there.
//
// Every test makes its own IDs and keeps to its own time range, so open may
// hand out one shared database; only GarbageCollect and PruneAudit reach
// across records, and their tests use dates (1985, 1990) no other test uses.
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
//     events whose Time is before the cutoff, the cutoff itself excluded.
//   - IncrementCounter with a window that is not positive is an error.
//   - A ConsumeTicket that fails leaves the ticket as it was.
package storetest
