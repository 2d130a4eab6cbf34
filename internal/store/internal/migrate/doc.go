// Package migrate reads the versioned SQL migrations a store backend embeds
// and works out which of them a database still needs.
//
// It owns the file naming rule (NNNN_name.sql, versions 1, 2, 3, … without
// gaps) and the refusal to run against a schema newer than the binary. It
// must not talk to a database: each backend applies the SQL in its own
// dialect, inside its own transaction and lock.
package migrate
