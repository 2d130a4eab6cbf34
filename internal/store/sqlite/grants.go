package sqlite

import (
	"context"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

const grantColumns = `id, client_id, user_id, session_id, data, created_at, expires_at`

func grantArgs(g store.Grant) []any {
	return []any{g.ID, g.ClientID, g.UserID, g.SessionID, blob(g.Data), tm(g.CreatedAt), tm(g.ExpiresAt)}
}

func scanGrant(sc scanner) (store.Grant, error) {
	var (
		g           store.Grant
		created, ex int64
	)
	if err := sc.Scan(&g.ID, &g.ClientID, &g.UserID, &g.SessionID, &g.Data, &created, &ex); err != nil {
		return store.Grant{}, err
	}
	g.Data, g.CreatedAt, g.ExpiresAt = nilIfEmpty(g.Data), fromTM(created), fromTM(ex)
	return g, nil
}

// CreateGrant stores a new grant; ErrConflict when its ID exists.
func (s *Store) CreateGrant(ctx context.Context, g store.Grant) (err error) {
	defer s.observe(ctx, "CreateGrant")(&err)
	_, err = s.w.ExecContext(ctx, `INSERT INTO grants (`+grantColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`, grantArgs(g)...)
	return wrap("CreateGrant", err)
}

// GetGrant returns the grant unless it is missing or has expired at now.
func (s *Store) GetGrant(ctx context.Context, id string, now time.Time) (_ store.Grant, err error) {
	defer s.observe(ctx, "GetGrant")(&err)
	g, err := scanGrant(s.r.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = ? AND expires_at > ?`, id, tm(now)))
	return g, wrap("GetGrant", err)
}

// UpdateGrant replaces the grant with what fn returns, atomically (in the
// one write transaction SQLite runs at a time). The grant keeps its ID.
func (s *Store) UpdateGrant(ctx context.Context, id string, fn func(store.Grant) (store.Grant, error)) (_ store.Grant, err error) {
	defer s.observe(ctx, "UpdateGrant")(&err)
	var out store.Grant
	err = s.writeTx(ctx, "UpdateGrant", func(tx *txn) error {
		old, err := scanGrant(tx.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = ?`, id))
		if err != nil {
			return wrap("UpdateGrant", err)
		}
		g, err := fn(old)
		if err != nil {
			return err
		}
		g.ID = id
		if _, err := tx.ExecContext(ctx, `UPDATE grants SET client_id = ?, user_id = ?, session_id = ?, data = ?,
			created_at = ?, expires_at = ? WHERE id = ?`, append(grantArgs(g)[1:], id)...); err != nil {
			return wrap("UpdateGrant", err)
		}
		g.Data, g.CreatedAt, g.ExpiresAt = nilIfEmpty(g.Data), norm(g.CreatedAt), norm(g.ExpiresAt)
		out = g
		return nil
	})
	if err != nil {
		return store.Grant{}, err
	}
	return out, nil
}

// DeleteGrant deletes the grant; ErrNotFound when it is missing.
func (s *Store) DeleteGrant(ctx context.Context, id string) (err error) {
	defer s.observe(ctx, "DeleteGrant")(&err)
	return s.execOne(ctx, "DeleteGrant", `DELETE FROM grants WHERE id = ?`, id)
}

// ListUserGrants returns the user's grants live at now, oldest first.
func (s *Store) ListUserGrants(ctx context.Context, userID string, now time.Time) (_ []store.Grant, err error) {
	defer s.observe(ctx, "ListUserGrants")(&err)
	rows, err := s.r.QueryContext(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE user_id = ? AND expires_at > ? ORDER BY created_at, id`, userID, tm(now))
	if err != nil {
		return nil, wrap("ListUserGrants", err)
	}
	return collect(rows, "ListUserGrants", scanGrant)
}

// DeleteUserGrants deletes every grant of the user, expired or not, and
// returns how many it deleted.
func (s *Store) DeleteUserGrants(ctx context.Context, userID string) (_ int64, err error) {
	defer s.observe(ctx, "DeleteUserGrants")(&err)
	return s.execCount(ctx, "DeleteUserGrants", `DELETE FROM grants WHERE user_id = ?`, userID)
}
