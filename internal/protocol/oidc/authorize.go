package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Query parameters of Gatehouse's own making on /oauth2/authorize.
const (
	paramPending = "gh_req"    // a POSTed request, kept in Flows
	paramResume  = "gh_resume" // a finished sign-in flow comes back
	flowPending  = "oidc.pending"
)

// authorize serves /oauth2/authorize: the request is checked here, the
// user is signed in by the engine, and the code goes back to the client.
type authorize struct{ p *Provider }

// pending is an authorization request on its way through the sign-in
// engine (in the flow's State) or waiting for its GET (in Flows).
type pending struct {
	Client    string   `json:"c"`
	Redirect  string   `json:"r"`
	State     string   `json:"s,omitempty"`
	Nonce     string   `json:"n,omitempty"`
	Scopes    []string `json:"sc"`
	Challenge string   `json:"pk,omitempty"`
	Passive   bool     `json:"none,omitempty"`
	Force     bool     `json:"login,omitempty"`
	MaxAge    int64    `json:"max_age,omitempty"` // seconds
	ACR       []string `json:"acr,omitempty"`
	MFA       bool     `json:"mfa,omitempty"`
	LoginHint string   `json:"hint,omitempty"`
}

func pendingOf(ar *AuthorizeRequest) pending {
	return pending{Client: ar.Client.ID, Redirect: ar.RedirectURI, State: ar.State, Nonce: ar.Nonce, Scopes: ar.Scopes,
		Challenge: ar.Challenge, Passive: ar.Passive, Force: ar.ForceAuthn, MaxAge: int64(ar.MaxAge / time.Second),
		ACR: ar.ACRValues, MFA: ar.MFA, LoginHint: ar.LoginHint}
}

func (a *authorize) get(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	switch {
	case q.Has(paramResume):
		return a.resume(w, r, q)
	case q.Has(paramPending):
		return a.runPending(w, r, q.Get(paramPending))
	}
	if len(r.URL.RawQuery) > MaxAuthorizeQuery {
		return requestError(fmt.Errorf("%w: a query of %d bytes", ErrMalformed, len(r.URL.RawQuery)))
	}
	ar, err := ParseAuthorize(q, a.p.o.Clients)
	if err != nil {
		return a.refuse(w, r, err)
	}
	return a.run(w, r, pendingOf(ar))
}

// post takes a request sent as a form (OIDC Core §3.1.2.1): checked
// here, then kept for the GET the browser is sent to, where its session
// cookie (SameSite=Lax, so not on a cross-site POST) is seen.
func (a *authorize) post(w http.ResponseWriter, r *http.Request) error {
	// The form may have been read already (the EAM handler in front looks
	// at its client_id); ParseForm then keeps what it read.
	r.Body = http.MaxBytesReader(w, r.Body, MaxAuthorizeQuery)
	if err := r.ParseForm(); err != nil {
		return requestError(fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	if n := len(r.PostForm.Encode()); n > MaxAuthorizeQuery {
		return requestError(fmt.Errorf("%w: a form of %d bytes", ErrMalformed, n))
	}
	ar, err := ParseAuthorize(r.PostForm, a.p.o.Clients)
	if err != nil {
		return a.refuse(w, r, err)
	}
	id, err := signin.KeepPending(r.Context(), a.p.o.Flows, flowPending, pendingOf(ar), a.p.o.Now(), PendingLifetime)
	if err != nil {
		return err
	}
	http.Redirect(w, r, PathAuthorize+"?"+paramPending+"="+url.QueryEscape(id), http.StatusSeeOther)
	return nil
}

// runPending continues a POSTed request, used up here: a reload asks the
// application to start again.
func (a *authorize) runPending(w http.ResponseWriter, r *http.Request, id string) error {
	var p pending
	err := signin.TakePending(r.Context(), a.p.o.Flows, flowPending, id, a.p.o.Now(), &p)
	if errors.Is(err, signin.ErrPendingGone) {
		return requestError(fmt.Errorf("%w: the request is gone", ErrStale))
	}
	if err != nil {
		return err
	}
	return a.run(w, r, p)
}

// signinRequest is what the engine is asked for p: the policy (through
// the engine) decides what must be proved; the request's prompt, max_age
// and acr_values only add demands.
func signinRequest(c *Client, p pending, state []byte) signin.Request {
	q := url.Values{paramResume: {c.ID}}
	if p.MFA {
		q.Set("mfa", "1")
	}
	if p.Force {
		q.Set("force", "1")
	}
	if p.MaxAge > 0 {
		q.Set("max_age", strconv.FormatInt(p.MaxAge, 10))
	}
	return signin.Request{App: c.Name, RequireMFA: p.MFA, ForceAuthn: p.Force, MaxAge: time.Duration(p.MaxAge) * time.Second,
		LoginHint: p.LoginHint, Passive: p.Passive, State: state, ResumeURL: PathAuthorize + "?" + q.Encode(), InPlace: true}
}

func (a *authorize) run(w http.ResponseWriter, r *http.Request, p pending) error {
	c, ok := a.p.o.Clients.ByID(p.Client)
	switch {
	case !ok:
		return requestError(fmt.Errorf("%w: %q", ErrUnknownClient, p.Client))
	case !c.RedirectAllowed(p.Redirect):
		return requestError(fmt.Errorf("%w: %q", ErrRedirectURI, p.Redirect))
	}
	state, err := json.Marshal(p)
	if err != nil {
		return err
	}
	res, err := a.p.o.Engine.Authenticate(w, r, signinRequest(c, p, state))
	if errors.Is(err, signin.ErrInteractionRequired) {
		code := "login_required"
		if _, signedIn := a.p.o.Sessions.CurrentUser(r); signedIn {
			code = "interaction_required"
		}
		return a.redirectError(w, r, p, code, "the user must sign in")
	}
	var refused web.HTTPError
	if p.Passive && errors.As(err, &refused) && refused.Code == http.StatusForbidden {
		// prompt=none shows no page, not even a refusal: the client
		// hears it (OpenID Connect Core 3.1.2.6).
		return a.redirectError(w, r, p, "access_denied", "the user may not use this application")
	}
	if err != nil || res == nil {
		return err
	}
	return a.issue(w, r, c, p, res)
}

// resume answers the request a finished sign-in flow was for. Only the
// engine comes here with one (the flow's ResumeURL, called in place): the
// request is passive, so an address typed or replayed without a finished
// flow starts nothing, and a live session alone carries no saved request.
func (a *authorize) resume(w http.ResponseWriter, r *http.Request, q url.Values) error {
	c, ok := a.p.o.Clients.ByID(q.Get(paramResume))
	if !ok {
		return requestError(fmt.Errorf("%w: no sign-in to resume", ErrStale))
	}
	maxAge, _ := strconv.ParseInt(q.Get("max_age"), 10, 64)
	res, err := a.p.o.Engine.Authenticate(w, r, signin.Request{App: c.Name, RequireMFA: q.Get("mfa") == "1",
		ForceAuthn: q.Get("force") == "1", MaxAge: time.Duration(maxAge) * time.Second, Passive: true, InPlace: true})
	if err != nil && !errors.Is(err, signin.ErrInteractionRequired) {
		return err
	}
	var p pending
	if res == nil || len(res.State) == 0 || json.Unmarshal(res.State, &p) != nil || p.Client != c.ID {
		return requestError(fmt.Errorf("%w: no sign-in to resume", ErrStale))
	}
	if !c.RedirectAllowed(p.Redirect) {
		return requestError(fmt.Errorf("%w: %q", ErrRedirectURI, p.Redirect))
	}
	return a.issue(w, r, c, p, res)
}

// issue sends the browser back to the client with a code for the
// sign-in res.
func (a *authorize) issue(w http.ResponseWriter, r *http.Request, c *Client, p pending, res *signin.Result) error {
	d := codeData{ClientID: c.ID, RedirectURI: p.Redirect, Challenge: p.Challenge, Nonce: p.Nonce,
		Scopes: p.Scopes, UserID: res.User.ID, Subject: a.p.o.Subjects.For(c, res.User.ID), SID: sidOf(res),
		AuthTime: res.AuthTime, AMR: res.Methods, ACR: acrFor(res.MFA(), p.ACR), Claims: ClaimsOf(&res.User)}
	code, err := a.p.st.issueCode(r.Context(), d)
	if err != nil {
		return err
	}
	http.Redirect(w, r, a.responseURL(p.Redirect, url.Values{"code": {code}, "state": {p.State}}), http.StatusFound) // #nosec G710 -- a registered redirect URI of the client (ParseAuthorize, RedirectAllowed).
	return nil
}

// responseURL is redirect with the response's parameters and iss (RFC
// 9207) added to its query; an empty state is left out.
func (a *authorize) responseURL(redirect string, v url.Values) string {
	u, err := url.Parse(redirect)
	if err != nil {
		return redirect // checked against the registered URIs; cannot happen
	}
	q := u.Query()
	for k, vs := range v {
		if len(vs) == 1 && vs[0] == "" {
			continue
		}
		q[k] = vs
	}
	q.Set("iss", a.p.issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// redirectError answers a good client at its redirect URI with an error.
func (a *authorize) redirectError(w http.ResponseWriter, r *http.Request, p pending, code, desc string) error {
	http.Redirect(w, r, a.responseURL(p.Redirect, url.Values{"error": {code}, "error_description": {desc}, "state": {p.State}}), http.StatusFound) // #nosec G710 -- a registered redirect URI.
	return nil
}

// refuse answers a request ParseAuthorize refused: at the redirect URI
// when the client and it are good, else with a page.
func (a *authorize) refuse(w http.ResponseWriter, r *http.Request, err error) error {
	var ae *AuthError
	if errors.As(err, &ae) {
		a.p.o.Log.InfoContext(r.Context(), "oidc: authorization request refused", "client_id", ae.Request.Client.ID, "error", ae.Code,
			"reason", ae.Description)
		return a.redirectError(w, r, pending{Redirect: ae.Request.RedirectURI, State: ae.Request.State}, ae.Code, ae.Description)
	}
	return requestError(err)
}

// requestError is the page for a request that cannot be answered at the
// client: an unknown client, an unregistered redirect URI, a malformed
// or stale request.
func requestError(err error) error {
	msg := "error.oidc_invalid"
	switch {
	case errors.Is(err, ErrUnknownClient):
		msg = "error.oidc_unknown_app"
	case errors.Is(err, ErrRedirectURI):
		msg = "error.oidc_redirect_not_allowed"
	case errors.Is(err, ErrStale):
		msg = "error.oidc_stale"
	}
	return web.Errorf(http.StatusBadRequest, msg, err).Then(web.NextHome)
}

// sidOf is the sid claim of a sign-in: an opaque name of its browser
// sign-in that back-channel logout tokens repeat.
func sidOf(res *signin.Result) string { return opaqueSID(res.SID) }
