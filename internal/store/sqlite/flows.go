package sqlite

import (
	"context"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

const flowColumns = `id, kind, user_id, step, data, created_at, expires_at`

func flowArgs(f store.Flow) []any {
	return []any{f.ID, f.Kind, f.UserID, f.Step, blob(f.Data), tm(f.CreatedAt), tm(f.ExpiresAt)}
}

func scanFlow(sc scanner) (store.Flow, error) {
	var (
		f           store.Flow
		created, ex int64
	)
	if err := sc.Scan(&f.ID, &f.Kind, &f.UserID, &f.Step, &f.Data, &created, &ex); err != nil {
		return store.Flow{}, err
	}
	f.Data, f.CreatedAt, f.ExpiresAt = nilIfEmpty(f.Data), fromTM(created), fromTM(ex)
	return f, nil
}

// CreateFlow stores a new flow; ErrConflict when its ID exists.
func (s *Store) CreateFlow(ctx context.Context, f store.Flow) (err error) {
	defer s.observe(ctx, "CreateFlow")(&err)
	_, err = s.w.ExecContext(ctx, `INSERT INTO flows (`+flowColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`, flowArgs(f)...)
	return wrap("CreateFlow", err)
}

// GetFlow returns the flow unless it is missing or has expired at now.
func (s *Store) GetFlow(ctx context.Context, id string, now time.Time) (_ store.Flow, err error) {
	defer s.observe(ctx, "GetFlow")(&err)
	f, err := scanFlow(s.r.QueryRowContext(ctx, `SELECT `+flowColumns+` FROM flows WHERE id = ? AND expires_at > ?`, id, tm(now)))
	return f, wrap("GetFlow", err)
}

// UpdateFlow replaces the flow with what fn returns, atomically. The flow
// keeps its ID.
func (s *Store) UpdateFlow(ctx context.Context, id string, fn func(store.Flow) (store.Flow, error)) (_ store.Flow, err error) {
	defer s.observe(ctx, "UpdateFlow")(&err)
	var out store.Flow
	err = s.writeTx(ctx, "UpdateFlow", func(tx *txn) error {
		old, err := scanFlow(tx.QueryRowContext(ctx, `SELECT `+flowColumns+` FROM flows WHERE id = ?`, id))
		if err != nil {
			return wrap("UpdateFlow", err)
		}
		f, err := fn(old)
		if err != nil {
			return err
		}
		f.ID = id
		if _, err := tx.ExecContext(ctx, `UPDATE flows SET kind = ?, user_id = ?, step = ?, data = ?, created_at = ?, expires_at = ?
			WHERE id = ?`, append(flowArgs(f)[1:], id)...); err != nil {
			return wrap("UpdateFlow", err)
		}
		f.Data, f.CreatedAt, f.ExpiresAt = nilIfEmpty(f.Data), norm(f.CreatedAt), norm(f.ExpiresAt)
		out = f
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
	return s.execOne(ctx, "DeleteFlow", `DELETE FROM flows WHERE id = ?`, id)
}
