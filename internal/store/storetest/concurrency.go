package storetest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// RunConcurrency checks that updates racing on one record lose nothing and
// that of many racing creators or consumers exactly one wins. Run it with
// the race detector.
func RunConcurrency(t *testing.T, open Opener) {
	t.Helper()
	for _, tc := range concurrencyCases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

const (
	workers   = 16 // goroutines racing on one record
	perWorker = 50 // operations each
	races     = 10 // tickets or IDs raced for, one after another
)

// hammer runs op workers×perWorker times from workers goroutines that start
// together, and fails t on any error.
func hammer(t *testing.T, op func() error) {
	t.Helper()
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		start    = make(chan struct{})
	)
	for range workers {
		wg.Go(func() {
			<-start
			for range perWorker {
				if err := op(); err != nil {
					if failures.Add(1) <= 3 {
						t.Errorf("concurrent operation: %v", err)
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d concurrent operations failed", n, workers*perWorker)
	}
}

// race runs op from workers goroutines that start together and returns how
// many succeeded, failing t on any error other than loser.
func race(t *testing.T, loser error, op func() error) int {
	t.Helper()
	var (
		wg   sync.WaitGroup
		wins atomic.Int64
		st   = make(chan struct{})
	)
	for range workers {
		wg.Go(func() {
			<-st
			switch err := op(); {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, loser):
				t.Errorf("racing operation: error %v, want nil or %v", err, loser)
			}
		})
	}
	close(st)
	wg.Wait()
	return int(wins.Load())
}

// bump adds one to a decimal counter kept in b.
func bump(b []byte) ([]byte, error) {
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return nil, fmt.Errorf("counter %q: %w", b, err)
	}
	return strconv.AppendInt(nil, int64(n+1), 10), nil
}

func wantCount(t *testing.T, what string, got []byte) {
	t.Helper()
	if want := strconv.Itoa(workers * perWorker); string(got) != want {
		t.Fatalf("%s = %s after %s concurrent increments: updates were lost", what, got, want)
	}
}

var concurrencyCases = []testCase{
	{"concurrent session updates lose no increment", func(t *testing.T, st store.Store) {
		s := newSession(uid("user"))
		s.Data = []byte("0")
		createSessions(t, st, s)
		hammer(t, func() error {
			_, err := st.UpdateSession(t.Context(), s.ID, func(old store.Session) (store.Session, error) {
				d, err := bump(old.Data)
				old.Data = d
				return old, err
			})
			return err
		})
		got, err := st.GetSession(t.Context(), s.ID, t0)
		must(t, "GetSession", err)
		wantCount(t, "session data", got.Data)
	}},
	{"concurrent flow updates lose no increment", func(t *testing.T, st store.Store) {
		f := newFlow()
		f.Data = []byte("0")
		createFlow(t, st, f)
		hammer(t, func() error {
			_, err := st.UpdateFlow(t.Context(), f.ID, func(old store.Flow) (store.Flow, error) {
				d, err := bump(old.Data)
				old.Data = d
				return old, err
			})
			return err
		})
		got, err := st.GetFlow(t.Context(), f.ID, t0)
		must(t, "GetFlow", err)
		wantCount(t, "flow data", got.Data)
	}},
	{"concurrent credential updates lose no increment", func(t *testing.T, st store.Store) {
		c := newCredential(uid("user"), "totp")
		c.Data = []byte("0")
		createCredentials(t, st, c)
		hammer(t, func() error {
			_, err := st.UpdateCredential(t.Context(), c.ID, func(old store.Credential) (store.Credential, error) {
				d, err := bump(old.Data)
				old.Data = d
				return old, err
			})
			return err
		})
		got, err := st.GetCredential(t.Context(), c.ID)
		must(t, "GetCredential", err)
		wantCount(t, "credential data", got.Data)
	}},
	{"concurrent increments of one counter count each exactly once", func(t *testing.T, st store.Store) {
		key := uid("ip")
		var mu sync.Mutex
		seen := map[int]int{}
		hammer(t, func() error {
			c, err := st.IncrementCounter(t.Context(), key, t0, time.Hour)
			mu.Lock()
			seen[c.Count]++
			mu.Unlock()
			return err
		})
		got, err := st.GetCounter(t.Context(), key, t0)
		must(t, "GetCounter", err)
		if got.Count != workers*perWorker {
			t.Fatalf("counter = %d after %d concurrent increments", got.Count, workers*perWorker)
		}
		for n := 1; n <= workers*perWorker; n++ {
			if seen[n] != 1 {
				t.Fatalf("count %d was returned %d times, want once", n, seen[n])
			}
		}
	}},
	{"concurrent increments and decrements of one counter all count", func(t *testing.T, st store.Store) {
		key := uid("inflight")
		for range workers * perWorker {
			increment(t, st, key, t0, time.Hour)
		}
		var n sync.Mutex
		i := 0
		hammer(t, func() error {
			n.Lock()
			i++
			up := i%2 == 0
			n.Unlock()
			if up {
				_, err := st.IncrementSlidingCounter(t.Context(), key, t0, time.Hour)
				return err
			}
			_, err := st.DecrementCounter(t.Context(), key, t0)
			return err
		})
		got, err := st.GetCounter(t.Context(), key, t0)
		must(t, "GetCounter", err)
		if got.Count != workers*perWorker {
			t.Fatalf("counter = %d after as many increments as decrements from %d", got.Count, workers*perWorker)
		}
	}},
	{"of many concurrent consumers of a ticket exactly one wins", func(t *testing.T, st store.Store) {
		for range races {
			tk := newTicket("oidc.code")
			createTickets(t, st, tk)
			wins := race(t, store.ErrNotFound, func() error {
				_, err := st.ConsumeTicket(t.Context(), tk.Kind, tk.ID, t0)
				return err
			})
			if wins != 1 {
				t.Fatalf("%d consumers won the ticket, want exactly 1", wins)
			}
		}
	}},
	{"of many concurrent creators of one ticket exactly one wins", func(t *testing.T, st store.Store) {
		for range races {
			tk := newTicket("saml.replay")
			wins := race(t, store.ErrConflict, func() error { return st.CreateTicket(t.Context(), tk) })
			if wins != 1 {
				t.Fatalf("%d creators won the ticket, want exactly 1", wins)
			}
		}
	}},
	{"of many concurrent links of one outside account exactly one wins", func(t *testing.T, st store.Store) {
		for range races {
			l := newLink()
			wins := race(t, store.ErrConflict, func() error {
				mine := l
				mine.UserID = uid("user") // each racer names another user
				return st.CreateLink(t.Context(), mine)
			})
			if wins != 1 {
				t.Fatalf("%d creators linked the outside account, want exactly 1", wins)
			}
		}
	}},
	{"of many concurrent creators of one session ID exactly one wins", func(t *testing.T, st store.Store) {
		for range races {
			s := newSession(uid("user"))
			wins := race(t, store.ErrConflict, func() error { return st.CreateSession(t.Context(), s) })
			if wins != 1 {
				t.Fatalf("%d creators won the session ID, want exactly 1", wins)
			}
		}
	}},
	{"concurrent appends, alone and in batches, form one chain that verifies", func(t *testing.T, st store.Store) {
		checkConcurrentAppends(t, st, st)
	}},
}

// RunConcurrentAppends appends from two stores on one database at once —
// two Gatehouse instances — and checks that every event is stored in one
// chain that verifies.
func RunConcurrentAppends(t *testing.T, a, b store.Store) {
	t.Helper()
	checkConcurrentAppends(t, a, b)
}

func checkConcurrentAppends(t *testing.T, a, b store.Store) {
	t.Helper()
	user := uid("user")
	var n atomic.Int64
	hammer(t, func() error {
		i := n.Add(1)
		st := a
		if i%2 == 0 {
			st = b
		}
		if i%3 == 0 {
			return st.AppendAudits(t.Context(), []store.AuditEvent{newEvent(user, "batch", t0), newEvent(user, "batch", t0)})
		}
		_, err := st.AppendAudit(t.Context(), newEvent(user, "alone", t0))
		return err
	})
	stored := 0
	_, err := a.WalkAudit(t.Context(), func(_ store.AuditChain, e store.AuditEvent) error {
		if e.UserID == user {
			stored++
		}
		return nil
	})
	must(t, "WalkAudit", err)
	batches := workers * perWorker / 3
	if want := workers*perWorker + batches; stored != want {
		t.Fatalf("%d events stored after %d concurrent appends, want %d", stored, workers*perWorker, want)
	}
	verify(t, a)
}
