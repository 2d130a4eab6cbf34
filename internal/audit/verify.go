package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Walker reads the whole trail in chain order; every store backend is one.
type Walker interface {
	WalkAudit(ctx context.Context, fn func(store.AuditChain, store.AuditEvent) error) (store.AuditChain, error)
}

// Report is what Verify found.
type Report struct {
	// Chained is how many events were checked; Legacy how many were stored
	// before the upgrade that added the chain (not covered by it).
	Chained, Legacy int64
	// FirstID and LastID are the first and last chained events (0 when
	// there is none).
	FirstID, LastID int64
	// Chain is the chain's state: where it starts (after the anchor) and
	// its head.
	Chain store.AuditChain
	// Problem is the first thing wrong, nil when the chain is intact.
	Problem *Problem
}

// The kinds of Problem.
const (
	ProblemModified  = "modified"  // an event's content does not match its hash
	ProblemBroken    = "broken"    // an event does not name the hash of the one before it
	ProblemUnchained = "unchained" // an event carries no hash
	ProblemTruncated = "truncated" // the last events are gone, or events follow the head
)

// Problem is where the chain breaks and how.
type Problem struct {
	ID   int64  `json:"id"` // the event at which it was found
	Kind string `json:"kind"`
	Msg  string `json:"message"`
}

func (p *Problem) Error() string { return p.Msg }

// errStop ends a walk at the first problem.
var errStop = errors.New("audit: stop")

// Verify walks the trail and checks the chain: every chained event's hash
// matches its content, each names the hash of the event before it (the
// first one the anchor's), and the last is the chain's head. It reports
// the first event where that fails; an error is returned only when the
// trail could not be read.
//
// A modified event shows as a hash that does not match its content. A
// deleted event, or events moved among the others (renumbered or their
// rows swapped), show as a broken link: the event after the gap names a
// hash that is not the one before it. Events deleted at the end show as a
// head that is not the last event. An event written past Gatehouse shows
// as one without a hash.
//
// Whoever can rewrite every event from some point on and the chain's
// state can forge a consistent chain: compare the head Verify reports with
// a copy kept elsewhere (an earlier --verify's output) to catch that.
func Verify(ctx context.Context, w Walker) (Report, error) {
	var (
		rep    Report
		prev   []byte
		prevID int64
		// pruned: an audit.pruned event names the chain's anchor, so the
		// events before it were deleted by Gatehouse's retention.
		pruned bool
	)
	problem := func(id int64, kind, format string, args ...any) error {
		rep.Problem = &Problem{ID: id, Kind: kind, Msg: fmt.Sprintf(format, args...)}
		return errStop
	}
	chain, err := w.WalkAudit(ctx, func(c store.AuditChain, e store.AuditEvent) error {
		if e.ID <= c.LegacyUntil && len(e.Hash) == 0 && len(e.PrevHash) == 0 {
			rep.Legacy++
			return nil
		}
		what := describe(e)
		switch {
		case e.ID <= c.AnchorID:
			return problem(e.ID, ProblemBroken, "event %s lies before the start of the chain (event %d): it was inserted or renumbered past Gatehouse", what, c.AnchorID)
		case len(e.Hash) == 0:
			return problem(e.ID, ProblemUnchained, "event %s carries no hash: it was written past Gatehouse", what)
		case !bytes.Equal(store.AuditHash(e.PrevHash, e), e.Hash):
			return problem(e.ID, ProblemModified, "event %s was modified: its content does not match its hash", what)
		}
		if rep.Chained == 0 {
			if !bytes.Equal(e.PrevHash, c.AnchorHash) {
				return problem(e.ID, ProblemBroken, "event %s does not follow the start of the chain (after event %d): an event before it was deleted, or events were reordered", what, c.AnchorID)
			}
			rep.FirstID = e.ID
		} else if !bytes.Equal(e.PrevHash, prev) {
			return problem(e.ID, ProblemBroken, "event %s does not follow event %d: an event between them was deleted, events were reordered, or event %d was rewritten", what, prevID, prevID)
		}
		rep.Chained++
		prev, prevID, rep.LastID = e.Hash, e.ID, e.ID
		pruned = pruned || namesAnchor(e, c)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return Report{}, err
	}
	rep.Chain = chain
	if rep.Problem != nil {
		return rep, nil
	}
	if chain.AnchorID > chain.LegacyUntil && !pruned {
		// The chain's start was moved past the migration's, and no
		// pruning recorded it: events were deleted from the start and the
		// anchor moved past Gatehouse.
		rep.Problem = &Problem{ID: chain.AnchorID, Kind: ProblemBroken,
			Msg: fmt.Sprintf("the chain starts after event %d, but no %s event records pruning up to it: the events before it were deleted past Gatehouse", chain.AnchorID, AuditPruned)}
		return rep, nil
	}
	last, lastHash := chain.AnchorID, chain.AnchorHash
	if rep.Chained > 0 {
		last, lastHash = prevID, prev
	}
	switch {
	case last < chain.HeadID:
		rep.Problem = &Problem{ID: chain.HeadID, Kind: ProblemTruncated,
			Msg: fmt.Sprintf("the chain ends at event %d but its head is event %d: the events after %d were deleted", last, chain.HeadID, last)}
	case last == chain.HeadID && !bytes.Equal(lastHash, chain.HeadHash):
		rep.Problem = &Problem{ID: last, Kind: ProblemModified,
			Msg: fmt.Sprintf("event %d, the last, does not match the chain's head: it was rewritten", last)}
	case last != chain.HeadID:
		rep.Problem = &Problem{ID: last, Kind: ProblemTruncated,
			Msg: fmt.Sprintf("the chain's head is event %d, but it goes on to event %d: events were appended past Gatehouse", chain.HeadID, last)}
	}
	return rep, nil
}

// describe names an event for a problem: its ID, time and type.
func describe(e store.AuditEvent) string {
	return fmt.Sprintf("%d (%s %s)", e.ID, e.Time.UTC().Format(time.RFC3339), e.Type)
}

// ShortHash is how a hash is shown to people: its first 16 hex digits.
func ShortHash(h []byte) string {
	s := hex.EncodeToString(h)
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

// namesAnchor reports whether e is the audit.pruned event that moved the
// chain's start to c's anchor.
func namesAnchor(e store.AuditEvent, c store.AuditChain) bool {
	if e.Type != AuditPruned {
		return false
	}
	var d map[string]string
	if json.Unmarshal(e.Detail, &d) != nil {
		return false
	}
	return d["anchor_id"] == strconv.FormatInt(c.AnchorID, 10) && d["anchor_hash"] == hex.EncodeToString(c.AnchorHash)
}
