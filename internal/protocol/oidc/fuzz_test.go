package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

func FuzzParseAuthorize(f *testing.F) {
	for _, q := range []url.Values{good(), with(good(), "client_id", "cli", "redirect_uri", "http://127.0.0.1:4711/callback"),
		with(good(), "prompt", "none", "max_age", "0", "acr_values", "mfa"), with(good(), "redirect_uri", "//evil/")} {
		f.Add(q.Encode())
	}
	f.Add("client_id=grafana&client_id=x&redirect_uri=%00")
	f.Add("client_id=cli&redirect_uri=http%3A%2F%2F127.0.0.1%3A0%2Fcallback&response_type=code&scope=openid")
	cs := testClients(f)
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) > MaxAuthorizeQuery {
			return // the handler refuses it before parsing
		}
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		ar, err := ParseAuthorize(q, cs)
		var ae *AuthError
		switch {
		case err == nil:
			if !ar.Client.RedirectAllowed(ar.RedirectURI) || !slices.Contains(ar.Scopes, "openid") {
				t.Fatalf("accepted %+v", ar)
			}
			if ar.Client.Public && len(ar.Challenge) != 43 || ar.Challenge != "" && len(ar.Challenge) != 43 {
				t.Fatalf("accepted a bad PKCE challenge %q", ar.Challenge)
			}
		case errors.As(err, &ae):
			if !ae.Request.Client.RedirectAllowed(ae.Request.RedirectURI) {
				t.Fatalf("a refusal would go to an unregistered %q", ae.Request.RedirectURI)
			}
			if len(ae.Request.State) > maxState {
				t.Fatal("a refusal carries an oversized state")
			}
		case !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownClient) && !errors.Is(err, ErrRedirectURI):
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func FuzzTokenRequest(f *testing.F) {
	f.Add("grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fgrafana.corp.example.test%2Flogin%2Fgeneric_oauth", "grafana", "grafana-secret-0123456789abcdefghijklmnop")
	f.Add("grant_type=refresh_token&refresh_token=a.b", "grafana", "x")
	f.Add("grant_type=authorization_code&code=abc&client_id=cli&code_verifier=v", "", "")
	f.Add("grant_type=authorization_code&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=e30.e30.e30", "", "")
	f.Add("grant_type=client_credentials&scope=openid", "gitlab", "gitlab-secret-0123456789abcdefghijklmnopq")
	f.Add("%%%", "a", "b")
	p, _ := testProvider(f)
	p.o.Limits.PerAddress = 0 // no throttle: every input reaches the parsers
	mux := http.NewServeMux()
	p.Mount(mux)
	f.Fuzz(func(t *testing.T, body, user, pass string) {
		if len(body) > maxTokenRequest || len(user)+len(pass) > 4096 {
			return
		}
		form, err := url.ParseQuery(body)
		if err != nil {
			form = url.Values{"raw": {body}}
		}
		status, out, _ := post(t, mux, PathToken, form, user, pass)
		var e struct{ Error string }
		if status == http.StatusOK || status >= 500 || json.Unmarshal([]byte(out), &e) != nil || e.Error == "" {
			t.Fatalf("status %d body %s for %q (%q:%q)", status, out, body, user, pass)
		}
	})
}
