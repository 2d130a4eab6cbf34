// Package memflows keeps in-progress flows — a sign-in between its pages, a
// password reset waiting for its code — in the process's memory: the Flows
// role of a store whose database belongs to one process (SQLite).
//
// Flows are short-lived (sessions.flow_timeout, 15 minutes by default),
// bound to one browser and of use only to the process that serves it, so
// writing each step to disk buys nothing but a restart's survival: a restart
// asks users who were between two pages to start that sign-in again. That is
// how Keycloak keeps its authentication sessions too. Sessions, factors,
// counters and the audit stay in the database.
//
// Expired flows go at each GarbageCollect (the server's periodic clean-up).
// Memory is bounded by MaxFlows flows and MaxBytes of flow data (with a
// per-flow allowance for the map). Past a bound, the store first drops what
// has expired by the latest time it was told of (a flow's CreatedAt,
// GetFlow's and GarbageCollect's now: the server's clock, not this
// package's), then evicts the oldest flows that have no user yet — a
// browser at the sign-in page, which anyone can open and which costs its
// user only a retyped name — until an eighth of the room is free. A flow
// whose user has passed the password is never evicted: when only those are
// left, CreateFlow refuses with store.ErrCapacity. So a flood of anonymous
// requests can send users still at the first page back to it, but cannot
// lock out a user who has signed in or stop one mid-way.
package memflows

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// The bounds: far above any organisation's sign-ins in 15 minutes. The
// byte bound counts each flow's data plus overhead bytes.
const (
	MaxFlows = 100_000
	MaxBytes = 64 << 20
)

// overhead approximates one flow's memory beside its data: the map entry,
// the ID and the other fields.
const overhead = 256

// Flows is a store.Flows in memory, safe for concurrent use.
type Flows struct {
	mu       sync.Mutex
	flows    map[string]store.Flow
	bytes    int       // data and overhead of every flow held
	seen     time.Time // the latest time the store was told of
	maxFlows int
	maxBytes int
	evicted  int64 // flows without a user dropped to make room
	refused  int64 // CreateFlow calls refused with ErrCapacity
}

// Stats is what a Flows holds and has had to drop, for metrics.
type Stats struct {
	Flows, Bytes     int
	Evicted, Refused int64
}

var _ store.Flows = (*Flows)(nil)

// New returns an empty Flows with the package's bounds.
func New() *Flows { return NewWithLimits(MaxFlows, MaxBytes) }

// NewWithLimits returns an empty Flows holding at most maxFlows flows and
// maxBytes of flow data (tests use small limits).
func NewWithLimits(maxFlows, maxBytes int) *Flows {
	return &Flows{flows: map[string]store.Flow{}, maxFlows: maxFlows, maxBytes: maxBytes}
}

func size(f store.Flow) int {
	return overhead + len(f.ID) + len(f.Kind) + len(f.UserID) + len(f.Step) + len(f.Data)
}

// clean is f as a database would hand it back: times in UTC to the
// microsecond, empty data as nil, and its own copy of the data so neither
// the caller nor the store can change the other's.
func clean(f store.Flow) store.Flow {
	f.CreatedAt, f.ExpiresAt = f.CreatedAt.Truncate(time.Microsecond).UTC(), f.ExpiresAt.Truncate(time.Microsecond).UTC()
	if len(f.Data) == 0 {
		f.Data = nil
	} else {
		f.Data = bytes.Clone(f.Data)
	}
	return f
}

// CreateFlow stores a new flow: store.ErrConflict when its ID exists,
// store.ErrCapacity when the bounds are reached and no flow can go (see the
// package comment).
func (m *Flows) CreateFlow(_ context.Context, f store.Flow) error {
	f = clean(f)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.flows[f.ID]; ok {
		return store.ErrConflict
	}
	m.saw(f.CreatedAt)
	n := size(f)
	if !m.room(1, n) {
		m.makeRoom("", 1, n)
		if !m.room(1, n) {
			m.refused++
			return store.ErrCapacity
		}
	}
	m.flows[f.ID] = f
	m.bytes += n
	return nil
}

// room reports whether flows more flows of n more bytes fit; m.mu is held.
func (m *Flows) room(flows, n int) bool {
	return len(m.flows)+flows <= m.maxFlows && m.bytes+n <= m.maxBytes
}

// makeRoom drops the expired flows and, if that leaves less than flows
// flows and n bytes plus an eighth of each bound free, the oldest flows
// without a user, never keep; m.mu is held. Freeing an eighth at once keeps
// a flood from paying for a scan on every create.
func (m *Flows) makeRoom(keep string, flows, n int) {
	if !m.seen.IsZero() {
		m.sweep(m.seen)
	}
	wantFlows, wantBytes := flows+m.maxFlows/8, n+m.maxBytes/8
	if m.room(wantFlows, wantBytes) {
		return
	}
	var anon []store.Flow
	for _, f := range m.flows {
		if f.UserID == "" && f.ID != keep {
			anon = append(anon, f)
		}
	}
	slices.SortFunc(anon, func(a, b store.Flow) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, f := range anon {
		if m.room(wantFlows, wantBytes) {
			return
		}
		delete(m.flows, f.ID)
		m.bytes -= size(f)
		m.evicted++
	}
}

// GetFlow returns the flow unless it is missing or has expired at now.
func (m *Flows) GetFlow(_ context.Context, id string, now time.Time) (store.Flow, error) {
	m.mu.Lock()
	f, ok := m.flows[id]
	m.saw(now)
	m.mu.Unlock()
	if !ok || !f.ExpiresAt.After(now) {
		return store.Flow{}, store.ErrNotFound
	}
	return clean(f), nil
}

// UpdateFlow replaces the flow with what fn returns, atomically (fn runs
// under the lock: it must not call back into the store). The flow keeps
// its ID. A flow that grows past the byte bound makes room as CreateFlow
// does; it is itself never evicted for it.
func (m *Flows) UpdateFlow(_ context.Context, id string, fn func(store.Flow) (store.Flow, error)) (store.Flow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.flows[id]
	if !ok {
		return store.Flow{}, store.ErrNotFound
	}
	f, err := fn(clean(old))
	if err != nil {
		return store.Flow{}, err
	}
	f.ID = id
	f = clean(f)
	m.flows[id] = f
	m.bytes += size(f) - size(old)
	if m.bytes > m.maxBytes { // a flow grows as it learns its user
		m.makeRoom(id, 0, 0)
	}
	return clean(f), nil
}

// DeleteFlow deletes the flow; store.ErrNotFound when it is missing.
func (m *Flows) DeleteFlow(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.flows[id]
	if !ok {
		return store.ErrNotFound
	}
	delete(m.flows, id)
	m.bytes -= size(f)
	return nil
}

// GarbageCollect drops the flows expired at now and returns how many.
func (m *Flows) GarbageCollect(now time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saw(now)
	return m.sweep(now)
}

// Stats reports what the store holds and has dropped.
func (m *Flows) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Flows: len(m.flows), Bytes: m.bytes, Evicted: m.evicted, Refused: m.refused}
}

// saw notes now as the latest time the store was told of; m.mu is held.
func (m *Flows) saw(now time.Time) {
	if now.After(m.seen) {
		m.seen = now
	}
}

// sweep drops the flows expired at now; m.mu is held.
func (m *Flows) sweep(now time.Time) int64 {
	var n int64
	for id, f := range m.flows {
		if !f.ExpiresAt.After(now) {
			delete(m.flows, id)
			m.bytes -= size(f)
			n++
		}
	}
	return n
}
