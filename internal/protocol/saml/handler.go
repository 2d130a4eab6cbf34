package saml

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// SPs finds configured service providers.
type SPs interface {
	ByEntityID(entityID string) (*ServiceProvider, bool)
}

// Responses builds the signed responses the handler posts (Responder).
type Responses interface {
	Response(ctx context.Context, g Grant) ([]byte, NameID, error)
	ErrorResponse(ctx context.Context, sp *ServiceProvider, acs, inResponseTo, status, subStatus, message string) ([]byte, error)
}

// Handler serves /saml/sso: SP-initiated sign-in over HTTP-Redirect and
// HTTP-POST, and IdP-initiated sign-in (?sp=<entity ID>).
type Handler struct {
	Engine *signin.Engine
	// Flows keeps an AuthnRequest that arrived by POST for the GET it is
	// redirected to: a cross-site POST carries no SameSite=Lax cookie, so
	// the session is only seen on that GET. Bounded like sign-in flows.
	Flows store.Flows
	SPs   SPs
	// Parse checks an AuthnRequest of either binding (Parser.AuthnRequest).
	Parse     func(ctx context.Context, r *http.Request) (*AuthnRequest, error)
	Responses Responses
	// IssuerFor is the Issuer of sp's responses for u: "" for the IdP's
	// entity ID, for Entra the user's federated domain's IssuerUri; an
	// error means no token can be issued to the user.
	IssuerFor func(sp *ServiceProvider, u *directory.User) (string, error)
	// Sessions gives each SP its opaque SessionIndex of the session and
	// records the SP as a participant, for single logout.
	Sessions *signin.Sessions
	// Catalog words the auto-POST page in the request's language.
	Catalog *web.Catalog
	Audit   *audit.Recorder
	Log     *slog.Logger
	Now     func() time.Time
	// PendingFor is how long a POSTed request waits for its GET. Zero:
	// five minutes.
	PendingFor time.Duration
}

// Query parameters of Gatehouse's own making on /saml/sso.
const (
	paramPending = "gh_req"    // a POSTed AuthnRequest, kept in Flows
	paramResume  = "gh_resume" // a finished sign-in flow comes back
	paramSP      = "sp"        // IdP-initiated: the SP's entity ID
	flowPending  = "saml.pending"
	// MaxRelayState caps RelayState. The spec says 80 bytes; real SPs send
	// more (a return URL), so allow a sensible URL's worth.
	MaxRelayState = 1024
)

// pending is one AuthnRequest (or IdP-initiated sign-in) on its way
// through the sign-in engine; it travels in the flow's State.
type pending struct {
	SP           string   `json:"sp"`
	ID           string   `json:"id,omitempty"`
	ACS          string   `json:"acs"`
	RelayState   string   `json:"rs,omitempty"`
	Force        bool     `json:"force,omitempty"`
	Passive      bool     `json:"passive,omitempty"`
	Classes      []string `json:"classes,omitempty"`
	Comparison   string   `json:"cmp,omitempty"`
	NameIDFormat string   `json:"nameid,omitempty"`
	// Subject is the NameID the request is about, when it names one.
	Subject NameID `json:"subject,omitzero"`
}

// Mount registers /saml/sso.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle("GET "+PathSSO, web.NoStore(web.Handle(h.Log, h.get)))
	mux.Handle("POST "+PathSSO, web.NoStore(web.Handle(h.Log, h.postRequest)))
}

// requestError is the page for a request the SP cannot be answered about:
// an unknown SP, an unlisted ACS, a bad signature, a replay.
func requestError(err error) error {
	msg := "error.saml_invalid"
	switch {
	case errors.Is(err, ErrUnknownSP):
		msg = "error.saml_unknown_app"
	case errors.Is(err, ErrACSNotAllowed):
		msg = "error.saml_acs_not_allowed"
	case errors.Is(err, ErrSignature):
		msg = "error.saml_signature"
	case errors.Is(err, ErrReplay), errors.Is(err, ErrStale):
		msg = "error.saml_stale"
	case errors.Is(err, ErrTooLarge):
		return web.Errorf(http.StatusRequestEntityTooLarge, "error.saml_invalid", err).Then(web.NextHome)
	}
	// Only the application can start a good request again.
	return web.Errorf(http.StatusBadRequest, msg, err).Then(web.NextHome)
}

// refuse answers a request the parser refused: with a SAML status when the
// request is good enough to answer (its SP and ACS known, its signature
// checked) and only asks for what Gatehouse does not do, else with an
// error page.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, ar *AuthnRequest, err error) error {
	if ar != nil && ar.SP != nil && ar.ACS != "" {
		switch {
		case errors.Is(err, ErrUnsupportedBinding):
			return h.status(w, r, ar.SP, fromRequest(ar), StatusRequester, StatusUnsupportedBinding, err)
		case errors.Is(err, ErrNoAuthnContext):
			return h.status(w, r, ar.SP, fromRequest(ar), StatusRequester, StatusNoAuthnContext, err)
		}
	}
	return requestError(err)
}

func fromRequest(ar *AuthnRequest) pending {
	return pending{SP: ar.SP.EntityID, ID: ar.ID, ACS: ar.ACS, RelayState: ar.RelayState, Force: ar.ForceAuthn, Passive: ar.IsPassive,
		Classes: ar.RequestedClasses, Comparison: ar.Comparison, NameIDFormat: ar.NameIDFormat, Subject: ar.Subject}
}

// loginHint is what a request's Subject tells the sign-in page: a NameID
// that is a user name (email or unspecified format), not an opaque id.
func (p pending) loginHint() string {
	switch p.Subject.Format {
	case "", NameIDEmail, NameIDUnspecified:
		if strings.Contains(p.Subject.Value, "@") || strings.Contains(p.Subject.Value, "\\") {
			return p.Subject.Value
		}
	}
	return ""
}

// postRequest takes an AuthnRequest over HTTP-POST: checked here, then kept for
// the GET the browser is sent to, where its session cookie is seen.
func (h *Handler) postRequest(w http.ResponseWriter, r *http.Request) error {
	ar, err := h.Parse(r.Context(), r)
	if err != nil {
		return h.refuse(w, r, ar, err)
	}
	id, err := signin.KeepPending(r.Context(), h.Flows, flowPending, fromRequest(ar), h.Now(), h.PendingFor)
	if err != nil {
		return err
	}
	http.Redirect(w, r, PathSSO+"?"+paramPending+"="+id, http.StatusSeeOther)
	return nil
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	switch {
	case q.Has("SAMLRequest"):
		ar, err := h.Parse(r.Context(), r)
		if err != nil {
			return h.refuse(w, r, ar, err)
		}
		return h.run(w, r, fromRequest(ar))
	case q.Has(paramPending):
		return h.runPending(w, r, q.Get(paramPending))
	case q.Has(paramResume):
		return h.resume(w, r, q)
	case q.Has(paramSP):
		return h.idpInitiated(w, r, q)
	}
	return requestError(fmt.Errorf("%w: no SAMLRequest", ErrMalformed))
}

// runPending continues a POSTed request; it is used up here, so a reload
// of the address asks the application to start again.
func (h *Handler) runPending(w http.ResponseWriter, r *http.Request, id string) error {
	var p pending
	err := signin.TakePending(r.Context(), h.Flows, flowPending, id, h.Now(), &p)
	if errors.Is(err, signin.ErrPendingGone) {
		return requestError(fmt.Errorf("%w: the request %q is gone", ErrStale, truncate(id, 64)))
	}
	if err != nil {
		return err
	}
	return h.run(w, r, p)
}

// idpInitiated signs the user in to an SP that allows unsolicited
// responses: its default ACS, no InResponseTo.
func (h *Handler) idpInitiated(w http.ResponseWriter, r *http.Request, q url.Values) error {
	sp, ok := h.SPs.ByEntityID(q.Get(paramSP))
	if !ok {
		return requestError(fmt.Errorf("%w: %q", ErrUnknownSP, truncate(q.Get(paramSP), 256)))
	}
	if !sp.IDPInitiated {
		return web.Errorf(http.StatusForbidden, "error.saml_idp_initiated", fmt.Errorf("saml: %s does not take IdP-initiated sign-in", sp.Name)).Then(web.NextHome)
	}
	rs := q.Get("RelayState")
	if len(rs) > MaxRelayState {
		return requestError(fmt.Errorf("%w: RelayState of %d bytes", ErrTooLarge, len(rs)))
	}
	acs := DefaultACS(sp)
	if acs == "" {
		return requestError(fmt.Errorf("%w: %s has no ACS", ErrACSNotAllowed, sp.Name))
	}
	return h.run(w, r, pending{SP: sp.EntityID, ACS: acs, RelayState: rs})
}

// DefaultACS is the SP's default AssertionConsumerService: the one marked
// isDefault, else the first.
func DefaultACS(sp *ServiceProvider) string {
	for _, e := range sp.ACS {
		if e.IsDefault {
			return e.Location
		}
	}
	if len(sp.ACS) == 0 {
		return ""
	}
	return sp.ACS[0].Location
}

// signinRequest is what the engine is asked for p; resume marks the
// request that comes back from a finished flow.
func signinRequest(sp *ServiceProvider, d Demands, p pending, state []byte) signin.Request {
	q := url.Values{paramResume: {sp.Name}}
	if d.MFA {
		q.Set("mfa", "1")
	}
	if p.Force {
		q.Set("force", "1")
	}
	return signin.Request{App: sp.Name, RequireMFA: d.MFA, ForceAuthn: p.Force, Passive: p.Passive, State: state,
		LoginHint: p.loginHint(), ResumeURL: PathSSO + "?" + q.Encode(), InPlace: true}
}

func (h *Handler) run(w http.ResponseWriter, r *http.Request, p pending) error {
	sp, ok := h.SPs.ByEntityID(p.SP)
	if !ok {
		return requestError(fmt.Errorf("%w: %q", ErrUnknownSP, p.SP))
	}
	d := DemandsOf(p.Classes, p.Comparison)
	if !d.Satisfiable {
		return h.status(w, r, sp, p, StatusRequester, StatusNoAuthnContext, fmt.Errorf("saml: %s asked for %v (%s)", sp.Name, p.Classes, d.Comparison))
	}
	state, err := json.Marshal(p)
	if err != nil {
		return err
	}
	res, err := h.Engine.Authenticate(w, r, signinRequest(sp, d, p, state))
	if errors.Is(err, signin.ErrInteractionRequired) {
		return h.status(w, r, sp, p, StatusResponder, StatusNoPassive, err)
	}
	var refused web.HTTPError
	if p.Passive && errors.As(err, &refused) && refused.Code == http.StatusForbidden {
		// A passive request shows no page, not even a refusal.
		return h.status(w, r, sp, p, StatusResponder, StatusRequestDenied, err)
	}
	if err != nil || res == nil {
		return err
	}
	return h.issue(w, r, sp, d, p, res)
}

// resume answers the request a finished sign-in flow was for. Only the
// engine comes here with one (the flow's ResumeURL, called in place): the
// request is passive, so an address typed or replayed without a finished
// flow starts nothing, and a live session alone carries no saved request.
func (h *Handler) resume(w http.ResponseWriter, r *http.Request, q url.Values) error {
	res, err := h.Engine.Authenticate(w, r, signin.Request{App: q.Get(paramResume), RequireMFA: q.Get("mfa") == "1",
		ForceAuthn: q.Get("force") == "1", Passive: true, InPlace: true})
	if err != nil && !errors.Is(err, signin.ErrInteractionRequired) {
		return err
	}
	var p pending
	if res == nil || len(res.State) == 0 || json.Unmarshal(res.State, &p) != nil {
		return requestError(fmt.Errorf("%w: no sign-in to resume", ErrStale))
	}
	sp, ok := h.SPs.ByEntityID(p.SP)
	if !ok || sp.Name != q.Get(paramResume) {
		return requestError(fmt.Errorf("%w: %q", ErrUnknownSP, p.SP))
	}
	return h.issue(w, r, sp, DemandsOf(p.Classes, p.Comparison), p, res)
}

func (h *Handler) issue(w http.ResponseWriter, r *http.Request, sp *ServiceProvider, d Demands, p pending, res *signin.Result) error {
	ctx := r.Context()
	issuer, err := h.IssuerFor(sp, &res.User)
	if err != nil {
		h.Log.WarnContext(ctx, "saml: no issuer for the user", "app", sp.Name, "user", res.User.ID, "err", err)
		return h.status(w, r, sp, p, StatusResponder, StatusRequestDenied, err)
	}
	sessionIndex, err := h.Sessions.SessionIndex(ctx, res.SessionID, sp.EntityID)
	if err != nil {
		return err
	}
	xml, nameID, err := h.Responses.Response(ctx, Grant{SP: sp, ACS: p.ACS, InResponseTo: p.ID, Issuer: issuer, User: &res.User,
		AuthInstant: res.AuthTime, MFA: res.MFA(), SessionIndex: sessionIndex, Demands: d, NameIDFormat: p.NameIDFormat})
	switch {
	case errors.Is(err, ErrInvalidNameIDPolicy):
		return h.status(w, r, sp, p, StatusRequester, StatusInvalidNameIDPolicy, err)
	case errors.Is(err, ErrNoSubjectValue):
		h.Log.WarnContext(ctx, "saml: the user has no value for the SP's NameID or a required attribute", "app", sp.Name, "user", res.User.ID, "err", err)
		return h.status(w, r, sp, p, StatusResponder, "", err)
	case err != nil:
		return err
	}
	if p.Subject.Value != "" && !subjectIs(p.Subject, nameID, &res.User) {
		// The request is about someone else than who is signed in here.
		return h.status(w, r, sp, p, StatusRequester, StatusUnknownPrincipal,
			fmt.Errorf("saml: %s asked about another subject than %s", sp.Name, res.User.ID))
	}
	if _, err := h.Sessions.AddParticipant(ctx, res.SessionID, signin.Participant{Protocol: signin.ProtocolSAML, App: sp.Name,
		EntityID: sp.EntityID, NameID: nameID.Value, NameIDFormat: nameID.Format, SPNameQualifier: nameID.SPNameQualifier,
		SessionIndex: sessionIndex}); err != nil {
		// Single logout will miss this SP; the sign-in itself stands.
		h.Log.WarnContext(ctx, "saml: could not record the SP for single logout", "app", sp.Name, "err", err)
	}
	h.Audit.Record(ctx, audit.Event{Type: audit.TokenIssued, UserID: res.User.ID, Login: res.User.UPN, App: sp.Name, Result: "ok",
		Detail: map[string]string{"protocol": "saml", "response": responseID(xml), "in_response_to": p.ID, "mfa": fmt.Sprint(res.MFA())}})
	return h.post(w, r, p.ACS, xml, p.RelayState)
}

// post writes the page that carries a Response to the ACS.
func (h *Handler) post(w http.ResponseWriter, r *http.Request, acs string, response []byte, relayState string) error {
	return PostForm{URL: acs, SAMLResponse: response, RelayState: relayState}.Localize(h.Catalog, r).Write(w)
}

// status answers the SP with a SAML status instead of an assertion (the
// request was good, the answer is no).
func (h *Handler) status(w http.ResponseWriter, r *http.Request, sp *ServiceProvider, p pending, status, sub string, cause error) error {
	ctx := r.Context()
	h.Log.InfoContext(ctx, "saml: answering with a status", "app", sp.Name, "status", status, "sub_status", sub, "reason", cause)
	xml, err := h.Responses.ErrorResponse(ctx, sp, p.ACS, p.ID, status, sub, "")
	if err != nil {
		return err
	}
	return h.post(w, r, p.ACS, xml, p.RelayState)
}

// subjectIs reports whether a request's Subject names the user the
// assertion is about: its NameID as issued, or — for a user-name Subject
// (email or unspecified format) — one of the user's names.
func subjectIs(subject, issued NameID, u *directory.User) bool {
	if strings.EqualFold(subject.Value, issued.Value) {
		return true
	}
	var names []string
	switch subject.Format {
	case "", NameIDUnspecified:
		names = []string{u.UPN, u.Mail, u.SAMAccountName}
	case NameIDEmail:
		names = []string{u.Mail, u.UPN}
	}
	for _, n := range names {
		if n != "" && strings.EqualFold(subject.Value, n) {
			return true
		}
	}
	return false
}

// responseID is the ID of a Response Gatehouse built: the ID attribute of
// its root element (the assertion inside may be encrypted), for the audit.
func responseID(xml []byte) string {
	end := bytes.IndexByte(xml, '>')
	if end < 0 {
		return ""
	}
	head := xml[:end]
	i := bytes.Index(head, []byte(` ID="`))
	if i < 0 {
		return ""
	}
	id := head[i+len(` ID="`):]
	if j := bytes.IndexByte(id, '"'); j >= 0 {
		return string(id[:j])
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
