package app

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
	"github.com/gatehouse-sso/gatehouse/test/oidcrp"
)

// rpKey is a relying party's RSA key for private_key_jwt: the public JWK
// set Gatehouse is configured with (a file) and the private JWK the RP
// signs with.
func rpKey(t *testing.T) (jwksFile string, private map[string]any) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: k, KeyID: "rp-key-1", Algorithm: "RS256", Use: "sig"}
	pub, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	jwksFile = filepath.Join(t.TempDir(), "argocd.jwks.json")
	if err := os.WriteFile(jwksFile, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := jwk.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &private); err != nil {
		t.Fatal(err)
	}
	return jwksFile, private
}

func TestOpenIDClientSignsInWithAPrivateKeyJWTAndTOTP(t *testing.T) {
	rp := newTestRP(t)
	jwks, private := rpKey(t)
	a, srv := newOIDCApp(t, oidcApps(rp), func(c *config.Config) {
		c.Apps = append(c.Apps, config.App{Name: "Argo CD", Type: "oidc", ClientID: "argocd", TokenEndpointAuthMethod: config.OIDCAuthPrivateJWT,
			JWKSFile: jwks, RedirectURIs: []string{rp.redirect() + "/node"}, MFA: "required"})
	})
	const pw = "Oidc!Passw0rd-4"
	name, secret := oidcUser(t, a, pw)
	c := oidcrp.Client{Issuer: srv.URL, ClientID: "argocd", RedirectURI: rp.redirect() + "/node", Scope: "openid profile email groups offline_access",
		Auth: oidcrp.Auth{Method: config.OIDCAuthPrivateJWT, JWK: private}}
	started := oidcrp.Start(t, c)
	b := browse.New(t, srv.URL)
	signInAt(t, b, rp, started.URL, name, pw, secret)
	got := oidcrp.Finish(t, c, started, b.URL)
	if got.Error != "" {
		t.Fatalf("openid-client refused: %s (%s)", got.Error, got.Detail)
	}
	amr, _ := got.Claims["amr"].([]any)
	for _, tc := range []struct {
		what string
		ok   bool
	}{
		{"a subject", got.Claims["sub"] != nil && got.Claims["sub"] != ""},
		{"amr with otp", slices.Contains(amr, any("otp")) && slices.Contains(amr, any("pwd"))},
		{"the issuer", got.Claims["iss"] == srv.URL},
		{"RS256 with the current key", got.IDTokenHeader["alg"] == "RS256" && got.IDTokenHeader["kid"] == a.Keys.Current.ID},
		{"userinfo for the same subject", got.Userinfo["sub"] == got.Claims["sub"] && got.Userinfo["email"] != nil},
		{"a refreshed ID token for the same subject", got.RefreshedSub == got.Claims["sub"]},
		{"a rotated refresh token", got.Rotated},
		{"the rotated-away token refused", got.ReuseError == "invalid_grant"},
		{"the family revoked after the reuse", got.AfterReuseError == "invalid_grant"},
	} {
		if !tc.ok {
			t.Errorf("openid-client saw no %s: %+v", tc.what, got)
		}
	}
}
