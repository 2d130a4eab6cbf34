// Package audit records what happened to whom: typed events appended to
// the store (append-only) and mirrored to the log with stable keys.
//
// It must never record a password, code, token or secret; Detail carries
// only identifiers and reasons.
package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Event types.
const (
	SignInSuccess    = "signin.success"
	SignInFailure    = "signin.failure"
	SignInMFAFailure = "signin.mfa_failure"
	SignOut          = "signout"
	FactorEnrolled   = "factor.enrolled"
	FactorRemoved    = "factor.removed"
	PasswordChanged  = "password.changed"
	PasswordReset    = "password.reset"
	AccountUnlocked  = "account.unlocked"
	// ExpiryReminder: `gatehouse notify expiring` mailed the user.
	ExpiryReminder = "password.expiry_reminder"
	TokenIssued    = "token.issued"
)

// Event is one thing that happened.
type Event struct {
	Type   string
	UserID string
	Login  string
	App    string
	Result string // "ok" or a short reason such as "invalid_credentials"
	Detail map[string]string
}

// Recorder writes events. Concurrent Records share transactions (group
// commit): each caller still returns only once its event is stored, but
// under load one write carries many events.
type Recorder struct {
	store store.Audit
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	queue   []queued
	writing bool // a writer holds the queue; new events just join it
}

type queued struct {
	ev   store.AuditEvent
	done chan error
}

// New returns a Recorder writing to s and log.
func New(s store.Audit, log *slog.Logger, now func() time.Time) *Recorder {
	return &Recorder{store: s, log: log, now: now}
}

// Record appends e with the request id and client IP from ctx. A failure
// to store is logged, never returned: auditing must not break sign-in.
func (r *Recorder) Record(ctx context.Context, e Event) {
	var detail []byte
	if len(e.Detail) > 0 {
		detail, _ = json.Marshal(e.Detail)
	}
	ev := store.AuditEvent{
		Time: r.now().UTC(), Type: e.Type, UserID: e.UserID, Login: e.Login, IP: observe.ClientIP(ctx),
		RequestID: observe.RequestID(ctx), App: e.App, Result: e.Result, Detail: detail,
	}
	attrs := []any{"event", e.Type, "user", e.Login, "user_id", e.UserID, "result", e.Result}
	if e.App != "" {
		attrs = append(attrs, "rp", e.App)
	}
	for k, v := range e.Detail {
		attrs = append(attrs, k, v)
	}
	r.log.InfoContext(ctx, "audit", attrs...)
	if err := r.append(ctx, ev); err != nil {
		r.log.ErrorContext(ctx, "audit event not stored", "event", e.Type, "err", err)
	}
}

// append queues ev and waits until it is stored. The first caller to find
// no write in progress becomes the writer.
func (r *Recorder) append(ctx context.Context, ev store.AuditEvent) error {
	done := make(chan error, 1)
	r.mu.Lock()
	r.queue = append(r.queue, queued{ev: ev, done: done})
	lead := !r.writing
	r.writing = true
	r.mu.Unlock()
	if lead {
		r.writeQueued(context.WithoutCancel(ctx))
	}
	return <-done
}

// writeQueued stores everything queued in one transaction and answers its
// callers. Whatever queued meanwhile is written by a new goroutine, so no
// caller writes for others for long.
func (r *Recorder) writeQueued(ctx context.Context) {
	r.mu.Lock()
	batch := r.queue
	r.queue = nil
	r.mu.Unlock()
	evs := make([]store.AuditEvent, len(batch))
	for i, q := range batch {
		evs[i] = q.ev
	}
	err := r.store.AppendAudits(ctx, evs)
	for _, q := range batch {
		q.done <- err
	}
	r.mu.Lock()
	more := len(r.queue) > 0
	r.writing = more
	r.mu.Unlock()
	if more {
		// The events queued meanwhile belong to other requests, which
		// may outlive this one: their write must not carry its ctx.
		go r.writeQueued(context.Background()) //nolint:gosec // see above
	}
}
