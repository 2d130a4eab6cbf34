package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// Store is a store.Store kept in a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	obs  store.Observer

	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database dsn names (a postgres:// URL or key=value
// string, as pgx accepts, including pool_max_conns and the like) and
// migrates its schema. It refuses a database
// whose schema is newer than this binary knows.
func Open(ctx context.Context, dsn string, opts store.Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password from the DSN it quotes only on a best
		// effort basis: quote nothing.
		var pce *pgconn.ParseConfigError
		if errors.As(err, &pce) && pce.Unwrap() != nil {
			return nil, fmt.Errorf("postgres: cannot parse the DSN (not shown): %w", pce.Unwrap())
		}
		return nil, errors.New("postgres: cannot parse the DSN (not shown)")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := applyMigrations(ctx, pool, log); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool, log: log, obs: opts.Observe}, nil
}

// Close closes the pool. Calling it again does nothing.
func (s *Store) Close() (err error) {
	defer s.observe(context.Background(), "Close")(&err)
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.observe(ctx, "Ping")(&err)
	return wrap("Ping", s.pool.Ping(ctx))
}

// GarbageCollect deletes the sessions, flows, counters, tickets and grants
// that have expired at now.
func (s *Store) GarbageCollect(ctx context.Context, now time.Time) (res store.GCResult, err error) {
	defer s.observe(ctx, "GarbageCollect")(&err)
	err = s.tx(ctx, "GarbageCollect", func(tx pgx.Tx) error {
		for _, d := range []struct {
			count *int64
			query string
		}{
			{&res.Sessions, `DELETE FROM sessions WHERE expires_at <= $1 OR idle_expiry <= $1`},
			{&res.Flows, `DELETE FROM flows WHERE expires_at <= $1`},
			{&res.Counters, `DELETE FROM counters WHERE expires_at <= $1`},
			{&res.Tickets, `DELETE FROM tickets WHERE expires_at <= $1`},
			{&res.Grants, `DELETE FROM grants WHERE expires_at <= $1`},
		} {
			tag, err := tx.Exec(ctx, d.query, now)
			if err != nil {
				return wrap("GarbageCollect", err)
			}
			*d.count = tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return store.GCResult{}, err
	}
	return res, nil
}

// observe starts timing op; the returned function reports it with the
// error the method returns.
func (s *Store) observe(ctx context.Context, op string) func(*error) { return s.obs.Start(ctx, op) }

// tx runs f in a transaction and commits it when f succeeds. f's error is
// returned as it is, so an Update's fn error comes back unchanged.
func (s *Store) tx(ctx context.Context, op string, f func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op; on failure f's error matters
	if err := f(tx); err != nil {
		return err
	}
	return wrap(op, tx.Commit(ctx))
}

// execOne runs a statement and returns ErrNotFound when it touched no row.
func (s *Store) execOne(ctx context.Context, op, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return wrap(op, pgx.ErrNoRows)
	}
	return nil
}

// execCount runs a statement and returns how many rows it touched.
func (s *Store) execCount(ctx context.Context, op, query string, args ...any) (int64, error) {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return 0, wrap(op, err)
	}
	return tag.RowsAffected(), nil
}

// wrap names op in err and maps "no rows" to store.ErrNotFound and unique
// violations to store.ErrConflict. Messages carry no record values:
// PgError's message leaves out the Detail that quotes the duplicate key.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == uniqueViolation {
		return fmt.Errorf("postgres: %s: %w (constraint %s)", op, store.ErrConflict, pe.ConstraintName)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

// norm returns t as it reads back after being stored: UTC, microseconds.
func norm(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// blob returns b for a NOT NULL bytea column: pgx sends nil as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nilIfEmpty is how slices read back: empty is nil.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// collect scans every row with scan; no rows gives nil.
func collect[T any](rows pgx.Rows, op string, scan func(scanner) (T, error)) ([]T, error) {
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
