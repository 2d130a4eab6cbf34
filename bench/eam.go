package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/eam/entratest"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// The eam journey: Gatehouse as a Microsoft Entra ID external
// authentication method (README, "Entra external authentication method
// (EAM)"). Entra has checked the password; it posts the browser to
// /oauth2/authorize with an id_token_hint it signed, Gatehouse asks for
// the second factor alone and posts an id_token back to Entra. The bench
// plays Entra: a stand-in on loopback (TLS, its own RSA key, the tenant's
// OpenID metadata and JWKS, which Gatehouse reads once and caches) signs a
// fresh hint for each journey, as the tests' stand-in does
// (internal/protocol/eam/entratest).

// The bench's Entra tenant and the client id of its entra-eam app: GUIDs,
// as Entra's are (the configuration requires them).
const (
	eamTenant   = "5f1a7c2e-8d3b-4e6f-9a0b-1c2d3e4f5a6b"
	eamClientID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
	// eamPath is where Entra posts its requests: the authorization
	// endpoint Gatehouse's discovery names.
	eamPath = "/oauth2/authorize"
)

// eamAppConfig is the entra-eam app of the eam journey (%[1]s: the
// stand-in's metadata URL, %[2]s: the CA file that verifies it). Its
// answers go to Entra's real redirect URI: the journey ends at the
// auto-POST form, as the WS-Fed one ends before login.srf.
const eamAppConfig = `  - name: Entra MFA
    type: entra-eam
    client_id: ` + eamClientID + `
    tenant_id: ` + eamTenant + `
    entra_metadata_url: %[1]q
    entra_ca_file: %[2]q
`

// entraStandIn is Entra's side of the eam journey.
type entraStandIn struct {
	key *rsa.PrivateKey
	kid string
	srv *httptest.Server
	// caFile is the PEM certificate that verifies srv (entra_ca_file).
	caFile string
}

// startEntra starts the stand-in Entra on 127.0.0.1 with a fresh RSA-2048
// key, and writes the certificate of its TLS server to dir for
// Gatehouse's entra_ca_file.
func startEntra(dir string) (*entraStandIn, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	e := &entraStandIn{key: key, kid: "bench-entra-" + rand.Text()[:8]}
	const jwksPath = "/discovery/v2.0/keys"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+eamTenant+"/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"issuer": config.EAMIssuer(eamTenant), "jwks_uri": e.srv.URL + jwksPath,
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET "+jwksPath, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: e.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	e.srv = httptest.NewTLSServer(mux)
	e.caFile = filepath.Join(dir, "entra-ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw})
	if err := os.WriteFile(e.caFile, cert, 0o600); err != nil {
		e.srv.Close()
		return nil, err
	}
	return e, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// metadataURL is the tenant's OpenID metadata on the stand-in.
func (e *entraStandIn) metadataURL() string {
	return e.srv.URL + "/" + eamTenant + "/v2.0/.well-known/openid-configuration"
}

func (e *entraStandIn) close() { e.srv.Close() }

// eamObjectID is u's Entra object id (oid): a GUID of its own, stable for
// the run.
func eamObjectID(u *user) string {
	h := sha256.Sum256([]byte("oid:" + u.sam))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// eamSubject is u's pairwise sub for the app, which the answer repeats.
func eamSubject(u *user) string {
	h := sha256.Sum256([]byte("sub:" + u.sam))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// hint is the id_token_hint Entra sends for u at now: issued for the app
// registration by the tenant, naming the user by UPN, and already expired
// on purpose, as Entra's are.
func (e *entraStandIn) hint(u *user, now time.Time) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: e.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), e.kid))
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(map[string]any{
		"iss": config.EAMIssuer(eamTenant), "aud": eamClientID, "tid": eamTenant, "oid": eamObjectID(u), "sub": eamSubject(u),
		"preferred_username": u.upn, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(-time.Second).Unix(), "ver": "2.0",
	}).Serialize()
}

// entraPosts is Entra sending browser b to Gatehouse for u: the form_post
// of the request with a fresh hint, and the GET Gatehouse redirects it to
// (where the flow starts with the browser's own cookies).
func (r *runner) entraPosts(b *browse.Browser, u *user, nonce, state string) {
	hint, err := r.entra.hint(u, time.Now())
	if err != nil {
		panic(journeyFailure{"signing the hint: " + err.Error()})
	}
	form := url.Values{
		"client_id": {eamClientID}, "response_type": {"id_token"}, "scope": {"openid"}, "response_mode": {"form_post"},
		"redirect_uri": {config.EntraEAMRedirectURI}, "nonce": {nonce}, "state": {state}, "id_token_hint": {hint},
		"claims": {entratest.ClaimsParam}, "client-request-id": {randomURLSafe(16)},
	}
	resp, err := b.C.PostForm(b.Base+eamPath, form)
	if err != nil {
		panic(journeyFailure{"Entra's POST: " + shorten(err.Error())})
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || loc == "" {
		panic(journeyFailure{fmt.Sprintf("Entra's POST: status %d, want a 303 to the request's GET: %s", resp.StatusCode, shorten(pageError(string(body))))})
	}
	b.Get(loc)
	if strings.Contains(b.Last, `name="password"`) {
		fail(b, "the password was asked (Entra checked it)")
	}
}

// eamSignIn is the second factor for Entra of a user without a Gatehouse
// session, in a new browser: Entra's POST and its GET, the
// authenticator-app code, and the auto-POST form with the id_token to
// Entra's redirect URI — what each Entra sign-in that needs MFA makes
// Gatehouse do.
func (r *runner) eamSignIn(u *user) (*recorder, error) {
	b, rec := r.newBrowser()
	defer rec.close()
	return rec, attempt(func() {
		nonce, state := randomURLSafe(16), randomURLSafe(24)
		r.entraPosts(b, u, nonce, state)
		enterTOTP(b, u)
		checkEAMAnswer(b, r.eamVerifier, u, nonce, state)
	})
}

// linkEAM is the set-up's part for the eam journey: Entra sends u once, up
// to the code page, which links u's Entra account to the AD user. A
// user's account is linked once for good, so the journeys measure linked
// users; no TOTP step is used.
func (r *runner) linkEAM(u *user) {
	b, rec := r.newBrowser()
	defer rec.close()
	r.entraPosts(b, u, randomURLSafe(16), randomURLSafe(24))
	if !strings.Contains(b.Last, `name="method" value="totp"`) {
		fail(b, "Entra's request did not reach the authenticator-app page")
	}
}

var (
	eamIDTokenRe = regexp.MustCompile(`name="id_token" value="([^"]+)"`)
	eamStateRe   = regexp.MustCompile(`name="state" value="([^"]*)"`)
)

// eamAnswerForm reads the id_token and state off the page that posts the
// answer to Entra.
func eamAnswerForm(page string) (idToken, state string, ok bool) {
	t, s := eamIDTokenRe.FindStringSubmatch(page), eamStateRe.FindStringSubmatch(page)
	if t == nil || s == nil {
		return "", "", false
	}
	return html.UnescapeString(t[1]), html.UnescapeString(s[1]), true
}

// checkEAMAnswer requires the auto-POST form to Entra's redirect URI with
// the state unchanged and an id_token Entra would take for this request.
func checkEAMAnswer(b *browse.Browser, v *eamVerifier, u *user, nonce, state string) {
	if b.Status != http.StatusOK || !strings.Contains(b.Last, `action="`+config.EntraEAMRedirectURI+`"`) {
		fail(b, "no auto-POST form to Entra's redirect URI")
	}
	tok, st, ok := eamAnswerForm(b.Last)
	if !ok {
		fail(b, "no id_token and state in the form")
	}
	if st != state {
		fail(b, "the state did not come back unchanged")
	}
	if err := v.verify(tok, eamSubject(u), nonce); err != nil {
		fail(b, "the id_token: "+err.Error())
	}
}

// eamVerifier checks Gatehouse's answers as little as the journey needs:
// the signature with a key of Gatehouse's JWKS (by the token's kid), the
// issuer, audience, subject and nonce, and one amr, the authenticator
// app's.
type eamVerifier struct {
	issuer string
	keys   jose.JSONWebKeySet
}

// newEAMVerifier reads Gatehouse's discovery document at base and the JWKS
// it names.
func newEAMVerifier(client *http.Client, base string) (*eamVerifier, error) {
	var d struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := getJSON(client, base+"/.well-known/openid-configuration", &d); err != nil {
		return nil, err
	}
	if d.Issuer == "" || d.JWKSURI == "" {
		return nil, errors.New("gatehouse's discovery document names no issuer or jwks_uri")
	}
	v := &eamVerifier{issuer: d.Issuer}
	if err := getJSON(client, d.JWKSURI, &v.keys); err != nil {
		return nil, err
	}
	if len(v.keys.Keys) == 0 {
		return nil, fmt.Errorf("%s holds no key", d.JWKSURI)
	}
	return v, nil
}

func getJSON(client *http.Client, u string, v any) error {
	resp, err := client.Get(u) // #nosec G107 -- gatehouse under test, or what its discovery names.
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// verify checks the answer raw for the request that carried nonce for the
// user whose pairwise subject is sub.
func (v *eamVerifier) verify(raw, sub, nonce string) error {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return fmt.Errorf("not an RS256 JWT: %w", err)
	}
	kid := tok.Headers[0].KeyID
	found := v.keys.Key(kid)
	if kid == "" || len(found) != 1 {
		return fmt.Errorf("kid %q is not one key of Gatehouse's JWKS", kid)
	}
	var c struct {
		jwt.Claims
		Nonce string   `json:"nonce"`
		AMR   []string `json:"amr"`
	}
	if err := tok.Claims(found[0].Key, &c); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	switch {
	case c.Issuer != v.issuer:
		return fmt.Errorf("iss %q, want %q", c.Issuer, v.issuer)
	case len(c.Audience) != 1 || c.Audience[0] != eamClientID:
		return fmt.Errorf("aud %q, want %q", []string(c.Audience), eamClientID)
	case c.Subject != sub:
		return fmt.Errorf("sub %q, want the hint's %q", c.Subject, sub)
	case c.Nonce != nonce:
		return fmt.Errorf("nonce %q, want %q", c.Nonce, nonce)
	case len(c.AMR) != 1 || c.AMR[0] != "otp":
		return fmt.Errorf("amr %q, want [otp] (the authenticator app)", c.AMR)
	}
	return nil
}
