package abuse

import (
	"context"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
)

// Codes: one budget per signed-in user across every method (authenticator
// app, recovery and email codes), so five wrong TOTP codes do not buy five
// more recovery codes. Anonymous self-service (reset, unlock) has budgets
// of its own, which never touch the user's sign-in budget: per client
// address, with a window that doubles each time it runs out, and per
// account, a count of failures in a row that closes self-service for the
// account at SelfServiceMaxFailures until the user signs in (with a right
// password) or an administrator resets it.

// selfServiceMemory is how long self-service failures of an account are
// kept without a new one: practically "until a sign-in or an
// administrator".
const selfServiceMemory = 365 * 24 * time.Hour

// strikeMemory is how long an address's self-service back-off is kept.
const strikeMemory = 24 * time.Hour

// maxStrikes caps the back-off at 2^6 = 64 windows.
const maxStrikes = 6

// CodeAttempt is one check of a one-time code.
type CodeAttempt struct {
	UserID string
	IP     string
	// SelfService: password reset or unlock, which anyone may start; its
	// budgets are separate from the user's sign-in.
	SelfService bool
	// Method and App are for the audit.
	Method, App string
}

// CodeCheck is a taken code budget; settle it with exactly one of Right,
// Wrong or Void.
type CodeCheck struct {
	g      *Guard
	l      *ledger
	a      CodeAttempt
	client string
}

// BeginCode takes the budget for one code check, before the code is
// looked at. It returns an error matching ErrThrottled (Scope tells which
// limit: ScopeCodes, ScopeSelfServiceAddress or ScopeSelfServiceAccount)
// when a limit refuses it; the caller then does not check the code.
func (g *Guard) BeginCode(ctx context.Context, a CodeAttempt) (*CodeCheck, error) {
	now := g.now()
	l := &ledger{g: g, now: now}
	cc := &CodeCheck{g: g, l: l, a: a, client: g.client(a.IP)}
	settle := context.WithoutCancel(ctx)
	refuse := func(th *Throttled, subject string) (*CodeCheck, error) {
		l.giveBack(settle, nil)
		g.record(settle, subject, max(th.RetryAfter, g.lim.CodeWindow), audit.Event{Type: audit.AbuseThrottled, Result: "refused",
			Reason: th.Scope, UserID: a.UserID, App: a.App, Detail: map[string]string{"method": a.Method}})
		return nil, th
	}
	if !a.SelfService {
		c, ok, err := l.take(ctx, keyCodes+a.UserID, g.lim.CodesPerUser, g.lim.CodeWindow, false)
		if err != nil {
			return nil, err
		}
		if !ok {
			return refuse(&Throttled{Scope: ScopeCodes, RetryAfter: until(c, now)}, a.UserID)
		}
		return cc, nil
	}
	if _, ok, err := l.take(ctx, keySelfAccount+a.UserID, g.lim.SelfServiceMaxFailures, selfServiceMemory, true); err != nil {
		return nil, err
	} else if !ok {
		return refuse(&Throttled{Scope: ScopeSelfServiceAccount}, a.UserID)
	}
	strikes, err := g.store.GetCounter(ctx, keySelfStrikes+cc.client, now)
	if err != nil {
		l.giveBack(settle, nil)
		return nil, err
	}
	window := g.lim.CodeWindow << min(strikes.Count, maxStrikes)
	c, ok, err := l.take(ctx, keySelfAddress+cc.client, g.lim.SelfServicePerAddress, window, false)
	if err != nil {
		l.giveBack(settle, nil)
		return nil, err
	}
	if !ok {
		// The first refusal in a window makes the address's next window
		// twice as long.
		if s, err := g.store.IncrementCounter(settle, keySelfStruck+cc.client, now, until(c, now)); err == nil && s.Count == 1 {
			if _, err := g.store.IncrementSlidingCounter(settle, keySelfStrikes+cc.client, now, strikeMemory); err != nil {
				g.log.ErrorContext(ctx, "self-service back-off", "event", "abuse", "err", err)
			}
		}
		return refuse(&Throttled{Scope: ScopeSelfServiceAddress, RetryAfter: until(c, now)}, cc.client)
	}
	return cc, nil
}

// Right settles a right code: the user's (or the account's self-service)
// failures start again, and the address gets its attempt back.
func (c *CodeCheck) Right(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if c.a.SelfService {
		c.l.reset(ctx, keySelfAccount+c.a.UserID)
	} else {
		c.l.reset(ctx, keyCodes+c.a.UserID)
	}
	c.l.giveBack(ctx, nil)
}

// Wrong settles a wrong code: it keeps counting.
func (c *CodeCheck) Wrong(context.Context) { c.l.taken = nil }

// Void settles a check that said nothing about the code (the store or the
// mail server failed): it does not count.
func (c *CodeCheck) Void(ctx context.Context) { c.l.giveBack(context.WithoutCancel(ctx), nil) }
