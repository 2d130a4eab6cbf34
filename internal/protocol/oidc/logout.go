package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// BackchannelEvent is the event a logout token carries (OpenID Connect
// Back-Channel Logout 1.0 §2.4).
const BackchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// opaqueSID is the sid claim of a sign-in (signin.Result.SID): an opaque
// name that tells a client nothing about the session's cookie or key.
func opaqueSID(sid string) string {
	if sid == "" {
		return ""
	}
	return digest("sid", sid)[:32]
}

// SessionsEnded is the listener of signin.Sessions.OnEnd: the grants of
// the ended sign-ins end — all of them when every sign-in of the user
// ended (a reset, a changed password, a removed factor), else those that
// were not asked for offline_access — and each client with a
// backchannel_logout_uri is sent a logout token for them, in the
// background.
func (p *Provider) SessionsEnded(ctx context.Context, e signin.Ended) {
	grants, err := p.o.Grants.ListUserGrants(ctx, e.UserID, p.o.Now())
	if err != nil {
		p.o.Log.ErrorContext(ctx, "oidc: listing the grants of ended sessions", "err", err)
		return
	}
	ended := map[string]bool{}
	for _, s := range e.SIDs {
		ended[opaqueSID(s)] = true
	}
	keep := opaqueSID(e.Keep)
	told := map[string]bool{}
	for _, g := range grants {
		hit := ended[g.SessionID] || (e.All && (g.SessionID != keep || keep == ""))
		if !hit {
			continue
		}
		d, err := decodeGrant(g)
		if err != nil {
			p.o.Log.ErrorContext(ctx, "oidc: a grant of an ended session", "err", err)
			continue
		}
		if e.All || !slices.Contains(d.Scopes, "offline_access") {
			if err := p.o.Grants.DeleteGrant(ctx, g.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				p.o.Log.ErrorContext(ctx, "oidc: revoking a grant of an ended session", "err", err)
			}
		}
		c, ok := p.o.Clients.ByID(g.ClientID)
		if !ok || c.BackchannelLogoutURI == "" || g.SessionID == "" || told[c.ID+"\x00"+g.SessionID] {
			continue
		}
		told[c.ID+"\x00"+g.SessionID] = true
		p.logouts.send(c, d.Subject, g.SessionID, e.UserID)
	}
}

// logoutSender delivers logout tokens in the background, a few at a time.
type logoutSender struct {
	p      *Provider
	client *http.Client
	slots  chan struct{}
	wg     sync.WaitGroup
}

func newLogoutSender(p *Provider) *logoutSender {
	c := p.o.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &logoutSender{p: p, client: c, slots: make(chan struct{}, 8)}
}

// send posts a logout token for sid to c's back-channel logout URI.
func (l *logoutSender) send(c *Client, sub, sid, userID string) {
	tok, err := l.p.logoutToken(c, sub, sid)
	if err != nil {
		l.p.o.Log.Error("oidc: signing a logout token", "client_id", c.ID, "err", err)
		return
	}
	l.wg.Go(func() {
		l.slots <- struct{}{}
		defer func() { <-l.slots }()
		ctx := context.Background()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
		if err != nil {
			l.p.o.Log.Error("oidc: back-channel logout", "client_id", c.ID, "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := l.client.Do(req) // #nosec G704 -- the client's configured backchannel_logout_uri.
		result := "ok"
		switch {
		case err != nil:
			result = "unreachable"
			l.p.o.Log.Warn("oidc: back-channel logout failed", "client_id", c.ID, "err", err)
		default:
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
				result = fmt.Sprintf("status_%d", resp.StatusCode)
				l.p.o.Log.Warn("oidc: back-channel logout refused", "client_id", c.ID, "status", resp.StatusCode)
			}
		}
		l.p.o.Audit.Record(ctx, audit.Event{Type: audit.SignOut, UserID: userID, App: c.Name, Result: result,
			Detail: map[string]string{"protocol": "oidc", "client_id": c.ID, "via": "backchannel"}})
	})
}

// Close waits for the logout tokens on their way, up to a timeout.
func (p *Provider) Close() error {
	done := make(chan struct{})
	go func() { p.logouts.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
	}
	return nil
}

// logoutToken is a signed logout token for the user (sub at c) and sid.
func (p *Provider) logoutToken(c *Client, sub, sid string) (string, error) {
	kp := p.o.Keys.Current
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: kp.Key, KeyID: kp.ID}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return "", err
	}
	now := p.o.Now()
	claims, err := json.Marshal(map[string]any{"iss": p.issuer, "aud": c.ID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": randomID(), "sub": sub, "sid": sid, "events": map[string]any{BackchannelEvent: map[string]any{}}})
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(claims)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Size caps of logout request parameters.
const (
	maxIDTokenHint = 8 << 10
	maxLogoutParam = 2048
)

// logout serves RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0) at /oauth2/logout.
type logout struct{ p *Provider }

// logoutRequest is a checked logout request.
type logoutRequest struct {
	client   *Client
	redirect string // a registered post-logout redirect URI, or ""
	state    string
	// sid is the hint's sid, when the hint verified (expired or not).
	sid string
}

// parse checks a logout request: the client (the hint's audience or
// client_id) and its registered post-logout redirect URI. A hint that
// does not verify is no hint.
func (l *logout) parse(r *http.Request, v url.Values) (*logoutRequest, error) {
	lr := &logoutRequest{state: v.Get("state"), redirect: v.Get("post_logout_redirect_uri")}
	if len(lr.state) > maxLogoutParam || len(lr.redirect) > maxLogoutParam || len(v.Get("client_id")) > maxClientID || len(v.Get("id_token_hint")) > maxIDTokenHint {
		return nil, fmt.Errorf("%w: an oversized logout parameter", ErrMalformed)
	}
	clientID := v.Get("client_id")
	if hint := v.Get("id_token_hint"); hint != "" {
		ctx := op.ContextWithIssuer(r.Context(), l.p.issuer)
		claims, err := op.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, hint, l.p.op.IDTokenHintVerifier(ctx))
		if err == nil || errors.As(err, &op.IDTokenHintExpiredError{}) {
			if len(claims.Audience) > 0 {
				if clientID != "" && clientID != claims.Audience[0] {
					return nil, fmt.Errorf("%w: client_id is not the hint's audience", ErrMalformed)
				}
				clientID = claims.Audience[0]
			}
			lr.sid, _ = claims.Claims["sid"].(string)
		}
	}
	if clientID != "" {
		c, ok := l.p.o.Clients.ByID(clientID)
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownClient, clientID)
		}
		lr.client = c
	}
	if lr.redirect != "" && (lr.client == nil || !lr.client.PostLogoutAllowed(lr.redirect)) {
		return nil, fmt.Errorf("%w: post_logout_redirect_uri %q", ErrRedirectURI, lr.redirect)
	}
	return lr, nil
}

// logoutForm is the confirmation's form: its action and hidden fields.
type logoutForm struct {
	Action string
	Fields []logoutField
}

type logoutField struct{ Name, Value string }

// get ends the browser's sign-in when the client names it (an ID token
// hint whose sid is the session's); otherwise the user confirms, so that
// no other site can sign users out with a link.
func (l *logout) get(w http.ResponseWriter, r *http.Request) error {
	lr, err := l.parse(r, r.URL.Query())
	if err != nil {
		return requestError(err)
	}
	cur, signedIn := l.p.o.Sessions.CurrentUser(r)
	if signedIn && (lr.sid == "" || lr.sid != opaqueSID(cur.SID)) {
		form := logoutForm{Action: PathLogout}
		for _, f := range []logoutField{{"post_logout_redirect_uri", lr.redirect}, {"state", lr.state}} {
			if f.Value != "" {
				form.Fields = append(form.Fields, f)
			}
		}
		if lr.client != nil {
			form.Fields = append(form.Fields, logoutField{"client_id", lr.client.ID})
		}
		return l.p.o.Renderer.Render(w, "logout_confirm", http.StatusOK, l.p.o.Renderer.NewPage(r, "logout.confirm_title", form))
	}
	if signedIn {
		return l.signOut(w, r, lr)
	}
	return l.done(w, r, lr)
}

// signOut ends the browser's sign-in — and, with single logout on (the
// SAML IdP's fan-out), signs the user out of the session's other
// applications on the way — then goes where done would. OpenID Connect
// clients hear of it on the back channel (SessionsEnded).
func (l *logout) signOut(w http.ResponseWriter, r *http.Request, lr *logoutRequest) error {
	fo := l.p.o.Engine.LogoutFanOut()
	if fo == nil {
		l.p.o.Sessions.SignOut(w, r)
		return l.done(w, r, lr)
	}
	so := signin.SignOutRequest{Via: "oidc"}
	if lr.client != nil {
		so.App = lr.client.Name
	}
	ended, _, err := l.p.o.Sessions.EndBrowserSession(w, r, so)
	if err != nil {
		return err
	}
	var ps []signin.Participant
	if ended != nil {
		ps = ended.Participants
	}
	return fo.FanOut(w, r, ps, lr.doneURL())
}

// doneURL is the post-logout redirect URI with the state, or "".
func (lr *logoutRequest) doneURL() string {
	if lr.redirect == "" {
		return ""
	}
	u, err := url.Parse(lr.redirect)
	if err != nil {
		return ""
	}
	if lr.state != "" {
		q := u.Query()
		q.Set("state", lr.state)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// post signs the user out after the confirmation.
func (l *logout) post(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return requestError(fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	v := url.Values{"post_logout_redirect_uri": {r.PostForm.Get("post_logout_redirect_uri")}, "state": {r.PostForm.Get("state")},
		"client_id": {r.PostForm.Get("client_id")}}
	lr, err := l.parse(r, v)
	if err != nil {
		return requestError(err)
	}
	return l.signOut(w, r, lr)
}

// done sends the browser to the client's post-logout redirect URI, with
// state, or says the user is signed out.
func (l *logout) done(w http.ResponseWriter, r *http.Request, lr *logoutRequest) error {
	if to := lr.doneURL(); to != "" {
		http.Redirect(w, r, to, http.StatusFound) // #nosec G710 -- a registered post-logout redirect URI (parse).
		return nil
	}
	p := l.p.o.Renderer.NewPage(r, "logout.title", nil)
	p.Notice = p.T("logout.done")
	return l.p.o.Renderer.Render(w, "logout", http.StatusOK, p)
}
