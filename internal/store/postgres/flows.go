package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

const flowColumns = `id, kind, user_id, step, data, created_at, expires_at`

func flowArgs(f store.Flow) []any {
	return []any{f.ID, f.Kind, f.UserID, f.Step, blob(f.Data), f.CreatedAt, f.ExpiresAt}
}

func scanFlow(sc scanner) (store.Flow, error) {
	var f store.Flow
	if err := sc.Scan(&f.ID, &f.Kind, &f.UserID, &f.Step, &f.Data, &f.CreatedAt, &f.ExpiresAt); err != nil {
		return store.Flow{}, err
	}
	return normFlow(f), nil
}

func normFlow(f store.Flow) store.Flow {
	f.Data, f.CreatedAt, f.ExpiresAt = nilIfEmpty(f.Data), norm(f.CreatedAt), norm(f.ExpiresAt)
	return f
}

// CreateFlow stores a new flow; ErrConflict when its ID exists.
func (s *Store) CreateFlow(ctx context.Context, f store.Flow) (err error) {
	defer s.observe(ctx, "CreateFlow")(&err)
	_, err = s.pool.Exec(ctx, `INSERT INTO flows (`+flowColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`, flowArgs(f)...)
	return wrap("CreateFlow", err)
}

// GetFlow returns the flow unless it is missing or has expired at now.
func (s *Store) GetFlow(ctx context.Context, id string, now time.Time) (_ store.Flow, err error) {
	defer s.observe(ctx, "GetFlow")(&err)
	f, err := scanFlow(s.pool.QueryRow(ctx, `SELECT `+flowColumns+` FROM flows WHERE id = $1 AND expires_at > $2`, id, now))
	return f, wrap("GetFlow", err)
}

// UpdateFlow replaces the flow with what fn returns, atomically. The flow
// keeps its ID.
func (s *Store) UpdateFlow(ctx context.Context, id string, fn func(store.Flow) (store.Flow, error)) (_ store.Flow, err error) {
	defer s.observe(ctx, "UpdateFlow")(&err)
	var out store.Flow
	err = s.tx(ctx, "UpdateFlow", func(tx pgx.Tx) error {
		old, err := scanFlow(tx.QueryRow(ctx, `SELECT `+flowColumns+` FROM flows WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return wrap("UpdateFlow", err)
		}
		f, err := fn(old)
		if err != nil {
			return err
		}
		f.ID = id
		if _, err := tx.Exec(ctx, `UPDATE flows SET kind = $2, user_id = $3, step = $4, data = $5, created_at = $6, expires_at = $7
			WHERE id = $1`, flowArgs(f)...); err != nil {
			return wrap("UpdateFlow", err)
		}
		out = normFlow(f)
		return nil
	})
	if err != nil {
		return store.Flow{}, err
	}
	return out, nil
}

// DeleteFlow deletes the flow; ErrNotFound when it is missing.
func (s *Store) DeleteFlow(ctx context.Context, id string) (err error) {
	defer s.observe(ctx, "DeleteFlow")(&err)
	return s.execOne(ctx, "DeleteFlow", `DELETE FROM flows WHERE id = $1`, id)
}
