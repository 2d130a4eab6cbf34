package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// TestTheResetPagePromisesThePasswordHistoryOnlyWhenTheDCEnforcesIt resets
// an AD user's password twice, then offers the first password again
// through the reset pages: the page lists the history rule exactly when
// the DC then refuses that password. Samba 4.17 advertises no policy-hints
// control, so there the page must not promise the rule (and the DC takes
// the old password); a DC with the control is covered by the directory's
// unit tests (ResetChecksHistory) and would take the other branch here.
func TestTheResetPagePromisesThePasswordHistoryOnlyWhenTheDCEnforcesIt(t *testing.T) {
	a, srv, _ := newADAppWithMail(t, nil)
	ctx := context.Background()
	const first, second, third = "First!Passw0rd-hist", "Second!Passw0rd-hist", "Third!Passw0rd-hist"
	name := newADUser(t, first)
	u, secret := userWithTOTP(t, a, name, time.Now())
	pr := a.Directory.(directory.PasswordResetter)
	for _, pw := range []string{second, third} {
		if err := pr.ResetPassword(ctx, u, pw); err != nil {
			t.Fatalf("set-up reset to %s: %v", pw, err)
		}
	}
	if pol, err := a.Directory.(directory.PolicyReader).PasswordPolicy(ctx, u); err != nil || pol.HistoryLength < 3 {
		t.Fatalf("set-up: the domain keeps a history of %d passwords (%v); the test needs at least 3", pol.HistoryLength, err)
	}
	b := browse.New(t, srv.URL)
	b.Get("/password/reset")
	b.Submit(map[string]string{"login": name})
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	page := submitMethod(t, b, "totp", code)
	if !strings.Contains(page, `name="new_password"`) {
		t.Fatalf("no new-password page:\n%s", page)
	}
	promised := strings.Contains(page, `data-rule="history"`)
	page = b.Submit(map[string]string{"new_password": first, "confirm_password": first})
	refused := b.Status == 422 && strings.Contains(page, "Choose a password you have not used before")
	reset := strings.Contains(page, "Your password was reset.")
	if refused == reset {
		t.Fatalf("the reset neither clearly refused nor clearly took the old password (status %d):\n%s", b.Status, page)
	}
	if promised != refused {
		t.Fatalf("the page promised the history rule: %v; the DC refused a password from two resets earlier: %v", promised, refused)
	}
	checked, err := a.Directory.(directory.ResetHistoryReporter).ResetChecksHistory(ctx)
	if err != nil || checked != refused {
		t.Fatalf("ResetChecksHistory = %v (%v), but the DC refused the old password: %v", checked, err, refused)
	}
}

// userWithTOTP looks login up and gives the user a confirmed
// authenticator app (its first code taken at now), as if enrolled; it
// returns the user and the app's secret.
func userWithTOTP(tb testing.TB, a *App, login string, now time.Time) (*directory.User, string) {
	tb.Helper()
	ctx := context.Background()
	u, err := a.Directory.LookupUser(ctx, login)
	if err != nil {
		tb.Fatal(err)
	}
	en, err := a.Factors.TOTP.Enrol(ctx, u.ID, u.UPN)
	if err != nil {
		tb.Fatal(err)
	}
	secret := strings.ReplaceAll(en.Secret, " ", "")
	code, _ := totp.GenerateCode(secret, now)
	if _, err := a.Factors.TOTP.Confirm(ctx, u.ID, en.Pending, code, ""); err != nil {
		tb.Fatal(err)
	}
	return u, secret
}
