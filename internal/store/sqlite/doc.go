// Package sqlite keeps Gatehouse's store in one SQLite file, for a
// single-node deployment. It uses the pure-Go modernc.org/sqlite driver in
// WAL mode. In-progress flows are the exception: they live in the process's
// memory (memflows), since the database belongs to this one process.
//
// It owns the SQLite schema (embedded, versioned migrations applied by
// Open), the mapping of store records to rows, and the file's permissions
// (directory 0700, database 0600). It must not interpret record contents,
// read a clock for anything but Observer durations, or log record fields:
// session, flow and ticket IDs are bearer secrets, so they appear in no
// error or log line either.
//
// SQLite allows one writer at a time. Every write goes through a single
// connection that opens its transactions with BEGIN IMMEDIATE, so the
// read-modify-write of the Update methods cannot lose a concurrent update
// and no write ever fails with SQLITE_BUSY inside this process; reads use
// a separate pool and proceed in parallel. Update's fn runs while that
// connection is held: it may read from the store but must not write to it.
package sqlite
