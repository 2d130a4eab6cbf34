package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// startRelyingParty serves the oidc journey's redirect URI: a server in
// this process that answers every request 200 (the journey reads the code
// from the address the browser ended at). It returns the redirect URI and
// how to stop the server.
func startRelyingParty() (callback string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "the relying party got the code")
	})}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String() + "/callback", func() { _ = srv.Close() }, nil
}

// oidcSignIn is the OpenID Connect authorization code flow of a user
// without a session, in a new browser: the authorization request (PKCE
// S256, login_hint as an app that knows the user passes it), the
// password, the authenticator-app code, the redirect with the code to the
// relying party, and its exchange at the token endpoint for a signed ID
// token — what Grafana or GitLab makes Gatehouse do at each sign-in.
func (r *runner) oidcSignIn(u *user) (*recorder, error) {
	b, rec := r.newBrowser()
	defer rec.close()
	return rec, attempt(func() {
		verifier := randomURLSafe(32)
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{"client_id": {"bench"}, "redirect_uri": {r.oidcCallback}, "response_type": {"code"},
			"scope": {"openid profile email"}, "state": {randomURLSafe(12)}, "nonce": {randomURLSafe(12)}, "login_hint": {u.upn},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
		b.Get("/oauth2/authorize?" + q.Encode())
		if !strings.Contains(b.Last, `name="password"`) {
			fail(b, "no password page")
		}
		b.Submit(map[string]string{"password": u.currentPassword()})
		enterTOTP(b, u)
		back, err := url.Parse(b.URL)
		if err != nil || !strings.HasPrefix(b.URL, r.oidcCallback) || back.Query().Get("code") == "" || back.Query().Get("state") != q.Get("state") {
			fail(b, "no code at the relying party")
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {r.oidcCallback},
			"code_verifier": {verifier}}
		req, err := http.NewRequest(http.MethodPost, r.base+"/oauth2/token", strings.NewReader(form.Encode()))
		if err != nil {
			fail(b, err.Error())
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("bench", oidcClientSecret)
		resp, err := b.C.Do(req)
		if err != nil {
			fail(b, "token request: "+err.Error())
		}
		defer resp.Body.Close()
		var tok struct {
			IDToken     string `json:"id_token"`
			AccessToken string `json:"access_token"`
			Error       string `json:"error"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK ||
			strings.Count(tok.IDToken, ".") != 2 || tok.AccessToken == "" {
			panic(journeyFailure{fmt.Sprintf("token exchange: status %d, error %q", resp.StatusCode, tok.Error)})
		}
	})
}

// randomURLSafe is n random bytes, base64url.
func randomURLSafe(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
