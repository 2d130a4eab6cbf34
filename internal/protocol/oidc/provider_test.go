package oidc

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestTheDiscoveryDocumentIsAsGolden(t *testing.T) {
	p, _ := testProvider(t)
	raw, err := json.MarshalIndent(p.Metadata(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "discovery.golden", append(raw, '\n'))
}

func TestTheJWKSPublishesEveryKeyWithItsCertificate(t *testing.T) {
	p, _ := testProvider(t)
	mux := http.NewServeMux()
	p.Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathKeys, nil))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("%d keys", len(set.Keys))
	}
	k := set.Keys[0]
	cur := p.o.Keys.Current
	if k.KeyID != cur.ID || k.Algorithm != "RS256" || k.Use != "sig" || len(k.Certificates) != 1 || !k.Certificates[0].Equal(cur.Cert) || !k.IsPublic() {
		t.Fatalf("JWK %+v", k)
	}
	var raw map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &raw)
	jwk := raw["keys"].([]any)[0].(map[string]any)
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := jwk[private]; ok {
			t.Fatalf("the JWK set publishes the private %q", private)
		}
	}
	x5c := jwk["x5c"].([]any)[0].(string)
	der, _ := base64.StdEncoding.DecodeString(x5c)
	if c, err := x509.ParseCertificate(der); err != nil || !c.Equal(cur.Cert) {
		t.Fatalf("x5c is not the signing certificate: %v", err)
	}
}

// post sends form to the provider's path with basic credentials, when
// user is set, and returns the status and body.
func post(t testing.TB, h http.Handler, path string, form url.Values, user, pass string) (int, string, http.Header) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" || pass != "" {
		r.SetBasicAuth(user, pass)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body), rec.Header()
}

func TestTheTokenEndpointRefusesInJSONWhatItDoesNotServe(t *testing.T) {
	p, _ := testProvider(t)
	mux := http.NewServeMux()
	p.Mount(mux)
	const secret = "grafana-secret-0123456789abcdefghijklmnop"
	for _, tc := range []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		code       string
	}{
		{"no grant type", url.Values{}, "grafana", secret, 400, "invalid_request"},
		{"client credentials", url.Values{"grant_type": {"client_credentials"}}, "grafana", secret, 400, "unsupported_grant_type"},
		{"a JWT bearer grant", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"x"}}, "", "", 400, "unsupported_grant_type"},
		{"a wrong secret", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}}, "grafana", "wrong", 401, "invalid_client"},
		{"a basic client's secret in the form", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}, "client_id": {"grafana"},
			"client_secret": {secret}}, "", "", 401, "invalid_client"},
		{"a secret both ways", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}, "client_secret": {secret}}, "grafana", secret, 401, "invalid_client"},
		{"a public client with a secret", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}}, "cli", "x", 401, "invalid_client"},
		{"no client at all", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}}, "", "", 401, "invalid_client"},
		{"an unknown client", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}, "client_id": {"evil"}}, "", "", 401, "invalid_client"},
		{"an unknown assertion type", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}, "client_assertion_type": {"x"},
			"client_assertion": {"x"}}, "", "", 401, "invalid_client"},
		{"a forged assertion", url.Values{"grant_type": {"authorization_code"}, "code": {"c"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"eyJhbGciOiJub25lIn0.e30."}}, "", "", 401, "invalid_client"},
		{"an unknown code", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}, "redirect_uri": {"https://grafana.corp.example.test/login/generic_oauth"}},
			"grafana", secret, 400, "invalid_grant"},
		{"an unknown refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"abc.def"}}, "grafana", secret, 400, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := post(t, mux, PathToken, tc.form, tc.user, tc.pass)
			var e struct{ Error string }
			if status != tc.status || json.Unmarshal([]byte(body), &e) != nil || e.Error != tc.code {
				t.Fatalf("status %d body %s, want %d %s", status, body, tc.status, tc.code)
			}
			if hdr.Get("Cache-Control") != "no-store" || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Errorf("headers %v", hdr)
			}
			if status == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Error("a 401 without WWW-Authenticate")
			}
		})
	}
}

func TestUserinfoAnswersABadTokenWith401AndABearerChallenge(t *testing.T) {
	p, _ := testProvider(t)
	mux := http.NewServeMux()
	p.Mount(mux)
	for _, h := range []string{"", "Bearer ", "Bearer garbage", "Basic Z3JhZmFuYTp4", "Bearer " + strings.Repeat("a", 5000)} {
		r := httptest.NewRequest(http.MethodGet, PathUserinfo, nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") ||
			!strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("Authorization %.30q: %d %v %s", h, rec.Code, rec.Header(), rec.Body)
		}
	}
}
