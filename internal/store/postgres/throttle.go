package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

func scanCounter(sc scanner) (store.Counter, error) {
	var c store.Counter
	if err := sc.Scan(&c.Key, &c.Count, &c.WindowStart, &c.ExpiresAt); err != nil {
		return store.Counter{}, err
	}
	c.WindowStart, c.ExpiresAt = norm(c.WindowStart), norm(c.ExpiresAt)
	return c, nil
}

// IncrementCounter adds one to key's counter, or starts a new window of
// length window at now with count one when there is no live counter. It is
// a single statement, so concurrent increments all count.
func (s *Store) IncrementCounter(ctx context.Context, key string, now time.Time, window time.Duration) (_ store.Counter, err error) {
	defer s.observe(ctx, "IncrementCounter")(&err)
	if window <= 0 {
		return store.Counter{}, wrap("IncrementCounter", errors.New("window must be positive"))
	}
	c, err := scanCounter(s.pool.QueryRow(ctx, `INSERT INTO counters AS c (key, count, window_start, expires_at) VALUES ($1, 1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET
			count        = CASE WHEN c.expires_at <= excluded.window_start THEN 1 ELSE c.count + 1 END,
			window_start = CASE WHEN c.expires_at <= excluded.window_start THEN excluded.window_start ELSE c.window_start END,
			expires_at   = CASE WHEN c.expires_at <= excluded.window_start THEN excluded.expires_at ELSE c.expires_at END
		RETURNING key, count, window_start, expires_at`,
		key, now, now.Add(window)))
	return c, wrap("IncrementCounter", err)
}

// GetCounter returns key's live counter at now, or a zero Counter with Key
// set when there is none.
func (s *Store) GetCounter(ctx context.Context, key string, now time.Time) (_ store.Counter, err error) {
	defer s.observe(ctx, "GetCounter")(&err)
	c, err := scanCounter(s.pool.QueryRow(ctx,
		`SELECT key, count, window_start, expires_at FROM counters WHERE key = $1 AND expires_at > $2`, key, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Counter{Key: key}, nil
	}
	return c, wrap("GetCounter", err)
}

// ResetCounter deletes key's counter; a missing counter is no error.
func (s *Store) ResetCounter(ctx context.Context, key string) (err error) {
	defer s.observe(ctx, "ResetCounter")(&err)
	_, err = s.execCount(ctx, "ResetCounter", `DELETE FROM counters WHERE key = $1`, key)
	return err
}

// IncrementSlidingCounter adds one to key's counter and moves its end to
// now+window (never earlier), or starts a new window when there is no live
// counter. One statement, like IncrementCounter.
func (s *Store) IncrementSlidingCounter(ctx context.Context, key string, now time.Time, window time.Duration) (_ store.Counter, err error) {
	defer s.observe(ctx, "IncrementSlidingCounter")(&err)
	if window <= 0 {
		return store.Counter{}, wrap("IncrementSlidingCounter", errors.New("window must be positive"))
	}
	c, err := scanCounter(s.pool.QueryRow(ctx, `INSERT INTO counters AS c (key, count, window_start, expires_at) VALUES ($1, 1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET
			count        = CASE WHEN c.expires_at <= excluded.window_start THEN 1 ELSE c.count + 1 END,
			window_start = CASE WHEN c.expires_at <= excluded.window_start THEN excluded.window_start ELSE c.window_start END,
			expires_at   = CASE WHEN c.expires_at <= excluded.window_start THEN excluded.expires_at ELSE GREATEST(c.expires_at, excluded.expires_at) END
		RETURNING key, count, window_start, expires_at`,
		key, now, now.Add(window)))
	return c, wrap("IncrementSlidingCounter", err)
}

// DecrementCounter takes one from key's live counter, never below zero.
func (s *Store) DecrementCounter(ctx context.Context, key string, now time.Time) (_ store.Counter, err error) {
	defer s.observe(ctx, "DecrementCounter")(&err)
	c, err := scanCounter(s.pool.QueryRow(ctx, `UPDATE counters SET count = GREATEST(count - 1, 0)
		WHERE key = $1 AND expires_at > $2 RETURNING key, count, window_start, expires_at`, key, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Counter{Key: key}, nil
	}
	return c, wrap("DecrementCounter", err)
}
