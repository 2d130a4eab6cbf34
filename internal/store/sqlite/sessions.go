package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

const sessionColumns = `id, user_id, login, methods, auth_time, mfa_time, created_at, last_seen_at, idle_expiry, expires_at, data`

func sessionArgs(s store.Session) ([]any, error) {
	methods := []byte("[]")
	if len(s.Methods) > 0 {
		var err error
		if methods, err = json.Marshal(s.Methods); err != nil {
			return nil, err
		}
	}
	return []any{s.ID, s.UserID, s.Login, string(methods), tm(s.AuthTime), tm(s.MFATime), tm(s.CreatedAt),
		tm(s.LastSeenAt), tm(s.IdleExpiry), tm(s.ExpiresAt), blob(s.Data)}, nil
}

func scanSession(sc scanner) (store.Session, error) {
	var (
		s                                  store.Session
		methods                            string
		auth, mfa, created, seen, idle, ex int64
	)
	if err := sc.Scan(&s.ID, &s.UserID, &s.Login, &methods, &auth, &mfa, &created, &seen, &idle, &ex, &s.Data); err != nil {
		return store.Session{}, err
	}
	if err := json.Unmarshal([]byte(methods), &s.Methods); err != nil {
		return store.Session{}, fmt.Errorf("decode methods: %w", err)
	}
	if len(s.Methods) == 0 {
		s.Methods = nil
	}
	s.AuthTime, s.MFATime, s.CreatedAt = fromTM(auth), fromTM(mfa), fromTM(created)
	s.LastSeenAt, s.IdleExpiry, s.ExpiresAt = fromTM(seen), fromTM(idle), fromTM(ex)
	s.Data = nilIfEmpty(s.Data)
	return s, nil
}

// normSession returns s as it reads back after being stored.
func normSession(s store.Session) store.Session {
	if len(s.Methods) == 0 {
		s.Methods = nil
	}
	s.AuthTime, s.MFATime, s.CreatedAt = norm(s.AuthTime), norm(s.MFATime), norm(s.CreatedAt)
	s.LastSeenAt, s.IdleExpiry, s.ExpiresAt = norm(s.LastSeenAt), norm(s.IdleExpiry), norm(s.ExpiresAt)
	s.Data = nilIfEmpty(s.Data)
	return s
}

// CreateSession stores a new session; ErrConflict when its ID exists.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) (err error) {
	defer s.observe(ctx, "CreateSession")(&err)
	args, err := sessionArgs(sess)
	if err != nil {
		return wrap("CreateSession", err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return wrap("CreateSession", err)
}

// GetSession returns the session unless it is missing or has expired,
// absolutely or for idleness, at now.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (_ store.Session, err error) {
	defer s.observe(ctx, "GetSession")(&err)
	n := tm(now)
	sess, err := scanSession(s.r.QueryRowContext(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE id = ? AND expires_at > ? AND idle_expiry > ?`, id, n, n))
	return sess, wrap("GetSession", err)
}

// UpdateSession replaces the session with what fn returns, atomically. The
// session keeps its ID.
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(store.Session) (store.Session, error)) (_ store.Session, err error) {
	defer s.observe(ctx, "UpdateSession")(&err)
	var out store.Session
	err = s.writeTx(ctx, "UpdateSession", func(tx *txn) error {
		old, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
		if err != nil {
			return wrap("UpdateSession", err)
		}
		sess, err := fn(old)
		if err != nil {
			return err
		}
		sess.ID = id
		args, err := sessionArgs(sess)
		if err != nil {
			return wrap("UpdateSession", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET user_id = ?, login = ?, methods = ?, auth_time = ?, mfa_time = ?,
			created_at = ?, last_seen_at = ?, idle_expiry = ?, expires_at = ?, data = ? WHERE id = ?`,
			append(args[1:], id)...); err != nil {
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
	return s.execOne(ctx, "DeleteSession", `DELETE FROM sessions WHERE id = ?`, id)
}

// ListUserSessions returns the user's live sessions at now, oldest first.
func (s *Store) ListUserSessions(ctx context.Context, userID string, now time.Time) (_ []store.Session, err error) {
	defer s.observe(ctx, "ListUserSessions")(&err)
	n := tm(now)
	rows, err := s.r.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = ? AND expires_at > ? AND idle_expiry > ? ORDER BY created_at, id`, userID, n, n)
	if err != nil {
		return nil, wrap("ListUserSessions", err)
	}
	return collect(rows, "ListUserSessions", scanSession)
}

// DeleteUserSessions deletes every session of the user, expired or not,
// and returns how many it deleted.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (_ int64, err error) {
	defer s.observe(ctx, "DeleteUserSessions")(&err)
	return s.execCount(ctx, "DeleteUserSessions", `DELETE FROM sessions WHERE user_id = ?`, userID)
}

// DeleteUserSessionsExcept deletes every session of the user but keep,
// expired or not, and returns how many it deleted.
func (s *Store) DeleteUserSessionsExcept(ctx context.Context, userID, keep string) (_ int64, err error) {
	defer s.observe(ctx, "DeleteUserSessionsExcept")(&err)
	return s.execCount(ctx, "DeleteUserSessionsExcept", `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, keep)
}
