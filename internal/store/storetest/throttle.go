package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

func increment(t *testing.T, st store.Store, key string, now time.Time, window time.Duration) store.Counter {
	t.Helper()
	c, err := st.IncrementCounter(t.Context(), key, now, window)
	must(t, "IncrementCounter", err)
	return c
}

var throttleCases = []testCase{
	{"the first increment starts a window at now with count one", func(t *testing.T, st store.Store) {
		key := uid("ip:192.0.2.1")
		got := increment(t, st, key, t0, time.Minute)
		same(t, "IncrementCounter", got, store.Counter{Key: key, Count: 1, WindowStart: t0, ExpiresAt: t0.Add(time.Minute)})
	}},
	{"increments within the window add one and keep the window", func(t *testing.T, st store.Store) {
		key := uid("user")
		increment(t, st, key, t0, time.Minute)
		increment(t, st, key, t0.Add(30*time.Second), time.Minute)
		// A different window length does not move a running window.
		got := increment(t, st, key, t0.Add(time.Minute-time.Microsecond), time.Hour)
		same(t, "third IncrementCounter", got, store.Counter{Key: key, Count: 3, WindowStart: t0, ExpiresAt: t0.Add(time.Minute)})
	}},
	{"an increment when the window has ended starts a new one", func(t *testing.T, st store.Store) {
		key := uid("user")
		increment(t, st, key, t0, time.Minute)
		increment(t, st, key, t0.Add(10*time.Second), time.Minute)
		end := t0.Add(time.Minute)
		for _, step := range []struct {
			name string
			now  time.Time
			want store.Counter
		}{
			{"at the window's end", end, store.Counter{Key: key, Count: 1, WindowStart: end, ExpiresAt: end.Add(time.Minute)}},
			{"within the new window", end.Add(time.Second), store.Counter{Key: key, Count: 2, WindowStart: end, ExpiresAt: end.Add(time.Minute)}},
			{"long after", end.Add(time.Hour), store.Counter{Key: key, Count: 1, WindowStart: end.Add(time.Hour), ExpiresAt: end.Add(time.Hour + time.Minute)}},
		} {
			got := increment(t, st, key, step.now, time.Minute)
			same(t, "IncrementCounter "+step.name, got, step.want)
		}
	}},
	{"get returns the live counter", func(t *testing.T, st store.Store) {
		key := uid("user")
		increment(t, st, key, t0, time.Minute)
		want := increment(t, st, key, t0.Add(time.Second), time.Minute)
		got, err := st.GetCounter(t.Context(), key, t0.Add(time.Minute-time.Microsecond))
		must(t, "GetCounter", err)
		same(t, "GetCounter", got, want)
	}},
	{"get returns a zero counter with the key when there is no live counter", func(t *testing.T, st store.Store) {
		ended := uid("user")
		increment(t, st, ended, t0, time.Minute)
		for _, tc := range []struct {
			name, key string
			now       time.Time
		}{
			{"a missing counter", uid("user"), t0},
			{"a counter whose window has just ended", ended, t0.Add(time.Minute)},
			{"a counter whose window ended long ago", ended, t0.Add(time.Hour)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := st.GetCounter(t.Context(), tc.key, tc.now)
				must(t, "GetCounter", err)
				same(t, "GetCounter", got, store.Counter{Key: tc.key})
			})
		}
	}},
	{"reset removes the counter and resetting a missing counter is no error", func(t *testing.T, st store.Store) {
		key := uid("user")
		increment(t, st, key, t0, time.Minute)
		increment(t, st, key, t0, time.Minute)
		must(t, "ResetCounter", st.ResetCounter(t.Context(), key))
		got, err := st.GetCounter(t.Context(), key, t0)
		must(t, "GetCounter", err)
		same(t, "GetCounter after reset", got, store.Counter{Key: key})
		next := increment(t, st, key, t0.Add(time.Second), time.Minute)
		same(t, "IncrementCounter after reset", next, store.Counter{Key: key, Count: 1, WindowStart: t0.Add(time.Second), ExpiresAt: t0.Add(time.Second + time.Minute)})
		must(t, "ResetCounter of a missing counter", st.ResetCounter(t.Context(), uid("user")))
	}},
	{"a window that is not positive is an error and counts nothing", func(t *testing.T, st store.Store) {
		for _, w := range []time.Duration{0, -time.Second} {
			key := uid("user")
			if _, err := st.IncrementCounter(t.Context(), key, t0, w); err == nil {
				t.Errorf("IncrementCounter with window %v succeeded, want an error", w)
			}
			got, err := st.GetCounter(t.Context(), key, t0.Add(-time.Hour))
			must(t, "GetCounter", err)
			same(t, "GetCounter", got, store.Counter{Key: key})
		}
	}},
	{"a sliding increment moves the end of the window to window after it", func(t *testing.T, st store.Store) {
		key := uid("acct")
		slide := func(now time.Time, window time.Duration) store.Counter {
			t.Helper()
			c, err := st.IncrementSlidingCounter(t.Context(), key, now, window)
			must(t, "IncrementSlidingCounter", err)
			return c
		}
		same(t, "first", slide(t0, time.Minute), store.Counter{Key: key, Count: 1, WindowStart: t0, ExpiresAt: t0.Add(time.Minute)})
		same(t, "second", slide(t0.Add(50*time.Second), time.Minute),
			store.Counter{Key: key, Count: 2, WindowStart: t0, ExpiresAt: t0.Add(110 * time.Second)})
		// Past the first window's end, the counter lives on: it slid.
		same(t, "third", slide(t0.Add(100*time.Second), time.Minute),
			store.Counter{Key: key, Count: 3, WindowStart: t0, ExpiresAt: t0.Add(160 * time.Second)})
		// A shorter window never pulls the end in.
		same(t, "with a shorter window", slide(t0.Add(101*time.Second), time.Second),
			store.Counter{Key: key, Count: 4, WindowStart: t0, ExpiresAt: t0.Add(160 * time.Second)})
		// A fixed increment counts in the same window and does not move it.
		same(t, "a fixed increment", increment(t, st, key, t0.Add(102*time.Second), time.Hour),
			store.Counter{Key: key, Count: 5, WindowStart: t0, ExpiresAt: t0.Add(160 * time.Second)})
		end := t0.Add(160 * time.Second)
		same(t, "after the end", slide(end, time.Minute), store.Counter{Key: key, Count: 1, WindowStart: end, ExpiresAt: end.Add(time.Minute)})
		if _, err := st.IncrementSlidingCounter(t.Context(), uid("acct"), t0, 0); err == nil {
			t.Error("IncrementSlidingCounter with a zero window succeeded, want an error")
		}
	}},
	{"a decrement takes one from a live counter and never goes below zero", func(t *testing.T, st store.Store) {
		key := uid("inflight")
		increment(t, st, key, t0, time.Minute)
		increment(t, st, key, t0, time.Minute)
		dec := func(now time.Time) store.Counter {
			t.Helper()
			c, err := st.DecrementCounter(t.Context(), key, now)
			must(t, "DecrementCounter", err)
			return c
		}
		same(t, "first", dec(t0.Add(time.Second)), store.Counter{Key: key, Count: 1, WindowStart: t0, ExpiresAt: t0.Add(time.Minute)})
		same(t, "second", dec(t0.Add(time.Second)), store.Counter{Key: key, Count: 0, WindowStart: t0, ExpiresAt: t0.Add(time.Minute)})
		same(t, "at zero", dec(t0.Add(time.Second)), store.Counter{Key: key, Count: 0, WindowStart: t0, ExpiresAt: t0.Add(time.Minute)})
		same(t, "then an increment", increment(t, st, key, t0.Add(2*time.Second), time.Minute),
			store.Counter{Key: key, Count: 1, WindowStart: t0, ExpiresAt: t0.Add(time.Minute)})
		same(t, "after the window", dec(t0.Add(time.Minute)), store.Counter{Key: key})
		missing := uid("inflight")
		c, err := st.DecrementCounter(t.Context(), missing, t0)
		must(t, "DecrementCounter of a missing counter", err)
		same(t, "a missing counter", c, store.Counter{Key: missing})
		got, err := st.GetCounter(t.Context(), missing, t0)
		must(t, "GetCounter", err)
		same(t, "a decrement creates nothing", got, store.Counter{Key: missing})
	}},
}
