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
}
