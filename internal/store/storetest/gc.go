package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

var storeCases = []testCase{
	{"ping answers", func(t *testing.T, st store.Store) {
		must(t, "Ping", st.Ping(t.Context()))
	}},
	{"garbage collection deletes what has expired at now, counts it, and keeps the rest", func(t *testing.T, st store.Store) {
		// 1990 belongs to this test alone: GarbageCollect reaches every
		// record, and no other test has anything expiring before 2031.
		g0 := time.Date(1990, 10, 3, 12, 0, 0, 0, time.UTC)
		user := uid("user")

		ended, idle, live := newSession(user), newSession(user), newSession(user)
		for _, s := range []*store.Session{&ended, &idle, &live} {
			s.AuthTime, s.MFATime, s.CreatedAt, s.LastSeenAt = g0.Add(-2*time.Hour), time.Time{}, g0.Add(-2*time.Hour), g0.Add(-time.Hour)
			s.IdleExpiry, s.ExpiresAt = g0.Add(time.Minute), g0.Add(time.Hour)
		}
		ended.ExpiresAt = g0.Add(-time.Hour)
		idle.IdleExpiry = g0
		createSessions(t, st, ended, idle, live)

		oldFlow, liveFlow := newFlow(), newFlow()
		oldFlow.CreatedAt, oldFlow.ExpiresAt = g0.Add(-time.Hour), g0
		liveFlow.CreatedAt, liveFlow.ExpiresAt = g0.Add(-time.Hour), g0.Add(time.Second)
		createFlow(t, st, oldFlow)
		createFlow(t, st, liveFlow)

		oldCounter, liveCounter := uid("ctr"), uid("ctr")
		increment(t, st, oldCounter, g0.Add(-time.Minute), time.Minute)
		increment(t, st, liveCounter, g0.Add(-time.Minute), 2*time.Minute)

		oldTicket, liveTicket := newTicket("gc"), newTicket("gc")
		oldTicket.CreatedAt, oldTicket.ExpiresAt = g0.Add(-time.Hour), g0.Add(-time.Microsecond)
		liveTicket.CreatedAt, liveTicket.ExpiresAt = g0.Add(-time.Hour), g0.Add(time.Hour)
		createTickets(t, st, oldTicket, liveTicket)

		cred := newCredential(user, "totp")
		createCredentials(t, st, cred)

		got, err := st.GarbageCollect(t.Context(), g0)
		must(t, "GarbageCollect", err)
		if want := (store.GCResult{Sessions: 2, Flows: 1, Counters: 1, Tickets: 1}); got != want {
			t.Errorf("GarbageCollect = %+v, want %+v", got, want)
		}

		// What expired is gone, not just hidden by the expiry checks.
		wantErr(t, "DeleteSession of an ended session", st.DeleteSession(t.Context(), ended.ID), store.ErrNotFound)
		wantErr(t, "DeleteSession of an idle session", st.DeleteSession(t.Context(), idle.ID), store.ErrNotFound)
		wantErr(t, "DeleteFlow of an expired flow", st.DeleteFlow(t.Context(), oldFlow.ID), store.ErrNotFound)
		c, err := st.GetCounter(t.Context(), oldCounter, g0.Add(-time.Second))
		must(t, "GetCounter", err)
		same(t, "expired counter read before its end", c, store.Counter{Key: oldCounter})
		must(t, "CreateTicket over a collected ticket", st.CreateTicket(t.Context(), oldTicket))

		// The rest is still there.
		_, err = st.GetSession(t.Context(), live.ID, g0)
		must(t, "GetSession of a live session", err)
		_, err = st.GetFlow(t.Context(), liveFlow.ID, g0)
		must(t, "GetFlow of a live flow", err)
		c, err = st.GetCounter(t.Context(), liveCounter, g0)
		must(t, "GetCounter of a live counter", err)
		if c.Count != 1 {
			t.Errorf("live counter has count %d, want 1", c.Count)
		}
		_, err = st.ConsumeTicket(t.Context(), liveTicket.Kind, liveTicket.ID, g0)
		must(t, "ConsumeTicket of a live ticket", err)
		_, err = st.GetCredential(t.Context(), cred.ID)
		must(t, "GetCredential", err)

		got, err = st.GarbageCollect(t.Context(), g0.Add(-time.Second))
		must(t, "second GarbageCollect", err)
		// Only the re-created ticket (expired a microsecond before g0) is left
		// to collect, and not yet at this earlier now.
		if got != (store.GCResult{}) {
			t.Errorf("second GarbageCollect = %+v, want nothing collected", got)
		}
		// Leave nothing that a later run's GarbageCollect(g0) would count.
		_, err = st.ConsumeTicket(t.Context(), oldTicket.Kind, oldTicket.ID, g0.Add(-time.Second))
		must(t, "ConsumeTicket of the re-created ticket", err)
	}},
}
