// This file keeps the limiter the sign-in engine called before Guard
// existed (Allowed before the bind, Failed after), until the engine takes
// Guard; it is removed then. New code uses Guard.

package abuse

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// LegacyLimits are the password-attempt budgets of Passwords.
type LegacyLimits struct {
	PerLogin, PerIP int
	Window          time.Duration
}

// DefaultLimits are 5 wrong passwords per login and 100 per client address
// in 15 minutes (for Passwords; Guard reads config.Abuse).
func DefaultLimits() LegacyLimits {
	return LegacyLimits{PerLogin: 5, PerIP: 100, Window: 15 * time.Minute}
}

// Passwords limits wrong passwords.
// It counts only after the directory answered, so parallel attempts all
// pass: Guard replaces it.
type Passwords struct {
	counters store.Throttle
	limits   LegacyLimits
	now      func() time.Time
	log      *slog.Logger
}

// NewPasswords builds the password limiter.
func NewPasswords(c store.Throttle, l LegacyLimits, now func() time.Time, log *slog.Logger) *Passwords {
	return &Passwords{counters: c, limits: l, now: now, log: log}
}

func keys(login, ip string) [2]string {
	return [2]string{"pw:login:" + strings.ToLower(login), "pw:ip:" + ip}
}

// Allowed reports whether a password attempt for login from ip may be
// checked.
func (p *Passwords) Allowed(ctx context.Context, login, ip string) (bool, error) {
	now := p.now()
	k := keys(login, ip)
	cl, err := p.counters.GetCounter(ctx, k[0], now)
	if err != nil {
		return false, err
	}
	ci, err := p.counters.GetCounter(ctx, k[1], now)
	if err != nil {
		return false, err
	}
	return cl.Count < p.limits.PerLogin && ci.Count < p.limits.PerIP, nil
}

// Failed counts a wrong password for login from ip.
func (p *Passwords) Failed(ctx context.Context, login, ip string) {
	for _, k := range keys(login, ip) {
		if _, err := p.counters.IncrementCounter(ctx, k, p.now(), p.limits.Window); err != nil {
			p.log.ErrorContext(ctx, "password limit counter", "err", err)
		}
	}
}
