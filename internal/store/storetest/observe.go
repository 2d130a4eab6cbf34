package storetest

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// RunObserve checks that a store opened with an Observer reports each call
// of every store.Store method once, by method name, with the error the
// method returned.
func RunObserve(t *testing.T, open func(t *testing.T, obs store.Observer) store.Store) {
	t.Helper()
	type call struct {
		d   time.Duration
		err error
	}
	var (
		mu    sync.Mutex
		calls = map[string][]call{}
	)
	st := open(t, func(op string, d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		calls[op] = append(calls[op], call{d, err})
	})
	ctx := t.Context()
	s, f, c, tk, l := newSession(uid("user")), newFlow(), newCredential(uid("user"), "totp"), newTicket("observe"), newLink()
	old := time.Date(1901, 1, 1, 0, 0, 0, 0, time.UTC) // nothing in the suite is this old

	// Each method is called exactly once; wantErrs says what it reports.
	wantErrs := map[string]error{
		"GetSession":               store.ErrNotFound,
		"UpdateFlow":               errBoom,
		"GetCredentialByLookupKey": store.ErrNotFound,
		"GetUserLink":              store.ErrNotFound,
	}
	steps := []struct {
		op   string
		call func() error
	}{
		{"CreateSession", func() error { return st.CreateSession(ctx, s) }},
		{"GetSession", func() error { _, err := st.GetSession(ctx, uid("sess"), t0); return err }},
		{"UpdateSession", func() error {
			_, err := st.UpdateSession(ctx, s.ID, func(v store.Session) (store.Session, error) { return v, nil })
			return err
		}},
		{"ListUserSessions", func() error { _, err := st.ListUserSessions(ctx, s.UserID, t0); return err }},
		{"DeleteSession", func() error { return st.DeleteSession(ctx, s.ID) }},
		{"DeleteUserSessions", func() error { _, err := st.DeleteUserSessions(ctx, s.UserID); return err }},
		{"DeleteUserSessionsExcept", func() error { _, err := st.DeleteUserSessionsExcept(ctx, s.UserID, s.ID); return err }},

		{"CreateFlow", func() error { return st.CreateFlow(ctx, f) }},
		{"GetFlow", func() error { _, err := st.GetFlow(ctx, f.ID, t0); return err }},
		{"UpdateFlow", func() error {
			_, err := st.UpdateFlow(ctx, f.ID, func(v store.Flow) (store.Flow, error) { return v, errBoom })
			return err
		}},
		{"DeleteFlow", func() error { return st.DeleteFlow(ctx, f.ID) }},

		{"CreateCredential", func() error { return st.CreateCredential(ctx, c) }},
		{"GetCredential", func() error { _, err := st.GetCredential(ctx, c.ID); return err }},
		{"GetCredentialByLookupKey", func() error { _, err := st.GetCredentialByLookupKey(ctx, "totp", uid("key")); return err }},
		{"ListCredentials", func() error { _, err := st.ListCredentials(ctx, c.UserID); return err }},
		{"UpdateCredential", func() error {
			_, err := st.UpdateCredential(ctx, c.ID, func(v store.Credential) (store.Credential, error) { return v, nil })
			return err
		}},
		{"DeleteCredential", func() error { return st.DeleteCredential(ctx, c.ID) }},
		{"DeleteUserCredentials", func() error { _, err := st.DeleteUserCredentials(ctx, c.UserID, ""); return err }},

		{"AppendAudit", func() error { _, err := st.AppendAudit(ctx, newEvent(uid("user"), "observe", t0)); return err }},
		{"AppendAudits", func() error { return st.AppendAudits(ctx, []store.AuditEvent{newEvent(uid("user"), "observe", t0)}) }},
		{"QueryAudit", func() error { _, err := st.QueryAudit(ctx, store.AuditQuery{UserID: uid("user")}); return err }},
		{"PruneAudit", func() error { _, err := st.PruneAudit(ctx, old, old); return err }},
		{"WalkAudit", func() error {
			_, err := st.WalkAudit(ctx, func(store.AuditChain, store.AuditEvent) error { return nil })
			return err
		}},

		{"IncrementCounter", func() error { _, err := st.IncrementCounter(ctx, uid("ctr"), t0, time.Minute); return err }},
		{"GetCounter", func() error { _, err := st.GetCounter(ctx, uid("ctr"), t0); return err }},
		{"IncrementSlidingCounter", func() error { _, err := st.IncrementSlidingCounter(ctx, uid("ctr"), t0, time.Minute); return err }},
		{"DecrementCounter", func() error { _, err := st.DecrementCounter(ctx, uid("ctr"), t0); return err }},
		{"ResetCounter", func() error { return st.ResetCounter(ctx, uid("ctr")) }},

		{"CreateTicket", func() error { return st.CreateTicket(ctx, tk) }},
		{"ConsumeTicket", func() error { _, err := st.ConsumeTicket(ctx, tk.Kind, tk.ID, t0); return err }},

		{"CreateLink", func() error { return st.CreateLink(ctx, l) }},
		{"GetLink", func() error { _, err := st.GetLink(ctx, l.Provider, l.Subject); return err }},
		{"GetUserLink", func() error { _, err := st.GetUserLink(ctx, l.Provider, uid("user")); return err }},
		{"DeleteUserLinks", func() error { _, err := st.DeleteUserLinks(ctx, l.UserID); return err }},

		{"Ping", func() error { return st.Ping(ctx) }},
		{"GarbageCollect", func() error { _, err := st.GarbageCollect(ctx, old); return err }},
		{"Close", func() error { return st.Close() }},
	}
	returned := map[string]error{}
	for _, step := range steps {
		returned[step.op] = step.call()
	}

	mu.Lock()
	defer mu.Unlock()
	iface := reflect.TypeFor[store.Store]()
	var methods []string
	for i := range iface.NumMethod() {
		methods = append(methods, iface.Method(i).Name)
	}
	for _, m := range methods {
		if _, ok := returned[m]; !ok {
			t.Errorf("RunObserve does not call store.Store method %s: add it", m)
		}
	}
	for _, m := range methods {
		got := calls[m]
		if len(got) != 1 {
			t.Errorf("%s was observed %d times, want once", m, len(got))
			continue
		}
		if got[0].err != returned[m] { //nolint:errorlint // the very error the method returned
			t.Errorf("%s was observed with error %v but returned %v", m, got[0].err, returned[m])
		}
		want := wantErrs[m]
		switch {
		case want == nil && got[0].err != nil:
			t.Errorf("%s was observed with error %v, want nil", m, got[0].err)
		case want == errBoom && got[0].err != errBoom: //nolint:errorlint // fn's error is reported as itself
			t.Errorf("%s was observed with error %v, want fn's error itself", m, got[0].err)
		case want != nil && !errors.Is(got[0].err, want):
			t.Errorf("%s was observed with error %v, want %v", m, got[0].err, want)
		}
		if got[0].d < 0 {
			t.Errorf("%s was observed with negative duration %v", m, got[0].d)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(calls)) {
		if !slices.Contains(methods, op) {
			t.Errorf("observed operation %q is not a store.Store method", op)
		}
	}
}
