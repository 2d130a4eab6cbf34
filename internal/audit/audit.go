// Package audit records what happened to whom: typed events appended to
// the store, which chains each to the one before with a hash
// (store.AuditHash), and mirrored to the log with stable keys. Verify
// checks the chain.
//
// It must never record a password, code, token or secret; Detail carries
// only identifiers and reasons.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Event types. Each names what happened; Result says how it ended ("ok"
// or a short failure code), Reason why where Result alone does not.
const (
	// SignInSuccess and SignInFailure: a sign-in at the page, over
	// WS-Trust (Detail "via") or with a passkey. Result is the failure
	// code; the client address is the event's IP, and Familiar says
	// whether the client signed this user in before (once smart lockout
	// assesses it).
	SignInSuccess    = "signin.success"
	SignInFailure    = "signin.failure"
	SignInMFAFailure = "signin.mfa_failure"
	SignOut          = "signout"
	// MFAUsed: a second factor was verified (Detail "method").
	MFAUsed        = "mfa.used"
	FactorEnrolled = "factor.enrolled"
	FactorRemoved  = "factor.removed"
	// DeviceForgotten: the user made remembered browsers ask for the
	// second step again (Detail "browsers": "one" or "all").
	DeviceForgotten = "device.forgotten"
	// PasswordChanged: a change on /password/change (Detail "where":
	// "self-service"), or of an expired or must-change password at
	// sign-in (Detail "where": "signin", "reason": "expired" or
	// "must_change").
	PasswordChanged = "password.changed"
	PasswordReset   = "password.reset"
	AccountUnlocked = "account.unlocked"
	// ExpiryReminder: `gatehouse notify expiring` mailed the user.
	ExpiryReminder = "password.expiry_reminder"
	TokenIssued    = "token.issued"
	// EAMLinked: an Entra external authentication method request linked
	// its Entra account (Detail "tid", "oid") to the AD user, the first
	// time that account came.
	EAMLinked = "eam.linked"
	// EAMRefused: an Entra external authentication method request was
	// refused before any factor was asked; Result says why (e.g.
	// "hint_refused", "link_mismatch", "unknown_user").
	EAMRefused = "eam.refused"
	// SessionRevoked: Gatehouse ended a session because the directory no
	// longer backs it (Result is the reason, e.g. "account_disabled").
	SessionRevoked = "session.revoked"

	// AbuseThrottled: a limit refused an attempt before the directory or
	// the factor was asked. Reason names the limit (e.g. "per_login",
	// "per_ip"); Detail may say which flow and when to retry.
	AbuseThrottled = "abuse.throttled"
	// AbuseSmartLockout: smart lockout decided about a user's password
	// attempt: held back to keep AD from locking the account, or a repeat
	// of a recent wrong password answered without asking AD. Result is the
	// decision, Reason why, Familiar which budget it came from.
	AbuseSmartLockout = "abuse.smart_lockout"

	// ConfigLoaded: gatehouse serve started with a configuration (Detail:
	// version, storage, directory, apps, and "fingerprint", a SHA-256 of
	// the configuration with secrets redacted, which changes with it).
	ConfigLoaded = "config.loaded"
	// AuditPruned: events older than audit.retention were deleted; Detail
	// names the chain's new anchor (see store.PrunedEvent).
	AuditPruned = store.AuditPruned

	// Admin actions (gatehouse admin …). Actor is the OS user who ran
	// the command.
	AdminUserStatus     = "admin.user_status"
	AdminMFAReset       = "admin.mfa_reset"
	AdminUnlock         = "admin.unlock"
	AdminSessionsRevoke = "admin.sessions_revoke"
	AdminAuditQuery     = "admin.audit_query"
	AdminAuditVerify    = "admin.audit_verify"
)

// Familiarity says whether a sign-in came from a client that signed the
// same user in before: a browser holding that user's device cookie, or
// for WS-Trust an address that signed them in lately.
type Familiarity string

// The familiarities. The zero value means it was not assessed.
const (
	FamiliarityUnknown Familiarity = ""
	Familiar           Familiarity = "familiar"
	Unfamiliar         Familiarity = "unfamiliar"
)

// Event is one thing that happened. The client address and request id
// come from the context Record is given.
type Event struct {
	Type     string
	UserID   string
	Login    string
	App      string
	Result   string // "ok" or a short code such as "invalid_credentials"
	Reason   string // why, where Result alone does not say (which limit, which rule)
	Familiar Familiarity
	Actor    string // who acted, when not the user (admin actions)
	Detail   map[string]string
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

// Record appends e with the request id and client IP from ctx, and
// mirrors it to the log as one line with stable keys: msg "audit",
// event, user, user_id and result, then rp, reason, familiar and actor
// when set, detail (a group), and request_id and client_ip from the
// context; with log.format json, one JSON object per line. Detail keys
// that name a secret (a password, code, token, cookie …; see redact) are
// redacted in both. A failure to store is logged, never returned:
// auditing must not break sign-in.
func (r *Recorder) Record(ctx context.Context, e Event) {
	if err := r.Persist(ctx, e); err != nil {
		r.log.ErrorContext(ctx, "audit event not stored", "event", e.Type, "err", err)
	}
}

// Persist is Record for an event that must be stored: it returns the
// store's error, and the caller retries (after a directory write, the
// audit of it must not be lost).
func (r *Recorder) Persist(ctx context.Context, e Event) error {
	e.Detail = redact(e.Detail)
	var detail []byte
	if len(e.Detail) > 0 {
		detail, _ = json.Marshal(e.Detail)
	}
	ev := store.AuditEvent{
		Time: r.now().UTC(), Type: clean(e.Type), UserID: clean(e.UserID), Login: clean(e.Login), IP: observe.ClientIP(ctx),
		RequestID: observe.RequestID(ctx), App: clean(e.App), Result: clean(e.Result), Reason: clean(e.Reason),
		Familiar: clean(string(e.Familiar)), Actor: clean(e.Actor), Detail: detail,
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "audit", logAttrs(e)...)
	return r.append(ctx, ev)
}

// logAttrs are an event's log keys, in a fixed order.
func logAttrs(e Event) []slog.Attr {
	attrs := []slog.Attr{slog.String("event", e.Type), slog.String("user", e.Login), slog.String("user_id", e.UserID),
		slog.String("result", e.Result)}
	for _, kv := range [][2]string{{"rp", e.App}, {"reason", e.Reason}, {"familiar", string(e.Familiar)}, {"actor", e.Actor}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if len(e.Detail) > 0 {
		keys := slices.Sorted(maps.Keys(e.Detail))
		d := make([]any, 0, 2*len(keys))
		for _, k := range keys {
			d = append(d, k, e.Detail[k])
		}
		attrs = append(attrs, slog.Group("detail", d...))
	}
	return attrs
}

// secretWords are the words that make a detail key name a secret.
var secretWords = []string{"password", "passwd", "secret", "token", "code", "otp", "cookie", "key"}

// redact returns d with the value of every key that names a secret — one
// of secretWords as the whole key or its last _-separated part
// ("password", "email_code", but not "password_version") — replaced: a
// mistaken caller must not put a secret in the audit.
func redact(d map[string]string) map[string]string {
	var out map[string]string
	for k := range d {
		lk := strings.ToLower(k)
		if i := strings.LastIndexByte(lk, '_'); i >= 0 {
			lk = lk[i+1:]
		}
		if slices.Contains(secretWords, lk) {
			if out == nil {
				out = maps.Clone(d)
			}
			out[k] = "[redacted]"
		}
	}
	if out == nil {
		return d
	}
	return out
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
