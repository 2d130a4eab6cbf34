package sqlite

import (
	"context"
	"database/sql"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

//nolint:gosec // column names, not a credential
const credentialColumns = `id, user_id, type, name, lookup_key, secret, data, created_at, last_used_at`

func credentialArgs(c store.Credential) []any {
	return []any{c.ID, c.UserID, c.Type, c.Name, c.LookupKey, blob(c.Secret), blob(c.Data), tm(c.CreatedAt), tm(c.LastUsedAt)}
}

func scanCredential(sc scanner) (store.Credential, error) {
	var (
		c             store.Credential
		created, used int64
	)
	if err := sc.Scan(&c.ID, &c.UserID, &c.Type, &c.Name, &c.LookupKey, &c.Secret, &c.Data, &created, &used); err != nil {
		return store.Credential{}, err
	}
	c.Secret, c.Data = nilIfEmpty(c.Secret), nilIfEmpty(c.Data)
	c.CreatedAt, c.LastUsedAt = fromTM(created), fromTM(used)
	return c, nil
}

// CreateCredential stores a new credential; ErrConflict when its ID exists
// or its LookupKey is set and already held by a credential of its Type.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential) (err error) {
	defer s.observe(ctx, "CreateCredential")(&err)
	_, err = s.w.ExecContext(ctx, `INSERT INTO credentials (`+credentialColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, credentialArgs(c)...)
	return wrap("CreateCredential", err)
}

// GetCredential returns the credential; ErrNotFound when it is missing.
func (s *Store) GetCredential(ctx context.Context, id string) (_ store.Credential, err error) {
	defer s.observe(ctx, "GetCredential")(&err)
	c, err := scanCredential(s.r.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE id = ?`, id))
	return c, wrap("GetCredential", err)
}

// lookupQuery repeats the partial index's condition (lookup_key <> ”):
// without it SQLite cannot use the index and scans the table.
const lookupQuery = `SELECT ` + credentialColumns + ` FROM credentials WHERE type = ? AND lookup_key = ? AND lookup_key <> ''`

// GetCredentialByLookupKey returns the credential of type typ whose
// LookupKey is key; an empty key finds nothing.
func (s *Store) GetCredentialByLookupKey(ctx context.Context, typ, key string) (_ store.Credential, err error) {
	defer s.observe(ctx, "GetCredentialByLookupKey")(&err)
	if key == "" {
		return store.Credential{}, wrap("GetCredentialByLookupKey", sql.ErrNoRows)
	}
	c, err := scanCredential(s.r.QueryRowContext(ctx, lookupQuery, typ, key))
	return c, wrap("GetCredentialByLookupKey", err)
}

// ListCredentials returns the user's credentials, oldest first.
func (s *Store) ListCredentials(ctx context.Context, userID string) (_ []store.Credential, err error) {
	defer s.observe(ctx, "ListCredentials")(&err)
	rows, err := s.r.QueryContext(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE user_id = ? ORDER BY created_at, id`, userID)
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
	err = s.writeTx(ctx, "UpdateCredential", func(tx *txn) error {
		old, err := scanCredential(tx.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE id = ?`, id))
		if err != nil {
			return wrap("UpdateCredential", err)
		}
		c, err := fn(old)
		if err != nil {
			return err
		}
		c.ID = id
		if _, err := tx.ExecContext(ctx, `UPDATE credentials SET user_id = ?, type = ?, name = ?, lookup_key = ?, secret = ?,
			data = ?, created_at = ?, last_used_at = ? WHERE id = ?`, append(credentialArgs(c)[1:], id)...); err != nil {
			return wrap("UpdateCredential", err)
		}
		c.Secret, c.Data = nilIfEmpty(c.Secret), nilIfEmpty(c.Data)
		c.CreatedAt, c.LastUsedAt = norm(c.CreatedAt), norm(c.LastUsedAt)
		out = c
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
	return s.execOne(ctx, "DeleteCredential", `DELETE FROM credentials WHERE id = ?`, id)
}

// DeleteUserCredentials deletes the user's credentials of type typ (of
// every type when typ is empty) and returns how many it deleted.
func (s *Store) DeleteUserCredentials(ctx context.Context, userID, typ string) (_ int64, err error) {
	defer s.observe(ctx, "DeleteUserCredentials")(&err)
	if typ == "" {
		return s.execCount(ctx, "DeleteUserCredentials", `DELETE FROM credentials WHERE user_id = ?`, userID)
	}
	return s.execCount(ctx, "DeleteUserCredentials", `DELETE FROM credentials WHERE user_id = ? AND type = ?`, userID, typ)
}
