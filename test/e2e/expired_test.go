package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-ldap/ldap/v3"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// dialAD opens an LDAPS connection to the test DC, trusting its CA.
func dialAD(t *testing.T) *ldap.Conn {
	t.Helper()
	v := testenv.Require(t, testenv.ADURL, testenv.ADCAFile)
	ca, err := os.ReadFile(v[1])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	u, err := url.Parse(v[0])
	if err != nil {
		t.Fatal(err)
	}
	// The DC's address as the test environment gives it (127.0.0.1, or
	// another loopback address beside a second checkout's DC).
	c, err := ldap.DialURL(v[0], ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatalf("dial %s: %v", v[0], err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// adBind binds as upn and returns the DC's answer (nil, or the error with
// its "data 532"-style diagnostic).
func adBind(t *testing.T, upn, password string) error {
	t.Helper()
	return dialAD(t).Bind(upn, password)
}

// adImmutableID reads name's objectGUID with the service account, straight
// from the DC, as base64 of the raw bytes: the ImmutableID Entra expects.
func adImmutableID(t *testing.T, name string) string {
	t.Helper()
	v := testenv.Require(t, testenv.ADBindDN, testenv.ADBindPassword, testenv.ADBaseDN)
	c := dialAD(t)
	if err := c.Bind(v[0], v[1]); err != nil {
		t.Fatalf("service bind: %v", err)
	}
	res, err := c.Search(ldap.NewSearchRequest(v[2], ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(sAMAccountName="+ldap.EscapeFilter(name)+")", []string{"objectGUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("search %s: %v (%d entries)", name, err, len(res.Entries))
	}
	return base64.StdEncoding.EncodeToString(res.Entries[0].GetRawAttributeValue("objectGUID"))
}

func TestInChromiumAnExpiredOrMustChangeADPasswordIsChangedInsideAnEntraSignInThatPostsTheToken(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prepare   func(tb testing.TB, name, password string)
		dcSays    string // the bind's data code for the right password
		intro     string // why the change page is shown
		rule      string // the effective policy's length rule, in words
		short     string // a password that passes the domain's length but not the rule
		violation string
	}{
		{
			name: "an expired password (data 532, a PSO with a 2-day maximum age)", prepare: testenv.ExpireADPassword, dcSays: "data 532",
			intro: "Your password has expired. Choose a new one to continue.", rule: "At least 10 characters.",
			short: "Sh0rt!pw-", violation: "Use at least 10 characters.",
		},
		{
			name: "a password that must change (data 773, pwdLastSet=0)", prepare: testenv.MustChangeADPassword, dcSays: "data 773",
			intro: "You must choose a new password before you continue.", rule: "At least 7 characters.",
			short: "Ab1!x", violation: "Use at least 7 characters.",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dataDir string
			base := gatehouseWith(t, func(c *config.Config) {
				c.MFA.RequiredFor = "none"
				c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}, MFA: "required"}}
				dataDir = filepath.Dir(c.Signing.CertFile)
			})
			const oldPW, newPW = "E2e!Old-Passw0rd", "Harbor#Quilt-Nebula-83"
			name := adUser(t, "E2e!Initial-Passw0rd")
			tc.prepare(t, name, oldPW)
			upn := name + "@" + testenv.ADDNSDomain
			if err := adBind(t, upn, oldPW); err == nil || !strings.Contains(err.Error(), tc.dcSays) {
				t.Fatalf("the DC does not answer %s for the user: %v", tc.dcSays, err)
			}

			b := NewBrowser(t)
			posted := b.Intercept("https://login.microsoftonline.com/*")
			q := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {"urn:federation:MicrosoftOnline"}, "wctx": {"LoginOptions=3&estsredirect=2&ctx=renew"},
				"username": {upn}, "client-request-id": {"5a1b0c9e-0000-4000-8000-00000000e2e0"}}
			b.Do(chromedp.Navigate(base+"/wsfed?"+q.Encode()),
				chromedp.WaitVisible(chromedp.ID("password")),
				chromedp.SendKeys(chromedp.ID("password"), oldPW),
				chromedp.Submit(chromedp.ID("password")),
				// The second factor comes first: the app requires it and the
				// user has none, so the authenticator app is set up.
				chromedp.WaitVisible(chromedp.CSS(chooseTOTP)))
			if got := b.Text("main"); !strings.Contains(got, "Set up a second sign-in method") || strings.Contains(got, tc.intro) {
				t.Fatalf("not the second factor first: %q", got)
			}
			b.Do(chromedp.Click(chromedp.CSS(chooseTOTP)), chromedp.WaitVisible(chromedp.CSS(`p.secret`)))
			code, _ := totp.GenerateCode(strings.ReplaceAll(b.Text("p.secret"), " ", ""), time.Now())
			b.Do(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")),
				chromedp.WaitVisible(chromedp.CSS(`ol.codes`)), chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
				// The change page, or the intercepted stub if a token went out.
				chromedp.WaitVisible(chromedp.CSS(`#new_password, #intercepted`)))
			if Run(b, chromedp.Evaluate[bool](`document.getElementById("intercepted") !== null`)) {
				t.Fatal("a token was posted to Entra before the password was changed")
			}

			// The change page says why and shows the policy that applies.
			if got := b.Text("main"); !strings.Contains(got, tc.intro) {
				t.Fatalf("the change page does not say why: %q", got)
			}
			if rules := b.Text("#rules"); !strings.Contains(rules, tc.rule) {
				t.Fatalf("the effective policy is not shown: %q", rules)
			}
			// A password that breaks the policy: the form comes back with the
			// policy's words on the field.
			b.Do(chromedp.SendKeys(chromedp.ID("new_password"), tc.short), chromedp.SendKeys(chromedp.ID("confirm_password"), tc.short),
				chromedp.Submit(chromedp.ID("new_password")), chromedp.WaitVisible(chromedp.ID("new-error")))
			if got := b.Text("#new-error"); !strings.Contains(got, tc.violation) {
				t.Fatalf("the refusal does not name the rule: %q", got)
			}
			if b.Attr("#new_password", "aria-invalid") != "true" || !strings.Contains(b.Attr("#new_password", "aria-describedby"), "new-error") {
				t.Fatalf("the new-password field is not marked with its error")
			}
			b.ExpectProblem("422") // the refused password's page is answered 422, as it should be
			b.Do(chromedp.SendKeys(chromedp.ID("new_password"), newPW), chromedp.SendKeys(chromedp.ID("confirm_password"), newPW),
				chromedp.Submit(chromedp.ID("new_password")))

			// The original request continues: the browser auto-POSTs the token.
			got := nextPost(t, posted)
			if got.URL != "https://login.microsoftonline.com/login.srf" {
				t.Fatalf("posted to %s", got.URL)
			}
			form, err := url.ParseQuery(string(got.Body))
			if err != nil {
				t.Fatal(err)
			}
			if form.Get("wa") != "wsignin1.0" || form.Get("wctx") != q.Get("wctx") {
				t.Fatalf("wa=%q wctx=%q", form.Get("wa"), form.Get("wctx"))
			}
			wresult := form.Get("wresult")
			res := validators.EntraToken(t, wresult, signingCert(t, dataDir), time.Now())
			if wantIssuer := base + "/" + testenv.ADDNSDomain; res.Issuer != wantIssuer {
				t.Fatalf("the token's issuer is %q, want %q", res.Issuer, wantIssuer)
			}
			if got := res.Profile["http://schemas.xmlsoap.org/claims/UPN"]; got != upn {
				t.Errorf("UPN claim %v, want %s", got, upn)
			}
			if got, want := res.Profile["http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID"], adImmutableID(t, name); got != want {
				t.Errorf("ImmutableID claim %v, want %s (the DC's objectGUID)", got, want)
			}
			if !strings.Contains(wresult, `AuthenticationMethod="http://schemas.microsoft.com/claims/multipleauthn"`) {
				t.Errorf("the token does not claim the second factor")
			}

			if err := adBind(t, upn, newPW); err != nil {
				t.Fatalf("the new password does not bind: %v", err)
			}
			if err := adBind(t, upn, oldPW); err == nil || !strings.Contains(err.Error(), "data 52e") {
				t.Fatalf("the old password: %v, want data 52e", err)
			}
			b.CheckProblems()
		})
	}
}
