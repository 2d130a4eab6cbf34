package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

//nolint:gosec // column names, not a credential
const credentialColumns = `id, user_id, type, name, lookup_key, secret, data, created_at, last_used_at`

func credentialArgs(c store.Credential) []any {
	return []any{c.ID, c.UserID, c.Type, c.Name, c.LookupKey, blob(c.Secret), blob(c.Data), c.CreatedAt, c.LastUsedAt}
}

func scanCredential(sc scanner) (store.Credential, error) {
	var c store.Credential
	if err := sc.Scan(&c.ID, &c.UserID, &c.Type, &c.Name, &c.LookupKey, &c.Secret, &c.Data, &c.CreatedAt, &c.LastUsedAt); err != nil {
		return store.Credential{}, err
	}
	return normCredential(c), nil
}

func normCredential(c store.Credential) store.Credential {
	c.Secret, c.Data = nilIfEmpty(c.Secret), nilIfEmpty(c.Data)
	c.CreatedAt, c.LastUsedAt = norm(c.CreatedAt), norm(c.LastUsedAt)
	return c
}

// CreateCredential stores a new credential; ErrConflict when its ID exists
// or its LookupKey is set and already held by a credential of its Type.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential) (err error) {
	defer s.observe(ctx, "CreateCredential")(&err)
	_, err = s.pool.Exec(ctx, `INSERT INTO credentials (`+credentialColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		credentialArgs(c)...)
	return wrap("CreateCredential", err)
}

// GetCredential returns the credential; ErrNotFound when it is missing.
func (s *Store) GetCredential(ctx context.Context, id string) (_ store.Credential, err error) {
	defer s.observe(ctx, "GetCredential")(&err)
	c, err := scanCredential(s.pool.QueryRow(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE id = $1`, id))
	return c, wrap("GetCredential", err)
}

// GetCredentialByLookupKey returns the credential of type typ whose
// LookupKey is key; an empty key finds nothing.
func (s *Store) GetCredentialByLookupKey(ctx context.Context, typ, key string) (_ store.Credential, err error) {
	defer s.observe(ctx, "GetCredentialByLookupKey")(&err)
	if key == "" {
		return store.Credential{}, wrap("GetCredentialByLookupKey", pgx.ErrNoRows)
	}
	c, err := scanCredential(s.pool.QueryRow(ctx,
		`SELECT `+credentialColumns+` FROM credentials WHERE type = $1 AND lookup_key = $2 AND lookup_key <> ''`, typ, key))
	return c, wrap("GetCredentialByLookupKey", err)
}

// ListCredentials returns the user's credentials, oldest first.
func (s *Store) ListCredentials(ctx context.Context, userID string) (_ []store.Credential, err error) {
	defer s.observe(ctx, "ListCredentials")(&err)
	rows, err := s.pool.Query(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrap("ListCredentials", err)
	}
	return collect(rows, "ListCredentials", scanCredential)
}

// UpdateCredential replaces the credential with what fn returns,
// atomically; ErrConflict when the new LookupKey is taken. The credential
// keeps its ID.
func (s *Store) UpdateCredential(ctx context.Context, id string, fn func(store.Credential) (store.Credential, error)) (_ store.Credential, err error) {
	defer s.observe(ctx, "UpdateCredential")(&err)
	var out store.Credential
	err = s.tx(ctx, "UpdateCredential", func(tx pgx.Tx) error {
		old, err := scanCredential(tx.QueryRow(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return wrap("UpdateCredential", err)
		}
		c, err := fn(old)
		if err != nil {
			return err
		}
		c.ID = id
		if _, err := tx.Exec(ctx, `UPDATE credentials SET user_id = $2, type = $3, name = $4, lookup_key = $5, secret = $6,
			data = $7, created_at = $8, last_used_at = $9 WHERE id = $1`, credentialArgs(c)...); err != nil {
			return wrap("UpdateCredential", err)
		}
		out = normCredential(c)
		return nil
	})
	if err != nil {
		return store.Credential{}, err
	}
	return out, nil
}

// DeleteCredential deletes the credential; ErrNotFound when it is missing.
func (s *Store) DeleteCredential(ctx context.Context, id string) (err error) {
	defer s.observe(ctx, "DeleteCredential")(&err)
	return s.execOne(ctx, "DeleteCredential", `DELETE FROM credentials WHERE id = $1`, id)
}

// DeleteUserCredentials deletes the user's credentials of type typ (of
// every type when typ is empty) and returns how many it deleted.
func (s *Store) DeleteUserCredentials(ctx context.Context, userID, typ string) (_ int64, err error) {
	defer s.observe(ctx, "DeleteUserCredentials")(&err)
	return s.execCount(ctx, "DeleteUserCredentials",
		`DELETE FROM credentials WHERE user_id = $1 AND ($2 = '' OR type = $2)`, userID, typ)
}
