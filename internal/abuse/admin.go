package abuse

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// What gatehouse admin asks of the limits: their state for an account and
// clearing it. These work on the store alone (the admin commands build no
// guard).

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
		ctr, err := c.GetCounter(ctx, loginKey(l), now)
		if err != nil {
			return nil, err
		}
		out = append(out, LoginCounter{Login: l, Count: ctr.Count, WindowStart: ctr.WindowStart, ExpiresAt: ctr.ExpiresAt})
	}
	return out, nil
}

// Unlock clears the password-limit counters of each of logins, so the
// account may try again at once (gatehouse admin unlock; ResetAccount
// clears the account's own). Counters per client address are left: they
// belong to the address, not the account.
func Unlock(ctx context.Context, c store.Throttle, logins []string) error {
	var errs []error
	for _, l := range logins {
		errs = append(errs, c.ResetCounter(ctx, loginKey(l)))
	}
	return errors.Join(errs...)
}

// AccountStatus is what Gatehouse counts against one account: its
// smart-lockout state, for an administrator.
type AccountStatus struct {
	// WrongPasswords from unfamiliar clients in the current window, and
	// when that window ends (it runs on from the last one).
	WrongPasswords      int       `json:"wrong_passwords"`
	WrongPasswordsUntil time.Time `json:"wrong_passwords_until,omitzero"`
	// PasswordsInFlight are passwords on their way to AD now.
	PasswordsInFlight int `json:"passwords_in_flight"`
	// WrongCodes of the signed-in user in the current window.
	WrongCodes      int       `json:"wrong_codes"`
	WrongCodesUntil time.Time `json:"wrong_codes_until,omitzero"`
	// SelfServiceFailures are wrong reset and unlock codes in a row;
	// SelfServiceClosed once they reached the limit.
	SelfServiceFailures int  `json:"self_service_failures"`
	SelfServiceClosed   bool `json:"self_service_closed"`
}

// ReadAccount reads the account's counters under limits l.
func ReadAccount(ctx context.Context, c store.Throttle, l Limits, userID string, now time.Time) (AccountStatus, error) {
	var st AccountStatus
	for _, r := range []struct {
		key   string
		count *int
		until *time.Time
	}{
		{keyAccount + userID, &st.WrongPasswords, &st.WrongPasswordsUntil},
		{keyInFlight + userID, &st.PasswordsInFlight, nil},
		{keyCodes + userID, &st.WrongCodes, &st.WrongCodesUntil},
		{keySelfAccount + userID, &st.SelfServiceFailures, nil},
	} {
		ctr, err := c.GetCounter(ctx, r.key, now)
		if err != nil {
			return AccountStatus{}, fmt.Errorf("abuse: status: %w", err)
		}
		*r.count = ctr.Count
		if r.until != nil && ctr.Count > 0 {
			*r.until = ctr.ExpiresAt
		}
	}
	st.SelfServiceClosed = l.SelfServiceMaxFailures > 0 && st.SelfServiceFailures >= l.SelfServiceMaxFailures
	return st, nil
}

// ResetAccount clears what Gatehouse counts against the account itself:
// wrong passwords from unfamiliar clients, wrong codes and self-service
// failures — an administrator's unlock (with Unlock for its logins). AD's
// own count is the directory's to clear.
func ResetAccount(ctx context.Context, c store.Throttle, userID string) error {
	for _, k := range []string{keyAccount + userID, keyInFlight + userID, keyCodes + userID, keySelfAccount + userID} {
		if err := c.ResetCounter(ctx, k); err != nil {
			return fmt.Errorf("abuse: reset %s: %w", k, err)
		}
	}
	return nil
}

// Status reads the account's counters.
func (g *Guard) Status(ctx context.Context, userID string) (AccountStatus, error) {
	return ReadAccount(ctx, g.store, g.lim, userID, g.now())
}

// ResetAccount clears the account's counters and those of every name the
// user signs in with.
func (g *Guard) ResetAccount(ctx context.Context, u *directory.User) error {
	var logins []string
	for _, l := range []string{u.SAMAccountName, u.UPN, u.Mail} {
		if l != "" {
			logins = append(logins, l)
		}
	}
	return errors.Join(ResetAccount(ctx, g.store, u.ID), Unlock(ctx, g.store, logins))
}
