package oidc

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// good is a valid request of Grafana's.
func good() url.Values {
	return url.Values{"client_id": {"grafana"}, "redirect_uri": {"https://grafana.corp.example.test/login/generic_oauth"},
		"response_type": {"code"}, "scope": {"openid profile email groups offline_access"}, "state": {"st"}, "nonce": {"n"},
		"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
}

func with(q url.Values, kv ...string) url.Values {
	c := url.Values{}
	for k, v := range q {
		c[k] = slices.Clone(v)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "\x00" {
			c.Del(kv[i])
			continue
		}
		c.Set(kv[i], kv[i+1])
	}
	return c
}

func TestAGoodRequestIsTranslatedForTheEngine(t *testing.T) {
	cs := testClients(t)
	for _, tc := range []struct {
		name  string
		q     url.Values
		check func(*AuthorizeRequest) bool
	}{
		{"the scopes the client may have are kept", good(), func(ar *AuthorizeRequest) bool {
			return slices.Equal(ar.Scopes, []string{"openid", "profile", "email", "groups", "offline_access"}) && ar.State == "st" && ar.Nonce == "n"
		}},
		{"scopes the client may not have are left out", with(good(), "client_id", "gitlab", "redirect_uri", "https://gitlab.corp.example.test/users/auth/openid_connect/callback",
			"scope", "openid profile email offline_access"), func(ar *AuthorizeRequest) bool { return slices.Equal(ar.Scopes, []string{"openid", "email"}) }},
		{"prompt=login forces the password", with(good(), "prompt", "login"), func(ar *AuthorizeRequest) bool { return ar.ForceAuthn && !ar.Passive }},
		{"max_age=0 forces the password", with(good(), "max_age", "0"), func(ar *AuthorizeRequest) bool { return ar.ForceAuthn && ar.MaxAge == 0 }},
		{"max_age bounds the password's age", with(good(), "max_age", "300"), func(ar *AuthorizeRequest) bool { return ar.MaxAge == 5*time.Minute && !ar.ForceAuthn }},
		{"prompt=none is passive", with(good(), "prompt", "none"), func(ar *AuthorizeRequest) bool { return ar.Passive }},
		{"an MFA acr value demands a second factor", with(good(), "acr_values", "urn:x https://refeds.org/profile/mfa"), func(ar *AuthorizeRequest) bool { return ar.MFA }},
		{"other acr values demand nothing", with(good(), "acr_values", "urn:x"), func(ar *AuthorizeRequest) bool { return !ar.MFA }},
		{"login_hint is passed on", with(good(), "login_hint", "alice@corp.example.test"), func(ar *AuthorizeRequest) bool { return ar.LoginHint == "alice@corp.example.test" }},
		{"a confidential client may leave PKCE out", with(good(), "code_challenge", "\x00", "code_challenge_method", "\x00"), func(ar *AuthorizeRequest) bool { return ar.Challenge == "" }},
		{"a public client's loopback redirect matches on any port", with(good(), "client_id", "cli", "redirect_uri", "http://127.0.0.1:53682/callback"),
			func(ar *AuthorizeRequest) bool { return ar.RedirectURI == "http://127.0.0.1:53682/callback" }},
		{"a public client's private scheme matches exactly", with(good(), "client_id", "cli", "redirect_uri", "com.example.cli:/callback"),
			func(ar *AuthorizeRequest) bool { return ar.Client.ID == "cli" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ar, err := ParseAuthorize(tc.q, cs)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.check(ar) {
				t.Fatalf("translated as %+v", ar)
			}
		})
	}
}

func TestABadRequestIsRefusedAtTheRedirectOnlyWhenThatIsSafe(t *testing.T) {
	cs := testClients(t)
	for _, tc := range []struct {
		name string
		q    url.Values
		page error  // refused with a page: this error
		code string // else answered at the redirect URI with this error
	}{
		{"no client_id", with(good(), "client_id", "\x00"), ErrMalformed, ""},
		{"an unknown client", with(good(), "client_id", "evil"), ErrUnknownClient, ""},
		{"a SAML app is no OIDC client", with(good(), "client_id", "urn:wiki"), ErrUnknownClient, ""},
		{"no redirect_uri", with(good(), "redirect_uri", "\x00"), ErrRedirectURI, ""},
		{"another redirect_uri", with(good(), "redirect_uri", "https://grafana.corp.example.test/other"), ErrRedirectURI, ""},
		{"a redirect_uri with a trailing slash", with(good(), "redirect_uri", "https://grafana.corp.example.test/login/generic_oauth/"), ErrRedirectURI, ""},
		{"a redirect_uri in other case", with(good(), "redirect_uri", "https://GRAFANA.corp.example.test/login/generic_oauth"), ErrRedirectURI, ""},
		{"a redirect_uri with user information", with(good(), "redirect_uri", "https://evil@grafana.corp.example.test/login/generic_oauth"), ErrRedirectURI, ""},
		{"a redirect_uri on another host", with(good(), "redirect_uri", "https://grafana.corp.example.test.evil/login/generic_oauth"), ErrRedirectURI, ""},
		{"a protocol-relative redirect_uri", with(good(), "redirect_uri", "//grafana.corp.example.test/login/generic_oauth"), ErrRedirectURI, ""},
		{"a public client's loopback redirect on another loopback address", with(good(), "client_id", "cli", "redirect_uri", "http://127.0.0.2:80/callback"), ErrRedirectURI, ""},
		{"a public client's loopback redirect on another path", with(good(), "client_id", "cli", "redirect_uri", "http://127.0.0.1:8080/other"), ErrRedirectURI, ""},
		{"a public client's loopback redirect over https", with(good(), "client_id", "cli", "redirect_uri", "https://127.0.0.1:8080/callback"), ErrRedirectURI, ""},
		{"a repeated redirect_uri", func() url.Values { q := good(); q.Add("redirect_uri", "https://evil.example/"); return q }(), ErrMalformed, ""},
		{"too many parameters", func() url.Values {
			q := good()
			for i := range 80 {
				q.Set("x"+strings.Repeat("y", i), "1")
			}
			return q
		}(), ErrMalformed, ""},
		{"a repeated state", func() url.Values { q := good(); q.Add("state", "again"); return q }(), nil, "invalid_request"},
		{"an implicit flow", with(good(), "response_type", "id_token"), nil, "unsupported_response_type"},
		{"no response_type", with(good(), "response_type", "\x00"), nil, "invalid_request"},
		{"a fragment response", with(good(), "response_mode", "fragment"), nil, "invalid_request"},
		{"no openid scope", with(good(), "scope", "profile email"), nil, "invalid_scope"},
		{"a request object", with(good(), "request", "eyJ.x.y"), nil, "request_not_supported"},
		{"a request_uri", with(good(), "request_uri", "https://evil.example/r"), nil, "request_uri_not_supported"},
		{"a plain PKCE challenge", with(good(), "code_challenge_method", "plain"), nil, "invalid_request"},
		{"a challenge without a method", with(good(), "code_challenge_method", "\x00"), nil, "invalid_request"},
		{"a method without a challenge", with(good(), "code_challenge", "\x00"), nil, "invalid_request"},
		{"a malformed challenge", with(good(), "code_challenge", strings.Repeat("A", 42)+"="), nil, "invalid_request"},
		{"a public client without PKCE", with(good(), "client_id", "cli", "redirect_uri", "http://127.0.0.1/callback", "code_challenge", "\x00",
			"code_challenge_method", "\x00"), nil, "invalid_request"},
		{"prompt=none with login", with(good(), "prompt", "none login"), nil, "invalid_request"},
		{"an unknown prompt", with(good(), "prompt", "create"), nil, "invalid_request"},
		{"a negative max_age", with(good(), "max_age", "-1"), nil, "invalid_request"},
		{"a huge state", with(good(), "state", strings.Repeat("s", maxState+1)), nil, "invalid_request"},
		{"a huge nonce", with(good(), "nonce", strings.Repeat("n", maxNonce+1)), nil, "invalid_request"},
		{"a huge login_hint", with(good(), "login_hint", strings.Repeat("h", maxLoginHint+1)), nil, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAuthorize(tc.q, cs)
			var ae *AuthError
			switch {
			case tc.page != nil:
				if !errors.Is(err, tc.page) || errors.As(err, &ae) {
					t.Fatalf("error %v, want a page for %v", err, tc.page)
				}
			case !errors.As(err, &ae) || ae.Code != tc.code:
				t.Fatalf("error %v, want %s at the redirect URI", err, tc.code)
			case ae.Request.RedirectURI != tc.q.Get("redirect_uri"):
				t.Fatalf("answered at %q", ae.Request.RedirectURI)
			case len(tc.q["state"]) == 1 && len(tc.q.Get("state")) <= maxState && ae.Request.State != tc.q.Get("state"):
				t.Fatalf("the refusal lost the state: %q", ae.Request.State)
			}
		})
	}
}
