package app

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
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

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/oidc"
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
		page = b.Submit(map[string]string{"login": name + "@" + testenv.ADDNSDomain})
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
