package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Tamperer opens a fresh store for one test, closed when t ends, and
// returns with it a way to run SQL on its database behind its back, as
// someone with access to the database would.
type Tamperer func(t *testing.T) (store.Store, func(query string) error)

// auditRowColumns are every column of an audit event but its ID.
var auditRowColumns = []string{"event_time", "type", "user_id", "login", "ip", "request_id", "app", "result",
	"reason", "familiar", "actor", "detail", "prev_hash", "hash"}

// RunTamper changes stored audit events with SQL and checks that
// audit.Verify names the first event where the chain breaks.
// dropAppendOnly is the backend's statement that drops the trigger
// refusing updates (a tamperer with the owner's rights can).
func RunTamper(t *testing.T, open Tamperer, dropAppendOnly string) {
	t.Helper()
	// setup appends six events and returns their IDs.
	setup := func(t *testing.T) (store.Store, func(string, ...any), []int64) {
		st, exec := open(t)
		var ids []int64
		for i := range 6 {
			id, err := st.AppendAudit(t.Context(), newEvent(uid("user"), fmt.Sprintf("event%d", i), t0.Add(time.Duration(i)*time.Second)))
			must(t, "AppendAudit", err)
			ids = append(ids, id)
		}
		verify(t, st)
		run := func(format string, args ...any) {
			t.Helper()
			if err := exec(fmt.Sprintf(format, args...)); err != nil {
				t.Fatalf("tampering: %v", err)
			}
		}
		run("%s", dropAppendOnly)
		return st, run, ids
	}
	wantProblem := func(t *testing.T, st store.Store, id int64, kind string) {
		t.Helper()
		rep, err := audit.Verify(t.Context(), st)
		must(t, "audit.Verify", err)
		switch {
		case rep.Problem == nil:
			t.Fatalf("audit.Verify found nothing wrong (%d events checked)", rep.Chained)
		case rep.Problem.ID != id || rep.Problem.Kind != kind:
			t.Fatalf("audit.Verify found %q (%s at event %d), want %s at event %d", rep.Problem.Msg, rep.Problem.Kind, rep.Problem.ID, kind, id)
		case !strings.Contains(rep.Problem.Msg, fmt.Sprintf("event %d", id)):
			t.Fatalf("the problem %q does not name event %d", rep.Problem.Msg, id)
		}
	}

	t.Run("an event cannot be updated while the append-only trigger stands", func(t *testing.T) {
		st, exec := open(t)
		id, err := st.AppendAudit(t.Context(), newEvent(uid("user"), "signin.failure", t0))
		must(t, "AppendAudit", err)
		if err := exec(fmt.Sprintf("UPDATE audit_events SET result = 'ok' WHERE id = %d", id)); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("an UPDATE of an audit event: error %v, want the append-only refusal", err)
		}
	})
	for _, tc := range []struct {
		name   string
		tamper func(run func(string, ...any), ids []int64)
		at     int // index into ids of the event Verify must name; -1: the head
		kind   string
	}{
		{"a modified event is found", func(run func(string, ...any), ids []int64) {
			run("UPDATE audit_events SET result = 'invalid_credentials' WHERE id = %d", ids[2])
		}, 2, audit.ProblemModified},
		{"a modified time is found", func(run func(string, ...any), ids []int64) {
			run("UPDATE audit_events SET event_time = (SELECT event_time FROM audit_events WHERE id = %d) WHERE id = %d", ids[0], ids[3])
		}, 3, audit.ProblemModified},
		{"a deleted event is found at the event after it", func(run func(string, ...any), ids []int64) {
			run("DELETE FROM audit_events WHERE id = %d", ids[2])
		}, 3, audit.ProblemBroken},
		{"a deleted first event is found at the event after it", func(run func(string, ...any), ids []int64) {
			run("DELETE FROM audit_events WHERE id = %d", ids[0])
		}, 1, audit.ProblemBroken},
		{"reordered events are found where the order breaks", func(run func(string, ...any), ids []int64) {
			swap(run, ids[2], ids[4])
		}, 2, audit.ProblemBroken},
		{"neighbours swapped are found", func(run func(string, ...any), ids []int64) {
			swap(run, ids[3], ids[4])
		}, 3, audit.ProblemBroken},
		{"deleted last events are found", func(run func(string, ...any), ids []int64) {
			run("DELETE FROM audit_events WHERE id >= %d", ids[4])
		}, -1, audit.ProblemTruncated},
		{"the oldest events deleted and the chain's start moved past them are found", func(run func(string, ...any), ids []int64) {
			run("UPDATE audit_chain SET anchor_id = %d, anchor_hash = (SELECT prev_hash FROM audit_events WHERE id = %d)", ids[2], ids[3])
			run("DELETE FROM audit_events WHERE id <= %d", ids[2])
		}, 2, audit.ProblemBroken},
		{"an event inserted past Gatehouse is found", func(run func(string, ...any), ids []int64) {
			run("INSERT INTO audit_events (event_time, type, user_id, login, ip, request_id, app, result, detail) "+
				"SELECT event_time, type, user_id, login, ip, request_id, app, result, detail FROM audit_events WHERE id = %d", ids[5])
		}, 6, audit.ProblemUnchained},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, run, ids := setup(t)
			tc.tamper(run, ids)
			switch tc.at {
			case -1:
				wantProblem(t, st, ids[5], tc.kind)
			case 6:
				// The inserted event's ID is the next one after the head.
				rep, err := audit.Verify(t.Context(), st)
				must(t, "audit.Verify", err)
				if rep.Problem == nil || rep.Problem.Kind != tc.kind || rep.Problem.ID <= ids[5] {
					t.Fatalf("audit.Verify found %+v, want %s after event %d", rep.Problem, tc.kind, ids[5])
				}
			default:
				wantProblem(t, st, ids[tc.at], tc.kind)
			}
		})
	}
}

// swap exchanges the contents of two events, hashes included: as if the
// two had been stored in the other order.
func swap(run func(string, ...any), a, b int64) {
	var set []string
	for _, c := range auditRowColumns {
		set = append(set, fmt.Sprintf("%s = (SELECT %s FROM tamper_swap WHERE tamper_swap.id = %d - audit_events.id)", c, c, a+b))
	}
	// One statement string: the temporary table lives on one connection.
	run("CREATE TEMPORARY TABLE tamper_swap AS SELECT * FROM audit_events WHERE id IN (%d, %d); "+
		"UPDATE audit_events SET %s WHERE id IN (%d, %d); DROP TABLE tamper_swap",
		a, b, strings.Join(set, ", "), a, b)
}
