// Package postgres keeps Gatehouse's store in PostgreSQL, for deployments
// with more than one node. It uses github.com/jackc/pgx/v5 with a
// connection pool.
//
// It owns the PostgreSQL schema (embedded, versioned migrations applied by
// Open under an advisory lock, so nodes starting together migrate once),
// and the mapping of store records to rows. It must not interpret record
// contents, read a clock for anything but Observer durations, or log
// record fields or the DSN's password: session, flow and ticket IDs are
// bearer secrets, so they appear in no error or log line either.
//
// Update methods read the row with SELECT … FOR UPDATE and write it back in
// the same transaction, so no concurrent update is lost; fn runs while the
// row is locked and must not write that record through the store.
// IncrementCounter is one INSERT … ON CONFLICT DO UPDATE and ConsumeTicket
// one DELETE … RETURNING, both atomic without a transaction. The store uses
// the schema the DSN's search_path names.
package postgres
