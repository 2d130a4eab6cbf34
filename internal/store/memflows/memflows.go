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
// Memory is bounded, and a flood of requests must not lock users out:
//   - MaxFlows flows and MaxBytes of flow data (with a per-flow allowance
//     for the map) in all.
//   - MaxPerUser flows per user: a new one beyond it ends that user's
//     oldest, so one signed-in account cannot fill the store.
//   - Past a bound, the store drops what has expired (by the latest time it
//     was given by GetFlow or GarbageCollect: the server's clock, at most
//     once a second), then evicts the oldest flows that name no user yet —
//     a browser at the first page, which anyone can open — until an eighth
//     of the room is free. A flow that names its user (the sign-in has
//     passed the password, or the reset has proved the account) is never
//     evicted for room. When evicting every anonymous flow would not make
//     room, nothing is evicted and CreateFlow refuses with
//     store.ErrCapacity.
//
// So a flood of anonymous requests can keep users who have not yet passed
// the first page from starting a sign-in while it lasts — that needs a
// network-level defence — but cannot stop a user mid-way or fill the store
// with flows no one can clear.
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
	MaxFlows   = 100_000
	MaxBytes   = 64 << 20
	MaxPerUser = 16
)

// overhead approximates one flow's memory beside its data: the map entry,
// the ID and the other fields.
const overhead = 256

// sweepEvery is the least server time between two sweeps for room.
const sweepEvery = time.Second

// Flows is a store.Flows in memory, safe for concurrent use.
type Flows struct {
	mu         sync.Mutex
	flows      map[string]store.Flow
	bytes      int                 // size of every flow held
	anon       []string            // IDs of flows created without a user, oldest first; may name flows gone or identified since
	anonFlows  int                 // flows held that name no user
	anonBytes  int                 // and their size
	byUser     map[string][]string // each user's flows, oldest first
	seen       time.Time           // the latest time the store was given
	lastSweep  time.Time
	maxFlows   int
	maxBytes   int
	maxPerUser int
	evicted    int64 // flows dropped for room or by the per-user bound
	refused    int64 // CreateFlow calls refused with ErrCapacity
}

// Stats is what a Flows holds and has had to drop, for metrics.
type Stats struct {
	Flows, Bytes     int
	Evicted, Refused int64
}

var _ store.Flows = (*Flows)(nil)

// New returns an empty Flows with the package's bounds.
func New() *Flows { return NewWithLimits(MaxFlows, MaxBytes, MaxPerUser) }

// NewWithLimits returns an empty Flows with the given bounds (tests use
// small ones).
func NewWithLimits(maxFlows, maxBytes, maxPerUser int) *Flows {
	return &Flows{flows: map[string]store.Flow{}, byUser: map[string][]string{}, maxFlows: maxFlows, maxBytes: maxBytes, maxPerUser: maxPerUser}
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
// store.ErrCapacity when the bounds leave no room (see the package comment).
func (m *Flows) CreateFlow(_ context.Context, f store.Flow) error {
	f = clean(f)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.flows[f.ID]; ok {
		return store.ErrConflict
	}
	n := size(f)
	if !m.room(1, n) && !m.makeRoom("", 1, n) {
		m.refused++
		return store.ErrCapacity
	}
	m.add(f)
	return nil
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
// does, and is itself never evicted for it.
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
	delta := size(f) - size(old)
	m.bytes += delta
	switch {
	case old.UserID == "" && f.UserID == "":
		m.anonBytes += delta // keeps its place among the anonymous
	case old.UserID == "":
		m.anonFlows--
		m.anonBytes -= size(old)
		m.linkUser(f) // the sign-in has its user now
	case f.UserID == "":
		m.unlinkUser(old)
		m.anonFlows++
		m.anonBytes += size(f)
		m.anon = append(m.anon, id)
	case f.UserID != old.UserID:
		m.unlinkUser(old)
		m.linkUser(f)
	}
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
	m.remove(f)
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

// add stores a new flow f and keeps the books; m.mu is held.
func (m *Flows) add(f store.Flow) {
	m.flows[f.ID] = f
	n := size(f)
	m.bytes += n
	if f.UserID == "" {
		m.anonFlows++
		m.anonBytes += n
		m.anon = append(m.anon, f.ID)
		return
	}
	m.linkUser(f)
}

// linkUser lists stored flow f under its user; beyond maxPerUser that
// user's oldest flow ends. m.mu is held.
func (m *Flows) linkUser(f store.Flow) {
	ids := append(m.byUser[f.UserID], f.ID)
	m.byUser[f.UserID] = ids
	for len(ids) > max(m.maxPerUser, 1) {
		m.remove(m.flows[ids[0]]) // shortens m.byUser[f.UserID]
		m.evicted++
		ids = m.byUser[f.UserID]
	}
}

func (m *Flows) unlinkUser(f store.Flow) {
	ids := slices.DeleteFunc(m.byUser[f.UserID], func(id string) bool { return id == f.ID })
	if len(ids) == 0 {
		delete(m.byUser, f.UserID)
	} else {
		m.byUser[f.UserID] = ids
	}
}

// remove drops f, which is stored, and keeps the books; m.mu is held. An
// anonymous flow's entry in m.anon stays until eviction or compaction
// skips it.
func (m *Flows) remove(f store.Flow) {
	delete(m.flows, f.ID)
	n := size(f)
	m.bytes -= n
	if f.UserID != "" {
		m.unlinkUser(f)
		return
	}
	m.anonFlows--
	m.anonBytes -= n
	if len(m.anon) > 2*m.anonFlows+1024 {
		m.anon = slices.DeleteFunc(m.anon, func(id string) bool { return !m.isAnon(id) })
	}
}

func (m *Flows) isAnon(id string) bool {
	f, ok := m.flows[id]
	return ok && f.UserID == ""
}

// room reports whether flows more flows of n more bytes fit; m.mu is held.
func (m *Flows) room(flows, n int) bool {
	return len(m.flows)+flows <= m.maxFlows && m.bytes+n <= m.maxBytes
}

// makeRoom frees room for flows more flows of n more bytes, never evicting
// keep, and reports whether there is room now; m.mu is held. It sweeps what
// has expired, then evicts the oldest anonymous flows toward an eighth of
// each bound free — or only as far as needed when that is out of reach, and
// not at all when even every anonymous flow would not do.
func (m *Flows) makeRoom(keep string, flows, n int) bool {
	if m.seen.Sub(m.lastSweep) >= sweepEvery {
		m.sweep(m.seen)
	}
	if m.room(flows, n) {
		return true
	}
	evFlows, evBytes := m.anonFlows, m.anonBytes
	if k, ok := m.flows[keep]; ok && k.UserID == "" {
		evFlows, evBytes = evFlows-1, evBytes-size(k)
	}
	fits := func(flows, n int) bool {
		return len(m.flows)-evFlows+flows <= m.maxFlows && m.bytes-evBytes+n <= m.maxBytes
	}
	if !fits(flows, n) {
		return false
	}
	wantFlows, wantBytes := flows+m.maxFlows/8, n+m.maxBytes/8
	if !fits(wantFlows, wantBytes) {
		wantFlows, wantBytes = flows, n
	}
	kept := m.anon[:0:0]
	for len(m.anon) > 0 && !m.room(wantFlows, wantBytes) {
		id := m.anon[0]
		m.anon = m.anon[1:]
		switch {
		case !m.isAnon(id):
		case id == keep:
			kept = append(kept, id)
		default:
			m.remove(m.flows[id])
			m.evicted++
		}
	}
	m.anon = append(kept, m.anon...)
	return m.room(flows, n)
}

// saw notes now as the latest time the store was given; m.mu is held.
func (m *Flows) saw(now time.Time) {
	if now.After(m.seen) {
		m.seen = now
	}
}

// sweep drops the flows expired at now; m.mu is held.
func (m *Flows) sweep(now time.Time) int64 {
	var n int64
	for _, f := range m.flows {
		if !f.ExpiresAt.After(now) {
			m.remove(f)
			n++
		}
	}
	m.lastSweep = now
	return n
}
