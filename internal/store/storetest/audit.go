package storetest

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

func newEvent(userID, typ string, at time.Time) store.AuditEvent {
	return store.AuditEvent{
		Time:      at,
		Type:      typ,
		UserID:    userID,
		Login:     "alice",
		IP:        "192.0.2.10",
		RequestID: uid("req"),
		App:       "portal",
		Result:    "ok",
		Reason:    "per_login",
		Familiar:  "familiar",
		Actor:     "root",
		Detail:    []byte(`{"reason":"none"}`),
	}
}

// unchained checks that every event's hash is the hash of its content and
// PrevHash, and returns the events without them, to compare with what was
// appended.
func unchained(t *testing.T, es []store.AuditEvent) []store.AuditEvent {
	t.Helper()
	var out []store.AuditEvent
	for _, e := range es {
		if len(e.PrevHash) != store.AuditHashSize || !bytes.Equal(e.Hash, store.AuditHash(e.PrevHash, e)) {
			t.Fatalf("event %d reads back with prev hash %x and hash %x, which is not the hash of its content", e.ID, e.PrevHash, e.Hash)
		}
		e.PrevHash, e.Hash = nil, nil
		out = append(out, e)
	}
	return out
}

func eventID(e store.AuditEvent) string { return strconv.FormatInt(e.ID, 10) }

// appendEvents appends es in order and returns them with their IDs set.
func appendEvents(t *testing.T, st store.Store, es ...store.AuditEvent) []store.AuditEvent {
	t.Helper()
	out := make([]store.AuditEvent, len(es))
	for i, e := range es {
		id, err := st.AppendAudit(t.Context(), e)
		must(t, "AppendAudit", err)
		e.ID = id
		out[i] = e
	}
	return out
}

var auditCases = []testCase{
	{"appended events get increasing IDs and read back with every field", func(t *testing.T, st store.Store) {
		user := uid("user")
		es := appendEvents(t, st,
			newEvent(user, "signin.success", t0),
			newEvent(user, "signin.failure", t0.Add(time.Second)),
			newEvent(user, "password.reset", t0.Add(2*time.Second)),
		)
		for i := 1; i < len(es); i++ {
			if es[i].ID <= es[i-1].ID {
				t.Fatalf("AppendAudit returned ID %d after %d, want increasing IDs", es[i].ID, es[i-1].ID)
			}
		}
		got, err := st.QueryAudit(t.Context(), store.AuditQuery{UserID: user})
		must(t, "QueryAudit", err)
		same(t, "QueryAudit", unchained(t, got), []store.AuditEvent{es[2], es[1], es[0]})
	}},
	{"a batch is appended in order, after what was there", func(t *testing.T, st store.Store) {
		user := uid("user")
		first := appendEvents(t, st, newEvent(user, "signin.success", t0))
		batch := []store.AuditEvent{newEvent(user, "token.issued", t0.Add(time.Second)), newEvent(user, "signout", t0.Add(2*time.Second))}
		must(t, "AppendAudits", st.AppendAudits(t.Context(), batch))
		must(t, "AppendAudits", st.AppendAudits(t.Context(), nil))
		got, err := st.QueryAudit(t.Context(), store.AuditQuery{UserID: user})
		must(t, "QueryAudit", err)
		if len(got) != 3 || got[2].ID != first[0].ID || got[1].ID <= got[2].ID || got[0].ID <= got[1].ID {
			t.Fatalf("QueryAudit after a batch: %+v", got)
		}
		for i, want := range []string{"signout", "token.issued", "signin.success"} {
			if got[i].Type != want || got[i].UserID != user {
				t.Fatalf("event %d is %s for %s, want %s", i, got[i].Type, got[i].UserID, want)
			}
		}
	}},
	{"the ID a caller sets is ignored", func(t *testing.T, st store.Store) {
		user := uid("user")
		e := newEvent(user, "signin.success", t0)
		e.ID = -7
		es := appendEvents(t, st, e)
		if es[0].ID == -7 {
			t.Fatalf("AppendAudit kept the caller's ID")
		}
		got, err := st.QueryAudit(t.Context(), store.AuditQuery{UserID: user})
		must(t, "QueryAudit", err)
		same(t, "QueryAudit", unchained(t, got), es)
	}},
	{"an event with empty fields and no detail reads back with nil detail", func(t *testing.T, st store.Store) {
		for _, tc := range []struct {
			name   string
			detail []byte
		}{{"nil detail", nil}, {"empty detail", []byte{}}} {
			t.Run(tc.name, func(t *testing.T) {
				typ := uid("type")
				e := store.AuditEvent{Time: t0, Type: typ, Detail: tc.detail}
				es := appendEvents(t, st, e)
				got, err := st.QueryAudit(t.Context(), store.AuditQuery{Type: typ})
				must(t, "QueryAudit", err)
				same(t, "QueryAudit", unchained(t, got), es)
			})
		}
	}},
	{"events come newest first by time, then by ID, whatever order they were appended in", func(t *testing.T, st store.Store) {
		user := uid("user")
		es := appendEvents(t, st,
			newEvent(user, "a", t0.Add(2*time.Second)),
			newEvent(user, "b", t0),
			newEvent(user, "c", t0.Add(3*time.Second)),
			newEvent(user, "d", t0.Add(time.Second)),
			newEvent(user, "e", t0.Add(3*time.Second)),
		)
		got, err := st.QueryAudit(t.Context(), store.AuditQuery{UserID: user})
		must(t, "QueryAudit", err)
		same(t, "QueryAudit", unchained(t, got), []store.AuditEvent{es[4], es[2], es[0], es[3], es[1]})
	}},
	{"queries filter by user, type, since (inclusive) and until (exclusive)", func(t *testing.T, st store.Store) {
		u1, u2 := uid("user"), uid("user")
		ta, tb := uid("type.a"), uid("type.b")
		es := appendEvents(t, st,
			newEvent(u1, ta, t0),                    // 0
			newEvent(u1, tb, t0.Add(time.Second)),   // 1
			newEvent(u2, ta, t0.Add(2*time.Second)), // 2
			newEvent(u1, ta, t0.Add(2*time.Second)), // 3
			newEvent(u2, tb, t0.Add(3*time.Second)), // 4
		)
		for _, tc := range []struct {
			name string
			q    store.AuditQuery
			want []int
		}{
			{"by user", store.AuditQuery{UserID: u1}, []int{3, 1, 0}},
			{"by type", store.AuditQuery{Type: ta}, []int{3, 2, 0}},
			{"by user and type", store.AuditQuery{UserID: u2, Type: tb}, []int{4}},
			{"since includes its instant", store.AuditQuery{UserID: u1, Since: t0.Add(time.Second)}, []int{3, 1}},
			{"until excludes its instant", store.AuditQuery{UserID: u1, Until: t0.Add(2 * time.Second)}, []int{1, 0}},
			{"since and until together", store.AuditQuery{Type: ta, Since: t0.Add(time.Second), Until: t0.Add(3 * time.Second)}, []int{3, 2}},
			{"a user with no events", store.AuditQuery{UserID: uid("user")}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := st.QueryAudit(t.Context(), tc.q)
				must(t, "QueryAudit", err)
				var want []store.AuditEvent
				for _, i := range tc.want {
					want = append(want, es[i])
				}
				same(t, "QueryAudit", unchained(t, got), want)
			})
		}
		t.Run("zero user and type do not filter", func(t *testing.T) {
			got, err := st.QueryAudit(t.Context(), store.AuditQuery{Since: t0, Until: t0.Add(4 * time.Second), Limit: 1_000_000})
			must(t, "QueryAudit", err)
			// Other tests may share the database: look at ours only.
			mine := only(got, eventID, ids(es, eventID)...)
			same(t, "QueryAudit", unchained(t, mine), []store.AuditEvent{es[4], es[3], es[2], es[1], es[0]})
		})
	}},
	{"a limit caps the result at the newest events and zero means 100", func(t *testing.T, st store.Store) {
		user := uid("user")
		var in []store.AuditEvent
		for i := range 101 {
			in = append(in, newEvent(user, "signin.success", t0.Add(time.Duration(i)*time.Millisecond)))
		}
		es := appendEvents(t, st, in...)
		for _, tc := range []struct {
			name  string
			limit int
			want  int
		}{{"limit 7", 7, 7}, {"limit 0", 0, 100}, {"limit above the count", 500, 101}} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := st.QueryAudit(t.Context(), store.AuditQuery{UserID: user, Limit: tc.limit})
				must(t, "QueryAudit", err)
				if len(got) != tc.want {
					t.Fatalf("QueryAudit returned %d events, want %d", len(got), tc.want)
				}
				if got[0].ID != es[100].ID || got[len(got)-1].ID != es[101-tc.want].ID {
					t.Fatalf("QueryAudit returned IDs %d…%d, want %d…%d", got[0].ID, got[len(got)-1].ID, es[100].ID, es[101-tc.want].ID)
				}
			})
		}
	}},
	{"queries by login find the account's events whatever the case, together with its user ID", func(t *testing.T, st store.Store) {
		user, login := uid("user"), uid("Login")
		byID := newEvent(user, "signin.success", t0)
		byLogin := newEvent("", "signin.failure", t0.Add(time.Second))
		byLogin.Login = strings.ToUpper(login)
		other := newEvent(uid("user"), "signin.failure", t0.Add(2*time.Second))
		es := appendEvents(t, st, byID, byLogin, other)
		got, err := st.QueryAudit(t.Context(), store.AuditQuery{UserID: user, Logins: []string{strings.ToLower(login), "nobody"}})
		must(t, "QueryAudit", err)
		same(t, "QueryAudit by user ID and login", unchained(t, got), []store.AuditEvent{es[1], es[0]})
		got, err = st.QueryAudit(t.Context(), store.AuditQuery{Logins: []string{login}, Type: "signin.failure"})
		must(t, "QueryAudit", err)
		same(t, "QueryAudit by login and type", unchained(t, got), []store.AuditEvent{es[1]})
	}},
}
