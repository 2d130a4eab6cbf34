package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/memflows"
)

// busyTimeout is how long a statement waits for another process's write
// lock before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Store is a store.Store kept in one SQLite database file.
type Store struct {
	w   *db // one connection; every write goes through it, one at a time
	r   *db // read-only connections
	log *slog.Logger
	obs store.Observer
	// flows are in memory (flows.go).
	flows *memflows.Flows

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens the SQLite database at path, creating it and its parent
// directory when missing, and migrates its schema. It refuses a database
// whose schema is newer than this binary knows.
func Open(ctx context.Context, path string, opts store.Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := createFile(abs, log); err != nil {
		return nil, err
	}

	s := &Store{log: log, obs: opts.Observe, flows: memflows.New()}
	w, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s.w = newDB(w)
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	if err := s.w.PingContext(ctx); err != nil {
		_ = s.w.Close() // the open error is the one to report
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	if err := applyMigrations(ctx, s.w.DB, log); err != nil {
		_ = s.w.Close() // the migration error is the one to report
		return nil, err
	}

	r, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		_ = s.w.Close() // the open error is the one to report
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s.r = newDB(r)
	readers := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	if err := s.r.PingContext(ctx); err != nil {
		_ = s.Close() // the ping error is the one to report
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	return s, nil
}

// createFile makes sure the database file exists with mode 0600 (and its
// directory with 0700) before SQLite opens it; SQLite would otherwise create
// it with 0644 less the umask. Its -wal and -shm files copy the mode.
func createFile(path string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: create directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // the path is the operator's configuration
	if err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	fi, err := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("store: database file is accessible to other users; it holds session secrets",
			"path", path, "mode", fi.Mode().Perm().String())
	}
	return nil
}

// dsn returns the modernc.org/sqlite DSN for the writer or a reader.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	// NORMAL is durable in WAL mode except for the last commits before a
	// power cut; it spares an fsync per commit.
	q.Add("_pragma", "synchronous(NORMAL)")
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		// Take the write lock at BEGIN: a transaction that reads first and
		// upgrades later can fail with SQLITE_BUSY against another process
		// without waiting.
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
}

// Close closes the database. Calling it again does nothing.
func (s *Store) Close() (err error) {
	defer s.observe(context.Background(), "Close")(&err)
	s.closeOnce.Do(func() {
		var errs []error
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		errs = append(errs, s.w.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return s.closeErr
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.observe(ctx, "Ping")(&err)
	return wrap("Ping", s.r.PingContext(ctx))
}

// GarbageCollect deletes the sessions, flows, counters, tickets and grants
// that have expired at now.
func (s *Store) GarbageCollect(ctx context.Context, now time.Time) (res store.GCResult, err error) {
	defer s.observe(ctx, "GarbageCollect")(&err)
	n := tm(now)
	flows := s.flows.GarbageCollect(now) // whatever the database does
	err = s.writeTx(ctx, "GarbageCollect", func(tx *txn) error {
		for _, d := range []struct {
			count *int64
			query string
			args  []any
		}{
			{&res.Sessions, `DELETE FROM sessions WHERE expires_at <= ? OR idle_expiry <= ?`, []any{n, n}},
			{&res.Counters, `DELETE FROM counters WHERE expires_at <= ?`, []any{n}},
			{&res.Tickets, `DELETE FROM tickets WHERE expires_at <= ?`, []any{n}},
			{&res.Grants, `DELETE FROM grants WHERE expires_at <= ?`, []any{n}},
		} {
			r, err := tx.ExecContext(ctx, d.query, d.args...)
			if err != nil {
				return wrap("GarbageCollect", err)
			}
			if *d.count, err = r.RowsAffected(); err != nil {
				return wrap("GarbageCollect", err)
			}
		}
		return nil
	})
	if err != nil {
		return store.GCResult{}, err
	}
	res.Flows = flows
	return res, nil
}

// FlowStats reports the in-memory flows (memflows), for metrics.
func (s *Store) FlowStats() memflows.Stats { return s.flows.Stats() }

// observe starts timing op; the returned function reports it with the
// error the method returns.
func (s *Store) observe(ctx context.Context, op string) func(*error) { return s.obs.Start(ctx, op) }

// writeTx runs f in a write transaction and commits it when f succeeds.
// f's error is returned as it is, so an Update's fn error comes back
// unchanged.
func (s *Store) writeTx(ctx context.Context, op string, f func(*txn) error) error {
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer s.w.prepareLater(ctx) // runs after the Rollback below: the connection is free
	defer t.Rollback()          //nolint:errcheck // after Commit it is a no-op; on failure f's error matters
	if err := f(&txn{Tx: t, w: s.w}); err != nil {
		return err
	}
	return wrap(op, t.Commit())
}

// execOne runs a write statement and returns ErrNotFound when it touched no
// row.
func (s *Store) execOne(ctx context.Context, op, query string, args ...any) error {
	r, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return wrap(op, err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return wrap(op, sql.ErrNoRows)
	}
	return nil
}

// execCount runs a write statement and returns how many rows it touched.
func (s *Store) execCount(ctx context.Context, op, query string, args ...any) (int64, error) {
	r, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := r.RowsAffected()
	return n, wrap(op, err)
}

// wrap names op in err and maps "no rows" to store.ErrNotFound and
// uniqueness violations to store.ErrConflict. Messages carry no record
// values.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrConflict, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// tm is how a time is stored: Unix microseconds, which keeps the
// comparisons in SQL exact and the zero time representable.
func tm(t time.Time) int64 { return t.UnixMicro() }

// fromTM turns a stored time back into a time.Time in UTC.
func fromTM(v int64) time.Time { return time.UnixMicro(v).UTC() }

// norm returns t as it reads back after being stored.
func norm(t time.Time) time.Time { return fromTM(tm(t)) }

// blob returns b for a NOT NULL BLOB column: the driver binds nil as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nilIfEmpty is how byte slices read back: empty is nil.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// collect scans every row with scan; no rows gives nil.
func collect[T any](rows *sql.Rows, op string, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}
