package eam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Path is the authorization endpoint discovery names, which Entra posts
// to; Handler serves it for entra-eam apps and hands the rest to Next.
const Path = "/oauth2/authorize"

// Query parameters of Gatehouse's own making on Path.
const (
	paramPending = "gh_eam"        // a POSTed request, kept in Flows for its GET
	paramResume  = "gh_eam_resume" // the finished second factor comes back (the app's client_id)
	flowPending  = "eam.pending"
)

// Registry holds the entra-eam apps by client_id.
type Registry struct{ byClient map[string]*App }

// NewRegistry indexes apps by client_id.
func NewRegistry(apps ...*App) *Registry {
	r := &Registry{byClient: map[string]*App{}}
	for _, a := range apps {
		r.byClient[a.ClientID] = a
	}
	return r
}

// ByClientID implements Apps.
func (r *Registry) ByClientID(id string) (*App, bool) {
	a, ok := r.byClient[id]
	return a, ok && id != ""
}

// Len is how many apps there are.
func (r *Registry) Len() int { return len(r.byClient) }

// Handler serves Entra's external authentication method requests at Path.
type Handler struct {
	Engine *signin.Engine
	// Flows keeps a POSTed request for the GET the browser is sent to:
	// Entra's cross-site POST carries none of Gatehouse's SameSite=Lax
	// cookies, so the flow starts on that GET, where they are seen.
	Flows store.Flows
	// Links ties each Entra account (tenant + oid) to its AD user.
	Links store.Links
	Apps  *Registry
	// Keys signs the answer with Current, whose kid the JWKS publishes.
	Keys *keys.Set
	// Issuer is the issuer discovery states, the answer's iss.
	Issuer string
	Audit  *audit.Recorder
	Log    *slog.Logger
	Now    func() time.Time
	// Next serves every other request at Path (the OIDC core's authorize
	// endpoint); nil answers them 404.
	Next http.Handler
	// Catalog words the auto-POST page in the request's language.
	Catalog *web.Catalog
	// Lifetime bounds the answer; zero: 5 minutes.
	Lifetime time.Duration
	// PendingFor is how long a POSTed request waits for its GET; zero:
	// 5 minutes.
	PendingFor time.Duration
}

// ServeHTTP answers the requests of entra-eam apps (their client_id, or
// Gatehouse's own parameters) and hands every other to Next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.ours(r) {
		if h.Next != nil {
			h.Next.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
		return
	}
	web.NoStore(web.Handle(h.Log, h.serve)).ServeHTTP(w, r)
}

// ours reports whether r is an EAM request. It parses the form, which Next
// then finds parsed.
func (h *Handler) ours(r *http.Request) bool {
	q := r.URL.Query()
	if q.Has(paramPending) || q.Has(paramResume) {
		return true
	}
	if err := r.ParseForm(); err != nil {
		return false
	}
	_, ok := h.Apps.ByClientID(r.Form.Get("client_id"))
	return ok
}

// pending is one EAM request on its way: kept for the GET after a POST,
// then in the sign-in flow's State until the second factor is done.
type pending struct {
	ClientID        string   `json:"client_id"`
	Nonce           string   `json:"nonce"`
	State           string   `json:"state"`
	ACR             []string `json:"acr"`
	AMR             []string `json:"amr,omitempty"`
	Subject         string   `json:"sub"`
	ObjectID        string   `json:"oid"`
	TenantID        string   `json:"tid"`
	Login           string   `json:"login"`
	ClientRequestID string   `json:"client_request_id,omitempty"`
	// UserID is the AD user the flow was started for.
	UserID string `json:"user_id,omitempty"`
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	switch {
	case q.Has(paramResume):
		return h.resume(w, r, q.Get(paramResume))
	case q.Has(paramPending):
		return h.runPending(w, r, q.Get(paramPending))
	}
	ctx := r.Context()
	req, err := ParseRequest(r.Form, h.Apps)
	if err != nil {
		return h.refuse(ctx, "", requestResult(err), err, nil)
	}
	hint, err := VerifyHint(ctx, req.Hint, req.App, h.Now())
	if err != nil {
		if !errors.Is(err, ErrHint) {
			return err // Entra's keys could not be read
		}
		return h.refuse(ctx, req.App.Name, "hint_refused", err, nil)
	}
	p := pending{ClientID: req.App.ClientID, Nonce: req.Nonce, State: req.State, ACR: req.ACR, AMR: req.AMR, Subject: hint.Subject,
		ObjectID: hint.ObjectID, TenantID: hint.TenantID, Login: hint.PreferredUsername, ClientRequestID: req.ClientRequestID}
	if r.Method != http.MethodPost {
		return h.run(w, r, p)
	}
	id, err := signin.KeepPending(ctx, h.Flows, flowPending, p, h.Now(), h.PendingFor)
	if err != nil {
		return err
	}
	http.Redirect(w, r, Path+"?"+paramPending+"="+url.QueryEscape(id), http.StatusSeeOther)
	return nil
}

// requestResult is the audit result of a ParseRequest error.
func requestResult(err error) string {
	switch {
	case errors.Is(err, ErrUnknownClient):
		return "unknown_client"
	case errors.Is(err, ErrRedirectURI):
		return "redirect_uri"
	case errors.Is(err, ErrUnsatisfiable):
		return "unsatisfiable"
	}
	return "invalid_request"
}

// refuse audits a refused request and returns the page that says so. The
// request's own parameters are never echoed: only Entra can start a good
// one, so the way forward is back there.
func (h *Handler) refuse(ctx context.Context, app, result string, cause error, ev *audit.Event) error {
	e := audit.Event{Type: audit.EAMRefused, App: app, Result: result}
	if ev != nil {
		e = *ev
		e.Type, e.App, e.Result = audit.EAMRefused, app, result
	}
	h.Audit.Record(ctx, e)
	status, key := http.StatusBadRequest, "error.eam_invalid"
	switch {
	case errors.Is(cause, ErrHintTooOld):
		key = "error.eam_stale"
	case errors.Is(cause, ErrUnsatisfiable):
		key = "error.eam_no_method"
	case result == "unknown_user":
		status, key = http.StatusForbidden, "error.eam_unknown_user"
	case result == "link_mismatch":
		status, key = http.StatusForbidden, "error.eam_link_mismatch"
	case result == "stale":
		key = "error.eam_stale"
	}
	return web.Errorf(status, key, cause).Then(web.NextHome)
}

// runPending continues a POSTed request; it is used up here, so a reload
// asks Entra to start again.
func (h *Handler) runPending(w http.ResponseWriter, r *http.Request, id string) error {
	ctx := r.Context()
	var p pending
	err := signin.TakePending(ctx, h.Flows, flowPending, id, h.Now(), &p)
	if errors.Is(err, signin.ErrPendingGone) {
		return h.refuse(ctx, "", "stale", fmt.Errorf("eam: the request %.64q is gone", id), nil)
	}
	if err != nil {
		return err
	}
	return h.run(w, r, p)
}

// run finds the hint's user, checks the link, and asks the engine for the
// second factor.
func (h *Handler) run(w http.ResponseWriter, r *http.Request, p pending) error {
	ctx := r.Context()
	app, ok := h.Apps.ByClientID(p.ClientID)
	if !ok {
		return h.refuse(ctx, "", "unknown_client", fmt.Errorf("%w: %q", ErrUnknownClient, p.ClientID), nil)
	}
	u, err := h.Engine.FindUser(ctx, p.Login)
	if errors.Is(err, directory.ErrUserNotFound) || errors.Is(err, directory.ErrAmbiguousUser) {
		return h.refuse(ctx, app.Name, "unknown_user", err, &audit.Event{Login: p.Login,
			Detail: map[string]string{"tid": p.TenantID, "oid": p.ObjectID}})
	}
	if err != nil {
		return err
	}
	if err := h.link(ctx, app, p, u); err != nil {
		return err
	}
	p.UserID = u.ID
	state, err := json.Marshal(p)
	if err != nil {
		return err
	}
	res, err := h.Engine.Authenticate(w, r, signin.Request{App: app.Name, RequireMFA: true, SecondFactorOnly: true, KnownUser: u,
		State: state, ResumeURL: Path + "?" + paramResume + "=" + url.QueryEscape(app.ClientID), InPlace: true})
	if err != nil || res == nil {
		return err
	}
	return h.answer(w, r, app, p, res)
}

// link checks that the hint's Entra account and the AD user its name found
// belong together: the first time either comes, they are linked; later
// the account must find the same user, and the user must come with the
// same account. A mismatch — an Entra user whose oid changed, or an oid
// whose name now finds another AD user — is refused and audited: an
// administrator decides (gatehouse admin mfa reset, of every method,
// forgets the link).
func (h *Handler) link(ctx context.Context, app *App, p pending, u *directory.User) error {
	provider := "entra:" + p.TenantID
	mismatch := func(reason, linked string) error {
		return h.refuse(ctx, app.Name, "link_mismatch", fmt.Errorf("eam: %s: %s", reason, linked), &audit.Event{UserID: u.ID, Login: p.Login,
			Reason: reason, Detail: map[string]string{"tid": p.TenantID, "oid": p.ObjectID, "linked": linked}})
	}
	for range 2 { // once more after losing a race to link
		l, err := h.Links.GetLink(ctx, provider, p.ObjectID)
		switch {
		case err == nil && l.UserID == u.ID:
			return nil
		case err == nil:
			return mismatch("oid_linked_to_another_user", l.UserID)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		switch l, err := h.Links.GetUserLink(ctx, provider, u.ID); {
		case err == nil:
			return mismatch("user_linked_to_another_oid", l.Subject)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		err = h.Links.CreateLink(ctx, store.Link{Provider: provider, Subject: p.ObjectID, UserID: u.ID, CreatedAt: h.Now()})
		if err == nil {
			h.Audit.Record(ctx, audit.Event{Type: audit.EAMLinked, UserID: u.ID, Login: p.Login, App: app.Name, Result: "ok",
				Detail: map[string]string{"tid": p.TenantID, "oid": p.ObjectID}})
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("eam: linking %s/%s keeps conflicting", provider, p.ObjectID)
}

// resume answers the request a finished second-factor flow was for. Only
// the engine comes here with one (called in place): an address typed or
// replayed without a finished flow starts nothing.
func (h *Handler) resume(w http.ResponseWriter, r *http.Request, clientID string) error {
	ctx := r.Context()
	app, ok := h.Apps.ByClientID(clientID)
	if !ok {
		return h.refuse(ctx, "", "stale", fmt.Errorf("%w: %q", ErrUnknownClient, clientID), nil)
	}
	res, err := h.Engine.Authenticate(w, r, signin.Request{App: app.Name, RequireMFA: true, SecondFactorOnly: true, InPlace: true})
	if err != nil {
		return err
	}
	var p pending
	if res == nil || json.Unmarshal(res.State, &p) != nil || p.ClientID != app.ClientID || p.UserID != res.User.ID {
		return h.refuse(ctx, app.Name, "stale", errors.New("eam: no finished second factor to answer with"), nil)
	}
	return h.answer(w, r, app, p, res)
}

// answer signs the id_token for the finished second factor res and posts
// it, with the state, to Entra.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, app *App, p pending, res *signin.Result) error {
	ctx := r.Context()
	if !res.MFA() {
		return fmt.Errorf("eam: the sign-in for %s ended without a second factor the policy counts", res.User.ID)
	}
	amr, ok := ChooseAMR(res.Methods, p.AMR)
	acr, ok2 := ChooseACR(p.ACR, amr)
	if !ok || !ok2 {
		return h.refuse(ctx, app.Name, "unsatisfiable", fmt.Errorf("%w: used %q, Entra accepts acr %q amr %q", ErrUnsatisfiable, res.Methods, p.ACR, p.AMR),
			&audit.Event{UserID: res.User.ID, Login: p.Login})
	}
	lifetime := h.Lifetime
	if lifetime <= 0 {
		lifetime = 5 * time.Minute
	}
	tok, err := Answer{Issuer: h.Issuer, Audience: app.ClientID, Subject: p.Subject, Nonce: p.Nonce, ACR: acr, AMR: amr,
		AuthTime: res.MFATime, Now: h.Now(), Lifetime: lifetime}.Sign(h.Keys.Current)
	if err != nil {
		return err
	}
	h.Audit.Record(ctx, audit.Event{Type: audit.TokenIssued, UserID: res.User.ID, Login: p.Login, App: app.Name, Result: "ok",
		Detail: map[string]string{"protocol": "eam", "acr": acr, "amr": amr, "tid": p.TenantID, "oid": p.ObjectID,
			"client_request_id": p.ClientRequestID}})
	// The page every protocol posts with (its script submits the form).
	return web.AutoPost{URL: app.RedirectURI, Fields: []web.Field{{Name: "id_token", Value: tok}, {Name: "state", Value: p.State}}}.
		Localize(h.Catalog, r).Write(w)
}
