package wsfed

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Handler serves the passive profile at /wsfed, the auto-POST script and
// the FederationMetadata document.
type Handler struct {
	Engine   *signin.Engine
	Sessions *signin.Sessions
	Registry *Registry
	Builder  *assertion.Builder
	Policy   assertion.ClaimsPolicy
	Metadata MetadataConfig
	Audit    *audit.Recorder
	Renderer *web.Renderer
	Log      *slog.Logger
	Now      func() time.Time
	// FanOut, when set, makes wsignout1.0 sign the user out of the
	// session's other applications too (protocol/saml's single logout).
	FanOut signin.LogoutFanOut

	mdOnce sync.Mutex
	md     []byte
	mdAt   time.Time
}

// Path is the passive endpoint.
const Path = "/wsfed"

// Mount registers the routes.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle("GET "+Path, web.NoStore(web.Handle(h.Log, h.serve)))
	mux.Handle("GET "+DefaultScriptPath, AutoPostScript())
	mux.Handle("GET "+MetadataPath, web.Handle(h.Log, h.metadata))
}

// requestError turns a parsing error into the page the user sees: a
// request we cannot trust is answered with an error page, never a
// redirect.
func requestError(err error) error {
	msg := "error.wsfed_invalid"
	switch {
	case errors.Is(err, ErrUnknownRealm):
		msg = "error.wsfed_unknown_app"
	case errors.Is(err, ErrReplyNotAllowed):
		msg = "error.wsfed_reply_not_allowed"
	}
	// The request itself is wrong: only the application can start a
	// good one, so the way forward is not this address again.
	return web.Errorf(http.StatusBadRequest, msg, err).Then(web.NextHome)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	action, err := ParseAction(q)
	if err != nil {
		return requestError(err)
	}
	switch action {
	case ActionSignIn:
		return h.signIn(w, r, q)
	case ActionSignOut, ActionSignOutCleanup:
		return h.signOut(w, r, q)
	}
	return requestError(fmt.Errorf("wsfed: action %q", action))
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, q url.Values) error {
	ctx := r.Context()
	// Only the parameters WS-Fed defines travel with the sign-in (they are
	// kept in its flow until it ends); ParseSignIn has capped each.
	clean := url.Values{}
	for k, v := range q {
		if _, known := ParamLimit(k); known {
			clean[k] = v
		}
	}
	req, err := ParseSignIn(clean, h.Registry)
	if err != nil {
		return requestError(err)
	}
	sreq := signin.Request{App: req.RP.Name, RequireMFA: req.RequireMFA, ForceAuthn: req.ForceAuthn, LoginHint: req.LoginHint,
		ResumeURL: Path + "?" + clean.Encode(), InPlace: true}
	if req.MaxAuthAge != nil {
		sreq.MaxAge = max(*req.MaxAuthAge, time.Second)
	}
	if req.MFAMaxAge != nil {
		sreq.MFAMaxAge = max(*req.MFAMaxAge, time.Second)
	}
	res, err := h.Engine.Authenticate(w, r, sreq)
	if err != nil || res == nil {
		return err
	}
	ip, _ := netip.ParseAddr(observe.ClientIP(ctx))
	claims := h.Policy.Claims(&res.User, assertion.SignIn{AuthInstant: res.AuthTime, AMR: res.Methods, MFA: res.MFA(), ClientIP: ip}, h.Now())
	a, err := IssueAssertion(ctx, h.Builder, req.RP, claims)
	if err != nil {
		if errors.Is(err, ErrDomainNotFederated) {
			return web.Errorf(http.StatusForbidden, "error.wsfed_domain", err)
		}
		return err
	}
	wresult, err := BuildRSTR(a)
	if err != nil {
		return err
	}
	h.Audit.Record(ctx, audit.Event{Type: audit.TokenIssued, UserID: res.User.ID, Login: res.User.UPN, App: req.RP.Name, Result: "ok",
		Detail: map[string]string{"protocol": "wsfed", "assertion": a.ID, "mfa": fmt.Sprint(res.MFA())}})
	// The relying party hears of a sign-out (single logout); one that
	// cannot be recorded costs only that.
	if _, err := h.Sessions.AddParticipant(ctx, res.SessionID, signin.Participant{Protocol: signin.ProtocolWSFed, App: req.RP.Name,
		EntityID: req.RP.Realm, ReplyURL: req.Reply}); err != nil {
		h.Log.WarnContext(ctx, "recording the relying party in the session", "rp", req.RP.Name, "err", err)
	}
	return PostForm{URL: req.Reply, WA: ActionSignIn, WResult: string(wresult), WCtx: req.Context}.Write(w)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, q url.Values) error {
	req, err := ParseSignOut(q, h.Registry)
	if err != nil {
		return requestError(err)
	}
	if h.FanOut != nil {
		return h.signOutEverywhere(w, r, req)
	}
	h.Sessions.SignOut(w, r)
	if req.Reply != "" {
		http.Redirect(w, r, req.Reply, http.StatusFound) // #nosec G710 -- Reply is a registered reply URL of a known RP (ParseSignOut).
		return nil
	}
	p := h.Renderer.NewPage(r, "logout.title", nil)
	p.Notice = p.T("logout.done")
	return h.Renderer.Render(w, "logout", http.StatusOK, p)
}

// signOutEverywhere ends the session and signs the user out of its other
// applications (the relying party that asked is not asked back), then
// goes to the reply URL.
func (h *Handler) signOutEverywhere(w http.ResponseWriter, r *http.Request, req *SignOutRequest) error {
	so := signin.SignOutRequest{Via: "wsfed"}
	if req.RP != nil {
		so.App = req.RP.Name
	}
	ended, _, err := h.Sessions.EndBrowserSession(w, r, so)
	if err != nil {
		return err
	}
	var ps []signin.Participant
	if ended != nil {
		ps = slices.DeleteFunc(ended.Participants, func(p signin.Participant) bool {
			return req.RP != nil && p.Protocol == signin.ProtocolWSFed && p.EntityID == req.RP.Realm
		})
	}
	return h.FanOut.FanOut(w, r, ps, req.Reply)
}

// metadata serves the signed document, rebuilt hourly so its validity
// stays current.
func (h *Handler) metadata(w http.ResponseWriter, _ *http.Request) error {
	h.mdOnce.Lock()
	if h.md == nil || h.Now().Sub(h.mdAt) > time.Hour {
		md, err := BuildMetadata(h.Metadata)
		if err != nil {
			h.mdOnce.Unlock()
			return err
		}
		h.md, h.mdAt = md, h.Now()
	}
	md := h.md
	h.mdOnce.Unlock()
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, err := w.Write(md)
	return err
}
