package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

const sessionColumns = `id, user_id, login, methods, auth_time, mfa_time, created_at, last_seen_at, idle_expiry, expires_at, data`

func sessionArgs(s store.Session) []any {
	methods := s.Methods
	if methods == nil {
		methods = []string{} // pgx sends a nil slice as NULL
	}
	return []any{s.ID, s.UserID, s.Login, methods, s.AuthTime, s.MFATime, s.CreatedAt,
		s.LastSeenAt, s.IdleExpiry, s.ExpiresAt, blob(s.Data)}
}

func scanSession(sc scanner) (store.Session, error) {
	var s store.Session
	if err := sc.Scan(&s.ID, &s.UserID, &s.Login, &s.Methods, &s.AuthTime, &s.MFATime, &s.CreatedAt,
		&s.LastSeenAt, &s.IdleExpiry, &s.ExpiresAt, &s.Data); err != nil {
		return store.Session{}, err
	}
	return normSession(s), nil
}

// normSession returns s as it reads back after being stored.
func normSession(s store.Session) store.Session {
	s.Methods, s.Data = nilIfEmpty(s.Methods), nilIfEmpty(s.Data)
	s.AuthTime, s.MFATime, s.CreatedAt = norm(s.AuthTime), norm(s.MFATime), norm(s.CreatedAt)
	s.LastSeenAt, s.IdleExpiry, s.ExpiresAt = norm(s.LastSeenAt), norm(s.IdleExpiry), norm(s.ExpiresAt)
	return s
}

// CreateSession stores a new session; ErrConflict when its ID exists.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) (err error) {
	defer s.observe(ctx, "CreateSession")(&err)
	_, err = s.pool.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		sessionArgs(sess)...)
	return wrap("CreateSession", err)
}

// GetSession returns the session unless it is missing or has expired,
// absolutely or for idleness, at now.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (_ store.Session, err error) {
	defer s.observe(ctx, "GetSession")(&err)
	sess, err := scanSession(s.pool.QueryRow(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE id = $1 AND expires_at > $2 AND idle_expiry > $2`, id, now))
	return sess, wrap("GetSession", err)
}

// UpdateSession replaces the session with what fn returns, atomically. The
// session keeps its ID.
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(store.Session) (store.Session, error)) (_ store.Session, err error) {
	defer s.observe(ctx, "UpdateSession")(&err)
	var out store.Session
	err = s.tx(ctx, "UpdateSession", func(tx pgx.Tx) error {
		old, err := scanSession(tx.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return wrap("UpdateSession", err)
		}
		sess, err := fn(old)
		if err != nil {
			return err
		}
		sess.ID = id
		if _, err := tx.Exec(ctx, `UPDATE sessions SET user_id = $2, login = $3, methods = $4, auth_time = $5, mfa_time = $6,
			created_at = $7, last_seen_at = $8, idle_expiry = $9, expires_at = $10, data = $11 WHERE id = $1`,
			sessionArgs(sess)...); err != nil {
			return wrap("UpdateSession", err)
		}
		out = normSession(sess)
		return nil
	})
	if err != nil {
		return store.Session{}, err
	}
	return out, nil
}

// DeleteSession deletes the session; ErrNotFound when it is missing.
func (s *Store) DeleteSession(ctx context.Context, id string) (err error) {
	defer s.observe(ctx, "DeleteSession")(&err)
	return s.execOne(ctx, "DeleteSession", `DELETE FROM sessions WHERE id = $1`, id)
}

// ListUserSessions returns the user's live sessions at now, oldest first.
func (s *Store) ListUserSessions(ctx context.Context, userID string, now time.Time) (_ []store.Session, err error) {
	defer s.observe(ctx, "ListUserSessions")(&err)
	rows, err := s.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = $1 AND expires_at > $2 AND idle_expiry > $2 ORDER BY created_at, id`, userID, now)
	if err != nil {
		return nil, wrap("ListUserSessions", err)
	}
	return collect(rows, "ListUserSessions", scanSession)
}

// DeleteUserSessions deletes every session of the user, expired or not,
// and returns how many it deleted.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (_ int64, err error) {
	defer s.observe(ctx, "DeleteUserSessions")(&err)
	return s.execCount(ctx, "DeleteUserSessions", `DELETE FROM sessions WHERE user_id = $1`, userID)
}

// DeleteUserSessionsExcept deletes every session of the user but keep,
// expired or not, and returns how many it deleted.
func (s *Store) DeleteUserSessionsExcept(ctx context.Context, userID, keep string) (_ int64, err error) {
	defer s.observe(ctx, "DeleteUserSessionsExcept")(&err)
	return s.execCount(ctx, "DeleteUserSessionsExcept", `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, keep)
}
