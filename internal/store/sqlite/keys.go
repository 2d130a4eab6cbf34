package sqlite

import (
	"context"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

const keyColumns = `id, algorithm, state, private_key, cert_der, created_at, not_after`

func keyArgs(k store.SigningKey) []any {
	return []any{k.ID, k.Algorithm, k.State, blob(k.PrivateKey), blob(k.CertDER), tm(k.CreatedAt), tm(k.NotAfter)}
}

func scanKey(sc scanner) (store.SigningKey, error) {
	var (
		k                store.SigningKey
		created, expires int64
	)
	if err := sc.Scan(&k.ID, &k.Algorithm, &k.State, &k.PrivateKey, &k.CertDER, &created, &expires); err != nil {
		return store.SigningKey{}, err
	}
	k.PrivateKey, k.CertDER = nilIfEmpty(k.PrivateKey), nilIfEmpty(k.CertDER)
	k.CreatedAt, k.NotAfter = fromTM(created), fromTM(expires)
	return k, nil
}

// CreateKey stores a new signing key; ErrConflict when its ID exists.
func (s *Store) CreateKey(ctx context.Context, k store.SigningKey) (err error) {
	defer s.observe(ctx, "CreateKey")(&err)
	_, err = s.w.ExecContext(ctx, `INSERT INTO signing_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`, keyArgs(k)...)
	return wrap("CreateKey", err)
}

// ListKeys returns every signing key, oldest first.
func (s *Store) ListKeys(ctx context.Context) (_ []store.SigningKey, err error) {
	defer s.observe(ctx, "ListKeys")(&err)
	rows, err := s.r.QueryContext(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("ListKeys", err)
	}
	return collect(rows, "ListKeys", scanKey)
}

// UpdateKey replaces the key with what fn returns, atomically. The key
// keeps its ID.
func (s *Store) UpdateKey(ctx context.Context, id string, fn func(store.SigningKey) (store.SigningKey, error)) (_ store.SigningKey, err error) {
	defer s.observe(ctx, "UpdateKey")(&err)
	var out store.SigningKey
	err = s.writeTx(ctx, "UpdateKey", func(tx *txn) error {
		old, err := scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM signing_keys WHERE id = ?`, id))
		if err != nil {
			return wrap("UpdateKey", err)
		}
		k, err := fn(old)
		if err != nil {
			return err
		}
		k.ID = id
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET algorithm = ?, state = ?, private_key = ?, cert_der = ?,
			created_at = ?, not_after = ? WHERE id = ?`, append(keyArgs(k)[1:], id)...); err != nil {
			return wrap("UpdateKey", err)
		}
		k.PrivateKey, k.CertDER = nilIfEmpty(k.PrivateKey), nilIfEmpty(k.CertDER)
		k.CreatedAt, k.NotAfter = norm(k.CreatedAt), norm(k.NotAfter)
		out = k
		return nil
	})
	if err != nil {
		return store.SigningKey{}, err
	}
	return out, nil
}

// DeleteKey deletes the key; ErrNotFound when it is missing.
func (s *Store) DeleteKey(ctx context.Context, id string) (err error) {
	defer s.observe(ctx, "DeleteKey")(&err)
	return s.execOne(ctx, "DeleteKey", `DELETE FROM signing_keys WHERE id = ?`, id)
}
