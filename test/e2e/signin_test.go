package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/app"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// gatehouse runs the whole app against the test Samba DC on
// http://localhost:PORT (passkeys need a host name).
func gatehouse(t *testing.T) string { return gatehouseWith(t, nil) }

func gatehouseWith(t *testing.T, mod func(*config.Config)) string {
	t.Helper()
	_, base := gatehouseApp(t, mod)
	return base
}

// gatehouseApp is gatehouseWith that also returns the app, for a test
// that prepares state (factors, mail) behind the pages' back.
func gatehouseApp(t *testing.T, mod func(*config.Config)) (*app.App, string) {
	t.Helper()
	s := serve(t, true, nil, mod)
	return s.app, s.base
}

// adUser creates a throwaway AD user and deletes it afterwards.
func adUser(t *testing.T, password string) string {
	t.Helper()
	return testenv.NewADUser(t, "e2e", password, "Eve", "Tester")
}

func signInWithPassword(b *Browser, base, login, password string) {
	b.Do(
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.ID("login"), login),
		chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
	)
}

func signOut(b *Browser, base string) {
	b.Do(chromedp.Navigate(base+"/logout"), chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`a.button[href="/login"]`)))
}

func TestAnADUserEnrolsAPasskeyAtFirstSignInAndSignsInWithoutAPasswordNextTime(t *testing.T) {
	base := gatehouse(t)
	const pw = "E2e!Passw0rd-pk"
	name := adUser(t, pw)
	b := NewBrowser(t)
	auth := b.AddVirtualAuthenticator(nil)

	signInWithPassword(b, base, name, pw)
	// MFA is required and the user has none: enrolment, a passkey chosen.
	b.Do(chromedp.WaitVisible(chromedp.CSS(choosePasskey)), chromedp.Click(chromedp.CSS(choosePasskey)),
		chromedp.WaitVisible(chromedp.ID("webauthn-start")), chromedp.Click(chromedp.ID("webauthn-start")),
		chromedp.WaitVisible(chromedp.CSS(`ol.codes`)))
	if n := len(b.VirtualCredentials(auth)); n != 1 {
		t.Fatalf("the authenticator holds %d credentials, want 1", n)
	}
	if codes := b.Text("ol.codes"); strings.Count(codes, "-") != 10 {
		t.Fatalf("recovery codes not shown: %q", codes)
	}
	b.Do(chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`a.button[href="/account"]`)))
	if got := b.Text("main"); !strings.Contains(got, "signed in as Eve Tester") {
		t.Fatalf("not signed in: %q", got)
	}
	signOut(b, base)

	// Next sign-in: passwordless. The identify page asks for a passkey
	// (autofill, user verification required); no password is typed.
	b.Do(chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS(`a.button[href="/account"]`)))
	if got := b.Text("main"); !strings.Contains(got, "signed in as Eve Tester") {
		t.Fatalf("passwordless sign-in failed: %q", got)
	}
	b.Do(chromedp.Navigate(base + "/account"))
	if got := b.Text("main"); !strings.Contains(got, "Signed in") {
		t.Fatalf("no sign-in in the account's activity: %q", got)
	}
	b.CheckProblems()
}

func TestAnADUserSignsInWithTOTPAndAReplayedCodeIsRefused(t *testing.T) {
	base := gatehouse(t)
	const pw = "E2e!Passw0rd-totp"
	name := adUser(t, pw)
	b := NewBrowser(t)

	signInWithPassword(b, base, name, pw)
	b.Do(chromedp.WaitVisible(chromedp.CSS(chooseTOTP)), chromedp.Click(chromedp.CSS(chooseTOTP)),
		chromedp.WaitVisible(chromedp.CSS(`p.secret`)))
	secret := strings.ReplaceAll(b.Text("p.secret"), " ", "")
	code, _ := totp.GenerateCode(secret, time.Now())
	b.Do(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS(`ol.codes`)),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`a.button[href="/account"]`)))
	signOut(b, base)

	signInWithPassword(b, base, name, pw)
	b.Do(chromedp.WaitVisible(chromedp.ID("code")), chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.ID("code-error")))
	if got := b.Text("#code-error"); !strings.Contains(got, "didn't work") {
		t.Fatalf("a replayed code: %q", got)
	}
	b.ExpectProblem("401 (Unauthorized)") // the refused code's page is answered 401, as it should be
	next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	b.Do(chromedp.Clear(chromedp.ID("code")), chromedp.SendKeys(chromedp.ID("code"), next), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS(`a.button[href="/account"]`)))
	b.CheckProblems()
}
