package app

import (
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

const entraDomain = "demo.gatehouse.test"

// newEntraDemo is the demo with Microsoft 365 federated for the demo
// domain; mfa is mfa.required_for.
func newEntraDemo(t *testing.T, mfa string, mods ...func(*config.Config)) (*App, *httptest.Server) {
	t.Helper()
	entra := func(c *config.Config) {
		c.MFA.RequiredFor = mfa
		c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{entraDomain}}}
	}
	return newDemoAt(t, time.Now, append([]func(*config.Config){entra}, mods...)...)
}

var (
	wresultRe = regexp.MustCompile(`name="wresult" value="([^"]+)"`)
	wctxRe    = regexp.MustCompile(`name="wctx" value="([^"]*)"`)
	actionRe  = regexp.MustCompile(`<form[^>]+action="([^"]+)"`)
)

func entraSignIn(extra string) string {
	q := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {"urn:federation:MicrosoftOnline"}, "wctx": {"LoginOptions=3&estsredirect=2&x=<y>"},
		"username": {"alice@" + entraDomain}}
	return "/wsfed?" + q.Encode() + extra
}

func TestAnEntraSignInWithTOTPEndsInATokenEntraAccepts(t *testing.T) {
	a, srv := newEntraDemo(t, "all")
	alice := DemoUsers()[0]
	b := browse.New(t, srv.URL)
	b.Get(entraSignIn(""))
	page := b.Submit(map[string]string{"password": alice.Password})
	page = chooseTOTP(t, b, page)
	secret := strings.ReplaceAll(secretRe.FindStringSubmatch(page)[1], " ", "")
	code, _ := totp.GenerateCode(secret, time.Now())
	b.Submit(map[string]string{"code": code})
	page = b.Submit(nil) // recovery codes seen: the protocol resumes

	if act := actionRe.FindStringSubmatch(page); act == nil || act[1] != "https://login.microsoftonline.com/login.srf" {
		t.Fatalf("no auto-POST form to login.srf:\n%s", page)
	}
	if got := html.UnescapeString(wctxRe.FindStringSubmatch(page)[1]); got != "LoginOptions=3&estsredirect=2&x=<y>" {
		t.Errorf("wctx came back as %q", got)
	}
	wresult := html.UnescapeString(wresultRe.FindStringSubmatch(page)[1])
	wantIssuer := strings.TrimRight(a.Config.Issuer, "/") + "/" + entraDomain
	for _, want := range []string{
		`Issuer="` + wantIssuer + `"`,
		`<saml:Audience>urn:federation:MicrosoftOnline</saml:Audience>`,
		`AuthenticationMethod="http://schemas.microsoft.com/claims/multipleauthn"`,
		`Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"`,
		`Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"`,
		`<t:TokenType>urn:oasis:names:tc:SAML:1.0:assertion</t:TokenType>`,
	} {
		if !strings.Contains(wresult, want) {
			t.Errorf("wresult lacks %s", want)
		}
	}
	// The token is what an independent WS-Fed consumer accepts.
	if res := validators.EntraToken(t, wresult, a.Signing.Cert.Raw, time.Now()); res.Issuer != wantIssuer {
		t.Fatalf("passport-wsfed-saml2 read issuer %q, want %q", res.Issuer, wantIssuer)
	}
}

func TestWAuthMultipleAuthnForcesMFAOnAPasswordSession(t *testing.T) {
	_, srv := newEntraDemo(t, "none")
	alice := DemoUsers()[0]
	b := browse.New(t, srv.URL)
	// MFA is not required by policy: the first token is password-only.
	b.Get(entraSignIn(""))
	page := b.Submit(map[string]string{"password": alice.Password})
	wresult := html.UnescapeString(wresultRe.FindStringSubmatch(page)[1])
	if strings.Contains(wresult, "multipleauthn") {
		t.Fatal("a password-only sign-in claimed MFA")
	}
	page = b.Get(entraSignIn("&wauth=" + url.QueryEscape("http://schemas.microsoft.com/claims/multipleauthn")))
	if strings.Contains(page, `name="wresult"`) || !strings.Contains(page, "Set up a second sign-in method") {
		t.Fatalf("wauth=multipleauthn did not force a second factor on the live session:\n%s", page)
	}
	page = chooseTOTP(t, b, page)
	secret := strings.ReplaceAll(secretRe.FindStringSubmatch(page)[1], " ", "")
	code, _ := totp.GenerateCode(secret, time.Now())
	b.Submit(map[string]string{"code": code})
	page = b.Submit(nil)
	wresult = html.UnescapeString(wresultRe.FindStringSubmatch(page)[1])
	if !strings.Contains(wresult, "multipleauthn") {
		t.Fatalf("MFA happened but was not claimed")
	}
}

func TestAnUnknownReplyOrRealmGetsAnErrorPageNeverARedirect(t *testing.T) {
	_, srv := newEntraDemo(t, "none")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for name, path := range map[string]string{
		"unknown wreply":              entraSignIn("&wreply=" + url.QueryEscape("https://evil.example.com/login.srf")),
		"unknown realm":               "/wsfed?wa=wsignin1.0&wtrealm=urn:evil",
		"signout to an unknown reply": "/wsfed?wa=wsignout1.0&wreply=" + url.QueryEscape("https://evil.example.com/"),
	} {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); loc != "" && !strings.HasPrefix(loc, "/") {
			t.Errorf("%s: redirected to %s", name, loc)
		}
		if name != "signout to an unknown reply" && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, resp.StatusCode)
		}
	}
}

func TestTheFederationMetadataIsSignedAndServed(t *testing.T) {
	a, srv := newEntraDemo(t, "none")
	resp, err := http.Get(srv.URL + "/FederationMetadata/2007-06/FederationMetadata.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body := string(raw)
	if resp.StatusCode != 200 || !strings.Contains(body, "/wsfed") {
		t.Fatalf("metadata %d:\n%s", resp.StatusCode, body)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Signing.Cert.Raw})
	if err := validators.XMLSec1(t, []byte(body), certPEM, validators.SAML2Metadata); err != nil {
		t.Fatalf("xmlsec1: %v", err)
	}
}

func TestASignInFromACorporateNetworkSaysSo(t *testing.T) {
	_, srv := newEntraDemo(t, "none", func(c *config.Config) { c.Claims.CorporateNetworks = []string{"127.0.0.0/8"} })
	b := browse.New(t, srv.URL)
	b.Get(entraSignIn(""))
	page := b.Submit(map[string]string{"password": DemoUsers()[0].Password})
	wresult := html.UnescapeString(wresultRe.FindStringSubmatch(page)[1])
	if !regexp.MustCompile(`AttributeName="insidecorporatenetwork"[^>]*>\s*<saml:AttributeValue>true<`).MatchString(wresult) {
		t.Fatalf("no insidecorporatenetwork=true claim:\n%s", wresult)
	}
}

func TestASignInKeepsOnlyWSFedParametersInItsFlow(t *testing.T) {
	a, srv := newEntraDemo(t, "none")
	// 60 made-up parameters of 2 kB each: allowed in a request (each is
	// within the default limit) but not kept for the sign-in.
	extra := ""
	for i := range 60 {
		extra += fmt.Sprintf("&junk%d=%s", i, strings.Repeat("j", 2000))
	}
	b := browse.New(t, srv.URL)
	page := b.Get(entraSignIn(extra))
	m := actionRe.FindStringSubmatch(page)
	if b.Status != http.StatusOK || m == nil || !strings.HasPrefix(m[1], "/login?flow=") {
		t.Fatalf("status %d, no sign-in form:\n%.2000s", b.Status, page)
	}
	f, err := a.Store.GetFlow(t.Context(), strings.TrimPrefix(m[1], "/login?flow="), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Data) > 4<<10 || strings.Contains(string(f.Data), "junk") {
		t.Errorf("the flow keeps %d bytes, unknown parameters included: %.300s", len(f.Data), f.Data)
	}
	// The sign-in still ends in a token for Entra, with wctx intact.
	if page := b.Submit(map[string]string{"password": DemoUsers()[0].Password}); wresultRe.FindStringSubmatch(page) == nil ||
		!strings.Contains(page, "LoginOptions=3") {
		t.Fatalf("no token form:\n%.2000s", page)
	}
}
