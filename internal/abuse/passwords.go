package abuse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// Attempt is one password attempt as the client made it.
type Attempt struct {
	// Login is what the user typed.
	Login string
	// IP is the client's address (observe.ClientIP).
	IP string
	// Device is the familiar-browser token the client presented ("" for
	// none); see RememberClient.
	Device string
	// ByAddress lets an address the user signed in from within
	// FamiliarFor make the client familiar: for WS-Trust, whose rich
	// clients hold no cookie.
	ByAddress bool
	// App names the relying party, for the audit.
	App string
}

// Result is how the guard treated an attempt.
type Result struct {
	// User is the account the login named, once the directory found it —
	// also when the attempt was refused or the password wrong (for the
	// audit; never show it).
	User *directory.User
	// Familiar: the attempt came from a familiar client of User.
	Familiar bool
	// Repeat: a wrong password Gatehouse had already sent for this
	// password of the user, answered without asking the directory.
	Repeat bool
	// Sent: the password reached the directory.
	Sent bool
}

// inFlightWindow bounds how long a password counts as on its way to AD
// should its answer never be settled (a crash): well above any directory
// timeout.
const inFlightWindow = 2 * time.Minute

// errRepeat stops a known-wrong password before the bind.
var errRepeat = errors.New("abuse: a wrong password already sent")

// Authenticate checks login and password with the directory, if the
// limits let it. It returns what the directory returns (a user with
// ErrPasswordExpired or ErrMustChangePassword too), an error matching
// ErrThrottled when a limit refused the attempt, or
// directory.ErrInvalidCredentials for a repeated wrong password, which
// never reaches the directory.
//
// The order is what keeps parallel attempts honest: the per-address and
// per-login (or familiar-client) budgets are taken before the directory is
// asked; the account's budget, and a place among the passwords in flight
// to AD, between the directory's search and its bind; and each is settled
// by the answer.
func (g *Guard) Authenticate(ctx context.Context, a Attempt, password string) (*directory.User, Result, error) {
	var res Result
	now := g.now()
	l := &ledger{g: g, now: now}
	// Settling must happen even when the client has gone.
	settle := context.WithoutCancel(ctx)
	client := g.client(a.IP)
	addrKey := keyAddress + client
	keepAddr := func(k string) bool { return k == addrKey }
	nameKey := loginKey(a.Login)

	refuse := func(th *Throttled, subject string) (*directory.User, Result, error) {
		keep := keepAddr
		if th.Scope == ScopeAccount || th.Scope == ScopeDirectory {
			// Refused after the directory's search: the name keeps the
			// attempt too, so a spray at it runs out of the name's budget
			// and later attempts are refused before the directory is asked
			// at all (no search either).
			keep = func(k string) bool { return k == addrKey || k == nameKey }
		}
		l.giveBack(settle, keep)
		ev := audit.Event{Type: audit.AbuseThrottled, Result: "refused", Reason: th.Scope, Login: a.Login, App: a.App,
			Detail: map[string]string{"retry_after": th.RetryAfter.Round(time.Second).String()}}
		if res.User != nil {
			ev.UserID, ev.Familiar = res.User.ID, familiarity(res.Familiar)
		}
		if th.Scope == ScopeDirectory {
			// AD's own count, with the passwords on their way, is as high
			// as this client may take it.
			ev.Type, ev.Result, ev.Reason = audit.AbuseSmartLockout, "held_back", "directory_count"
		}
		g.record(settle, subject, th.RetryAfter, ev)
		g.log.InfoContext(ctx, "password attempt refused", "event", "abuse", "scope", th.Scope, "client", client,
			"retry_after", th.RetryAfter.Round(time.Second))
		return nil, res, th
	}

	c, ok, err := l.take(ctx, addrKey, g.lim.PerAddress, g.lim.Window, false)
	if err != nil {
		return nil, res, err
	}
	if !ok {
		return refuse(&Throttled{Scope: ScopeAddress, RetryAfter: until(c, now)}, client)
	}

	dev, err := g.deviceOf(ctx, a.Device, now)
	if err != nil {
		l.giveBack(settle, nil)
		return nil, res, err
	}
	seenHere := false
	if a.ByAddress && dev.user == "" {
		if seenHere, err = g.seen(ctx, keySeenAddr+client, now); err != nil {
			l.giveBack(settle, nil)
			return nil, res, err
		}
	}
	// takeLogin returns a *Throttled or a store error.
	takeLogin := func(ctx context.Context) error {
		c, ok, err := l.take(ctx, nameKey, g.loginBudget(ctx), g.lim.Window, false)
		switch {
		case err != nil:
			return err
		case !ok:
			return &Throttled{Scope: ScopeLogin, RetryAfter: until(c, now)}
		}
		return nil
	}
	// Before the directory: a browser that holds a familiar token spends
	// its own budget, an address some user signed in from spends only the
	// address's, anyone else the name's.
	var famKey string
	switch {
	case dev.user != "":
		famKey = keyDevice + dev.hash
		c, ok, err := l.take(ctx, famKey, g.lim.PerFamiliarClient, g.lim.Window, false)
		if err != nil {
			l.giveBack(settle, nil)
			return nil, res, err
		}
		if !ok {
			return refuse(&Throttled{Scope: ScopeFamiliar, RetryAfter: until(c, now)}, famKey)
		}
	case seenHere:
	default:
		var th *Throttled
		if err := takeLogin(ctx); errors.As(err, &th) {
			return refuse(th, nameKey)
		} else if err != nil {
			l.giveBack(settle, nil)
			return nil, res, err
		}
	}

	var acctKey, flightKey string
	before := func(ctx context.Context, u *directory.User) error {
		res.User = u
		if u.State.Locked {
			// AD answers a locked account "locked" whatever the password
			// and counts nothing: there is nothing to guess or to guard.
			res.Sent = true
			return nil
		}
		wk, remember := g.wrongKey(u, password)
		if remember {
			repeat, err := g.seen(ctx, wk, now)
			if err != nil {
				return err
			}
			if repeat {
				res.Repeat = true
				return errRepeat
			}
		}
		switch {
		case dev.user == u.ID:
			res.Familiar = true
		case a.ByAddress && g.lim.FamiliarFor > 0:
			known, err := g.seen(ctx, keySeenAddr+client+":"+u.ID, now)
			if err != nil {
				return err
			}
			if known {
				res.Familiar = true
				famKey = keyFamiliarAddr + u.ID + ":" + client
				c, ok, err := l.take(ctx, famKey, g.lim.PerFamiliarClient, g.lim.Window, false)
				if err != nil {
					return err
				}
				if !ok {
					return &Throttled{Scope: ScopeFamiliar, RetryAfter: until(c, now)}
				}
			}
		}
		lp := u.State.Lockout
		if !res.Familiar {
			if !l.has(nameKey) {
				if err := takeLogin(ctx); err != nil {
					return err
				}
			}
			budget, window := g.accountBudget(lp)
			acctKey = keyAccount + u.ID
			c, ok, err := l.take(ctx, acctKey, budget, window, true)
			if err != nil {
				return err
			}
			if !ok {
				return &Throttled{Scope: ScopeAccount, RetryAfter: until(c, now)}
			}
		}
		if lp != nil && lp.Threshold > 0 {
			// What AD has counted, plus every password of ours on its way
			// there, this one included, must stay within the limit.
			flightKey = keyInFlight + u.ID
			c, _, err := l.take(ctx, flightKey, math.MaxInt32, inFlightWindow, false)
			if err != nil {
				return err
			}
			if u.State.Counted(now)+c.Count > g.directoryLimit(lp.Threshold, res.Familiar, dev.user == u.ID) {
				retry := g.lim.Window
				if w := lp.ObservationWindow; w > 0 && !u.State.BadPasswordTime.IsZero() {
					retry = max(u.State.BadPasswordTime.Add(w).Sub(now), time.Second)
				}
				return &Throttled{Scope: ScopeDirectory, RetryAfter: retry}
			}
		}
		res.Sent = true
		return nil
	}

	u, err := g.authenticate(ctx, a.Login, password, before)
	var th *Throttled
	switch {
	case errors.Is(err, errRepeat):
		// No new guess, and nothing for AD to count: only the address
		// keeps the attempt.
		l.giveBack(settle, keepAddr)
		g.record(settle, res.User.ID, g.lim.Window, audit.Event{Type: audit.AbuseSmartLockout, Result: "repeat",
			Reason: "known_wrong_password", UserID: res.User.ID, Login: a.Login, App: a.App})
		return nil, res, fmt.Errorf("abuse: repeated wrong password: %w", directory.ErrInvalidCredentials)
	case errors.As(err, &th):
		subject := client
		if res.User != nil {
			subject = res.User.ID
		}
		return refuse(th, subject)
	case err == nil || directory.PasswordAccepted(err):
		g.succeeded(settle, l, u, client, flightKey, acctKey, famKey, nameKey)
		return u, res, err
	case errors.Is(err, directory.ErrInvalidCredentials):
		// A wrong password (or an unknown name) keeps its budgets; only
		// its place in flight is given back, now that AD has counted it.
		if flightKey != "" {
			l.giveBack(settle, func(k string) bool { return k != flightKey })
		}
		if res.User != nil {
			if wk, ok := g.wrongKey(res.User, password); ok {
				if _, err := g.store.IncrementSlidingCounter(settle, wk, now, g.lim.RememberWrong); err != nil {
					g.log.ErrorContext(ctx, "remembering a wrong password", "event", "abuse", "err", err)
				}
			}
		}
		return u, res, err
	case errors.Is(err, directory.ErrAccountLocked), errors.Is(err, directory.ErrAccountDisabled),
		errors.Is(err, directory.ErrAccountExpired), errors.Is(err, directory.ErrNotPermitted):
		// AD did not count the password: nothing to keep but the address.
		l.giveBack(settle, keepAddr)
		return u, res, err
	default:
		// A transport error or a timeout says nothing about the password.
		l.giveBack(settle, nil)
		return u, res, err
	}
}

// succeeded settles a right password: the budgets it used start again, the
// address gets its attempt back, and the client becomes familiar.
func (g *Guard) succeeded(ctx context.Context, l *ledger, u *directory.User, client string, keys ...string) {
	for _, k := range keys {
		if k != "" && k != keyInFlight+u.ID {
			l.reset(ctx, k)
		}
	}
	l.giveBack(ctx, nil)
	if g.lim.FamiliarFor > 0 {
		for _, k := range []string{keySeenAddr + client + ":" + u.ID, keySeenAddr + client} {
			// Written only when new or an hour stale: most sign-ins come
			// from an address that signed in lately, and a read is
			// cheaper than a write.
			if c, err := g.store.GetCounter(ctx, k, l.now); err == nil && c.Count > 0 && c.ExpiresAt.After(l.now.Add(g.lim.FamiliarFor-familiarRefresh)) {
				continue
			}
			if _, err := g.store.IncrementSlidingCounter(ctx, k, l.now, g.lim.FamiliarFor); err != nil {
				g.log.ErrorContext(ctx, "remembering a familiar address", "event", "abuse", "err", err)
			}
		}
	}
	// A sign-in reopens self-service verification (NIST SP 800-63B: the
	// consecutive failures end with a success). Read first: there rarely
	// are any, and a read is cheaper than a write.
	if failed, err := g.seen(ctx, keySelfAccount+u.ID, l.now); err != nil || failed {
		if err := g.store.ResetCounter(ctx, keySelfAccount+u.ID); err != nil {
			g.log.ErrorContext(ctx, "resetting self-service failures", "event", "abuse", "err", err)
		}
	}
}

// authenticate asks the directory with before between finding the user and
// checking the password: in the directory's own two round trips when it
// can, otherwise after a lookup.
func (g *Guard) authenticate(ctx context.Context, login, password string, before func(context.Context, *directory.User) error) (*directory.User, error) {
	if ca, ok := g.dir.(directory.CheckedAuthenticator); ok {
		return ca.AuthenticateWith(ctx, login, password, before)
	}
	u, err := g.dir.LookupUser(ctx, login)
	switch {
	case err == nil:
		if err := before(ctx, u); err != nil {
			return nil, err
		}
	case !errors.Is(err, directory.ErrUserNotFound) && !errors.Is(err, directory.ErrAmbiguousUser):
		return nil, err
	}
	return g.dir.Authenticate(ctx, login, password)
}

// seen reports whether key's counter is live.
func (g *Guard) seen(ctx context.Context, key string, now time.Time) (bool, error) {
	c, err := g.store.GetCounter(ctx, key, now)
	if err != nil {
		return false, fmt.Errorf("abuse: read %s: %w", key, err)
	}
	return c.Count > 0, nil
}

// wrongKey names password as a wrong password of u's current password.
// pwdLastSet is part of it, so every remembered wrong password is forgotten
// when the password changes. Nothing is remembered for a password that
// must change (pwdLastSet is then 0 whatever the password, so a password
// set again by an administrator could be one remembered as wrong) or of
// unknown age.
func (g *Guard) wrongKey(u *directory.User, password string) (string, bool) {
	if g.lim.RememberWrong <= 0 || u.State.MustChange || u.State.PasswordLastSet.IsZero() {
		return "", false
	}
	return keyWrong + mac(g.key, "wrong-password", u.ID, strconv.FormatInt(u.State.PasswordLastSet.UnixNano(), 10), password), true
}

// accountBudget is how many wrong passwords an account takes from
// unfamiliar clients, and over what sliding window: Gatehouse's own limit,
// lowered to AD's threshold less the margin, counted for at least AD's
// observation window.
func (g *Guard) accountBudget(lp *directory.LockoutPolicy) (int, time.Duration) {
	budget, window := g.lim.PerAccount, g.lim.Window
	if lp != nil && lp.Threshold > 0 {
		budget = min(budget, g.directoryLimit(lp.Threshold, false, false))
		window = max(window, lp.ObservationWindow)
	}
	return budget, window
}

// directoryLimit is how high AD's count of wrong passwords, with ours on
// their way, may go for a client. A familiar browser (its cookie) may go
// to one below the threshold: it never sends the password that would
// lock. A familiar address without the cookie (WS-Trust: Outlook at the
// office) stops one below that, so a client sharing the user's address (a
// NAT, a hotel) cannot take the last safe attempt from the user's own
// browser. Anyone else stops directory_margin below the threshold.
func (g *Guard) directoryLimit(threshold int, familiar, browser bool) int {
	unfamiliar := max(1, threshold-g.lim.DirectoryMargin)
	switch {
	case familiar && browser:
		return max(1, threshold-1)
	case familiar:
		return max(1, min(threshold-1, max(unfamiliar, threshold-2)))
	}
	if threshold-g.lim.DirectoryMargin < 1 {
		g.log.Warn("the lockout threshold leaves no attempt once abuse.passwords.directory_margin is kept; allowing one",
			"event", "abuse", "threshold", threshold, "margin", g.lim.DirectoryMargin)
	}
	return unfamiliar
}

// domainPolicyTTL is how long the domain's lockout threshold is reused for
// the per-login budget.
const domainPolicyTTL = time.Minute

// loginBudget is the budget of a name before the directory has said which
// account it is: what an account under the domain's policy gets, so that
// running out of it tells nothing about whether the account exists.
func (g *Guard) loginBudget(ctx context.Context) int {
	g.domainMu.Lock()
	defer g.domainMu.Unlock()
	now := g.now()
	if now.Before(g.domainExpires) {
		return g.domainBudget
	}
	budget := g.lim.PerAccount
	if r, ok := g.dir.(directory.DomainPolicyReader); ok {
		p, err := r.DomainPolicy(ctx)
		if err != nil {
			g.log.WarnContext(ctx, "cannot read the domain's lockout policy", "event", "abuse", "err", err)
		} else {
			lp := p.Lockout()
			budget, _ = g.accountBudget(&lp)
		}
	}
	g.domainBudget, g.domainExpires = budget, now.Add(domainPolicyTTL)
	return budget
}

// familiarity is the audit's word for a client the guard judged.
func familiarity(familiar bool) audit.Familiarity {
	if familiar {
		return audit.Familiar
	}
	return audit.Unfamiliar
}
