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

// Recorder writes events.
type Recorder struct {
	store store.Audit
	log   *slog.Logger
	now   func() time.Time
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
	if _, err := r.store.AppendAudit(ctx, ev); err != nil {
		r.log.ErrorContext(ctx, "audit event not stored", "event", e.Type, "err", err)
	}
}
