// Package entratest is a stand-in Microsoft Entra ID for the tests of the
// external authentication method: an HTTPS server on loopback with its own
// RSA key, the tenant's OpenID metadata and JWKS, hints signed as Entra
// signs them, and the redirect URI that verifies Gatehouse's answer as
// Entra would. Tests only; it never reaches Microsoft.
package entratest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Paths on the stand-in.
const (
	RedirectPath = "/common/federation/externalauthprovider"
	jwksPath     = "/discovery/v2.0/keys"
)

// Entra is the stand-in.
type Entra struct {
	TenantID string
	// Key signs hints under KeyID.
	Key   *rsa.PrivateKey
	KeyID string
	// Server is the HTTPS server; CAFile holds its certificate (PEM).
	Server  *httptest.Server
	CAFile  string
	fetches int // reads of the metadata document

	mu sync.Mutex
	// Gatehouse's side, for verifying answers: its issuer and the JWKS
	// document it publishes, the client id, and the clock.
	gatehouseIssuer string
	gatehouseJWKS   []byte
	clientID        string
	now             func() time.Time
	// Received are the answers posted to the redirect URI, in order.
	received []Received
}

// Received is one answer posted to the redirect URI and what verifying it
// found.
type Received struct {
	State string
	// Err is why the answer was refused; nil: Entra would take it.
	Err    error
	Claims Claims
}

// Claims are the answer's claims Entra reads.
type Claims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience string   `json:"aud"`
	Nonce    string   `json:"nonce"`
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
}

// New starts a stand-in Entra for tenant, closed when t ends.
func New(t testing.TB, tenant string) *Entra {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e := &Entra{TenantID: tenant, Key: key, KeyID: "entra-" + rand.Text()[:8]}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+tenant+"/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		e.mu.Lock()
		e.fetches++
		e.mu.Unlock()
		writeJSON(w, map[string]any{
			"issuer": e.Issuer(), "jwks_uri": e.Server.URL + jwksPath, "id_token_signing_alg_values_supported": []string{"RS256"},
			"authorization_endpoint": e.Server.URL + "/" + tenant + "/oauth2/v2.0/authorize",
		})
	})
	mux.HandleFunc("GET "+jwksPath, func(w http.ResponseWriter, _ *http.Request) {
		e.mu.Lock()
		k := jose.JSONWebKey{Key: &e.Key.PublicKey, KeyID: e.KeyID, Algorithm: "RS256", Use: "sig"}
		e.mu.Unlock()
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}})
	})
	mux.HandleFunc("POST "+RedirectPath, e.receive)
	e.Server = httptest.NewTLSServer(mux)
	t.Cleanup(e.Server.Close)
	e.CAFile = filepath.Join(t.TempDir(), "entra-ca.pem")
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.Server.Certificate().Raw})
	if err := os.WriteFile(e.CAFile, pemCert, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Issuer is the tenant's v2.0 issuer, as Entra names it (the real host:
// only Entra's own URL is the issuer, whatever serves the stand-in).
func (e *Entra) Issuer() string { return "https://login.microsoftonline.com/" + e.TenantID + "/v2.0" }

// Fetches is how often the metadata document was read.
func (e *Entra) Fetches() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fetches
}

// Rotate makes key, under kid, the key Entra publishes and signs with.
func (e *Entra) Rotate(key *rsa.PrivateKey, kid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Key, e.KeyID = key, kid
}

// MetadataURL is the stand-in's metadata document.
func (e *Entra) MetadataURL() string {
	return e.Server.URL + "/" + e.TenantID + "/v2.0/.well-known/openid-configuration"
}

// RedirectURI is the stand-in's redirect URI.
func (e *Entra) RedirectURI() string { return e.Server.URL + RedirectPath }

// User is an Entra user as a hint names them.
type User struct {
	OID, Sub, PreferredUsername string
}

// HintClaims are the claims of a hint Entra issues for u to the app
// registration appID at iat (already expired, on purpose).
func (e *Entra) HintClaims(u User, appID string, iat time.Time) map[string]any {
	return map[string]any{
		"iss": e.Issuer(), "aud": appID, "tid": e.TenantID, "oid": u.OID, "sub": u.Sub,
		"preferred_username": u.PreferredUsername, "iat": iat.Unix(), "nbf": iat.Unix(), "exp": iat.Add(-time.Second).Unix(),
		"ver": "2.0",
	}
}

// Sign signs claims RS256 with key under kid, as Entra signs a hint.
func Sign(t testing.TB, key crypto.Signer, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Hint is a hint for u, to appID, issued at iat, signed by the stand-in.
func (e *Entra) Hint(t testing.TB, u User, appID string, iat time.Time) string {
	t.Helper()
	return Sign(t, e.Key, e.KeyID, e.HintClaims(u, appID, iat))
}

// Unsigned is claims as an "alg": "none" JWT.
func Unsigned(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	b, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

// Claims parameter values Entra sends.
const (
	// ClaimsParam asks for the possessionorinherence acr and any of the
	// methods Entra accepts.
	ClaimsParam = `{"id_token":{"acr":{"essential":true,"values":["possessionorinherence"]},` +
		`"amr":{"essential":true,"values":["face","fido","fpt","hwk","iris","otp","pop","retina","sc","sms","swk","tel","vbm"]}}}`
)

// Trust tells the stand-in how to verify answers: Gatehouse's issuer, the
// JWKS document Gatehouse publishes, the client id it was given, and the
// clock to judge expiry by.
func (e *Entra) Trust(issuer string, jwks []byte, clientID string, now func() time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gatehouseIssuer, e.gatehouseJWKS, e.clientID, e.now = issuer, jwks, clientID, now
}

// Received returns the answers posted so far.
func (e *Entra) Received() []Received {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.received)
}

// receive takes an answer as Entra does and verifies it: the kid is in
// Gatehouse's JWKS with an x5c certificate, whose key verifies the RS256
// signature; iss, aud and expiry with coreos/go-oidc; one amr of another
// kind than a password. The nonce and acr are for the test to compare.
func (e *Entra) receive(w http.ResponseWriter, r *http.Request) {
	idToken, state := r.PostFormValue("id_token"), r.PostFormValue("state")
	claims, err := e.verify(r.Context(), idToken)
	e.mu.Lock()
	e.received = append(e.received, Received{State: state, Err: err, Claims: claims})
	e.mu.Unlock()
	if err != nil {
		http.Error(w, "refused: "+err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = fmt.Fprintf(w, "accepted for %s", claims.Subject)
}

func (e *Entra) verify(ctx context.Context, idToken string) (Claims, error) {
	e.mu.Lock()
	issuer, raw, clientID, now := e.gatehouseIssuer, e.gatehouseJWKS, e.clientID, e.now
	e.mu.Unlock()
	var c Claims
	jws, err := jose.ParseSignedCompact(idToken, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return c, fmt.Errorf("not RS256: %w", err)
	}
	kid := jws.Signatures[0].Protected.KeyID
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return c, err
	}
	found := set.Key(kid)
	if kid == "" || len(found) != 1 || len(found[0].Certificates) == 0 {
		return c, fmt.Errorf("kid %q is not one key with x5c in the JWKS", kid)
	}
	cert := found[0].Certificates[0]
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(found[0].Key) {
		return c, fmt.Errorf("the x5c certificate of %q is not the JWK's key", kid)
	}
	v := oidc.NewVerifier(issuer, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{cert.PublicKey}},
		&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{oidc.RS256}, Now: now})
	tok, err := v.Verify(ctx, idToken)
	if err != nil {
		return c, err
	}
	if err := tok.Claims(&c); err != nil {
		return c, err
	}
	switch {
	case len(c.AMR) != 1:
		return c, fmt.Errorf("amr %q is not one method", c.AMR)
	case c.AMR[0] == "pwd" || c.AMR[0] == "pin" || c.AMR[0] == "kba":
		return c, fmt.Errorf("amr %q is of the first factor's kind", c.AMR)
	case c.ACR == "" || c.Nonce == "":
		return c, fmt.Errorf("no acr or nonce")
	}
	return c, nil
}

// CertPool is a pool holding the stand-in's certificate.
func (e *Entra) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(e.Server.Certificate())
	return p
}
