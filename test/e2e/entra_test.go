package e2e

import (
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func TestAnEntraSignInInChromiumEndsInATokenPostedToLoginSrf(t *testing.T) {
	var dataDir string
	base := gatehouseWith(t, func(c *config.Config) {
		c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}, MFA: "required"}}
		dataDir = filepath.Dir(c.Signing.CertFile)
	})
	const pw = "E2e!Passw0rd-entra"
	name := adUser(t, pw)
	upn := name + "@" + testenv.ADDNSDomain
	b := NewBrowser(t)
	posted := b.Intercept("https://login.microsoftonline.com/*")

	q := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {"urn:federation:MicrosoftOnline"}, "wctx": {"LoginOptions=3&estsredirect=2&ctx=e2e"}, "username": {upn}}
	b.Do(chromedp.Navigate(base+"/wsfed?"+q.Encode()),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("password"), pw),
		chromedp.Submit(chromedp.ID("password")),
		// MFA is required: enrol the authenticator app, chosen at the chooser.
		chromedp.WaitVisible(chromedp.CSS(chooseTOTP)), chromedp.Click(chromedp.CSS(chooseTOTP)),
		chromedp.WaitVisible(chromedp.CSS(`p.secret`)))
	code, _ := totp.GenerateCode(strings.ReplaceAll(b.Text("p.secret"), " ", ""), time.Now())
	b.Do(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS(`ol.codes`)), chromedp.Click(chromedp.CSS(`form button[type=submit]`)))

	got := nextPost(t, posted)
	if got.Method != "POST" || got.URL != "https://login.microsoftonline.com/login.srf" {
		t.Fatalf("posted %s %s", got.Method, got.URL)
	}
	form, err := url.ParseQuery(string(got.Body))
	if err != nil {
		t.Fatal(err)
	}
	if form.Get("wa") != "wsignin1.0" || form.Get("wctx") != "LoginOptions=3&estsredirect=2&ctx=e2e" {
		t.Fatalf("wa=%q wctx=%q", form.Get("wa"), form.Get("wctx"))
	}
	wresult := form.Get("wresult")
	for _, want := range []string{upn, "http://schemas.microsoft.com/claims/multipleauthn", `Issuer="` + base + "/" + testenv.ADDNSDomain + `"`} {
		if !strings.Contains(wresult, want) {
			t.Errorf("the token lacks %s", want)
		}
	}
	validators.EntraToken(t, wresult, signingCert(t, dataDir), time.Now())

	// A reply address that does not belong to Entra is refused with a page.
	q.Set("wreply", "https://evil.example.com/login.srf")
	b.Do(chromedp.Navigate(base+"/wsfed?"+q.Encode()), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
	if txt := b.Text("main"); !strings.Contains(txt, "not registered for") {
		t.Fatalf("unknown wreply: %q", txt)
	}
	b.ExpectProblem("400 (Bad Request)")
	b.CheckProblems()
}

func TestInChromiumWAuthMultipleAuthnStepsUpAPasswordOnlyEntraSession(t *testing.T) {
	base := gatehouseWith(t, func(c *config.Config) {
		c.MFA.RequiredFor = "none"
		c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}}}
	})
	const pw = "E2e!Passw0rd-wauth"
	name := adUser(t, pw)
	b := NewBrowser(t)
	posted := b.Intercept("https://login.microsoftonline.com/*")
	next := func() url.Values {
		t.Helper()
		form, err := url.ParseQuery(string(nextPost(t, posted).Body))
		if err != nil {
			t.Fatal(err)
		}
		return form
	}
	q := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {"urn:federation:MicrosoftOnline"}, "wctx": {"a"}, "username": {name + "@" + testenv.ADDNSDomain}}
	b.Do(chromedp.Navigate(base+"/wsfed?"+q.Encode()), chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("password"), pw), chromedp.Submit(chromedp.ID("password")))
	if w := next().Get("wresult"); strings.Contains(w, "multipleauthn") {
		t.Fatal("a password-only sign-in claimed MFA")
	}
	// Entra's Conditional Access now wants MFA: the live session is not
	// enough, the second factor is set up and used, then the token says so.
	q.Set("wauth", "http://schemas.microsoft.com/claims/multipleauthn")
	q.Set("wctx", "b")
	b.Do(chromedp.Navigate(base+"/wsfed?"+q.Encode()),
		chromedp.WaitVisible(chromedp.CSS(chooseTOTP)), chromedp.Click(chromedp.CSS(chooseTOTP)),
		chromedp.WaitVisible(chromedp.CSS(`p.secret`)))
	code, _ := totp.GenerateCode(strings.ReplaceAll(b.Text("p.secret"), " ", ""), time.Now())
	b.Do(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS(`ol.codes`)), chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	form := next()
	if !strings.Contains(form.Get("wresult"), "http://schemas.microsoft.com/claims/multipleauthn") || form.Get("wctx") != "b" {
		t.Fatalf("the stepped-up token lacks the MFA claim (wctx %q)", form.Get("wctx"))
	}
	b.CheckProblems()
}

// nextPost returns the next intercepted POST, skipping other requests (the
// stub page's own GETs). The wait is a hang guard, not a timing assertion.
func nextPost(t *testing.T, ch <-chan Intercepted) Intercepted {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case got := <-ch:
			if got.Method == "POST" {
				return got
			}
		case <-deadline:
			t.Fatal("no token was posted to login.srf")
		}
	}
}

// signingCert is the DER certificate gatehouse generated in dataDir.
func signingCert(t *testing.T, dataDir string) []byte {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(dataDir, "signing.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("signing.crt is not PEM")
	}
	return block.Bytes
}
