package sqlite

import (
	"context"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Flows live in the process's memory (memflows), not in the database: a
// SQLite store belongs to one process, and a flow is of use only to the
// process serving its browser. Migration 0002 dropped the flows table.
// The operations are still observed, as store operations.

// CreateFlow stores a new flow; ErrConflict when its ID exists,
// ErrCapacity when memflows' bounds are reached.
func (s *Store) CreateFlow(ctx context.Context, f store.Flow) (err error) {
	defer s.observe(ctx, "CreateFlow")(&err)
	return s.flows.CreateFlow(ctx, f)
}

// GetFlow returns the flow unless it is missing or has expired at now.
func (s *Store) GetFlow(ctx context.Context, id string, now time.Time) (_ store.Flow, err error) {
	defer s.observe(ctx, "GetFlow")(&err)
	return s.flows.GetFlow(ctx, id, now)
}

// UpdateFlow replaces the flow with what fn returns, atomically. The flow
// keeps its ID. fn must not call the store's flow methods.
func (s *Store) UpdateFlow(ctx context.Context, id string, fn func(store.Flow) (store.Flow, error)) (_ store.Flow, err error) {
	defer s.observe(ctx, "UpdateFlow")(&err)
	return s.flows.UpdateFlow(ctx, id, fn)
}

// DeleteFlow deletes the flow; ErrNotFound when it is missing.
func (s *Store) DeleteFlow(ctx context.Context, id string) (err error) {
	defer s.observe(ctx, "DeleteFlow")(&err)
	return s.flows.DeleteFlow(ctx, id)
}
