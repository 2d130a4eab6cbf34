package webauthn

import (
	"context"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// TestStore is the in-memory store the external tests use.
type TestStore interface {
	Store
	GetCredential(ctx context.Context, id string) (store.Credential, error)
	DeleteCredential(ctx context.Context, id string) error
}

// NewTestStore returns an empty in-memory store.
func NewTestStore() TestStore { return newMemStore() }
