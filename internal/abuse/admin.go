package abuse

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// AccountStatus is what Gatehouse counts against one account, for an
// administrator.
type AccountStatus struct {
	// WrongPasswords from unfamiliar clients in the current window, and
	// when that window ends.
	WrongPasswords      int
	WrongPasswordsUntil time.Time
	// PasswordsInFlight are passwords on their way to AD now.
	PasswordsInFlight int
	// WrongCodes of the signed-in user in the current window.
	WrongCodes      int
	WrongCodesUntil time.Time
	// SelfServiceFailures in a row; SelfServiceClosed once they reached
	// the limit.
	SelfServiceFailures int
	SelfServiceClosed   bool
}

// Status reads the account's counters.
func (g *Guard) Status(ctx context.Context, userID string) (AccountStatus, error) {
	now := g.now()
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
		c, err := g.store.GetCounter(ctx, r.key, now)
		if err != nil {
			return AccountStatus{}, fmt.Errorf("abuse: status: %w", err)
		}
		*r.count = c.Count
		if r.until != nil && c.Count > 0 {
			*r.until = c.ExpiresAt
		}
	}
	st.SelfServiceClosed = st.SelfServiceFailures >= g.lim.SelfServiceMaxFailures
	return st, nil
}

// ResetAccount clears what Gatehouse counts against the account: wrong
// passwords (from unfamiliar clients, and against each name the user signs
// in with), wrong codes and self-service failures — an administrator's
// unlock. AD's own count is the directory's to clear.
func (g *Guard) ResetAccount(ctx context.Context, u *directory.User) error {
	keys := []string{keyAccount + u.ID, keyInFlight + u.ID, keyCodes + u.ID, keySelfAccount + u.ID}
	for _, login := range []string{u.SAMAccountName, u.UPN, u.Mail} {
		if login != "" {
			keys = append(keys, keyLogin+mac(g.key, "login", CanonicalLogin(login)))
		}
	}
	for _, k := range keys {
		if err := g.store.ResetCounter(ctx, k); err != nil {
			return fmt.Errorf("abuse: reset %s: %w", k, err)
		}
	}
	return nil
}
