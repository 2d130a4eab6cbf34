package e2e

import (
	"strings"
	"testing"
	"time"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

func TestInChromiumAnADUserResetsAForgottenPasswordWithTheirAuthenticatorApp(t *testing.T) {
	base := gatehouse(t)
	const oldPW, newPW = "E2e!Passw0rd-old", "E2e!Passw0rd-new"
	const breached = "g00dPa$$w0rD" // on the shipped list; meets AD's length and complexity
	name := adUser(t, oldPW)
	b := NewBrowser(t)

	// The user set up an authenticator app at an earlier sign-in.
	signInWithPassword(b, base, name, oldPW)
	b.Do(chromedp.WaitVisible(chromedp.CSS(chooseTOTP)), chromedp.Click(chromedp.CSS(chooseTOTP)),
		chromedp.WaitVisible(chromedp.CSS(`p.secret`)))
	secret := strings.ReplaceAll(b.Text("p.secret"), " ", "")
	code, _ := totp.GenerateCode(secret, time.Now())
	b.Do(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")), chromedp.WaitVisible(chromedp.CSS(`ol.codes`)))
	recovery := strings.Fields(b.Text("ol.codes"))[0]
	b.Do(chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`a.button[href="/account"]`)))
	signOut(b, base)

	// Forgot it: reset with the next authenticator code.
	b.Do(chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS(`a[href="/password/reset"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/password/reset"]`)),
		chromedp.WaitVisible(chromedp.ID("login")), chromedp.SendKeys(chromedp.ID("login"), name), chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.CSS(`a[href*="method=totp"]`)), chromedp.Click(chromedp.CSS(`a[href*="method=totp"]`)),
		chromedp.WaitVisible(chromedp.ID("code_totp")))
	next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	b.Do(chromedp.SendKeys(chromedp.ID("code_totp"), next), chromedp.Submit(chromedp.ID("code_totp")),
		chromedp.WaitVisible(chromedp.ID("new_password")))
	if rules := b.Text("#rules"); !strings.Contains(rules, "At least 7 characters.") {
		t.Fatalf("the AD policy is not shown: %q", rules)
	}
	// The rules are checked as the user types: too short, then long enough
	// but leaked in a breach (the server's verdict), then the real one.
	b.Do(chromedp.WaitVisible(chromedp.CSS(`#rules[data-live="true"]`)),
		chromedp.SendKeys(chromedp.ID("new_password"), "Ab1!"),
		chromedp.WaitVisible(chromedp.CSS(`li[data-rule="min_length"][data-state="unmet"]`)),
		chromedp.SendKeys(chromedp.ID("new_password"), "x"+name),
		chromedp.WaitVisible(chromedp.CSS(`li[data-rule="min_length"][data-state="met"]`)),
		chromedp.WaitVisible(chromedp.CSS(`li[data-rule="name"][data-state="unmet"]`)),
		clearField("new_password"), chromedp.SendKeys(chromedp.ID("new_password"), breached),
		chromedp.WaitVisible(chromedp.CSS(`li[data-rule="name"][data-state="met"]`)),
		chromedp.WaitVisible(chromedp.CSS(`li[data-rule="strength"][data-state="unmet"]`)))
	if got := b.Text("#strength"); !strings.Contains(got, "leaked in data breaches") {
		t.Fatalf("the breached verdict is not announced: %q", got)
	}
	// Sent anyway, the server refuses it too and keeps the form.
	b.Do(chromedp.SendKeys(chromedp.ID("confirm_password"), breached), chromedp.Submit(chromedp.ID("new_password")),
		chromedp.WaitVisible(chromedp.ID("new-error")))
	if got := b.Text("#new-error"); !strings.Contains(got, "leaked in data breaches") {
		t.Fatalf("the server accepted a breached password: %q", got)
	}
	b.ExpectProblem("status of 422")
	b.Do(chromedp.WaitVisible(chromedp.CSS(`#rules[data-live="true"]`)), chromedp.SendKeys(chromedp.ID("new_password"), newPW),
		chromedp.WaitVisible(chromedp.CSS(`li[data-rule="strength"][data-state="met"]`)),
		chromedp.SendKeys(chromedp.ID("confirm_password"), "typo"),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-status:not(:empty)`)),
		clearField("confirm_password"), chromedp.SendKeys(chromedp.ID("confirm_password"), newPW),
		chromedp.WaitNotVisible(chromedp.CSS(`#confirm-status`)))
	for _, rule := range []string{"min_length", "complexity", "name", "strength"} {
		if st := b.Attr(`li[data-rule="`+rule+`"]`, "data-state"); st != "met" {
			t.Errorf("rule %s is %q for a compliant password", rule, st)
		}
	}
	b.Do(chromedp.Submit(chromedp.ID("new_password")), chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	if got := b.Text("p.notice"); !strings.Contains(got, "Your password was reset.") {
		t.Fatalf("reset: %q", got)
	}

	// The new password signs in; the second factor is a recovery code (the
	// authenticator's next codes are used up for the next half minute).
	signInWithPassword(b, base, name, newPW)
	b.Do(chromedp.WaitVisible(chromedp.CSS(`a[href*="method=recovery"]`)), chromedp.Click(chromedp.CSS(`a[href*="method=recovery"]`)),
		chromedp.WaitVisible(chromedp.ID("code")), chromedp.SendKeys(chromedp.ID("code"), recovery), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS(`a.button[href="/account"]`)))
	b.CheckProblems()
}

// clearField empties an input so the next SendKeys types its whole value.
func clearField(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`document.getElementById("` + id + `").value = ""`)
}

// enrolPasskeyAtFirstSignIn signs name in with the password and enrols a
// passkey in the browser's virtual authenticator (MFA is required and the
// user has none), then signs out.
func enrolPasskeyAtFirstSignIn(t *testing.T, b *Browser, base, name, password string, auth cdpwebauthn.AuthenticatorID) {
	t.Helper()
	signInWithPassword(b, base, name, password)
	b.Do(chromedp.WaitVisible(chromedp.CSS(choosePasskey)), chromedp.Click(chromedp.CSS(choosePasskey)),
		chromedp.WaitVisible(chromedp.ID("webauthn-start")), chromedp.Click(chromedp.ID("webauthn-start")),
		chromedp.WaitVisible(chromedp.CSS(`ol.codes`)),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`a.button[href="/account"]`)))
	if n := len(b.VirtualCredentials(auth)); n != 1 {
		t.Fatalf("the authenticator holds %d credentials, want 1", n)
	}
	signOut(b, base)
}

// startRecovery opens path (never /login, whose autofill would sign in
// with the passkey at once), names the account and chooses the passkey,
// which the next page must offer.
func startRecovery(t *testing.T, b *Browser, base, path, name string) {
	t.Helper()
	b.Do(chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.ID("login"), name), chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.CSS(`main ul.methods`)))
	if !Run(b, chromedp.Evaluate[bool](`document.querySelector('a[href*="method=webauthn"]') !== null`)) {
		t.Fatalf("%s offers no passkey: %q", path, b.Text("main"))
	}
	b.Do(chromedp.Click(chromedp.CSS(`a[href*="method=webauthn"]`)), chromedp.WaitVisible(chromedp.ID("webauthn-start")))
}

func TestInChromiumAPasskeyAloneResetsAForgottenADPassword(t *testing.T) {
	base := gatehouse(t)
	const oldPW, newPW = "E2e!Passw0rd-pk-old", "Copper!Kettle-Wand3rs"
	name := adUser(t, oldPW)
	upn := name + "@" + testenv.ADDNSDomain
	b := NewBrowser(t)
	auth := b.AddVirtualAuthenticator(nil)
	enrolPasskeyAtFirstSignIn(t, b, base, name, oldPW, auth)

	// Forgot it: the passkey is enough (one strong factor), no code typed.
	startRecovery(t, b, base, "/password/reset", name)
	b.Do(chromedp.Click(chromedp.ID("webauthn-start")), chromedp.WaitVisible(chromedp.ID("new_password")),
		chromedp.SendKeys(chromedp.ID("new_password"), newPW), chromedp.SendKeys(chromedp.ID("confirm_password"), newPW),
		chromedp.Submit(chromedp.ID("new_password")), chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	if got := b.Text("p.notice"); !strings.Contains(got, "Your password was reset.") || strings.Contains(got, "%!") {
		t.Fatalf("reset: %q", got)
	}
	if err := adBind(t, upn, newPW); err != nil {
		t.Fatalf("the new password does not bind: %v", err)
	}
	if err := adBind(t, upn, oldPW); err == nil {
		t.Fatal("the old password still binds")
	}
	b.CheckProblems()
}

func TestInChromiumALockedOutADUserUnlocksWithAPasskey(t *testing.T) {
	base := gatehouse(t)
	const pw = "E2e!Passw0rd-unlock"
	name := adUser(t, pw)
	upn := name + "@" + testenv.ADDNSDomain
	testenv.ApplyADPSO(t, testenv.ADPSO{LockoutThreshold: 2, LockoutMinutes: 30}, name)
	b := NewBrowser(t)
	auth := b.AddVirtualAuthenticator(nil)
	enrolPasskeyAtFirstSignIn(t, b, base, name, pw, auth)

	for range 2 {
		_ = adBind(t, upn, "Wrong!Passw0rd-9")
	}
	if err := adBind(t, upn, pw); err == nil || !strings.Contains(err.Error(), "775") {
		t.Fatalf("the account is not locked out (data 775): %v", err)
	}
	startRecovery(t, b, base, "/account/unlock", name)
	b.Do(chromedp.Click(chromedp.ID("webauthn-start")), chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
	if got := b.Text("main"); !strings.Contains(got, "Your account is unlocked.") || strings.Contains(got, "%!") {
		t.Fatalf("unlock: %q", got)
	}
	if err := adBind(t, upn, pw); err != nil {
		t.Fatalf("the unchanged password does not bind after unlocking: %v", err)
	}
	b.CheckProblems()
}
