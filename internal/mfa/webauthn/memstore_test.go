package webauthn

import (
	"context"
	"slices"
	"sync"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// memStore is a hand-written in-memory credential store that keeps the
// contract of store.Credentials (unique ID and (Type, LookupKey),
// ErrNotFound, atomic UpdateCredential, oldest first). The tests use it
// rather than SQLite so the fuzz binary stays small enough to fuzz fast;
// the SQLite store's own contract is proven by its conformance suite, and
// test/e2e runs this package against the real SQLite store.
type memStore struct {
	mu    sync.Mutex
	order []string
	creds map[string]store.Credential
}

func newMemStore() *memStore { return &memStore{creds: map[string]store.Credential{}} }

func (m *memStore) CreateCredential(_ context.Context, c store.Credential) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.creds {
		if o.ID == c.ID || (c.LookupKey != "" && o.Type == c.Type && o.LookupKey == c.LookupKey) {
			return store.ErrConflict
		}
	}
	m.creds[c.ID] = c
	m.order = append(m.order, c.ID)
	return nil
}

func (m *memStore) GetCredential(_ context.Context, id string) (store.Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[id]
	if !ok {
		return store.Credential{}, store.ErrNotFound
	}
	return c, nil
}

func (m *memStore) GetCredentialByLookupKey(_ context.Context, typ, key string) (store.Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.creds {
		if c.Type == typ && c.LookupKey == key {
			return c, nil
		}
	}
	return store.Credential{}, store.ErrNotFound
}

func (m *memStore) ListCredentials(_ context.Context, userID string) ([]store.Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Credential
	for _, id := range m.order {
		if c := m.creds[id]; c.UserID == userID {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *memStore) UpdateCredential(_ context.Context, id string, fn func(store.Credential) (store.Credential, error)) (store.Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[id]
	if !ok {
		return store.Credential{}, store.ErrNotFound
	}
	c, err := fn(c)
	if err != nil {
		return store.Credential{}, err
	}
	c.ID = id
	m.creds[id] = c
	return c, nil
}

func (m *memStore) DeleteCredential(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.creds[id]; !ok {
		return store.ErrNotFound
	}
	delete(m.creds, id)
	m.order = slices.DeleteFunc(m.order, func(s string) bool { return s == id })
	return nil
}
