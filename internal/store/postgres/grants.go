package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

const grantColumns = `id, client_id, user_id, session_id, data, created_at, expires_at`

func grantArgs(g store.Grant) []any {
	return []any{g.ID, g.ClientID, g.UserID, g.SessionID, blob(g.Data), g.CreatedAt, g.ExpiresAt}
}

func scanGrant(sc scanner) (store.Grant, error) {
	var g store.Grant
	if err := sc.Scan(&g.ID, &g.ClientID, &g.UserID, &g.SessionID, &g.Data, &g.CreatedAt, &g.ExpiresAt); err != nil {
		return store.Grant{}, err
	}
	return normGrant(g), nil
}

// normGrant returns g as it reads back after being stored.
func normGrant(g store.Grant) store.Grant {
	g.Data, g.CreatedAt, g.ExpiresAt = nilIfEmpty(g.Data), norm(g.CreatedAt), norm(g.ExpiresAt)
	return g
}

// CreateGrant stores a new grant; ErrConflict when its ID exists.
func (s *Store) CreateGrant(ctx context.Context, g store.Grant) (err error) {
	defer s.observe(ctx, "CreateGrant")(&err)
	_, err = s.pool.Exec(ctx, `INSERT INTO grants (`+grantColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`, grantArgs(g)...)
	return wrap("CreateGrant", err)
}

// GetGrant returns the grant unless it is missing or has expired at now.
func (s *Store) GetGrant(ctx context.Context, id string, now time.Time) (_ store.Grant, err error) {
	defer s.observe(ctx, "GetGrant")(&err)
	g, err := scanGrant(s.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = $1 AND expires_at > $2`, id, now))
	return g, wrap("GetGrant", err)
}

// UpdateGrant replaces the grant with what fn returns, atomically: the row
// is locked from read to write. The grant keeps its ID.
func (s *Store) UpdateGrant(ctx context.Context, id string, fn func(store.Grant) (store.Grant, error)) (_ store.Grant, err error) {
	defer s.observe(ctx, "UpdateGrant")(&err)
	var out store.Grant
	err = s.tx(ctx, "UpdateGrant", func(tx pgx.Tx) error {
		old, err := scanGrant(tx.QueryRow(ctx, `SELECT `+grantColumns+` FROM grants WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return wrap("UpdateGrant", err)
		}
		g, err := fn(old)
		if err != nil {
			return err
		}
		g.ID = id
		if _, err := tx.Exec(ctx, `UPDATE grants SET client_id = $2, user_id = $3, session_id = $4, data = $5,
			created_at = $6, expires_at = $7 WHERE id = $1`, grantArgs(g)...); err != nil {
			return wrap("UpdateGrant", err)
		}
		out = normGrant(g)
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
	return s.execOne(ctx, "DeleteGrant", `DELETE FROM grants WHERE id = $1`, id)
}

// ListUserGrants returns the user's grants live at now, oldest first.
func (s *Store) ListUserGrants(ctx context.Context, userID string, now time.Time) (_ []store.Grant, err error) {
	defer s.observe(ctx, "ListUserGrants")(&err)
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+` FROM grants
		WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at, id`, userID, now)
	if err != nil {
		return nil, wrap("ListUserGrants", err)
	}
	return collect(rows, "ListUserGrants", scanGrant)
}

// DeleteUserGrants deletes every grant of the user, expired or not, and
// returns how many it deleted.
func (s *Store) DeleteUserGrants(ctx context.Context, userID string) (_ int64, err error) {
	defer s.observe(ctx, "DeleteUserGrants")(&err)
	return s.execCount(ctx, "DeleteUserGrants", `DELETE FROM grants WHERE user_id = $1`, userID)
}
