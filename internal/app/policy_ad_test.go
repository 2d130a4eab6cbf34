package app

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// The tests of issue 13's policy findings, against the Samba DC: an Entra
// app that requires MFA, Gatehouse's own pages following
// mfa.required_for: apps (password only).

// entraOnAD is Microsoft 365 federated for the test domain with mfa.
func entraOnAD(mfaSetting string) func(*config.Config) {
	return func(c *config.Config) {
		c.MFA.RequiredFor = "apps"
		c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}, MFA: mfaSetting}}
	}
}

// adEntraSignIn is Entra's sign-in request for user.
func adEntraSignIn(user, extra string) string {
	q := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {"urn:federation:MicrosoftOnline"}, "wctx": {"LoginOptions=3"},
		"username": {user + "@" + testenv.ADDNSDomain}}
	return "/wsfed?" + q.Encode() + extra
}

// enrolTOTP gives user an authenticator app and returns its secret.
func enrolTOTP(t *testing.T, a *App, u *directory.User) string {
	t.Helper()
	ctx := context.Background()
	en, err := a.Factors.TOTP.Enrol(ctx, u.ID, u.UPN)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.ReplaceAll(en.Secret, " ", "")
	code, _ := totp.GenerateCode(secret, time.Now())
	if _, err := a.Factors.TOTP.Confirm(ctx, u.ID, en.Pending, code, ""); err != nil {
		t.Fatal(err)
	}
	return secret
}

func lookup(t *testing.T, a *App, name string) *directory.User {
	t.Helper()
	u, err := a.Directory.LookupUser(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signInPasswordOnly signs b in to Gatehouse itself with the password.
func signInPasswordOnly(t *testing.T, b *browse.Browser, name, pw string) {
	t.Helper()
	b.Get("/login?login_hint=" + name)
	if page := b.Submit(map[string]string{"password": pw}); b.Status != http.StatusOK || strings.Contains(page, `name="code"`) {
		t.Fatalf("not signed in with the password alone (status %d):\n%s", b.Status, page)
	}
}

// factorIDRe finds the ids in /account's links to remove a method.
var factorIDRe = regexp.MustCompile(`href="/account/factors/remove\?id=([^"&]+)"`)

func TestAPasswordAloneNeverMintsRecoveryCodesOrRemovesAFactor(t *testing.T) {
	a, srv := newADAppWith(t, entraOnAD("required"))
	const pw = "Factor!Passw0rd-1"
	name := newADUser(t, pw)
	u := lookup(t, a, name)
	secret := enrolTOTP(t, a, u)
	b := browse.New(t, srv.URL)
	signInPasswordOnly(t, b, name, pw)

	page := b.Get("/account")
	ids := factorIDRe.FindAllStringSubmatch(page, -1)
	if len(ids) != 1 {
		t.Fatalf("want one factor on /account:\n%s", page)
	}
	// New recovery codes, with a password-only session: the answer is the
	// second-factor page, never codes.
	page = newRecoveryCodes(t, b)
	if codesRe.MatchString(page) || !strings.Contains(page, `name="code"`) {
		t.Fatalf("a password-only session got recovery codes or no second-factor step:\n%s", page)
	}
	if n, _ := a.Factors.Recovery.Remaining(context.Background(), u.ID); n != 0 {
		t.Fatalf("%d recovery codes exist", n)
	}
	// Removing the factor: the same, for the confirmation and for the form.
	page = b.Get("/account/factors/remove?id=" + ids[0][1])
	if !strings.Contains(page, `name="code"`) || strings.Contains(page, `action="/account/factors/remove"`) {
		t.Fatalf("removing a factor with a password-only session was not stepped up:\n%s", page)
	}
	b.Get("/account")
	page = postWithToken(t, b, "/account/factors/remove", map[string]string{"id": ids[0][1]})
	if !strings.Contains(page, `name="code"`) {
		t.Fatalf("removing a factor with a password-only session was not stepped up:\n%s", page)
	}
	if fs, _ := mfa.ListFactors(context.Background(), a.Store, u.ID); len(fs) != 1 {
		t.Fatalf("the factor is gone: %+v", fs)
	}
	// With the second factor used now, the codes come.
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	b.Submit(map[string]string{"code": code})
	page = newRecoveryCodes(t, b)
	if len(codesRe.FindAllString(page, -1)) != 10 {
		t.Fatalf("no codes after the step-up:\n%s", page)
	}
	// A recovery code minted that way cannot be minted without one.
	if !strings.Contains(page, "recovery") {
		t.Fatal("no recovery section")
	}
}

// newRecoveryCodes asks /account for new recovery codes the way its page
// does: the confirmation (after the step-up it needs), then its form.
func newRecoveryCodes(t *testing.T, b *browse.Browser) string {
	t.Helper()
	page := b.Get("/account/recovery")
	if !strings.Contains(page, `action="/account/recovery"`) {
		return page // the step-up, or an enrolment first
	}
	return b.SubmitForm("/account/recovery", nil)
}

func TestAUserWithNoFactorEnrolsOneBeforeGettingRecoveryCodes(t *testing.T) {
	a, srv := newADAppWith(t, entraOnAD("required"))
	const pw = "Factor!Passw0rd-2"
	name := newADUser(t, pw)
	u := lookup(t, a, name)
	b := browse.New(t, srv.URL)
	signInPasswordOnly(t, b, name, pw)
	page := newRecoveryCodes(t, b)
	if codesRe.MatchString(page) || !strings.Contains(page, "Set up a second sign-in method") {
		t.Fatalf("a user without a factor got recovery codes, or no enrolment:\n%s", page)
	}
	if n, _ := a.Factors.Recovery.Remaining(context.Background(), u.ID); n != 0 {
		t.Fatalf("%d recovery codes exist", n)
	}
}

func TestAFinishedFlowCannotBeResumedIntoAStricterRequest(t *testing.T) {
	for _, tc := range []struct{ name, mfa, extra string }{
		{"a password-only /login glued onto an MFA app's request", "required", ""},
		{"a password-only /login glued onto an app's wfresh=0", "optional", "&wfresh=0"},
		{"a password-only /login glued onto an app's wauth=multipleauthn", "optional",
			"&wauth=" + url.QueryEscape("http://schemas.microsoft.com/claims/multipleauthn")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, srv := newADAppWith(t, entraOnAD(tc.mfa))
			const pw = "Resume!Passw0rd-1"
			name := newADUser(t, pw)
			enrolTOTP(t, a, lookup(t, a, name))
			b := browse.New(t, srv.URL)
			b.Get("/login?login_hint=" + name)
			b.Submit(map[string]string{"password": pw})
			flow := gotFlow(t, b)
			page := b.Get(adEntraSignIn(name, tc.extra) + "&gh_flow=" + url.QueryEscape(flow))
			if strings.Contains(page, `name="wresult"`) {
				t.Fatalf("the finished /login flow answered the stricter request with a token")
			}
			if !strings.Contains(page, `name="code"`) && !strings.Contains(page, `name="password"`) {
				t.Fatalf("the stricter request was not asked for more:\n%s", page)
			}
		})
	}
}

// gotFlow is the gh_flow a finished redirect flow handed back.
func gotFlow(t *testing.T, b *browse.Browser) string {
	t.Helper()
	u, _ := url.Parse(b.URL)
	if f := u.Query().Get("gh_flow"); f != "" {
		return f
	}
	t.Fatalf("no finished flow in %s", b.URL)
	return ""
}

func TestAMemberOfRequiredGroupsNeedsMFAEvenForAnOptionalApp(t *testing.T) {
	a, srv := newADAppWith(t, func(c *config.Config) {
		entraOnAD("optional")(c)
		c.MFA.RequiredGroups = []string{"Engineers"}
	})
	_ = a
	b := browse.New(t, srv.URL)
	b.Get(adEntraSignIn(testenv.Alice.SAMAccountName, ""))
	page := b.Submit(map[string]string{"password": testenv.Alice.Password})
	if strings.Contains(page, `name="wresult"`) || !strings.Contains(page, "second sign-in method") && !strings.Contains(page, `name="code"`) {
		t.Fatalf("a member of mfa.required_groups got a token for an mfa: optional app without a second factor:\n%s", page)
	}
	// A non-member gets the password-only token.
	b = browse.New(t, srv.URL)
	b.Get(adEntraSignIn(testenv.Carol.SAMAccountName, ""))
	if page := b.Submit(map[string]string{"password": testenv.Carol.Password}); !strings.Contains(page, `name="wresult"`) {
		t.Fatalf("a non-member was asked for more than the password:\n%s", page)
	}
}

func TestAnEmailCodeIsNotTheSecondFactorForAnMFAAppUnlessTheAdminOptsIn(t *testing.T) {
	_, srv, mail := newADAppWithMail(t, entraOnAD("required"))
	const pw = "Email!Passw0rd-1"
	name := newADUser(t, pw) // has a mail address, nothing enrolled
	b := browse.New(t, srv.URL)
	b.Get(adEntraSignIn(name, ""))
	page := b.Submit(map[string]string{"password": pw})
	if !strings.Contains(page, "Set up a second sign-in method") || strings.Contains(page, "We sent a code") {
		t.Fatalf("a user with only a mailbox was not asked to enrol a strong factor:\n%s", page)
	}
	if n := len(mail.Messages()); n != 0 {
		t.Fatalf("%d mails sent", n)
	}
}

func TestAMailServerThatIsDownNeverEndsASignInIn500(t *testing.T) {
	a, srv, mail := newADAppWithMail(t, func(c *config.Config) {
		entraOnAD("required")(c)
		c.MFA.EmailAsSecondFactor = true
	})
	const pw = "Email!Passw0rd-2"
	name := newADUser(t, pw)
	secret := enrolTOTP(t, a, lookup(t, a, name))
	mail.Stop()
	b := browse.New(t, srv.URL)
	b.Get(adEntraSignIn(name, ""))
	b.Submit(map[string]string{"password": pw})
	// The email method, chosen with the server down: told, not a 500.
	page := b.Get(strings.TrimPrefix(b.URL, b.Base) + "&method=email")
	if b.Status != http.StatusOK || !strings.Contains(page, "couldn&#39;t send the code") {
		t.Fatalf("status %d:\n%s", b.Status, page)
	}
	if !strings.Contains(page, "method=totp") {
		t.Fatalf("the other method is not offered:\n%s", page)
	}
	b.Get(strings.TrimPrefix(b.URL, b.Base)[:strings.Index(strings.TrimPrefix(b.URL, b.Base), "&method=")] + "&method=totp")
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second)) // not the enrolment's code
	if page = b.Submit(map[string]string{"code": code}); !strings.Contains(page, `name="wresult"`) {
		t.Fatalf("the other method did not finish the sign-in:\n%s", page)
	}
	if w := html.UnescapeString(wresultRe.FindStringSubmatch(page)[1]); !strings.Contains(w, "multipleauthn") {
		t.Fatal("no MFA claim")
	}
}

func TestWSTrustTokensAreAuditedWithTheRelyingParty(t *testing.T) {
	a, srv := newADAppWith(t, func(c *config.Config) {
		c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}}}
	})
	const pw = "Outlook!Passw0rd-7"
	name := newADUser(t, pw)
	endpoint := a.Config.Issuer + "/wstrust/13/usernamemixed"
	resp, err := http.Post(srv.URL+"/wstrust/13/usernamemixed", "application/soap+xml; charset=utf-8",
		strings.NewReader(testenv.UsernameMixedRST(endpoint, name+"@"+testenv.ADDNSDomain, pw, time.Now())))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	u := lookup(t, a, name)
	evs, err := a.Store.QueryAudit(context.Background(), store.AuditQuery{UserID: u.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == audit.TokenIssued && e.App == "Microsoft 365" && e.Result == "ok" {
			return
		}
	}
	t.Fatalf("no token_issued event for Microsoft 365: %+v", evs)
}

func TestWSTrustRefusesAPasswordThatMustChangeOrHasExpired(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(tb testing.TB, name, pw string)
	}{
		{"must change at next logon (pwdLastSet 0)", testenv.MustChangeADPassword},
		{"expired (a PSO with a 2-day maximum age)", testenv.ExpireADPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, srv := newADAppWith(t, func(c *config.Config) {
				c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}}}
			})
			const pw = "Outlook!Passw0rd-8"
			name := newADUser(t, "Initial!Passw0rd-8")
			tc.prepare(t, name, pw)
			endpoint := a.Config.Issuer + "/wstrust/13/usernamemixed"
			resp, err := http.Post(srv.URL+"/wstrust/13/usernamemixed", "application/soap+xml; charset=utf-8",
				strings.NewReader(testenv.UsernameMixedRST(endpoint, name+"@"+testenv.ADDNSDomain, pw, time.Now())))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "RequestSecurityTokenResponse") {
				t.Fatalf("a password that must change got a WS-Trust token (status %d)", resp.StatusCode)
			}
		})
	}
}

func TestRemovingAFactorEndsTheSessionsItMayHaveSignedIn(t *testing.T) {
	a, srv := newADAppWith(t, entraOnAD("required"))
	const pw = "Factor!Passw0rd-9"
	name := newADUser(t, pw)
	u := lookup(t, a, name)
	secret := enrolTOTP(t, a, u)
	codes, err := a.Factors.Recovery.Generate(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Browser A signs in to the Entra app with the authenticator app.
	other := browse.New(t, srv.URL)
	other.Get(adEntraSignIn(name, ""))
	other.Submit(map[string]string{"password": pw})
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if page := other.Submit(map[string]string{"code": code}); !strings.Contains(page, `name="wresult"`) {
		t.Fatalf("no token:\n%s", page)
	}
	// Browser B removes the factor, with a step-up.
	b := browse.New(t, srv.URL)
	signInPasswordOnly(t, b, name, pw)
	id := factorIDRe.FindStringSubmatch(b.Get("/account"))[1]
	page := b.Get("/account/factors/remove?id=" + id)
	flow := regexp.MustCompile(`/login\?flow=([A-Za-z0-9_-]+)`).FindStringSubmatch(page)
	if flow == nil {
		t.Fatalf("no step-up:\n%s", page)
	}
	b.Get("/login?flow=" + flow[1] + "&method=recovery") // the step-up, with a recovery code
	if page := b.Submit(map[string]string{"code": codes[0]}); !strings.Contains(page, `action="/account/factors/remove"`) {
		t.Fatalf("not back at the confirmation after the step-up:\n%s", page)
	}
	b.SubmitForm("/account/factors/remove", nil)
	if !strings.Contains(b.Last, "The sign-in method was removed.") {
		t.Fatalf("not removed (status %d):\n%s", b.Status, b.Last)
	}
	// A's session, perhaps signed in with that factor, is over.
	if page := other.Get(adEntraSignIn(name, "")); strings.Contains(page, `name="wresult"`) {
		t.Fatal("a session outlived the factor that was removed")
	}
	// B's goes on.
	if page := b.Get("/account"); !strings.Contains(page, "Sign-in methods") {
		t.Fatalf("the session that removed the factor ended:\n%s", page)
	}
}
