package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// verify runs audit.Verify over st and fails t unless the chain is intact.
func verify(t *testing.T, st store.Store) audit.Report {
	t.Helper()
	rep, err := audit.Verify(t.Context(), st)
	must(t, "audit.Verify", err)
	if rep.Problem != nil {
		t.Fatalf("audit.Verify found a problem in a chain nobody touched: %v", rep.Problem)
	}
	return rep
}

// walkAudit returns every stored event in chain order.
func walkAudit(t *testing.T, st store.Store) (store.AuditChain, []store.AuditEvent) {
	t.Helper()
	var es []store.AuditEvent
	c, err := st.WalkAudit(t.Context(), func(_ store.AuditChain, e store.AuditEvent) error {
		es = append(es, e)
		return nil
	})
	must(t, "WalkAudit", err)
	return c, es
}

var chainCases = []testCase{
	{"every event is chained to the one before it, appended alone or in a batch, and the head is the last", func(t *testing.T, st store.Store) {
		user := uid("user")
		appendEvents(t, st, newEvent(user, "a", t0), newEvent(user, "b", t0))
		must(t, "AppendAudits", st.AppendAudits(t.Context(), []store.AuditEvent{
			newEvent(user, "c", t0), newEvent(user, "d", t0.Add(-time.Hour)), newEvent(user, "e", t0),
		}))
		c, es := walkAudit(t, st)
		var mine []store.AuditEvent
		for i, e := range es {
			if e.UserID != user {
				continue
			}
			if len(mine) > 0 && !bytes.Equal(e.PrevHash, es[i-1].Hash) {
				t.Fatalf("event %s names prev hash %x, not the hash %x of the event before it", e.Type, e.PrevHash, es[i-1].Hash)
			}
			mine = append(mine, e)
		}
		if got := strings.Join(ids(mine, func(e store.AuditEvent) string { return e.Type }), ""); got != "abcde" {
			t.Fatalf("the chain holds %q, want the events in the order appended (abcde)", got)
		}
		last := mine[len(mine)-1]
		if c.HeadID != last.ID || !bytes.Equal(c.HeadHash, last.Hash) {
			t.Fatalf("the head is event %d (%x), want the last appended, %d (%x)", c.HeadID, c.HeadHash, last.ID, last.Hash)
		}
		rep := verify(t, st)
		if rep.LastID != last.ID || rep.Legacy != 0 {
			t.Fatalf("audit.Verify checked up to %d with %d legacy events, want up to %d and none", rep.LastID, rep.Legacy, last.ID)
		}
	}},
	{"the hashes a caller passes are ignored", func(t *testing.T, st store.Store) {
		e := newEvent(uid("user"), "forged", t0)
		e.PrevHash, e.Hash = bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
		appendEvents(t, st, e)
		got, err := st.QueryAudit(t.Context(), store.AuditQuery{UserID: e.UserID})
		must(t, "QueryAudit", err)
		unchained(t, got)
		verify(t, st)
	}},
	{"pruning deletes the start of the chain up to the first event at the cutoff, and the rest still verifies", func(t *testing.T, st store.Store) {
		// 2200 is later than any other test's events: pruning before it
		// takes theirs too, which is why this runs last among the audit
		// cases.
		p0 := time.Date(2200, 6, 1, 12, 0, 0, 0, time.UTC)
		user := uid("user")
		es := appendEvents(t, st,
			newEvent(user, "old", p0.Add(-time.Hour)),
			newEvent(user, "old", p0.Add(-time.Microsecond)),
			newEvent(user, "kept", p0),
			newEvent(user, "kept, from a clock running late", p0.Add(-2*time.Hour)),
			newEvent(user, "kept", p0.Add(time.Hour)),
		)
		got, err := st.QueryAudit(t.Context(), store.AuditQuery{UserID: user})
		must(t, "QueryAudit", err)
		var lastPruned store.AuditEvent
		for _, e := range got {
			if e.ID == es[1].ID {
				lastPruned = e
			}
		}
		now := p0.Add(2 * time.Hour)
		n, err := st.PruneAudit(t.Context(), p0, now)
		must(t, "PruneAudit", err)
		if n < 2 {
			t.Errorf("PruneAudit = %d, want at least this test's 2 old events", n)
		}
		got, err = st.QueryAudit(t.Context(), store.AuditQuery{UserID: user})
		must(t, "QueryAudit", err)
		same(t, "events left after PruneAudit", unchained(t, got), []store.AuditEvent{es[4], es[2], es[3]})

		rep := verify(t, st)
		if rep.Chain.AnchorID != es[1].ID || !bytes.Equal(rep.Chain.AnchorHash, lastPruned.Hash) || rep.FirstID != es[2].ID {
			t.Fatalf("after pruning the chain starts after event %d (%x) with event %d; want after %d (%x) with %d",
				rep.Chain.AnchorID, rep.Chain.AnchorHash, rep.FirstID, es[1].ID, lastPruned.Hash, es[2].ID)
		}
		pruned, err := st.QueryAudit(t.Context(), store.AuditQuery{Type: store.AuditPruned, Since: now, Until: now.Add(time.Microsecond)})
		must(t, "QueryAudit", err)
		var d map[string]string
		if len(pruned) != 1 || json.Unmarshal(pruned[0].Detail, &d) != nil || d["deleted"] != strconv.FormatInt(n, 10) ||
			d["anchor_id"] != strconv.FormatInt(es[1].ID, 10) || d["anchor_hash"] != fmt.Sprintf("%x", lastPruned.Hash) {
			t.Fatalf("pruning recorded %+v, want one %s event naming the count and the anchor", pruned, store.AuditPruned)
		}

		n, err = st.PruneAudit(t.Context(), p0, now.Add(time.Minute))
		must(t, "second PruneAudit", err)
		if n != 0 {
			t.Errorf("second PruneAudit = %d, want 0", n)
		}
		if again, _ := st.QueryAudit(t.Context(), store.AuditQuery{Type: store.AuditPruned, Since: now.Add(time.Minute)}); len(again) != 0 {
			t.Errorf("a prune that deleted nothing recorded %+v", again)
		}

		t.Run("pruning every event leaves a chain that goes on from its last hash", func(t *testing.T) {
			later := p0.Add(100 * time.Hour)
			n, err := st.PruneAudit(t.Context(), later, later)
			must(t, "PruneAudit", err)
			if n == 0 {
				t.Fatal("PruneAudit of everything deleted nothing")
			}
			appendEvents(t, st, newEvent(user, "after", later.Add(time.Second)))
			rep := verify(t, st)
			if rep.Chained != 2 {
				t.Fatalf("after pruning everything the chain holds %d events, want the prune's record and the new one", rep.Chained)
			}
		})
	}},
}
