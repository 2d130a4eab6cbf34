// Package store defines Gatehouse's persistence: small role interfaces
// (Sessions, Flows, Credentials, Audit, Throttle, Tickets, Grants, Links)
// that each consumer depends on, the record types they move, and the
// sentinel errors ErrNotFound and ErrConflict.
//
// Implementations live in store/sqlite and store/postgres and both pass the
// conformance and concurrency suites in store/storetest. The store never
// encrypts or interprets secrets: callers seal them (internal/secrets) before
// handing them over, and Data fields are opaque bytes owned by the caller.
// The store never reads a clock: every time it needs comes from the caller.
//
// The audit trail is append-only and hash-chained (auditchain.go): each
// backend chains every event it appends to the one before, inside the
// append's transaction, so that package audit can verify the trail.
//
// Signing keys are not stored here: they come from files (internal/keys).
// The signing_keys table of the first migration is unused and stays, so
// that databases already migrated and new ones have the same schema.
package store
