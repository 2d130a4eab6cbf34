// Package audit records what happened to whom: typed events appended to
// the store (append-only) and mirrored to the log with stable keys.
//
// It must never record a password, code, token or secret; Detail carries
// only identifiers and reasons.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
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
	// SessionRevoked: Gatehouse ended a session because the directory no
	// longer backs it (Result is the reason, e.g. "account_disabled").
	SessionRevoked = "session.revoked"
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
	if err := r.Persist(ctx, e); err != nil {
		r.log.ErrorContext(ctx, "audit event not stored", "event", e.Type, "err", err)
	}
}

// Persist is Record for an event that must be stored: it returns the
// store's error, and the caller retries (after a directory write, the
// audit of it must not be lost).
func (r *Recorder) Persist(ctx context.Context, e Event) error {
	var detail []byte
	if len(e.Detail) > 0 {
		detail, _ = json.Marshal(e.Detail)
	}
	ev := store.AuditEvent{
		Time: r.now().UTC(), Type: clean(e.Type), UserID: clean(e.UserID), Login: clean(e.Login), IP: observe.ClientIP(ctx),
		RequestID: observe.RequestID(ctx), App: clean(e.App), Result: clean(e.Result), Detail: detail,
	}
	attrs := []any{"event", e.Type, "user", e.Login, "user_id", e.UserID, "result", e.Result}
	if e.App != "" {
		attrs = append(attrs, "rp", e.App)
	}
	for k, v := range e.Detail {
		attrs = append(attrs, k, v)
	}
	r.log.InfoContext(ctx, "audit", attrs...)
	return r.append(ctx, ev)
}

// writeTimeout bounds one batch write: a hung database must not hold the
// requests that record events for ever.
const writeTimeout = 10 * time.Second

// append queues ev and waits until it is stored, or until ctx ends (the
// event is still written). The first caller to find no write in progress
// becomes the writer.
func (r *Recorder) append(ctx context.Context, ev store.AuditEvent) error {
	done := make(chan error, 1)
	r.mu.Lock()
	r.queue = append(r.queue, queued{ev: ev, done: done})
	lead := !r.writing
	r.writing = true
	r.mu.Unlock()
	if lead {
		r.writeQueued()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeQueued stores everything queued in one transaction and answers its
// callers. Whatever queued meanwhile is written by a new goroutine, so no
// caller writes for others for long. The events belong to several
// requests, so the write carries none of their contexts.
func (r *Recorder) writeQueued() {
	r.mu.Lock()
	batch := r.queue
	r.queue = nil
	r.mu.Unlock()
	answered := false
	defer func() { // also after a panic in the store: answer everyone, hand the writing on
		if !answered {
			for _, q := range batch {
				q.done <- errors.New("audit: the store failed while writing")
			}
		}
		r.mu.Lock()
		more := len(r.queue) > 0
		r.writing = more
		r.mu.Unlock()
		if more {
			go r.writeQueued()
		}
	}()
	errs := r.write(batch)
	for i, q := range batch {
		q.done <- errs[i]
	}
	answered = true
}

// write stores the batch in one transaction. When that fails it stores the
// events one by one, so one event the database refuses loses only itself.
func (r *Recorder) write(batch []queued) []error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	errs := make([]error, len(batch))
	evs := make([]store.AuditEvent, len(batch))
	for i, q := range batch {
		evs[i] = q.ev
	}
	if len(evs) == 1 || r.store.AppendAudits(ctx, evs) != nil {
		for i, ev := range evs {
			_, errs[i] = r.store.AppendAudit(ctx, ev)
		}
	}
	return errs
}

// clean makes user-supplied text storable everywhere: valid UTF-8 without
// NUL (PostgreSQL refuses both).
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
