package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// db is a *sql.DB whose Exec/Query methods reuse prepared statements:
// SQLite's parser and planner cost more than most of the store's queries,
// and every query text here is a constant, so the cache stays small.
type db struct {
	*sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	// later holds queries first seen inside a transaction: preparing them
	// then would wait for the writer's only connection, which the
	// transaction holds. They are prepared when it ends.
	later map[string]bool
}

func newDB(d *sql.DB) *db { return &db{DB: d, stmts: map[string]*sql.Stmt{}, later: map[string]bool{}} }

// cached returns the prepared statement for query if there is one, else
// notes the query to prepare later.
func (d *db) cached(query string) *sql.Stmt {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.stmts[query]
	if !ok {
		d.later[query] = true
	}
	return st
}

// prepareLater prepares the queries transactions used; call it with the
// connection free. A failure leaves the query unprepared.
func (d *db) prepareLater(ctx context.Context) {
	d.mu.Lock()
	qs := make([]string, 0, len(d.later))
	for q := range d.later {
		qs = append(qs, q)
	}
	clear(d.later)
	d.mu.Unlock()
	for _, q := range qs {
		_, _ = d.stmt(ctx, q)
	}
}

// stmt returns the prepared statement for query, preparing it once. The
// lock is not held while preparing: that waits for a connection, and the
// writer's only one may be in a transaction that needs the lock.
func (d *db) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	d.mu.Lock()
	st, ok := d.stmts[query]
	d.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := d.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if other, ok := d.stmts[query]; ok { // prepared meanwhile by another caller
		_ = st.Close()
		return other, nil
	}
	d.stmts[query] = st
	return st, nil
}

func (d *db) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := d.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (d *db) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := d.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext reports a failure to prepare through the Row's Scan,
// like sql.DB does.
func (d *db) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := d.stmt(ctx, query)
	if err != nil {
		return d.DB.QueryRowContext(ctx, query, args...) // fails again, inside the Row
	}
	return st.QueryRowContext(ctx, args...)
}

// Close closes the prepared statements, then the database.
func (d *db) Close() error {
	d.mu.Lock()
	for q, st := range d.stmts {
		_ = st.Close() // the database's Close error is the one to report
		delete(d.stmts, q)
	}
	d.mu.Unlock()
	return d.DB.Close()
}

// txn is a write transaction that uses the writer's prepared statements.
type txn struct {
	*sql.Tx
	w *db
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.w.cached(query); st != nil {
		return t.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.w.cached(query); st != nil {
		return t.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
