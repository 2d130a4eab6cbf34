package app

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/oidc"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// The OpenID Connect provider against the test Samba DC, with go-oidc and
// golang.org/x/oauth2 as the relying party (issue 17).

// Client secrets of the test clients (at least 32 characters, as the
// configuration demands).
const (
	grafanaSecret = "grafana-secret-0123456789abcdefghijklmnop"
	wikiSecret    = "wiki-secret-0123456789abcdefghijklmnopqrstu"
)

// testRP is a relying party's callback and back-channel logout endpoint:
// it records what Gatehouse sends it.
type testRP struct {
	srv       *httptest.Server
	mu        sync.Mutex
	callbacks []url.Values
	logouts   chan string // logout_token values, as they arrive
}

func newTestRP(t *testing.T) *testRP {
	t.Helper()
	rp := &testRP{logouts: make(chan string, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cb", func(w http.ResponseWriter, r *http.Request) {
		rp.mu.Lock()
		rp.callbacks = append(rp.callbacks, r.URL.Query())
		rp.mu.Unlock()
		_, _ = io.WriteString(w, "<p>the relying party got the answer</p>")
	})
	mux.HandleFunc("POST /backchannel", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rp.logouts <- r.PostForm.Get("logout_token")
		w.WriteHeader(http.StatusOK)
	})
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *testRP) redirect() string { return rp.srv.URL + "/cb" }

// calls is how many answers the RP's callback got.
func (rp *testRP) calls() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return len(rp.callbacks)
}

// oidcApps are Grafana (MFA required, groups scope) and a wiki, both at
// rp, and the provider's policy: MFA for apps that say so.
func oidcApps(rp *testRP) func(*config.Config) {
	return func(c *config.Config) {
		c.MFA.RequiredFor = "apps"
		c.Apps = []config.App{
			{Name: "Grafana", Type: "oidc", ClientID: "grafana", ClientSecret: grafanaSecret, RedirectURIs: []string{rp.redirect()},
				MFA: "required", BackchannelLogoutURI: rp.srv.URL + "/backchannel", PostLogoutRedirectURIs: []string{rp.srv.URL + "/bye"}},
			{Name: "Wiki", Type: "oidc", ClientID: "wiki", ClientSecret: wikiSecret, RedirectURIs: []string{rp.redirect() + "/wiki"},
				TokenEndpointAuthMethod: config.OIDCAuthPost},
		}
	}
}

// newOIDCApp is Gatehouse against the test DC whose issuer is the address
// it serves at, as discovery demands.
func newOIDCApp(t *testing.T, mods ...func(*config.Config)) (*App, *httptest.Server) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := adTestConfig(t)
	cfg.Issuer = "http://" + l.Addr().String()
	for _, m := range mods {
		m(&cfg)
	}
	a, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewUnstartedServer(a.Handler)
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return a, srv
}

// relyingParty is go-oidc's provider and an oauth2 client for one of the
// test clients.
type relyingParty struct {
	provider *gooidc.Provider
	conf     oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

func newRelyingParty(t *testing.T, issuer, clientID, secret, redirect string, style oauth2.AuthStyle, scopes ...string) *relyingParty {
	t.Helper()
	p, err := gooidc.NewProvider(t.Context(), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := p.Endpoint()
	ep.AuthStyle = style // never auto-detect: a wrong first guess counts as wrong credentials
	if len(scopes) == 0 {
		scopes = []string{gooidc.ScopeOpenID, "profile", "email", "groups", gooidc.ScopeOfflineAccess}
	}
	return &relyingParty{provider: p, conf: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: ep, RedirectURL: redirect, Scopes: scopes},
		verifier: p.Verifier(&gooidc.Config{ClientID: clientID})}
}

// oidcUser is a throwaway AD user in Engineers (so nested in Staff-All)
// with an authenticator app; it returns the name and the app's secret.
func oidcUser(t *testing.T, a *App, pw string) (name, secret string) {
	t.Helper()
	name = testenv.NewADUser(t, "oidc", pw, "Olga", "Ide")
	testenv.SambaTool(t, "group", "addmembers", "Engineers", name)
	_, secret = userWithTOTP(t, a, name, time.Now())
	return name, secret
}

// signInAt walks b through Gatehouse's pages from the authorization URL:
// user name, password, and (when asked) the authenticator app's code. It
// returns the parameters the RP's callback got.
func signInAt(t *testing.T, b *browse.Browser, rp *testRP, authURL, name, pw, secret string) url.Values {
	t.Helper()
	page := b.Get(authURL)
	if strings.Contains(page, `name="login"`) {
		b.Submit(map[string]string{"login": name + "@" + testenv.ADDNSDomain})
	}
	page = b.Submit(map[string]string{"password": pw})
	if strings.Contains(page, `name="code"`) {
		b.Submit(map[string]string{"code": totpCode(t, secret, 30*time.Second)})
	}
	if !strings.HasPrefix(b.URL, rp.redirect()) {
		t.Fatalf("the sign-in did not end at the RP but at %s (status %d):\n%s", b.URL, b.Status, b.Last)
	}
	u, err := url.Parse(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestGoOIDCSignsInThroughTheCodeFlowWithPasswordAndTOTP(t *testing.T) {
	rp := newTestRP(t)
	a, srv := newOIDCApp(t, oidcApps(rp))
	const pw = "Oidc!Passw0rd-1"
	name, secret := oidcUser(t, a, pw)
	u := lookup(t, a, name)
	relying := newRelyingParty(t, srv.URL, "grafana", grafanaSecret, rp.redirect(), oauth2.AuthStyleInHeader)

	verifier := oauth2.GenerateVerifier()
	authURL := relying.conf.AuthCodeURL("st-123", oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n-456"))
	cb := signInAt(t, browse.New(t, srv.URL), rp, authURL, name, pw, secret)
	if cb.Get("state") != "st-123" || cb.Get("iss") != srv.URL || cb.Get("code") == "" {
		t.Fatalf("callback %v: want the state, iss and a code", cb)
	}
	tok, err := relying.conf.Exchange(t.Context(), cb.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := relying.verifier.Verify(t.Context(), rawID)
	if err != nil {
		t.Fatalf("the ID token does not verify: %v", err)
	}
	var claims struct {
		Nonce             string   `json:"nonce"`
		AMR               []string `json:"amr"`
		ACR               string   `json:"acr"`
		AuthTime          int64    `json:"auth_time"`
		SID               string   `json:"sid"`
		Email             string   `json:"email"`
		EmailVerified     bool     `json:"email_verified"`
		Name              string   `json:"name"`
		PreferredUsername string   `json:"preferred_username"`
		Groups            []string `json:"groups"`
		AtHash            string   `json:"at_hash"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	t.Run("the ID token says who, how and for whom", func(t *testing.T) {
		for _, c := range []struct {
			what string
			ok   bool
		}{
			{"nonce", claims.Nonce == "n-456"},
			{"amr pwd, otp and mfa", slices.Contains(claims.AMR, "pwd") && slices.Contains(claims.AMR, "otp") && slices.Contains(claims.AMR, "mfa")},
			{"acr multi-factor", claims.ACR == oidc.ACRMFA},
			{"auth_time now", time.Since(time.Unix(claims.AuthTime, 0)) < time.Hour && claims.AuthTime > 0},
			{"a sid", claims.SID != ""},
			{"the directory's mail", claims.Email == u.Mail && claims.EmailVerified},
			{"the display name", claims.Name == u.DisplayName},
			{"the UPN as preferred_username", claims.PreferredUsername == u.UPN},
			{"the groups, nested too", slices.Contains(claims.Groups, "Engineers") && slices.Contains(claims.Groups, "Staff-All")},
			{"at_hash", claims.AtHash != ""},
			{"the audience", slices.Equal(idt.Audience, []string{"grafana"})},
			{"a pairwise subject, not the login name or the objectGUID", idt.Subject != "" && idt.Subject != u.ID &&
				!strings.Contains(strings.ToLower(idt.Subject), strings.ToLower(name))},
		} {
			if !c.ok {
				t.Errorf("the ID token lacks %s: %+v (sub %q)", c.what, claims, idt.Subject)
			}
		}
	})
	t.Run("userinfo answers the same subject and the scopes' claims", func(t *testing.T) {
		info, err := relying.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var extra struct {
			Groups []string `json:"groups"`
		}
		_ = info.Claims(&extra)
		if info.Subject != idt.Subject || info.Email != u.Mail || !slices.Contains(extra.Groups, "Engineers") {
			t.Fatalf("userinfo %+v %v, want sub %s and the claims", info, extra, idt.Subject)
		}
	})
	t.Run("the token is signed RS256 with the published key, whose x5c is the signing certificate", func(t *testing.T) {
		hdr := jwtHeader(t, rawID)
		if hdr.Alg != "RS256" || hdr.Kid != a.Keys.Current.ID {
			t.Fatalf("header %+v, want RS256 and kid %s", hdr, a.Keys.Current.ID)
		}
		var set struct {
			Keys []struct {
				Kid, Alg, Use, Kty, N, E string
				X5c                      []string `json:"x5c"`
			} `json:"keys"`
		}
		getJSON(t, srv.URL+oidc.PathKeys, &set)
		if len(set.Keys) != 1 {
			t.Fatalf("JWKS %+v, want the current key alone", set)
		}
		k := set.Keys[0]
		if k.Kid != hdr.Kid || k.Alg != "RS256" || k.Use != "sig" || k.Kty != "RSA" || len(k.X5c) != 1 {
			t.Fatalf("JWK %+v", k)
		}
		der, err := base64.StdEncoding.DecodeString(k.X5c[0])
		if err != nil || string(der) != string(a.Signing.Cert.Raw) {
			t.Fatal("x5c is not the signing certificate")
		}
		n, _ := base64.RawURLEncoding.DecodeString(k.N)
		pub := a.Signing.Cert.PublicKey.(*rsa.PublicKey)
		if string(n) != string(pub.N.Bytes()) {
			t.Fatal("the JWK's key is not the certificate's")
		}
	})
	t.Run("the refresh token rotates", func(t *testing.T) {
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token with offline_access")
		}
		next, err := relying.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
			t.Fatal("the refresh did not rotate the tokens")
		}
		rawID, _ := next.Extra("id_token").(string)
		idt2, err := relying.verifier.Verify(t.Context(), rawID)
		if err != nil || idt2.Subject != idt.Subject {
			t.Fatalf("the refreshed ID token: %v (sub %v)", err, idt2)
		}
	})
}

type jwtHdr struct{ Alg, Kid, Typ string }

func jwtHeader(t *testing.T, jwt string) jwtHdr {
	t.Helper()
	h, _, _ := strings.Cut(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var out jwtHdr
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u) // #nosec G107 -- the test server.
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// withPublicClient adds a native app: a public client whose loopback
// redirect URI matches on any port, with PKCE required.
func withPublicClient(c *config.Config) {
	c.Apps = append(c.Apps, config.App{Name: "CLI", Type: "oidc", ClientID: "cli", PublicClient: true,
		RedirectURIs: []string{"http://127.0.0.1/cb"}, Subject: config.OIDCSubjectPublic})
}

// codeAt follows authURL with b's session (no pages expected) and returns
// what the RP's callback got.
func codeAt(t *testing.T, b *browse.Browser, rp *testRP, authURL string) url.Values {
	t.Helper()
	b.Get(authURL)
	if !strings.HasPrefix(b.URL, rp.srv.URL+"/cb") {
		t.Fatalf("the request did not end at the RP but at %s (status %d):\n%s", b.URL, b.Status, b.Last)
	}
	u, _ := url.Parse(b.URL)
	return u.Query()
}

// tokenError is the OAuth error of a failed oauth2 exchange or refresh.
func tokenError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// userinfoStatus is userinfo's status for an access token.
func userinfoStatus(t *testing.T, base, access string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+oidc.PathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestOIDCRefusesWhatItMust(t *testing.T) {
	rp := newTestRP(t)
	a, srv := newOIDCApp(t, oidcApps(rp), withPublicClient, func(c *config.Config) {
		c.Abuse.Passwords.PerAddress = 4
		// An external authentication method shares /oauth2/authorize: the
		// clients' requests must reach the OpenID Connect endpoint behind it.
		c.Apps = append(c.Apps, config.App{Name: "Entra MFA", Type: "entra-eam", ClientID: "0b5a6b4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b",
			TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47"},
			config.App{Name: "Payroll", Type: "oidc", ClientID: "payroll", ClientSecret: wikiSecret, RedirectURIs: []string{rp.redirect() + "/payroll"},
				Groups: []string{"No Such Group"}})
	})
	const pw = "Oidc!Passw0rd-2"
	name, _ := oidcUser(t, a, pw)
	wiki := newRelyingParty(t, srv.URL, "wiki", wikiSecret, rp.redirect()+"/wiki", oauth2.AuthStyleInParams)
	grafana := newRelyingParty(t, srv.URL, "grafana", grafanaSecret, rp.redirect(), oauth2.AuthStyleInHeader)
	cli := newRelyingParty(t, srv.URL, "cli", "", rp.redirect(), oauth2.AuthStyleInParams)

	// One browser signed in with the password (the wiki asks no more).
	b := browse.New(t, srv.URL)
	v0 := oauth2.GenerateVerifier()
	cb := signInAt(t, b, rp, wiki.conf.AuthCodeURL("s0", oauth2.S256ChallengeOption(v0)), name, pw, "")
	if _, err := wiki.conf.Exchange(t.Context(), cb.Get("code"), oauth2.VerifierOption(v0)); err != nil {
		t.Fatalf("the first exchange: %v", err)
	}

	t.Run("discovery lists the external authentication method's response next to the code flow", func(t *testing.T) {
		var d oidc.Discovery
		getJSON(t, srv.URL+oidc.PathDiscovery, &d)
		if d.Issuer != srv.URL || !slices.Equal(d.ResponseTypesSupported, []string{"code", "id_token"}) ||
			!slices.Equal(d.ResponseModesSupported, []string{"query", "form_post"}) || !slices.Equal(d.CodeChallengeMethodsSupported, []string{"S256"}) {
			t.Fatalf("discovery %+v", d)
		}
	})
	t.Run("a request POSTed as a form is answered after the redirect that brings the session cookie", func(t *testing.T) {
		u, _ := url.Parse(wiki.conf.AuthCodeURL("post-1"))
		resp, err := b.C.PostForm(srv.URL+oidc.PathAuthorize, u.Query())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, oidc.PathAuthorize+"?gh_req=") {
			t.Fatalf("POST: %s to %q, want 303 to the GET", resp.Status, loc)
		}
		if cb := codeAt(t, b, rp, loc); cb.Get("code") == "" || cb.Get("state") != "post-1" {
			t.Fatalf("callback %v", cb)
		}
		if b.Get(loc); b.Status != http.StatusBadRequest {
			t.Errorf("the kept request was answered twice: status %d", b.Status)
		}
	})
	t.Run("prompt=login asks for the password again despite the session", func(t *testing.T) {
		page := b.Get(wiki.conf.AuthCodeURL("l1", oauth2.SetAuthURLParam("prompt", "login")))
		if !strings.Contains(page, `name="password"`) {
			t.Fatalf("no password page (status %d at %s):\n%s", b.Status, b.URL, page)
		}
		cb := url.Values{}
		b.Submit(map[string]string{"password": pw})
		if u, err := url.Parse(b.URL); err == nil {
			cb = u.Query()
		}
		if cb.Get("code") == "" || cb.Get("state") != "l1" {
			t.Fatalf("no code after the password: %s", b.URL)
		}
	})
	t.Run("an MFA acr value asks a password session for the second factor", func(t *testing.T) {
		page := b.Get(wiki.conf.AuthCodeURL("a1", oauth2.SetAuthURLParam("acr_values", "mfa")))
		if !strings.Contains(page, `name="code"`) || strings.Contains(page, `name="password"`) {
			t.Fatalf("no second-factor step for acr_values=mfa (status %d at %s):\n%s", b.Status, b.URL, page)
		}
	})
	t.Run("a redirect URI that is not registered exactly is refused with a page, never followed", func(t *testing.T) {
		reg := rp.redirect() + "/wiki"
		for _, bad := range []string{reg + "/", strings.ToUpper(reg[:7]) + reg[7:], reg + "?x=1", strings.Replace(reg, "/wiki", "/WIKI", 1),
			strings.Replace(reg, "http://", "http://evil@", 1), "http://evil.example" + reg[len(rp.srv.URL):], "//evil.example/cb", ""} {
			before := rp.calls()
			q := url.Values{"client_id": {"wiki"}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {bad}, "state": {"x"}}
			page := b.Get(oidc.PathAuthorize + "?" + q.Encode())
			if b.Status != http.StatusBadRequest || rp.calls() != before || strings.HasPrefix(b.URL, rp.srv.URL) {
				t.Errorf("redirect_uri %q: status %d at %s, want a 400 page here", bad, b.Status, b.URL)
			}
			if !strings.Contains(page, "not registered for") && bad != "" {
				t.Errorf("redirect_uri %q: the page does not say why:\n%s", bad, page)
			}
		}
	})
	t.Run("a public client's loopback redirect matches on any port, a confidential client's does not", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		cb := codeAt(t, b, rp, cli.conf.AuthCodeURL("p1", oauth2.S256ChallengeOption(v)))
		if cb.Get("code") == "" {
			t.Fatalf("no code for the public client at %s: %v", rp.redirect(), cb)
		}
		tok, err := cli.conf.Exchange(t.Context(), cb.Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("the public client's exchange: %v", err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := cli.verifier.Verify(t.Context(), raw)
		if err != nil || idt.Subject != lookup(t, a, name).ID {
			t.Fatalf("the public client's subject: %v %v, want the objectGUID's hex", err, idt)
		}
		other := strings.Replace(rp.redirect(), rp.srv.URL, "http://127.0.0.1:1", 1)
		q := url.Values{"client_id": {"grafana"}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {other}}
		b.Get(oidc.PathAuthorize + "?" + q.Encode())
		if b.Status != http.StatusBadRequest {
			t.Fatalf("a confidential client's redirect on another port: status %d at %s", b.Status, b.URL)
		}
	})
	t.Run("PKCE is required of a public client, S256 only, and checked at the exchange", func(t *testing.T) {
		for _, tc := range []struct {
			name, authURL string
		}{
			{"no challenge", cli.conf.AuthCodeURL("p2")},
			{"a plain challenge", cli.conf.AuthCodeURL("p2", oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)),
				oauth2.SetAuthURLParam("code_challenge_method", "plain"))},
			{"a challenge without a method", cli.conf.AuthCodeURL("p2", oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)))},
		} {
			cb := codeAt(t, b, rp, tc.authURL)
			if cb.Get("error") != "invalid_request" || cb.Get("code") != "" || cb.Get("state") != "p2" {
				t.Errorf("%s: callback %v, want invalid_request with the state", tc.name, cb)
			}
		}
		v := oauth2.GenerateVerifier()
		for _, tc := range []struct {
			name, verifier, want string
		}{
			{"no verifier", "", "invalid_request"},
			{"a wrong verifier", oauth2.GenerateVerifier(), "invalid_grant"},
		} {
			cb := codeAt(t, b, rp, wiki.conf.AuthCodeURL("p3", oauth2.S256ChallengeOption(v)))
			var opts []oauth2.AuthCodeOption
			if tc.verifier != "" {
				opts = append(opts, oauth2.VerifierOption(tc.verifier))
			}
			_, err := wiki.conf.Exchange(t.Context(), cb.Get("code"), opts...)
			if tokenError(err) != tc.want {
				t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
			}
		}
		cb := codeAt(t, b, rp, wiki.conf.AuthCodeURL("p4"))
		if _, err := wiki.conf.Exchange(t.Context(), cb.Get("code"), oauth2.VerifierOption(v)); tokenError(err) != "invalid_request" {
			t.Errorf("a verifier for a code without a challenge: %v, want invalid_request", err)
		}
	})
	t.Run("a replayed code is refused and revokes the tokens it gave", func(t *testing.T) {
		cb := codeAt(t, b, rp, wiki.conf.AuthCodeURL("r1"))
		tok, err := wiki.conf.Exchange(t.Context(), cb.Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		if userinfoStatus(t, srv.URL, tok.AccessToken) != http.StatusOK {
			t.Fatal("the access token does not work before the replay")
		}
		if _, err := wiki.conf.Exchange(t.Context(), cb.Get("code")); tokenError(err) != "invalid_grant" {
			t.Fatalf("the replayed code: %v, want invalid_grant", err)
		}
		if s := userinfoStatus(t, srv.URL, tok.AccessToken); s != http.StatusUnauthorized {
			t.Errorf("the first exchange's access token after the replay: status %d, want 401", s)
		}
		if _, err := wiki.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); tokenError(err) != "invalid_grant" {
			t.Errorf("the first exchange's refresh token after the replay: %v, want invalid_grant", err)
		}
	})
	t.Run("a reused refresh token is refused and revokes its whole family", func(t *testing.T) {
		cb := codeAt(t, b, rp, wiki.conf.AuthCodeURL("f1"))
		tok, err := wiki.conf.Exchange(t.Context(), cb.Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		next, err := wiki.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wiki.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); tokenError(err) != "invalid_grant" {
			t.Fatalf("the rotated-away refresh token: %v, want invalid_grant", err)
		}
		if _, err := wiki.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); tokenError(err) != "invalid_grant" {
			t.Errorf("the family's current refresh token after the reuse: %v, want invalid_grant", err)
		}
		if s := userinfoStatus(t, srv.URL, next.AccessToken); s != http.StatusUnauthorized {
			t.Errorf("the family's access token after the reuse: status %d, want 401", s)
		}
	})
	t.Run("a code or refresh token of another client is refused", func(t *testing.T) {
		cb := codeAt(t, b, rp, wiki.conf.AuthCodeURL("o1"))
		stolen := *grafana
		stolen.conf.RedirectURL = wiki.conf.RedirectURL
		if _, err := stolen.conf.Exchange(t.Context(), cb.Get("code")); tokenError(err) != "invalid_grant" {
			t.Errorf("the wiki's code at Grafana: %v, want invalid_grant", err)
		}
		cb = codeAt(t, b, rp, wiki.conf.AuthCodeURL("o2"))
		tok, err := wiki.conf.Exchange(t.Context(), cb.Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := grafana.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); tokenError(err) != "invalid_grant" {
			t.Errorf("the wiki's refresh token at Grafana: %v, want invalid_grant", err)
		}
	})
	t.Run("prompt=none without a session answers login_required", func(t *testing.T) {
		cb := codeAt(t, browse.New(t, srv.URL), rp, wiki.conf.AuthCodeURL("n1", oauth2.SetAuthURLParam("prompt", "none")))
		if cb.Get("error") != "login_required" || cb.Get("state") != "n1" || cb.Get("code") != "" {
			t.Fatalf("callback %v, want login_required", cb)
		}
	})
	t.Run("prompt=none for a client the policy refuses answers access_denied, not a page", func(t *testing.T) {
		payroll := newRelyingParty(t, srv.URL, "payroll", wikiSecret, rp.redirect()+"/payroll", oauth2.AuthStyleInHeader)
		cb := codeAt(t, b, rp, payroll.conf.AuthCodeURL("d1", oauth2.SetAuthURLParam("prompt", "none")))
		if cb.Get("error") != "access_denied" || cb.Get("state") != "d1" || cb.Get("code") != "" {
			t.Fatalf("callback %v, want access_denied", cb)
		}
	})
	t.Run("a client that authenticates otherwise than configured is refused", func(t *testing.T) {
		cb := codeAt(t, b, rp, wiki.conf.AuthCodeURL("m1"))
		inHeader := *wiki
		inHeader.conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		if _, err := inHeader.conf.Exchange(t.Context(), cb.Get("code")); tokenError(err) != "invalid_client" {
			t.Errorf("a client_secret_post client with basic: %v, want invalid_client", err)
		}
	})
	t.Run("wrong client secrets from one address end in 429 with Retry-After", func(t *testing.T) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {rp.redirect()}}
		var last *http.Response
		for range 6 {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+oidc.PathToken, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("grafana", "not-the-secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			last = resp
		}
		if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
			t.Fatalf("after 6 wrong secrets: %s, Retry-After %q; want 429 with Retry-After", last.Status, last.Header.Get("Retry-After"))
		}
		_, err := grafana.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: "x"}).Token()
		if re := (*oauth2.RetrieveError)(nil); !errors.As(err, &re) || re.Response.StatusCode != http.StatusTooManyRequests {
			t.Errorf("even right credentials wait out the limit: %v", err)
		}
		// The throttle is audited once while it lasts, not per refused
		// attempt (an outsider must not fill the audit trail).
		evs, err := a.Store.QueryAudit(t.Context(), store.AuditQuery{Type: audit.AbuseThrottled})
		n := 0
		for _, e := range evs {
			if e.Reason == "oidc_client_credentials" {
				n++
			}
		}
		if err != nil || n != 1 {
			t.Errorf("%d abuse.throttled events for one throttled address (%v), want 1", n, err)
		}
	})
}

// idClaims are the claims of a verified ID token the logout tests read.
type idClaims struct {
	SID string `json:"sid"`
}

// exchange redeems the code of cb at rp's client and verifies the ID
// token.
func exchange(t *testing.T, rp *relyingParty, cb url.Values, opts ...oauth2.AuthCodeOption) (*oauth2.Token, *gooidc.IDToken, idClaims) {
	t.Helper()
	if cb.Get("code") == "" {
		t.Fatalf("no code: %v", cb)
	}
	tok, err := rp.conf.Exchange(t.Context(), cb.Get("code"), opts...)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return tok, idt, c
}

// logoutToken waits for the next logout token the RP gets, verifies it
// with the provider's keys and returns its header and claims.
func logoutToken(t *testing.T, rp *testRP, issuer string) (jwtHdr, map[string]any) {
	t.Helper()
	var tok string
	select {
	case tok = <-rp.logouts:
	case <-time.After(20 * time.Second):
		t.Fatal("no back-channel logout reached the RP")
	}
	payload, err := gooidc.NewRemoteKeySet(t.Context(), issuer+oidc.PathKeys).VerifySignature(t.Context(), tok)
	if err != nil {
		t.Fatalf("the logout token does not verify: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return jwtHeader(t, tok), claims
}

func TestSigningOutEndsTheSignInAtEveryClientItReached(t *testing.T) {
	rp := newTestRP(t)
	a, srv := newOIDCApp(t, oidcApps(rp))
	const pw = "Oidc!Passw0rd-3"
	name, secret := oidcUser(t, a, pw)
	wiki := newRelyingParty(t, srv.URL, "wiki", wikiSecret, rp.redirect()+"/wiki", oauth2.AuthStyleInParams)
	grafana := newRelyingParty(t, srv.URL, "grafana", grafanaSecret, rp.redirect(), oauth2.AuthStyleInHeader, gooidc.ScopeOpenID, "profile")

	b := browse.New(t, srv.URL)
	wikiTok, _, wikiClaims := exchange(t, wiki, signInAt(t, b, rp, wiki.conf.AuthCodeURL("w"), name, pw, ""))
	// Grafana wants a second factor: the same sign-in steps up.
	if page := b.Get(grafana.conf.AuthCodeURL("g")); !strings.Contains(page, `name="code"`) || strings.Contains(page, `name="password"`) {
		t.Fatalf("Grafana's step-up should ask for the code alone:\n%s", page)
	}
	b.Submit(map[string]string{"code": totpCode(t, secret, 30*time.Second)})
	u, _ := url.Parse(b.URL)
	grafanaTok, grafanaID, grafanaClaims := exchange(t, grafana, u.Query())
	if grafanaClaims.SID == "" || grafanaClaims.SID != wikiClaims.SID {
		t.Fatalf("the step-up changed the sid: wiki %q, Grafana %q", wikiClaims.SID, grafanaClaims.SID)
	}

	t.Run("an unregistered post-logout redirect is refused and not followed", func(t *testing.T) {
		q := url.Values{"client_id": {"grafana"}, "post_logout_redirect_uri": {"https://evil.example/"}}
		b.Get(oidc.PathLogout + "?" + q.Encode())
		if b.Status != http.StatusBadRequest || !strings.HasPrefix(b.URL, srv.URL) {
			t.Fatalf("status %d at %s, want a 400 page here", b.Status, b.URL)
		}
	})
	t.Run("a logout without a hint of this sign-in asks first", func(t *testing.T) {
		page := b.Get(oidc.PathLogout + "?client_id=grafana")
		if !strings.Contains(page, `action="/oauth2/logout"`) || !strings.Contains(page, `name="client_id" value="grafana"`) {
			t.Fatalf("no confirmation:\n%s", page)
		}
		if _, signedIn := a.Sessions.CurrentUser(cookieRequest(t, b, srv.URL)); !signedIn {
			t.Fatal("a GET without a hint signed the user out")
		}
	})
	t.Run("RP-initiated logout with the ID token ends the sign-in and tells Grafana on the back channel", func(t *testing.T) {
		raw, _ := grafanaTok.Extra("id_token").(string)
		q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {rp.srv.URL + "/bye"}, "state": {"bye-1"}}
		b.Get(oidc.PathLogout + "?" + q.Encode())
		if b.URL != rp.srv.URL+"/bye?state=bye-1" {
			t.Fatalf("after logout the browser is at %s, want the post-logout redirect with the state", b.URL)
		}
		if _, signedIn := a.Sessions.CurrentUser(cookieRequest(t, b, srv.URL)); signedIn {
			t.Fatal("still signed in")
		}
		hdr, lt := logoutToken(t, rp, srv.URL)
		events, _ := lt["events"].(map[string]any)
		if _, ok := events[oidc.BackchannelEvent]; !ok || hdr.Typ != "logout+jwt" || hdr.Alg != "RS256" || hdr.Kid != a.Keys.Current.ID ||
			lt["iss"] != srv.URL || lt["aud"] != "grafana" || lt["sid"] != grafanaClaims.SID || lt["sub"] != grafanaID.Subject ||
			lt["nonce"] != nil || lt["jti"] == nil {
			t.Fatalf("logout token %v %+v", lt, hdr)
		}
		if s := userinfoStatus(t, srv.URL, grafanaTok.AccessToken); s != http.StatusUnauthorized {
			t.Errorf("Grafana's access token after the logout: status %d, want 401", s)
		}
		if _, err := wiki.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: wikiTok.RefreshToken}).Token(); err != nil {
			t.Errorf("the wiki's offline refresh token did not outlive the sign-out: %v", err)
		}
	})
	t.Run("the confirmed logout signs out and returns to the client with its state", func(t *testing.T) {
		b3 := browse.New(t, srv.URL)
		signInAt(t, b3, rp, wiki.conf.AuthCodeURL("w3"), name, pw, "")
		q := url.Values{"client_id": {"grafana"}, "post_logout_redirect_uri": {rp.srv.URL + "/bye"}, "state": {"c-3"}}
		b3.Get(oidc.PathLogout + "?" + q.Encode())
		b3.Submit(nil)
		if b3.URL != rp.srv.URL+"/bye?state=c-3" {
			t.Fatalf("after the confirmation the browser is at %s", b3.URL)
		}
		if _, signedIn := a.Sessions.CurrentUser(cookieRequest(t, b3, srv.URL)); signedIn {
			t.Fatal("still signed in after the confirmation")
		}
	})
	t.Run("ending all of the user's sessions (a reset) ends offline tokens too", func(t *testing.T) {
		b2 := browse.New(t, srv.URL)
		tok, _, _ := exchange(t, wiki, signInAt(t, b2, rp, wiki.conf.AuthCodeURL("w2"), name, pw, ""))
		if _, err := a.Sessions.EndAll(t.Context(), lookup(t, a, name).ID); err != nil {
			t.Fatal(err)
		}
		if _, err := wiki.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); tokenError(err) != "invalid_grant" {
			t.Errorf("an offline refresh token after every session ended: %v, want invalid_grant", err)
		}
	})
}

// cookieRequest is a request to base carrying b's cookies, to ask the
// app's sessions about b.
func cookieRequest(t *testing.T, b *browse.Browser, base string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, base+"/", nil)
	u, _ := url.Parse(base)
	for _, c := range b.C.Jar.Cookies(u) {
		r.AddCookie(c)
	}
	return r
}
