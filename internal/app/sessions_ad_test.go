package app

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// newADAppAt is Gatehouse against the test DC on clock c, with Microsoft
// 365 federated for the test domain (MFA as mfa.required_for says: none).
func newADAppAt(t *testing.T, c *clock, mod func(*config.Config)) (*App, *httptest.Server) {
	t.Helper()
	cfg := adTestConfig(t)
	cfg.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}}}
	if mod != nil {
		mod(&cfg)
	}
	return startApp(t, cfg, c.now)
}

// ldapOps counts the LDAP operations the app's directory has made.
func ldapOps(t *testing.T, a *App) uint64 {
	t.Helper()
	families, err := a.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, f := range families {
		if f.GetName() == "gatehouse_directory_operation_duration_seconds" {
			for _, m := range f.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// fileTime is t as an AD FILETIME attribute value.
func fileTime(t time.Time) string {
	return strconv.FormatInt((t.Unix()+11644473600)*1e7, 10)
}

func TestAnADSessionEndsAfterTheRecheckIntervalWhenADWithdrawsTheAccount(t *testing.T) {
	const pw = "Session!Passw0rd-1"
	for _, tc := range []struct {
		name, reason string
		// withdraw does in AD what an administrator (or an attacker) did.
		withdraw func(t *testing.T, a *App, name string)
		// page is what the sign-in page then says to the right old password.
		page string
	}{
		{"a disabled account", "account_disabled", func(t *testing.T, _ *App, name string) {
			testenv.SambaTool(t, "user", "disable", name)
		}, "disabled"},
		{"a password set elsewhere", "password_changed", func(t *testing.T, _ *App, name string) {
			testenv.SambaTool(t, "user", "setpassword", name, "--newpassword=Elsewhere!Passw0rd-2")
		}, "The user name or password is incorrect."},
		{"an expired account", "account_expired", func(t *testing.T, _ *App, name string) {
			testenv.SetADAttribute(t, name, "accountExpires", fileTime(time.Now().Add(-time.Hour)))
		}, "expired"},
		{"a deleted account", "account_deleted", func(t *testing.T, _ *App, name string) {
			testenv.SambaTool(t, "user", "delete", name)
		}, "The user name or password is incorrect."},
		{"a locked-out account", "account_locked", func(t *testing.T, a *App, name string) {
			for range 2 { // the PSO's threshold
				_, _ = a.Directory.Authenticate(t.Context(), name, "Wrong!Passw0rd-9")
			}
		}, "The user name or password is incorrect."}, // locked answers like a wrong password (README)
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Now()}
			a, srv := newADAppAt(t, c, nil)
			name := newADUser(t, pw)
			if tc.reason == "account_locked" {
				testenv.ApplyADPSO(t, testenv.ADPSO{LockoutThreshold: 2, LockoutMinutes: 30}, name)
			}
			b := browse.New(t, srv.URL)
			b.Get(adEntraSignIn(name, ""))
			if page := b.Submit(map[string]string{"password": pw}); wresultRe.FindStringSubmatch(page) == nil {
				t.Fatalf("no token at sign-in:\n%s", page)
			}
			tc.withdraw(t, a, name)
			interval := a.Config.Sessions.RecheckInterval

			c.add(interval - time.Second)
			ops := ldapOps(t, a)
			if page := b.Get(adEntraSignIn(name, "")); wresultRe.FindStringSubmatch(page) == nil {
				t.Fatalf("no token from the session within the recheck interval:\n%s", page)
			}
			if n := ldapOps(t, a) - ops; n != 0 {
				t.Fatalf("single sign-on within the recheck interval made %d LDAP operations, want none", n)
			}

			c.add(time.Second)
			page := b.Get(adEntraSignIn(name, ""))
			if wresultRe.FindStringSubmatch(page) != nil || !strings.Contains(page, `name="password"`) {
				t.Fatalf("a token, or no sign-in page, after the recheck interval:\n%s", page)
			}
			evs, err := a.Store.QueryAudit(t.Context(), store.AuditQuery{Type: audit.SessionRevoked})
			if err != nil || len(evs) != 1 || evs[0].Result != tc.reason {
				t.Fatalf("revocation audit %+v (%v), want one with %q", evs, err, tc.reason)
			}
			// The sign-in page gives AD's answer.
			if page := b.Submit(map[string]string{"password": pw}); !strings.Contains(page, tc.page) || wresultRe.FindStringSubmatch(page) != nil {
				t.Fatalf("the old password at the sign-in page: status %d, want %q:\n%s", b.Status, tc.page, page)
			}
		})
	}
}

func TestAnADSessionLivesOnAcrossRechecksWhileTheAccountIsFine(t *testing.T) {
	const pw = "Session!Passw0rd-1"
	c := &clock{t: time.Now()}
	a, srv := newADAppAt(t, c, nil)
	name := newADUser(t, pw)
	b := browse.New(t, srv.URL)
	b.Get(adEntraSignIn(name, ""))
	b.Submit(map[string]string{"password": pw})
	for i := range 3 {
		c.add(a.Config.Sessions.RecheckInterval)
		ops := ldapOps(t, a)
		if page := b.Get(adEntraSignIn(name, "")); wresultRe.FindStringSubmatch(page) == nil {
			t.Fatalf("recheck %d: no token:\n%s", i, page)
		}
		if ldapOps(t, a) == ops {
			t.Fatalf("recheck %d: no LDAP operation after the interval", i)
		}
	}
}

func TestAPasswordChangeEndsTheOtherBrowsersSessionAndRememberedBrowserButKeepsThisOne(t *testing.T) {
	const pw, newPW = "Change!Passw0rd-1", "Kettle!Orbit-Vintage-48"
	c := &clock{t: time.Now()}
	a, srv := newADAppAt(t, c, func(cfg *config.Config) {
		cfg.Sessions.RememberDevice = 30 * 24 * time.Hour
		cfg.Apps[0].MFA = "required"
	})
	ctx := context.Background()
	name := newADUser(t, pw)
	u, err := a.Directory.LookupUser(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	en, _ := a.Factors.TOTP.Enrol(ctx, u.ID, u.UPN)
	secret := strings.ReplaceAll(en.Secret, " ", "")
	code, _ := totp.GenerateCode(secret, c.now())
	if _, err := a.Factors.TOTP.Confirm(ctx, u.ID, en.Pending, code, ""); err != nil {
		t.Fatal(err)
	}
	c.add(31 * time.Second) // a fresh code step

	// Another browser: Microsoft 365 with a second factor, remembered.
	other := browse.New(t, srv.URL)
	other.Get(adEntraSignIn(name, ""))
	page := other.Submit(map[string]string{"password": pw})
	if !strings.Contains(page, `name="remember"`) {
		t.Fatalf("no second factor with the remember option:\n%s", page)
	}
	code, _ = totp.GenerateCode(secret, c.now())
	if page := other.Submit(map[string]string{"code": code, "remember": "1"}); wresultRe.FindStringSubmatch(page) == nil {
		t.Fatalf("no token:\n%s", page)
	}
	devices := func() int {
		t.Helper()
		cs, err := a.Store.ListCredentials(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range cs {
			if c.Type == signin.DeviceType {
				n++
			}
		}
		return n
	}
	if devices() != 1 {
		t.Fatalf("%d remembered browsers, want 1", devices())
	}

	// This browser changes the password.
	b := browse.New(t, srv.URL)
	b.Get("/password/change")
	b.Submit(map[string]string{"login": name})
	b.Submit(map[string]string{"password": pw})
	page = b.Submit(map[string]string{"current_password": pw, "new_password": newPW, "confirm_password": newPW})
	if !strings.Contains(page, "Your password was changed.") {
		t.Fatalf("change failed:\n%s", page)
	}

	if page := other.Get(adEntraSignIn(name, "")); wresultRe.FindStringSubmatch(page) != nil || !strings.Contains(page, `name="password"`) {
		t.Fatalf("the other browser still gets a token after the password change:\n%s", page)
	}
	if devices() != 0 {
		t.Fatalf("%d remembered browsers after the password change, want 0", devices())
	}
	if page := other.Submit(map[string]string{"password": newPW}); wresultRe.FindStringSubmatch(page) != nil || !strings.Contains(page, `name="code"`) {
		t.Fatalf("the forgotten browser was not asked for the second factor again:\n%s", page)
	}
	evs, err := a.Store.QueryAudit(ctx, store.AuditQuery{Type: audit.PasswordChanged, UserID: u.ID})
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Detail), `"sessions_revoked":"1"`) {
		t.Fatalf("password change audit %+v (%v), want one counting 1 session ended", evs, err)
	}

	// This browser stays signed in, across rechecks too.
	for i := range 2 {
		if page := b.Get("/password/change"); !strings.Contains(page, `name="current_password"`) {
			t.Fatalf("round %d: the browser that changed the password was signed out:\n%s", i, page)
		}
		c.add(a.Config.Sessions.RecheckInterval)
	}
	if evs, _ := a.Store.QueryAudit(ctx, store.AuditQuery{Type: audit.SessionRevoked}); len(evs) != 0 {
		t.Fatalf("sessions revoked: %+v", evs)
	}
}

func TestAnADUserTakenOutOfAnAppsGroupGetsNoTokenAfterTheRecheckInterval(t *testing.T) {
	const pw = "Session!Passw0rd-1"
	group := testenv.UniqueName("grp-")
	testenv.SambaTool(t, "group", "add", group, "--groupou=OU=Staff")
	t.Cleanup(func() { testenv.SambaTool(t, "group", "delete", group) })
	c := &clock{t: time.Now()}
	a, srv := newADAppAt(t, c, func(cfg *config.Config) { cfg.Apps[0].Groups = []string{group} })
	name := newADUser(t, pw)
	testenv.SambaTool(t, "group", "addmembers", group, name)
	b := browse.New(t, srv.URL)
	b.Get(adEntraSignIn(name, ""))
	if page := b.Submit(map[string]string{"password": pw}); wresultRe.FindStringSubmatch(page) == nil {
		t.Fatalf("no token for a member:\n%s", page)
	}
	testenv.SambaTool(t, "group", "removemembers", group, name)
	c.add(a.Config.Sessions.RecheckInterval - time.Second)
	if page := b.Get(adEntraSignIn(name, "")); wresultRe.FindStringSubmatch(page) == nil {
		t.Fatalf("no token within the recheck interval:\n%s", page)
	}
	c.add(time.Second)
	if page := b.Get(adEntraSignIn(name, "")); wresultRe.FindStringSubmatch(page) != nil || !strings.Contains(page, "You are not allowed to use this application.") {
		t.Fatalf("a token, or no refusal, for a user taken out of the app's group:\n%s", page)
	}
}

func TestAPasswordChangeAtAnADSignInEndsTheUsersOtherSessions(t *testing.T) {
	const pw, set, chosen = "Session!Passw0rd-1", "Admin!Set-Passw0rd-2", "Kettle!Orbit-Vintage-49"
	c := &clock{t: time.Now()}
	a, srv := newADAppAt(t, c, nil)
	name := newADUser(t, pw)
	other := browse.New(t, srv.URL)
	other.Get(adEntraSignIn(name, ""))
	if page := other.Submit(map[string]string{"password": pw}); wresultRe.FindStringSubmatch(page) == nil {
		t.Fatalf("no token:\n%s", page)
	}
	// The helpdesk sets a password the user must change at the next sign-in.
	testenv.MustChangeADPassword(t, name, set)
	b := browse.New(t, srv.URL)
	b.Get(adEntraSignIn(name, ""))
	if page := b.Submit(map[string]string{"password": set}); !strings.Contains(page, `name="new_password"`) {
		t.Fatalf("no change page:\n%s", page)
	}
	if page := b.Submit(map[string]string{"new_password": chosen, "confirm_password": chosen}); wresultRe.FindStringSubmatch(page) == nil {
		t.Fatalf("no token after the change:\n%s", page)
	}
	if page := other.Get(adEntraSignIn(name, "")); wresultRe.FindStringSubmatch(page) != nil {
		t.Fatalf("the other browser still gets a token:\n%s", page)
	}
	evs, err := a.Store.QueryAudit(t.Context(), store.AuditQuery{Type: audit.PasswordChanged})
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Detail), `"sessions_revoked":"1"`) {
		t.Fatalf("password change audit %+v (%v), want one counting 1 session ended", evs, err)
	}
	// The browser that changed it keeps its session across rechecks.
	for i := range 2 {
		c.add(a.Config.Sessions.RecheckInterval)
		if page := b.Get(adEntraSignIn(name, "")); wresultRe.FindStringSubmatch(page) == nil {
			t.Fatalf("recheck %d: no token for the browser that changed the password:\n%s", i, page)
		}
	}
}
