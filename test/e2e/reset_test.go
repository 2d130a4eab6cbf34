package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

func TestInChromiumAnADUserResetsAForgottenPasswordWithTheirAuthenticatorApp(t *testing.T) {
	base := gatehouse(t)
	const oldPW, newPW = "E2e!Passw0rd-old", "E2e!Passw0rd-new"
	name := adUser(t, oldPW)
	b := NewBrowser(t)

	// The user set up an authenticator app at an earlier sign-in.
	signInWithPassword(b, base, name, oldPW)
	b.Do(chromedp.WaitVisible(chromedp.CSS(`ul.methods a`)), chromedp.Click(chromedp.CSS(`ul.methods a`)),
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
		chromedp.WaitVisible(chromedp.ID("code_totp")))
	next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	b.Do(chromedp.SendKeys(chromedp.ID("code_totp"), next), chromedp.Submit(chromedp.ID("code_totp")),
		chromedp.WaitVisible(chromedp.ID("new_password")))
	if rules := b.Text("#rules"); !strings.Contains(rules, "At least 7 characters.") {
		t.Fatalf("the AD policy is not shown: %q", rules)
	}
	b.Do(chromedp.SendKeys(chromedp.ID("new_password"), newPW), chromedp.SendKeys(chromedp.ID("confirm_password"), newPW),
		chromedp.Submit(chromedp.ID("new_password")), chromedp.WaitVisible(chromedp.CSS(`p.notice`)))
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
