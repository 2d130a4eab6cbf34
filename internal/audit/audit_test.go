package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
)

// gate is a store.Audit whose first batch waits until released, so the
// test can pile events up behind it.
type gate struct {
	store.Audit
	mu      sync.Mutex
	batches [][]store.AuditEvent
	first   chan struct{}
	fail    error
}

func (g *gate) AppendAudits(_ context.Context, es []store.AuditEvent) error {
	g.mu.Lock()
	n := len(g.batches)
	g.batches = append(g.batches, es)
	g.mu.Unlock()
	if n == 0 {
		<-g.first
	}
	return g.fail
}

func (g *gate) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	return 0, g.AppendAudits(ctx, []store.AuditEvent{e})
}

func TestConcurrentEventsShareAWriteAndEveryCallerWaitsForItsOwn(t *testing.T) {
	g := &gate{first: make(chan struct{})}
	r := New(g, slog.New(slog.DiscardHandler), time.Now)
	firstDone := make(chan struct{})
	go func() { r.Record(t.Context(), Event{Type: "first"}); close(firstDone) }()
	for { // wait until the first write is in flight
		g.mu.Lock()
		n := len(g.batches)
		g.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	returned := make(chan string, 20)
	for range 20 {
		wg.Go(func() { r.Record(t.Context(), Event{Type: "later"}); returned <- "later" })
	}
	// Nobody returns while the write carrying their event has not happened.
	for {
		r.mu.Lock()
		queued := len(r.queue)
		r.mu.Unlock()
		if queued == 20 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-returned:
		t.Fatal("a Record returned before its event was written")
	case <-firstDone:
		t.Fatal("the first Record returned before its write finished")
	default:
	}
	close(g.first)
	wg.Wait()
	<-firstDone
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.batches) != 2 || len(g.batches[0]) != 1 || len(g.batches[1]) != 20 {
		sizes := []int{}
		for _, b := range g.batches {
			sizes = append(sizes, len(b))
		}
		t.Fatalf("batches of %v, want [1 20]", sizes)
	}
}

func TestAFailedWriteIsLoggedNotReturned(t *testing.T) {
	g := &gate{first: make(chan struct{}), fail: errors.New("disk full")}
	close(g.first)
	var logs bytes.Buffer
	New(g, slog.New(slog.NewTextHandler(&logs, nil)), time.Now).Record(t.Context(), Event{Type: "x"})
	if len(g.batches) != 1 || !strings.Contains(logs.String(), `msg="audit event not stored" event=x err="disk full"`) {
		t.Fatalf("%d writes; log:\n%s", len(g.batches), logs.String())
	}
}

// picky refuses any event whose login is "bad", alone or in a batch.
type picky struct {
	store.Audit
	mu     sync.Mutex
	stored []string
}

func (p *picky) AppendAudits(_ context.Context, es []store.AuditEvent) error {
	for _, e := range es {
		if e.Login == "bad" {
			return errors.New("refused")
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range es {
		p.stored = append(p.stored, e.Login)
	}
	return nil
}

func (p *picky) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	return 0, p.AppendAudits(ctx, []store.AuditEvent{e})
}

func TestAnEventTheStoreRefusesLosesOnlyItself(t *testing.T) {
	p := &picky{}
	r := New(p, slog.New(slog.DiscardHandler), time.Now)
	batch := []queued{{ev: store.AuditEvent{Login: "a"}}, {ev: store.AuditEvent{Login: "bad"}}, {ev: store.AuditEvent{Login: "b"}}}
	errs := r.write(batch)
	if errs[0] != nil || errs[1] == nil || errs[2] != nil || strings.Join(p.stored, ",") != "a,b" {
		t.Fatalf("errors %v, stored %v; want only the bad event lost", errs, p.stored)
	}
}

func TestTextIsMadeStorable(t *testing.T) {
	if got := clean("al\x00ice\xff"); got != "al\uFFFDice\uFFFD" {
		t.Fatalf("clean = %q", got)
	}
}

func TestEveryConcurrentEventIsStoredInSQLite(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	r := New(s, slog.New(slog.DiscardHandler), time.Now)
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() { r.Record(t.Context(), Event{Type: "signin.success", UserID: "u1", Result: "ok"}) })
	}
	wg.Wait()
	got, err := s.QueryAudit(t.Context(), store.AuditQuery{UserID: "u1", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 200 {
		t.Fatalf("%d of 200 events stored", len(got))
	}
}

func TestConcurrentEventsFormAChainThatVerifies(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	r := New(s, slog.New(slog.DiscardHandler), time.Now)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			r.Record(t.Context(), Event{Type: SignInFailure, Login: "alice", Result: "invalid_credentials"})
		})
	}
	wg.Wait()
	rep, err := Verify(t.Context(), s)
	if err != nil || rep.Problem != nil || rep.Chained != 100 {
		t.Fatalf("Verify = %+v, %v; want 100 events in an intact chain", rep, err)
	}
}

func TestAnEventIsStoredAndLoggedWithStableKeysAndNoSecret(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	var logs bytes.Buffer
	r := New(s, observe.NewLogger(&logs, "json", slog.LevelInfo), func() time.Time { return time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC) })
	ctx := observe.WithClientIP(observe.WithRequestID(t.Context(), "req-1"), "2001:db8::1")
	r.Record(ctx, Event{Type: AbuseSmartLockout, UserID: "guid-1", Login: "alice", App: "Microsoft 365", Result: "held",
		Reason: "below_ad_threshold", Familiar: Unfamiliar, Actor: "",
		Detail: map[string]string{"flow": "wstrust", "password": "hunter2", "email_code": "123456", "bad_pwd_count": "3", "password_version": "v1"}})

	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("the audit line is not one JSON object: %v\n%s", err, logs.String())
	}
	want := map[string]any{"msg": "audit", "event": "abuse.smart_lockout", "user": "alice", "user_id": "guid-1", "rp": "Microsoft 365",
		"result": "held", "reason": "below_ad_threshold", "familiar": "unfamiliar", "request_id": "req-1", "client_ip": "2001:db8::1",
		"detail": map[string]any{"flow": "wstrust", "password": "[redacted]", "email_code": "[redacted]", "bad_pwd_count": "3", "password_version": "v1"}}
	for k, v := range want {
		if !reflect.DeepEqual(line[k], v) {
			t.Errorf("log key %q = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["actor"]; ok {
		t.Error("an empty actor was logged")
	}
	if strings.Contains(logs.String(), "hunter2") || strings.Contains(logs.String(), "123456") {
		t.Errorf("a secret reached the log:\n%s", logs.String())
	}

	got, err := s.QueryAudit(t.Context(), store.AuditQuery{UserID: "guid-1"})
	if err != nil || len(got) != 1 {
		t.Fatalf("QueryAudit = %+v, %v", got, err)
	}
	e := got[0]
	if e.Type != AbuseSmartLockout || e.Reason != "below_ad_threshold" || e.Familiar != "unfamiliar" || e.IP != "2001:db8::1" ||
		e.RequestID != "req-1" || e.App != "Microsoft 365" || strings.Contains(string(e.Detail), "hunter2") || strings.Contains(string(e.Detail), "123456") {
		t.Fatalf("stored %+v (detail %s)", e, e.Detail)
	}
}
