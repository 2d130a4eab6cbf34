package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"errors"
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
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/eam/entratest"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// The tests of Gatehouse as a Microsoft Entra external authentication
// method, against the Samba DC and a stand-in Entra on loopback (its own
// key, metadata and JWKS; its redirect URI verifies the answer as Entra
// would).

const (
	eamTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	eamAppID  = "0b5a6b4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b"
)

// eamOnAD is Gatehouse on the test DC with an entra-eam app trusting the
// stand-in e, which trusts Gatehouse's keys in turn.
func eamOnAD(t *testing.T, e *entratest.Entra) (*App, string, *clock) {
	t.Helper()
	cfg := adTestConfig(t)
	cfg.MFA.RequiredFor = "none" // an EAM request asks the second factor whatever this says
	cfg.Apps = []config.App{{Name: "Entra MFA", Type: "entra-eam", ClientID: eamAppID, TenantID: eamTenant,
		EntraMetadataURL: e.MetadataURL(), EntraCAFile: e.CAFile, EntraRedirectURI: e.RedirectURI()}}
	var probs config.Problems
	if errors.As(cfg.Validate(), &probs) {
		for _, p := range probs {
			if strings.HasPrefix(p.Path, "apps") || strings.HasPrefix(p.Path, "mfa") {
				t.Fatalf("the test's entra-eam app is not valid: %s", p)
			}
		}
	}
	c := &clock{t: time.Now()}
	a, srv := startApp(t, cfg, c.now)
	jwks, err := json.Marshal(keys.JWKS(a.Keys))
	if err != nil {
		t.Fatal(err)
	}
	e.Trust(a.Config.Issuer, jwks, eamAppID, a.Now)
	return a, srv.URL, c
}

// eamForm is the request Entra posts for a hint, with its own nonce.
func eamForm(hint, nonce string) url.Values {
	return url.Values{
		"client_id": {eamAppID}, "response_type": {"id_token"}, "scope": {"openid"}, "response_mode": {"form_post"},
		"redirect_uri": {""}, "nonce": {nonce}, "state": {"entra-state-" + nonce}, "id_token_hint": {hint},
		"claims": {entratest.ClaimsParam}, "client-request-id": {"req-" + nonce},
	}
}

// entraPosts is Entra sending b to Gatehouse with form (redirect_uri
// filled in): the POST, and the GET it is redirected to.
func entraPosts(t *testing.T, b *browse.Browser, e *entratest.Entra, form url.Values) string {
	t.Helper()
	form.Set("redirect_uri", e.RedirectURI())
	resp, err := b.C.PostForm(b.Base+"/oauth2/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther {
		return b.Get(resp.Header.Get("Location"))
	}
	b.Last, b.Status, b.URL = string(body), resp.StatusCode, resp.Request.URL.String()
	return b.Last
}

// noPasswordAsked fails t when the page asks for a password.
func noPasswordAsked(t *testing.T, b *browse.Browser) {
	t.Helper()
	if strings.Contains(b.Last, `type="password"`) || strings.Contains(b.Last, `name="password"`) {
		t.Fatalf("the page at %s asks for a password:\n%s", b.URL, b.Last)
	}
}

var postFieldRe = regexp.MustCompile(`<input type="hidden" name="(id_token|state)" value="([^"]*)">`)

// deliver posts the answer page's form to the stand-in's redirect URI, as
// the browser's auto-post does, and returns what Entra made of it.
func deliver(t *testing.T, e *entratest.Entra, page string) entratest.Received {
	t.Helper()
	if !strings.Contains(page, `action="`+e.RedirectURI()+`"`) {
		t.Fatalf("no answer posted to Entra's redirect URI:\n%s", page)
	}
	// The form is the one the shared auto-post script submits.
	if !strings.Contains(page, `<form id="autopost"`) || !strings.Contains(page, `src="`+web.AutoPostScriptPath+`"`) {
		t.Fatalf("the answer page is not the auto-POST page the script submits:\n%s", page)
	}
	form := url.Values{}
	for _, m := range postFieldRe.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.CertPool(), MinVersion: tls.VersionTLS12}}}
	resp, err := c.PostForm(e.RedirectURI(), form)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	got := e.Received()
	return got[len(got)-1]
}

// flowPath is the sign-in flow page the last page's form posts to.
func flowPath(t *testing.T, b *browse.Browser) string {
	t.Helper()
	return strings.ReplaceAll(b.Action(), "&amp;", "&")
}

func TestEntraSendsAnADUserForTheSecondFactorAloneAndTakesTheAnswer(t *testing.T) {
	e := entratest.New(t, eamTenant)
	a, base, clk := eamOnAD(t, e)
	const pw = "Eam!Passw0rd-first"
	name := newADUser(t, pw)
	_, secret := userWithTOTP(t, a, name, clk.now())
	u := entratest.User{OID: "oid-" + name, Sub: "pairwise-" + name, PreferredUsername: name + "@" + testenv.ADDNSDomain}

	b := browse.New(t, base)
	clk.add(30 * time.Second) // the enrolment used this step's code
	page := entraPosts(t, b, e, eamForm(e.Hint(t, u, eamAppID, clk.now()), "nonce-1"))
	noPasswordAsked(t, b)
	if b.Status != http.StatusOK || !strings.Contains(page, "Code from your authenticator app") {
		t.Fatalf("status %d, want the authenticator app's code page:\n%s", b.Status, page)
	}
	code, err := totp.GenerateCode(secret, clk.now())
	if err != nil {
		t.Fatal(err)
	}
	page = b.Submit(map[string]string{"code": code})
	noPasswordAsked(t, b)
	got := deliver(t, e, page)
	if got.Err != nil {
		t.Fatalf("Entra refused the answer: %v", got.Err)
	}
	c := got.Claims
	if c.Subject != u.Sub || c.Nonce != "nonce-1" || c.ACR != "possessionorinherence" || strings.Join(c.AMR, " ") != "otp" ||
		got.State != "entra-state-nonce-1" || c.Audience != eamAppID || c.Issuer != a.Config.Issuer {
		t.Errorf("Entra got %+v (state %q)", c, got.State)
	}
	// No Gatehouse sign-in came of it: the account page wants the password.
	if page := b.Get("/account"); !strings.Contains(page, `name="password"`) && !strings.Contains(page, `name="login"`) {
		t.Errorf("the second factor for Entra opened the account page:\n%s", page)
	}
	// The Entra account is linked to the AD user, and the token audited.
	ctx := context.Background()
	l, err := a.Store.GetLink(ctx, "entra:"+eamTenant, u.OID)
	if err != nil || l.UserID != lookup(t, a, name).ID {
		t.Errorf("link = %+v, %v", l, err)
	}
	evs, _ := a.Store.QueryAudit(ctx, store.AuditQuery{Type: audit.TokenIssued, UserID: l.UserID})
	if len(evs) != 1 || !strings.Contains(string(evs[0].Detail), `"protocol":"eam"`) {
		t.Errorf("token audit = %+v", evs)
	}
	// The same Entra account comes again: one link, another answer.
	b2 := browse.New(t, base)
	clk.add(30 * time.Second)
	entraPosts(t, b2, e, eamForm(e.Hint(t, u, eamAppID, clk.now()), "nonce-2"))
	code, _ = totp.GenerateCode(secret, clk.now())
	if got := deliver(t, e, b2.Submit(map[string]string{"code": code})); got.Err != nil || got.Claims.Nonce != "nonce-2" {
		t.Fatalf("the second answer: %+v", got)
	}
}

func TestAnADUserWithoutAFactorEnrolsOneInsideTheEntraRequest(t *testing.T) {
	e := entratest.New(t, eamTenant)
	_, base, clk := eamOnAD(t, e)
	name := newADUser(t, "Eam!Passw0rd-enrol")
	u := entratest.User{OID: "oid-" + name, Sub: "pairwise-" + name, PreferredUsername: name + "@" + testenv.ADDNSDomain}
	b := browse.New(t, base)
	page := entraPosts(t, b, e, eamForm(e.Hint(t, u, eamAppID, clk.now()), "nonce-enrol"))
	noPasswordAsked(t, b)
	if !strings.Contains(page, "Set up a second sign-in method") {
		t.Fatalf("no enrolment:\n%s", page)
	}
	if !strings.Contains(page, `class="secret"`) {
		page = b.Get(flowPath(t, b) + "&method=totp")
	}
	m := secretRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no authenticator app key:\n%s", page)
	}
	code, _ := totp.GenerateCode(strings.ReplaceAll(m[1], " ", ""), clk.now())
	page = b.Submit(map[string]string{"code": code})
	noPasswordAsked(t, b)
	if len(codesRe.FindAllString(page, -1)) != 10 {
		t.Fatalf("no recovery codes after the first method:\n%s", page)
	}
	if got := deliver(t, e, b.Submit(nil)); got.Err != nil || strings.Join(got.Claims.AMR, " ") != "otp" {
		t.Fatalf("Entra got %+v", got)
	}
}

func TestEntraRequestsGatehouseCannotTrustAreRefusedBeforeAnyFactor(t *testing.T) {
	e := entratest.New(t, eamTenant)
	a, base, clk := eamOnAD(t, e)
	name := newADUser(t, "Eam!Passw0rd-refuse")
	other := newADUser(t, "Eam!Passw0rd-other")
	userWithTOTP(t, a, name, clk.now())
	userWithTOTP(t, a, other, clk.now())
	u := entratest.User{OID: "oid-" + name, Sub: "pairwise-" + name, PreferredUsername: name + "@" + testenv.ADDNSDomain}
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := e.HintClaims(u, eamAppID, now)
		if mod != nil {
			mod(c)
		}
		return c
	}
	// Link the user first, so the mismatches below have a link to miss.
	b := browse.New(t, base)
	if entraPosts(t, b, e, eamForm(e.Hint(t, u, eamAppID, now), "link")); b.Status != http.StatusOK {
		t.Fatalf("the linking request: status %d\n%s", b.Status, b.Last)
	}
	for _, tc := range []struct {
		name, hint string
		status     int
		result     string
	}{
		{"an unsigned hint", entratest.Unsigned(claims(nil)), http.StatusBadRequest, "hint_refused"},
		{"a hint signed by a foreign key", entratest.Sign(t, foreign, "foreign", claims(nil)), http.StatusBadRequest, "hint_refused"},
		{"a hint for another app", entratest.Sign(t, e.Key, e.KeyID, claims(func(c map[string]any) { c["aud"] = "another-app" })), http.StatusBadRequest, "hint_refused"},
		{"a hint of another tenant", entratest.Sign(t, e.Key, e.KeyID, claims(func(c map[string]any) {
			c["tid"], c["iss"] = "f8cdef31-a31e-4b4a-93e4-5f571e91255a", "https://login.microsoftonline.com/f8cdef31-a31e-4b4a-93e4-5f571e91255a/v2.0"
		})), http.StatusBadRequest, "hint_refused"},
		{"a hint eleven minutes old", e.Hint(t, u, eamAppID, now.Add(-11*time.Minute)), http.StatusBadRequest, "hint_refused"},
		{"a user whose oid changed", entratest.Sign(t, e.Key, e.KeyID, claims(func(c map[string]any) { c["oid"] = "a-new-oid" })), http.StatusForbidden, "link_mismatch"},
		{"an oid whose name now finds another AD user", entratest.Sign(t, e.Key, e.KeyID, claims(func(c map[string]any) {
			c["preferred_username"] = other + "@" + testenv.ADDNSDomain
		})), http.StatusForbidden, "link_mismatch"},
		{"a name no AD user has", entratest.Sign(t, e.Key, e.KeyID, claims(func(c map[string]any) {
			c["oid"], c["preferred_username"] = "oid-nobody", "nobody-"+name+"@"+testenv.ADDNSDomain
		})), http.StatusForbidden, "unknown_user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := browse.New(t, base)
			page := entraPosts(t, b, e, eamForm(tc.hint, "n"))
			noPasswordAsked(t, b)
			if b.Status != tc.status || strings.Contains(page, `name="code"`) || strings.Contains(page, e.RedirectURI()) {
				t.Fatalf("status %d, want %d and no factor or answer:\n%s", b.Status, tc.status, page)
			}
			evs, err := a.Store.QueryAudit(context.Background(), store.AuditQuery{Type: audit.EAMRefused, Limit: 1})
			if err != nil || len(evs) != 1 || evs[0].Result != tc.result {
				t.Errorf("audit = %+v, %v; want %s", evs, err, tc.result)
			}
		})
	}
	// The other user is still free to link their own Entra account.
	l, err := a.Store.GetUserLink(context.Background(), "entra:"+eamTenant, lookup(t, a, other).ID)
	if err == nil {
		t.Errorf("a refused request linked %s: %+v", other, l)
	}
	// An administrator who knows the new oid is right resets the user's
	// methods: the link goes with them, and the new oid links afresh.
	if err := a.AdminMFAReset(context.Background(), io.Discard, name, "", false); err != nil {
		t.Fatal(err)
	}
	b = browse.New(t, base)
	page := entraPosts(t, b, e, eamForm(entratest.Sign(t, e.Key, e.KeyID, claims(func(c map[string]any) { c["oid"] = "a-new-oid" })), "relink"))
	if b.Status != http.StatusOK || !strings.Contains(page, "Set up a second sign-in method") {
		t.Fatalf("after the reset the new oid was not linked: status %d\n%s", b.Status, page)
	}
}
