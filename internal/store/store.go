package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

var (
	// ErrNotFound is returned when a record does not exist (or has expired
	// where the method says so).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when creating a record whose key already exists.
	ErrConflict = errors.New("store: conflict")
	// ErrCapacity is returned when a store that keeps flows in memory holds
	// as many as it may (memflows).
	ErrCapacity = errors.New("store: too many flows in progress")
)

// Session is a signed-in browser session.
type Session struct {
	ID         string    // random, at least 128 bits; the cookie carries it
	UserID     string    // stable directory key of the user (e.g. objectGUID hex)
	Login      string    // what the user typed, for display
	Methods    []string  // RFC 8176 amr values actually used: pwd, otp, hwk, swk, mfa
	AuthTime   time.Time // when the password (or passwordless factor) was verified
	MFATime    time.Time // zero when no second factor was used
	CreatedAt  time.Time
	LastSeenAt time.Time // for the idle timeout
	IdleExpiry time.Time // LastSeenAt + idle timeout
	ExpiresAt  time.Time // absolute expiry
	Data       []byte    // opaque to the store
}

// Flow is an in-progress sign-in or self-service flow, bound to a browser
// by a cookie.
type Flow struct {
	ID        string
	Kind      string // e.g. "signin", "reset", "change", "unlock"
	UserID    string // empty until identified
	Step      string // current step name
	Data      []byte // opaque state owned by the flow engine
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Credential is a user's enrolled factor (TOTP seed, WebAuthn credential,
// recovery-code set, …). Secret is sealed by the caller.
type Credential struct {
	ID         string
	UserID     string
	Type       string // "totp", "webauthn", "recovery", …
	Name       string // user-given label
	LookupKey  string // optional, unique per Type when set (e.g. WebAuthn credential ID)
	Secret     []byte // sealed by the caller; never stored in the clear
	Data       []byte // opaque public data (e.g. WebAuthn public key, last TOTP step)
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// AuditEvent is one append-only audit record. The store chains every
// event it appends to the one before (see AuditHash): PrevHash and Hash
// are set by the store, whatever the caller passes.
type AuditEvent struct {
	ID        int64 // assigned by the store, increasing
	Time      time.Time
	Type      string // e.g. "signin.success", "password.reset"
	UserID    string
	Login     string
	IP        string
	RequestID string
	App       string
	Result    string // "ok", or a short failure code
	Reason    string // why a decision went as it did, when Result alone does not say
	Familiar  string // "familiar", "unfamiliar", or "" when not assessed
	Actor     string // who acted, when not the user: the OS user running gatehouse admin
	Detail    []byte // JSON object, opaque to the store; never a secret
	PrevHash  []byte // the Hash of the event before this one in the chain
	Hash      []byte // AuditHash(PrevHash, this event)
}

// AuditQuery selects audit events; zero fields do not filter. Events come
// newest first.
type AuditQuery struct {
	// UserID and Logins select the events about one account: those whose
	// user ID is UserID or whose login is one of Logins (ASCII
	// case-insensitively; a failed sign-in knows only the login typed).
	UserID string
	Logins []string
	Type   string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
	Limit  int       // 0 means 100
}

// AuditChain is the state of the audit hash chain. Events with an ID up to
// LegacyUntil were appended before the chain existed (before the migration
// that added it) and carry no hash. The chain runs from the first event
// after AnchorID, whose PrevHash is AnchorHash, to HeadID, whose Hash is
// HeadHash; pruning moves the anchor to the last event it deleted.
type AuditChain struct {
	LegacyUntil int64
	AnchorID    int64
	AnchorHash  []byte
	HeadID      int64
	HeadHash    []byte
}

// Counter is a throttle counter in a fixed window.
type Counter struct {
	Key         string
	Count       int
	WindowStart time.Time
	ExpiresAt   time.Time // WindowStart + window
}

// Ticket is a single-use, expiring token: an email code, an authorization
// code, an assertion ID kept for replay detection, a reset link.
type Ticket struct {
	Kind      string // namespace, e.g. "emailcode", "oidc.code", "saml.replay"
	ID        string // unique within Kind
	UserID    string
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Link ties an account at an outside identity provider to the directory
// user Gatehouse found for it: a Microsoft Entra user (tenant + object id)
// that an external authentication method request named, and the AD user
// its name led to. A later request for the same outside account must find
// the same user, and that user no other outside account of the provider.
type Link struct {
	Provider  string // the outside provider, e.g. "entra:<tenant id>"
	Subject   string // its stable id for the account (Entra: the oid)
	UserID    string // the directory user (directory.User.ID)
	CreatedAt time.Time
}

// GCResult counts what GarbageCollect removed.
type GCResult struct {
	Sessions, Flows, Counters, Tickets int64
}

// Sessions stores browser sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s Session) error // ErrConflict on a duplicate ID
	// GetSession returns ErrNotFound for a missing session and for one whose
	// ExpiresAt or IdleExpiry is not after now.
	GetSession(ctx context.Context, id string, now time.Time) (Session, error)
	// UpdateSession applies fn atomically: no concurrent update is lost.
	// An error from fn aborts the update and is returned unchanged.
	UpdateSession(ctx context.Context, id string, fn func(Session) (Session, error)) (Session, error)
	DeleteSession(ctx context.Context, id string) error // ErrNotFound when missing
	ListUserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	DeleteUserSessions(ctx context.Context, userID string) (int64, error)
	// DeleteUserSessionsExcept deletes every session of the user, expired or
	// not, except the one with id keep (a password change ends the user's
	// other sessions, not the one that made it), and returns how many it
	// deleted. A keep that is not one of the user's sessions keeps nothing.
	DeleteUserSessionsExcept(ctx context.Context, userID, keep string) (int64, error)
}

// Flows stores in-progress flows.
type Flows interface {
	CreateFlow(ctx context.Context, f Flow) error
	// GetFlow returns ErrNotFound for a missing or expired flow.
	GetFlow(ctx context.Context, id string, now time.Time) (Flow, error)
	UpdateFlow(ctx context.Context, id string, fn func(Flow) (Flow, error)) (Flow, error)
	DeleteFlow(ctx context.Context, id string) error
}

// Credentials stores enrolled factors.
type Credentials interface {
	// CreateCredential returns ErrConflict on a duplicate ID or a duplicate
	// (Type, LookupKey) when LookupKey is set.
	CreateCredential(ctx context.Context, c Credential) error
	GetCredential(ctx context.Context, id string) (Credential, error)
	GetCredentialByLookupKey(ctx context.Context, typ, key string) (Credential, error)
	ListCredentials(ctx context.Context, userID string) ([]Credential, error) // oldest first
	UpdateCredential(ctx context.Context, id string, fn func(Credential) (Credential, error)) (Credential, error)
	DeleteCredential(ctx context.Context, id string) error
	DeleteUserCredentials(ctx context.Context, userID, typ string) (int64, error) // typ "" = all
}

// Audit stores audit events, append-only and hash-chained: each append
// reads the chain's head, chains the event to it and moves the head, all
// in one transaction that concurrent appends — from other processes too —
// wait for.
type Audit interface {
	// AppendAudit chains and stores the event and returns the ID the store
	// assigned; e.ID, e.PrevHash and e.Hash are ignored.
	AppendAudit(ctx context.Context, e AuditEvent) (int64, error)
	// AppendAudits appends es in order in one transaction: all or none.
	AppendAudits(ctx context.Context, es []AuditEvent) error
	QueryAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	// PruneAudit deletes the oldest events: the start of the chain up to
	// the first event at or after before (an event from a clock running
	// late after it stays). When it deletes any, it moves the chain's
	// anchor to the last one deleted and appends an AuditPruned event,
	// stamped now, that names the anchor, so the rest still verifies. It
	// returns how many it deleted.
	PruneAudit(ctx context.Context, before, now time.Time) (int64, error)
	// WalkAudit calls fn with the chain's state and each stored event in
	// chain order (by ID), legacy events included, all read in one
	// consistent snapshot while appends go on, and returns the state. An
	// error from fn stops the walk and is returned.
	WalkAudit(ctx context.Context, fn func(AuditChain, AuditEvent) error) (AuditChain, error)
}

// Throttle keeps fixed-window counters for rate limits and smart lockout.
type Throttle interface {
	// IncrementCounter atomically adds one to key's counter. When no counter
	// exists or its window has ended (ExpiresAt <= now), a new window of
	// length window starts at now with Count 1.
	IncrementCounter(ctx context.Context, key string, now time.Time, window time.Duration) (Counter, error)
	// GetCounter returns the live counter, or a zero Counter with Key set
	// (and no error) when none exists or it has ended.
	GetCounter(ctx context.Context, key string, now time.Time) (Counter, error)
	// IncrementSlidingCounter is IncrementCounter with a sliding window:
	// every increment also moves ExpiresAt to now+window (never earlier
	// than it was), so the counter ends window after its last increment,
	// as Active Directory's observation window does. A counter that has
	// ended starts again at one.
	IncrementSlidingCounter(ctx context.Context, key string, now time.Time, window time.Duration) (Counter, error)
	// DecrementCounter atomically takes one from key's live counter, never
	// below zero, and returns it; it returns a zero Counter with Key set
	// (and no error) when none is live. It gives back an attempt counted
	// in advance that turned out not to count.
	DecrementCounter(ctx context.Context, key string, now time.Time) (Counter, error)
	ResetCounter(ctx context.Context, key string) error // no error when missing
}

// Tickets stores single-use tokens.
type Tickets interface {
	CreateTicket(ctx context.Context, t Ticket) error // ErrConflict when (Kind, ID) exists, even expired-but-not-collected
	// ConsumeTicket atomically deletes and returns the ticket. It returns
	// ErrNotFound when missing, already consumed or expired at now; of many
	// concurrent consumers exactly one succeeds.
	ConsumeTicket(ctx context.Context, kind, id string, now time.Time) (Ticket, error)
}

// Links stores links between outside accounts and directory users: one
// user per (Provider, Subject), one subject per (Provider, UserID).
type Links interface {
	// CreateLink stores l; ErrConflict when its (Provider, Subject) or its
	// (Provider, UserID) is linked already.
	CreateLink(ctx context.Context, l Link) error
	// GetLink returns the link of the provider's subject; ErrNotFound
	// when there is none.
	GetLink(ctx context.Context, provider, subject string) (Link, error)
	// GetUserLink returns the user's link at the provider; ErrNotFound
	// when there is none.
	GetUserLink(ctx context.Context, provider, userID string) (Link, error)
	// DeleteUserLinks removes every link of the user (an administrator
	// lets an account whose outside id changed on purpose link again) and
	// returns how many.
	DeleteUserLinks(ctx context.Context, userID string) (int64, error)
}

// Store is every role together, as a backend implements it.
type Store interface {
	Sessions
	Flows
	Credentials
	Audit
	Throttle
	Tickets
	Links
	// Ping checks the backend answers; /readyz uses it.
	Ping(ctx context.Context) error
	// GarbageCollect deletes sessions, flows, counters and tickets that have
	// expired at now.
	GarbageCollect(ctx context.Context, now time.Time) (GCResult, error)
	Close() error
}

// Observer is told about every store operation, for metrics. op is the
// method name; err is what the method returned.
type Observer func(op string, d time.Duration, err error)

// Start begins timing op, done for the request in ctx; call the returned
// function, deferred, with a pointer to the error the method returns. The
// time also goes to the request's store phase (Server-Timing). With a nil
// Observer and no timings in ctx it costs nothing.
func (o Observer) Start(ctx context.Context, op string) func(*error) {
	t := observe.TimingsFrom(ctx)
	if o == nil && t == nil {
		return func(*error) {}
	}
	start := time.Now()
	return func(err *error) {
		d := time.Since(start)
		t.Add(observe.PhaseStore, d)
		if o != nil {
			o(op, d, *err)
		}
	}
}

// Options configures a backend when it is opened. The zero value is valid:
// no logging and no metrics.
type Options struct {
	Logger  *slog.Logger // nil discards; the store logs no record contents
	Observe Observer     // nil disables; must be safe for concurrent use
}
