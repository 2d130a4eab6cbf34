package memflows

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// The store contract (every method's semantics, expiry, atomic updates) is
// checked by storetest through the SQLite store, which keeps its flows
// here. These tests cover what is memflows' own: its bounds and its copies.

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func flow(id string, data int, expires time.Time) store.Flow {
	return store.Flow{ID: id, Kind: "signin", Step: "password", Data: []byte(strings.Repeat("x", data)), CreatedAt: t0, ExpiresAt: expires}
}

// identified is a flow past the password: it has its user.
func identified(id string, data int, expires time.Time) store.Flow {
	f := flow(id, data, expires)
	f.UserID, f.Step = "u-"+id, "mfa"
	return f
}

func TestExpiredFlowsMakeRoomAndFlowsWithAUserAreNeverEvicted(t *testing.T) {
	m := NewWithLimits(3, 1<<20, 16)
	ctx := t.Context()
	for i := range 3 {
		if err := m.CreateFlow(ctx, identified(fmt.Sprint(i), 10, t0.Add(time.Duration(i+1)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.CreateFlow(ctx, flow("3", 10, t0.Add(time.Hour))); !errors.Is(err, store.ErrCapacity) {
		t.Fatalf("a fourth flow with three users' flows in progress: %v, want ErrCapacity", err)
	}
	// The store learns the server's time from its reads: flow 0 has expired
	// by then and makes room; flows 1 and 2 are still in progress and stay.
	if _, err := m.GetFlow(ctx, "2", t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateFlow(ctx, flow("3", 10, t0.Add(time.Hour))); err != nil {
		t.Fatalf("a fourth flow after one expired: %v", err)
	}
	for _, id := range []string{"1", "2", "3"} {
		if _, err := m.GetFlow(ctx, id, t0.Add(90*time.Second)); err != nil {
			t.Errorf("flow %s in progress was dropped: %v", id, err)
		}
	}
	if got := m.Stats(); got.Flows != 3 || got.Evicted != 0 || got.Refused != 1 {
		t.Errorf("Stats = %+v, want 3 flows, none evicted, 1 refused", got)
	}
}

func TestAFloodEvictsTheOldestFlowsWithoutAUserOnly(t *testing.T) {
	m := NewWithLimits(16, 1<<20, 16)
	ctx := t.Context()
	for i := range 8 {
		if err := m.CreateFlow(ctx, identified(fmt.Sprintf("user%d", i), 10, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	// A flood of sign-in pages: the oldest anonymous flows make room for the
	// newest, the users' flows stay.
	for i := range 100 {
		f := flow(fmt.Sprintf("anon%03d", i), 10, t0.Add(time.Hour))
		f.CreatedAt = t0.Add(time.Duration(i) * time.Second)
		if err := m.CreateFlow(ctx, f); err != nil {
			t.Fatalf("anonymous flow %d: %v", i, err)
		}
	}
	for i := range 8 {
		if _, err := m.GetFlow(ctx, fmt.Sprintf("user%d", i), t0); err != nil {
			t.Errorf("user %d's flow was evicted: %v", i, err)
		}
	}
	if _, err := m.GetFlow(ctx, "anon099", t0); err != nil {
		t.Errorf("the newest flow is gone: %v", err)
	}
	if _, err := m.GetFlow(ctx, "anon000", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the oldest anonymous flow is still held: %v", err)
	}
	st := m.Stats()
	if st.Flows > 16 || st.Evicted == 0 || st.Evicted+int64(st.Flows) != 108 || st.Refused != 0 {
		t.Errorf("Stats = %+v: want at most 16 held, the rest of 108 evicted, none refused", st)
	}
}

func TestFlowDataIsBoundedInBytesAndAccountedThroughUpdatesAndDeletes(t *testing.T) {
	one := overhead + 1000 + len("a") + len("signin") + len("mfa") + len("u-a")
	m := NewWithLimits(100, 3*one, 16)
	ctx := t.Context()
	for _, id := range []string{"a", "b", "c"} {
		if err := m.CreateFlow(ctx, identified(id, 1000, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.CreateFlow(ctx, identified("d", 1, t0.Add(time.Hour))); !errors.Is(err, store.ErrCapacity) {
		t.Fatalf("a flow beyond the byte bound: %v, want ErrCapacity", err)
	}
	// Shrinking one flow's data makes room; deleting one makes room again.
	if _, err := m.UpdateFlow(ctx, "a", func(f store.Flow) (store.Flow, error) { f.Data = []byte("y"); return f, nil }); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateFlow(ctx, identified("d", 600, t0.Add(time.Hour))); err != nil { // 256 + 613 bytes of the 999 freed
		t.Fatalf("after an update freed 999 bytes: %v", err)
	}
	if err := m.CreateFlow(ctx, identified("e", 1000, t0.Add(time.Hour))); !errors.Is(err, store.ErrCapacity) {
		t.Fatalf("beyond the byte bound again: %v, want ErrCapacity", err)
	}
	if err := m.DeleteFlow(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := m.CreateFlow(ctx, identified("e", 1000, t0.Add(time.Hour))); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	if got := m.GarbageCollect(t0.Add(2 * time.Hour)); got != 4 {
		t.Errorf("GarbageCollect removed %d, want 4", got)
	}
	if st := m.Stats(); st.Bytes != 0 || st.Flows != 0 {
		t.Errorf("after collecting everything: %+v", st)
	}
}

func TestAFlowThatGrowsPastTheBoundEvictsOtherAnonymousFlowsNotItself(t *testing.T) {
	m := NewWithLimits(100, 8<<10, 16)
	ctx := t.Context()
	for i := range 10 {
		if err := m.CreateFlow(ctx, flow(fmt.Sprint(i), 300, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	// Flow 0, the oldest and still anonymous, grows by 4 kB: the store goes
	// over its byte bound and the other anonymous flows make room.
	if _, err := m.UpdateFlow(ctx, "0", func(f store.Flow) (store.Flow, error) {
		f.Data = []byte(strings.Repeat("y", 4<<10))
		return f, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetFlow(ctx, "0", t0); err != nil {
		t.Fatalf("the growing flow was evicted: %v", err)
	}
	if _, err := m.GetFlow(ctx, "1", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the oldest other anonymous flow is still held: %v", err)
	}
	if st := m.Stats(); st.Bytes > 8<<10 || st.Evicted == 0 {
		t.Errorf("Stats = %+v: want the bound kept by evicting anonymous flows", st)
	}
}

func TestAFlowThatLearnsItsUserIsNoLongerEvictable(t *testing.T) {
	m := NewWithLimits(8, 1<<20, 16)
	ctx := t.Context()
	if err := m.CreateFlow(ctx, flow("reset", 10, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := m.UpdateFlow(ctx, "reset", func(f store.Flow) (store.Flow, error) { f.UserID = "u"; return f, nil }); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := m.CreateFlow(ctx, flow(fmt.Sprint(i), 10, t0.Add(time.Hour))); err != nil {
			t.Fatalf("anonymous flow %d: %v", i, err)
		}
	}
	if _, err := m.GetFlow(ctx, "reset", t0); err != nil {
		t.Errorf("a flow that named its user was evicted: %v", err)
	}
}

func TestOneUserHoldsAtMostMaxPerUserFlows(t *testing.T) {
	m := NewWithLimits(1000, 1<<20, 4)
	ctx := t.Context()
	other := identified("other", 10, t0.Add(time.Hour))
	if err := m.CreateFlow(ctx, other); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		f := flow(fmt.Sprint(i), 10, t0.Add(time.Hour))
		f.UserID = "mallory"
		if err := m.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		_, err := m.GetFlow(ctx, fmt.Sprint(i), t0)
		if (i >= 6) != (err == nil) {
			t.Errorf("mallory's flow %d: %v (want only the newest 4 held)", i, err)
		}
	}
	if _, err := m.GetFlow(ctx, "other", t0); err != nil {
		t.Errorf("another user's flow went: %v", err)
	}
	if st := m.Stats(); st.Flows != 5 || st.Evicted != 6 {
		t.Errorf("Stats = %+v, want 5 held, 6 evicted", st)
	}
}

func TestEvictionTakesOnlyWhatItNeedsAndNothingWhenThatCannotDo(t *testing.T) {
	ctx := t.Context()
	fill := func(m *Flows, anon, users int) {
		t.Helper()
		for i := range anon {
			f := flow(fmt.Sprintf("anon%d", i), 10, t0.Add(time.Hour))
			f.CreatedAt = t0.Add(time.Duration(i) * time.Second)
			if err := m.CreateFlow(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		for i := range users {
			if err := m.CreateFlow(ctx, identified(fmt.Sprintf("user%d", i), 10, t0.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Room for an eighth more is within reach: the 3 oldest of 8 go.
	m := NewWithLimits(16, 1<<20, 16)
	fill(m, 8, 8)
	if err := m.CreateFlow(ctx, flow("new", 10, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Evicted != 3 || st.Flows != 14 {
		t.Errorf("with 8 anonymous flows: Stats = %+v, want 3 evicted, 14 held", st)
	}
	// It is not: only the one needed goes.
	m = NewWithLimits(16, 1<<20, 16)
	fill(m, 2, 14)
	if err := m.CreateFlow(ctx, flow("new", 10, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetFlow(ctx, "anon1", t0); err != nil || m.Stats().Evicted != 1 {
		t.Errorf("with 2 anonymous flows: %d evicted, anon1: %v; want only anon0 evicted", m.Stats().Evicted, err)
	}
	// Even all of them would not make room for a large flow: none goes.
	m = NewWithLimits(100, 3000, 16)
	fill(m, 2, 3)
	if err := m.CreateFlow(ctx, identified("big", 2000, t0.Add(time.Hour))); !errors.Is(err, store.ErrCapacity) {
		t.Fatalf("a flow that cannot fit: %v, want ErrCapacity", err)
	}
	if st := m.Stats(); st.Evicted != 0 || st.Flows != 5 {
		t.Errorf("after a refusal: Stats = %+v, want nothing evicted", st)
	}
}

func TestCallersAndTheStoreDoNotShareData(t *testing.T) {
	m := New()
	ctx := t.Context()
	f := flow("a", 0, t0.Add(time.Hour))
	f.Data = []byte("one")
	if err := m.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Data[0] = 'X' // the caller's slice after the create
	got, err := m.GetFlow(ctx, "a", t0)
	if err != nil {
		t.Fatal(err)
	}
	got.Data[1] = 'X' // a reader's slice
	upd, err := m.UpdateFlow(ctx, "a", func(old store.Flow) (store.Flow, error) {
		if string(old.Data) != "one" {
			t.Errorf("fn got %q", old.Data)
		}
		old.Data[2] = 'X' // fn's argument
		return old, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	upd.Data[0] = 'Y' // the update's result
	if got, _ := m.GetFlow(ctx, "a", t0); string(got.Data) != "onX" {
		t.Errorf("stored data %q, want %q (only fn's return is stored)", got.Data, "onX")
	}
}

func TestAFailedUpdateChangesNothing(t *testing.T) {
	m := New()
	ctx := t.Context()
	if err := m.CreateFlow(ctx, flow("a", 5, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if _, err := m.UpdateFlow(ctx, "a", func(f store.Flow) (store.Flow, error) { f.Step = "otp"; return f, boom }); !errors.Is(err, boom) {
		t.Fatalf("UpdateFlow: %v, want fn's error", err)
	}
	if got, _ := m.GetFlow(ctx, "a", t0); got.Step != "password" {
		t.Errorf("step %q after a failed update", got.Step)
	}
}

func TestConcurrentCreatesNeverExceedTheBound(t *testing.T) {
	m := NewWithLimits(50, 1<<20, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				err := m.CreateFlow(t.Context(), identified(fmt.Sprintf("%d-%d", w, i), 10, t0.Add(time.Hour)))
				switch {
				case err == nil:
					mu.Lock()
					created++
					mu.Unlock()
				case !errors.Is(err, store.ErrCapacity):
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if st := m.Stats(); created != 50 || st.Flows != 50 || st.Refused != 110 {
		t.Errorf("%d creates succeeded, Stats = %+v; want 50 held and 110 refused", created, st)
	}
}

// checkBooks fails t when m's bookkeeping disagrees with its flows.
func checkBooks(t *testing.T, m *Flows, step int) {
	t.Helper()
	bytes, anonFlows, anonBytes := 0, 0, 0
	inFIFO := map[string]bool{}
	for _, id := range m.anon {
		inFIFO[id] = true
	}
	perUser := map[string]int{}
	for id, f := range m.flows {
		bytes += size(f)
		if f.UserID == "" {
			anonFlows++
			anonBytes += size(f)
			if !inFIFO[id] {
				t.Fatalf("step %d: anonymous flow %s is not in the eviction queue", step, id)
			}
			continue
		}
		perUser[f.UserID]++
		if !slices.Contains(m.byUser[f.UserID], id) {
			t.Fatalf("step %d: flow %s is not listed under its user %s", step, id, f.UserID)
		}
	}
	for u, ids := range m.byUser {
		if len(ids) != perUser[u] || len(ids) > m.maxPerUser {
			t.Fatalf("step %d: user %s lists %d flows, holds %d (at most %d)", step, u, len(ids), perUser[u], m.maxPerUser)
		}
	}
	if bytes != m.bytes || anonFlows != m.anonFlows || anonBytes != m.anonBytes {
		t.Fatalf("step %d: books say %d bytes, %d anonymous flows of %d bytes; the flows are %d, %d, %d",
			step, m.bytes, m.anonFlows, m.anonBytes, bytes, anonFlows, anonBytes)
	}
	if len(m.flows) > m.maxFlows {
		t.Fatalf("step %d: %d flows held, bound %d", step, len(m.flows), m.maxFlows)
	}
}

func TestTheBooksAgreeWithTheFlowsThroughRandomOperations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := NewWithLimits(40, 40*(overhead+200), 3)
	ctx := t.Context()
	now := t0
	ids := []string{}
	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 4: // create, a third of them with one of 20 users
			f := flow(fmt.Sprintf("f%d", step), rng.IntN(400), now.Add(time.Duration(1+rng.IntN(600))*time.Second))
			f.CreatedAt = now
			if rng.IntN(3) == 0 {
				f.UserID = fmt.Sprintf("u%d", rng.IntN(20))
			}
			if err := m.CreateFlow(ctx, f); err == nil {
				ids = append(ids, f.ID)
			} else if !errors.Is(err, store.ErrCapacity) {
				t.Fatal(err)
			}
		case op < 7 && len(ids) > 0: // update: learn a user, grow or shrink
			id := ids[rng.IntN(len(ids))]
			_, err := m.UpdateFlow(ctx, id, func(f store.Flow) (store.Flow, error) {
				switch rng.IntN(6) {
				case 0, 1, 2:
					f.UserID = fmt.Sprintf("u%d", rng.IntN(20))
				case 3: // not what Gatehouse does, but the store allows it
					f.UserID = ""
				}
				f.Data = []byte(strings.Repeat("z", rng.IntN(800)))
				return f, nil
			})
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
		case op < 8 && len(ids) > 0:
			if err := m.DeleteFlow(ctx, ids[rng.IntN(len(ids))]); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
		case op < 9:
			now = now.Add(time.Duration(rng.IntN(30)) * time.Second)
			if len(ids) > 0 {
				_, _ = m.GetFlow(ctx, ids[rng.IntN(len(ids))], now)
			}
		default:
			m.GarbageCollect(now)
		}
		checkBooks(t, m, step)
	}
	if st := m.Stats(); st.Evicted == 0 || st.Refused == 0 {
		t.Errorf("the run never reached a bound (Stats %+v): make it harder", st)
	}
}
