package abuse

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// What gatehouse admin asks of the limits: their state for an account and
// clearing it. Smart lockout adds its own state for the account here.

// LoginCounter is the password-limit counter kept for one login.
type LoginCounter struct {
	Login       string    `json:"login"`
	Count       int       `json:"count"`
	WindowStart time.Time `json:"window_start,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// LoginCounters returns the live password-limit counter of each of logins
// (an account's user name, UPN, mail …), zero where there is none.
func LoginCounters(ctx context.Context, c store.Throttle, logins []string, now time.Time) ([]LoginCounter, error) {
	out := make([]LoginCounter, 0, len(logins))
	for _, l := range logins {
		ctr, err := c.GetCounter(ctx, keys(l, "")[0], now)
		if err != nil {
			return nil, err
		}
		out = append(out, LoginCounter{Login: l, Count: ctr.Count, WindowStart: ctr.WindowStart, ExpiresAt: ctr.ExpiresAt})
	}
	return out, nil
}

// Unlock clears the password-limit counters of each of logins, so the
// account may try again at once (gatehouse admin unlock). Counters per
// client address are left: they belong to the address, not the account.
func Unlock(ctx context.Context, c store.Throttle, logins []string) error {
	var errs []error
	for _, l := range logins {
		errs = append(errs, c.ResetCounter(ctx, keys(l, "")[0]))
	}
	return errors.Join(errs...)
}
