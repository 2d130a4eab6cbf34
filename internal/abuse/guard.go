package abuse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Scopes: which limit refused an attempt.
const (
	ScopeAddress  = "address"         // too many wrong passwords from the client's address
	ScopeLogin    = "login"           // too many for the name typed
	ScopeAccount  = "account"         // too many for the account from unfamiliar clients
	ScopeFamiliar = "familiar_client" // too many from this familiar client
	// ScopeDirectory: AD's own count is near its lockout threshold (smart
	// lockout).
	ScopeDirectory = "directory"
	// ScopeCodes: too many wrong codes for the signed-in user, all methods.
	ScopeCodes = "codes"
	// ScopeSelfServiceAddress: too many wrong codes in reset and unlock
	// from the client's address.
	ScopeSelfServiceAddress = "self_service_address"
	// ScopeSelfServiceAccount: self-service verification is closed for the
	// account until the user signs in or an administrator resets it.
	ScopeSelfServiceAccount = "self_service_account"
)

// ErrThrottled is what every refusal matches with errors.Is; errors.As
// with *Throttled tells which limit and for how long.
var ErrThrottled = errors.New("abuse: too many attempts")

// Throttled is a refusal.
type Throttled struct {
	Scope string
	// RetryAfter is when the limit may let the attempt through again; zero
	// for ScopeSelfServiceAccount, which only a sign-in or an administrator
	// lifts.
	RetryAfter time.Duration
}

// Error names the scope.
func (t *Throttled) Error() string { return "abuse: too many attempts (" + t.Scope + ")" }

// Is makes errors.Is(err, ErrThrottled) true.
func (t *Throttled) Is(target error) bool { return target == ErrThrottled }

// RetryAfter returns the wait err asks for in whole seconds (at least one),
// for a Retry-After header, and false when err is no refusal or names no
// time.
func RetryAfter(err error) (int, bool) {
	var t *Throttled
	if !errors.As(err, &t) {
		return 0, false
	}
	return t.RetryAfterSeconds()
}

// RetryAfterSeconds is RetryAfter of t: a protocol package can ask any
// error for it (errors.As with an interface) without importing abuse.
func (t *Throttled) RetryAfterSeconds() (int, bool) {
	if t.RetryAfter <= 0 {
		return 0, false
	}
	return max(1, int(math.Ceil(t.RetryAfter.Seconds()))), true
}

// Limits are the guard's settings; config.Abuse in other words.
type Limits struct {
	IPv6Prefix int

	Window            time.Duration
	PerAccount        int
	PerFamiliarClient int
	PerAddress        int
	DirectoryMargin   int
	FamiliarFor       time.Duration
	RememberWrong     time.Duration

	CodeWindow             time.Duration
	CodesPerUser           int
	SelfServicePerAddress  int
	SelfServiceMaxFailures int
}

// FromConfig takes the limits from the configuration.
func FromConfig(c config.Abuse) Limits {
	return Limits{
		IPv6Prefix: c.IPv6Prefix,
		Window:     c.Passwords.Window, PerAccount: c.Passwords.PerAccount, PerFamiliarClient: c.Passwords.PerFamiliarClient,
		PerAddress: c.Passwords.PerAddress, DirectoryMargin: c.Passwords.DirectoryMargin,
		FamiliarFor: c.Passwords.FamiliarFor, RememberWrong: c.Passwords.RememberWrong,
		CodeWindow: c.Codes.Window, CodesPerUser: c.Codes.PerUser,
		SelfServicePerAddress: c.Codes.SelfServicePerAddress, SelfServiceMaxFailures: c.Codes.SelfServiceMaxFailures,
	}
}

// Defaults are the limits of the default configuration.
func Defaults() Limits { return FromConfig(config.Default().Abuse) }

// Store is what the guard keeps: counters, and familiar browsers as
// credentials of type "familiar" (only a hash of the token).
type Store interface {
	store.Throttle
	store.Credentials
}

// Auditor records the guard's decisions; *audit.Recorder is one.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// Options are the guard's collaborators.
type Options struct {
	Limits Limits
	Store  Store
	// Directory answers passwords. A directory.CheckedAuthenticator is
	// asked in its own two round trips; any other is looked up first.
	Directory directory.Directory
	// Key keys the hashes of typed logins and wrong passwords: at least 32
	// bytes, e.g. secrets.Box.DeriveKey("abuse").
	Key []byte
	// Audit, when set, records throttling and smart-lockout decisions.
	Audit  Auditor
	Logger *slog.Logger
	Now    func() time.Time
}

// Guard is the one place that decides whether an attempt may go on. It is
// safe for concurrent use.
type Guard struct {
	lim   Limits
	store Store
	dir   directory.Directory
	key   []byte
	audit Auditor
	log   *slog.Logger
	now   func() time.Time

	domainMu      sync.Mutex
	domainBudget  int
	domainExpires time.Time
}

// New builds the guard.
func New(o Options) (*Guard, error) {
	if o.Store == nil || o.Directory == nil {
		return nil, errors.New("abuse: a store and a directory are required")
	}
	if len(o.Key) < 32 {
		return nil, errors.New("abuse: the hash key must be at least 32 bytes")
	}
	l := o.Limits
	if l.Window <= 0 || l.CodeWindow <= 0 || l.PerAccount < 1 || l.PerFamiliarClient < 1 || l.PerAddress < 1 ||
		l.CodesPerUser < 1 || l.SelfServicePerAddress < 1 || l.SelfServiceMaxFailures < 1 || l.DirectoryMargin < 0 {
		return nil, fmt.Errorf("abuse: limits out of range: %+v", l)
	}
	if l.IPv6Prefix == 0 {
		l.IPv6Prefix = 64
	}
	g := &Guard{lim: l, store: o.Store, dir: o.Directory, key: o.Key, audit: o.Audit, log: o.Logger, now: o.Now}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	return g, nil
}

// Limits returns the guard's settings.
func (g *Guard) Limits() Limits { return g.lim }

func (g *Guard) client(ip string) string { return ClientKey(ip, g.lim.IPv6Prefix) }

// ledger is what one attempt took, to settle.
type ledger struct {
	g     *Guard
	now   time.Time
	taken []string
}

// take counts one attempt under key and reports whether it is within
// limit. A sliding key's window runs on from its last attempt.
func (l *ledger) take(ctx context.Context, key string, limit int, window time.Duration, sliding bool) (store.Counter, bool, error) {
	inc := l.g.store.IncrementCounter
	if sliding {
		inc = l.g.store.IncrementSlidingCounter
	}
	c, err := inc(ctx, key, l.now, window)
	if err != nil {
		return c, false, fmt.Errorf("abuse: count %s: %w", key, err)
	}
	l.taken = append(l.taken, key)
	return c, c.Count <= limit, nil
}

// has reports whether key was taken.
func (l *ledger) has(key string) bool {
	for _, k := range l.taken {
		if k == key {
			return true
		}
	}
	return false
}

// giveBack returns every taken counter for which keep is false; keep may
// be nil. Failures are logged: a count left standing errs on the safe side.
func (l *ledger) giveBack(ctx context.Context, keep func(key string) bool) {
	var left []string
	for _, k := range l.taken {
		if keep != nil && keep(k) {
			left = append(left, k)
			continue
		}
		if _, err := l.g.store.DecrementCounter(ctx, k, l.g.now()); err != nil {
			l.g.log.ErrorContext(ctx, "giving back an attempt", "event", "abuse", "err", err)
		}
	}
	l.taken = left
}

// reset clears key (after a success), if taken; it is settled then.
func (l *ledger) reset(ctx context.Context, key string) {
	if !l.has(key) {
		return
	}
	if err := l.g.store.ResetCounter(ctx, key); err != nil {
		l.g.log.ErrorContext(ctx, "resetting a budget", "event", "abuse", "err", err)
	}
	l.forget(key)
}

// forget settles key without giving it back: the attempt keeps counting.
func (l *ledger) forget(key string) {
	left := l.taken[:0]
	for _, k := range l.taken {
		if k != key {
			left = append(left, k)
		}
	}
	l.taken = left
}

// until is how long until c's window ends.
func until(c store.Counter, now time.Time) time.Duration {
	return max(c.ExpiresAt.Sub(now), time.Second)
}

// record audits a decision (e's Type, Result and Reason) once per subject
// while the reason lasts: an attack makes one event per account or client,
// not one per attempt.
func (g *Guard) record(ctx context.Context, subject string, lasts time.Duration, e audit.Event) {
	if g.audit == nil {
		return
	}
	c, err := g.store.IncrementCounter(ctx, keyEventDedupe+e.Type+":"+e.Result+":"+e.Reason+":"+subject, g.now(), max(lasts, time.Second))
	if err != nil || c.Count != 1 {
		return
	}
	g.audit.Record(ctx, e)
}
