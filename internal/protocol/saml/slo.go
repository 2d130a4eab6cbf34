package saml

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// DefaultFanOutWait is how long the sign-out page waits for the other
// applications' sign-out pages before it moves on.
const DefaultFanOutWait = 5 * time.Second

// logoutRequestLifetime is the NotOnOrAfter of the LogoutRequests
// Gatehouse sends, from their IssueInstant.
const logoutRequestLifetime = 5 * time.Minute

// maxSLOBody caps a POSTed message (and so the form the re-post repeats).
const maxSLOBody = 256 << 10

// repostField marks the form the SLO endpoint posts to itself, so it does
// so once.
const repostField = "gh_slo_repost"

// SLO is single logout: the /saml/slo endpoint (LogoutRequests and
// LogoutResponses from SPs over HTTP-Redirect and HTTP-POST) and the
// fan-out that tells a session's other applications — SAML SPs with a
// signed LogoutRequest, WS-Fed relying parties with wsignoutcleanup1.0 —
// in hidden iframes of one page, which then moves on.
//
// The Gatehouse session always ends first, so it ends even when an
// application never answers. Whether an application really signed the
// user out cannot be seen from the page (its frame's content is another
// origin's), so an SP that asked is told Success unless Gatehouse knows
// an application could not be asked at all (no longer configured, or
// without a SingleLogoutService): then it is told Success with the
// second-level status PartialLogout.
type SLO struct {
	// EntityID is Gatehouse's entity ID, the Issuer of every message.
	EntityID string
	// Outbound signs the messages (the current key).
	Outbound Outbound
	// LookupSP returns a configured SAML SP by entity ID (registry.go).
	LookupSP func(entityID string) (*ServiceProvider, bool)
	// LookupRP returns a configured WS-Fed relying party by realm; nil
	// when WS-Federation is not served.
	LookupRP func(realm string) (*wsfed.RelyingParty, bool)
	// ParseLogoutRequest reads and checks a LogoutRequest from an SP: the
	// SP known, its signature verified when present or required
	// (binding.go, logoutin.go).
	ParseLogoutRequest func(ctx context.Context, r *http.Request) (*LogoutRequest, error)
	// ParseLogoutResponse reads and checks a LogoutResponse from an SP.
	ParseLogoutResponse func(ctx context.Context, r *http.Request) (*LogoutResponse, error)
	Sessions            *signin.Sessions
	Renderer            *web.Renderer
	// Log is required.
	Log *slog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Wait bounds how long the fan-out page waits. Zero: DefaultFanOutWait.
	Wait time.Duration
}

// Mount registers /saml/slo. It takes no CSRF token: its messages come
// from SPs, and a request is acted on only when signed or when it names
// the browser's own session (see serveRequest).
func (s *SLO) Mount(mux *http.ServeMux) {
	h := web.NoStore(web.Handle(s.Log, s.serve))
	mux.Handle("GET "+PathSLO, h)
	mux.Handle("POST "+PathSLO, h)
}

func (s *SLO) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// sloError is the page for a message that cannot be answered: one we
// cannot trust gets no redirect or post anywhere.
func sloError(err error) error {
	code := http.StatusBadRequest
	if errors.Is(err, ErrTooLarge) {
		code = http.StatusRequestEntityTooLarge
	}
	return web.Errorf(code, "error.saml_logout_invalid", err).Then(web.NextHome)
}

func (s *SLO) serve(w http.ResponseWriter, r *http.Request) error {
	var form url.Values
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxSLOBody)
		if err := r.ParseForm(); err != nil {
			return sloError(fmt.Errorf("%w: %w", ErrTooLarge, err))
		}
		form = r.PostForm
	} else {
		form = r.URL.Query()
	}
	switch {
	case form.Has(ParamRequest) && form.Has(ParamResponse):
		return sloError(fmt.Errorf("%w: both a request and a response", ErrMalformed))
	case form.Has(ParamRequest):
		if r.Method == http.MethodPost && !s.Sessions.HasSessionCookie(r) && form.Get(repostField) == "" {
			return s.repost(w, r, form)
		}
		return s.serveRequest(w, r)
	case form.Has(ParamResponse):
		return s.serveResponse(w, r)
	}
	return sloError(fmt.Errorf("%w: neither %s nor %s", ErrMalformed, ParamRequest, ParamResponse))
}

// repost answers a LogoutRequest POSTed without the session cookie: a
// cross-site POST from the SP's page, which the SameSite=Lax cookie does
// not travel with. The page posts the same fields to this endpoint from
// this origin, with the cookie; the request is read only then, once.
func (s *SLO) repost(w http.ResponseWriter, r *http.Request, form url.Values) error {
	fields := []Field{{ParamRequest, form.Get(ParamRequest)}}
	if rs := form.Get(ParamRelayState); rs != "" {
		fields = append(fields, Field{ParamRelayState, rs})
	}
	fields = append(fields, Field{repostField, "1"})
	return s.render(w, r, &fanOutPage{Repost: true, Finish: &fanOutFinish{Action: PathSLO, Fields: fields}})
}

// serveRequest answers a LogoutRequest from an SP. The session it names
// ends first: the browser's own when one of its participants is that SP
// with that NameID (and SessionIndex), else — for a signed request — the
// session its SessionIndex leads to. An unsigned request is acted on only
// when it names the browser's own session by NameID and SessionIndex, so
// a forged one can at most sign out a user whose SessionIndex it knows,
// never another session. Entra's sign-out is the exception: it is
// unsigned and names no SessionIndex, so its NameID (the ImmutableID
// Entra was given in this browser's session) is enough when it comes over
// HTTP-Redirect, as Entra sends it: like WS-Fed's wsignout1.0 it can then
// at most sign this browser out, and only by navigating it here (a
// cross-site POST, which another site's page can send unseen, is not
// taken). Then the ended session's other participants are
// told, and the SP gets its LogoutResponse.
func (s *SLO) serveRequest(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	lr, err := s.ParseLogoutRequest(ctx, r)
	if err != nil {
		return sloError(err)
	}
	if lr == nil || lr.SP == nil {
		return sloError(fmt.Errorf("%w: the parser returned no request", ErrMalformed))
	}
	sp := lr.SP
	m := signin.LogoutMatch{EntityID: sp.EntityID, NameID: lr.NameID.Value, NameIDFormat: lr.NameID.Format,
		SPNameQualifier: lr.NameID.SPNameQualifier, SessionIndexes: lr.SessionIndexes}
	act := m
	if !lr.Signed && len(lr.SessionIndexes) == 0 && (!sp.Entra || lr.Binding != BindingRedirect) {
		act.NameID = "" // matches nothing: an unsigned request must name the session
	}
	req := signin.SignOutRequest{Match: &act, App: sp.Name, Via: "saml"}
	status := StatusSuccess
	ended, live, err := s.Sessions.EndBrowserSession(w, r, req)
	var sessions []signin.EndedSession
	switch {
	case err != nil:
		s.Log.ErrorContext(ctx, "single logout: ending the browser's session", "rp", sp.Name, "err", err)
		status = StatusResponder
	case ended != nil:
		sessions = append(sessions, *ended)
	case lr.Signed && len(lr.SessionIndexes) > 0:
		more, err := s.Sessions.EndBySessionIndex(ctx, m, req)
		if err != nil {
			s.Log.ErrorContext(ctx, "single logout: ending a session by SessionIndex", "rp", sp.Name, "err", err)
			status = StatusResponder
		}
		sessions = append(sessions, more...)
	}
	var ps []signin.Participant
	for _, e := range sessions {
		ps = append(ps, e.Participants...)
	}
	// The SP that asked is not asked back.
	ps = slices.DeleteFunc(ps, func(p signin.Participant) bool { return p.Protocol == signin.ProtocolSAML && p.EntityID == sp.EntityID })
	frames, unreachable := s.frames(ctx, ps)
	sub := ""
	if status == StatusSuccess && (unreachable > 0 || (len(sessions) == 0 && live)) {
		// Some application cannot be told, or this browser's session
		// (someone else's, or not the one named) goes on.
		sub = StatusPartialLogout
	}
	s.Log.InfoContext(ctx, "single logout request", "rp", sp.Name, "signed", lr.Signed, "ended", len(sessions),
		"participants", len(frames), "unreachable", unreachable, "status", status, "sub_status", sub)
	finish, err := s.respond(ctx, sp, lr, status, sub)
	if err != nil {
		return err
	}
	return s.render(w, r, &fanOutPage{Frames: frames, Finish: finish})
}

// respond builds the signed LogoutResponse to sp over the binding the
// request came by when the SP has an endpoint for it, else its first
// SingleLogoutService. An SP without one cannot be answered: the user
// then stays on Gatehouse's signed-out page (nil).
func (s *SLO) respond(ctx context.Context, sp *ServiceProvider, lr *LogoutRequest, status, sub string) (*fanOutFinish, error) {
	ep, ok := sloEndpoint(sp, lr.Binding)
	if !ok {
		return nil, nil
	}
	loc := ep.Location
	if ep.ResponseLocation != "" {
		loc = ep.ResponseLocation
	}
	el, err := NewLogoutResponse(LogoutResponseParams{IssueInstant: s.now(), InResponseTo: lr.ID, Issuer: s.EntityID,
		Destination: loc, Status: status, SubStatus: sub})
	if err != nil {
		return nil, err
	}
	msg, err := s.Outbound.Send(ctx, el, ep.Binding, loc, lr.RelayState)
	if err != nil {
		return nil, err
	}
	return finishOf(msg), nil
}

func finishOf(m Outgoing) *fanOutFinish {
	if m.Binding == BindingRedirect {
		return &fanOutFinish{URL: m.URL}
	}
	return &fanOutFinish{Action: m.URL, Fields: m.Fields}
}

// sloEndpoint picks an SP's SingleLogoutService: one with binding prefer
// (the binding its request came by), else HTTP-Redirect (which reaches
// the SP even without scripts), else HTTP-POST.
func sloEndpoint(sp *ServiceProvider, prefer string) (Endpoint, bool) {
	for _, b := range []string{prefer, BindingRedirect, BindingPOST} {
		for _, ep := range sp.SLO {
			if b != "" && ep.Binding == b && ep.Location != "" {
				return ep, true
			}
		}
	}
	return Endpoint{}, false
}

// serveResponse accepts a LogoutResponse from an SP Gatehouse sent a
// LogoutRequest to, usually inside the fan-out page's frame: the session
// has ended already, so the answer is only logged, and the page may be
// framed by Gatehouse's own.
func (s *SLO) serveResponse(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.ParseLogoutResponse(r.Context(), r)
	if err != nil {
		return sloError(err)
	}
	if resp != nil && resp.SP != nil {
		level := slog.LevelInfo
		if resp.Status != StatusSuccess {
			level = slog.LevelWarn
		}
		s.Log.Log(r.Context(), level, "single logout response", "rp", resp.SP.Name, "status", resp.Status, "in_response_to", resp.InResponseTo)
	}
	h := w.Header()
	if err := web.WidenCSP(h, "frame-ancestors", "'self'"); err != nil {
		return err
	}
	h.Set("X-Frame-Options", "SAMEORIGIN")
	p := s.Renderer.NewPage(r, "logout.title", nil)
	p.Notice = p.T("logout.done")
	return s.Renderer.Render(w, "logout", http.StatusOK, p)
}

// FanOut tells participants (those of a session that has just ended) that
// the user signed out, then sends the browser to done: Gatehouse's own
// /logout calls it with done "" (the page then says the user is signed
// out) and WS-Fed's wsignout1.0 with the relying party's checked reply
// URL. done must be empty, a local path, or an absolute URL from
// configuration. Without participants it redirects at once.
func (s *SLO) FanOut(w http.ResponseWriter, r *http.Request, participants []signin.Participant, done string) error {
	var finish *fanOutFinish
	if done != "" {
		if _, ok := web.Origin(done); !ok && !web.IsLocalPath(done) {
			return fmt.Errorf("saml: sign-out: %q is not a place to go to after signing out", done)
		}
		finish = &fanOutFinish{URL: done}
	}
	frames, unreachable := s.frames(r.Context(), participants)
	s.Log.InfoContext(r.Context(), "single logout", "participants", len(frames), "unreachable", unreachable)
	return s.render(w, r, &fanOutPage{Frames: frames, Finish: finish})
}

// fanOutPage is what logout_fanout.html shows.
type fanOutPage struct {
	Frames []fanOutFrame
	// Finish is where the browser goes once the frames have loaded or
	// WaitMS has passed; nil: it stays, and the page says the user is
	// signed out.
	Finish *fanOutFinish
	// WaitMS is the longest the page waits for the frames.
	WaitMS int64
	// Repost: the page posts a LogoutRequest to /saml/slo again, from
	// Gatehouse's own origin.
	Repost bool
}

// fanOutFrame is one application told in a hidden iframe: a GET of Src,
// or a POST of Fields to Action in the frame named Name.
type fanOutFrame struct {
	Name, App string
	Src       string
	Action    string
	Fields    []Field
}

// URL is where the frame's request goes.
func (f fanOutFrame) URL() string {
	if f.Src != "" {
		return f.Src
	}
	return f.Action
}

// fanOutFinish is the last step: a GET of URL, or a POST of Fields to
// Action.
type fanOutFinish struct {
	URL    string
	Action string
	Fields []Field
}

// frames builds a frame per application in ps, newest record per
// application: a signed LogoutRequest to a SAML SP's SingleLogoutService,
// wsignoutcleanup1.0 to a WS-Fed relying party's reply URL. Every URL
// comes from the configuration (the SP's metadata, the RP's reply URLs),
// never from the session. unreachable counts the applications that
// cannot be told.
func (s *SLO) frames(ctx context.Context, ps []signin.Participant) (frames []fanOutFrame, unreachable int) {
	type app struct{ protocol, entityID string }
	latest := map[app]int{}
	var order []app
	for i, p := range ps {
		a := app{p.Protocol, p.EntityID}
		if _, seen := latest[a]; !seen {
			order = append(order, a)
		}
		latest[a] = i
	}
	for _, a := range order {
		p := ps[latest[a]]
		f, ok := s.frame(ctx, p, len(frames))
		if !ok {
			unreachable++
			s.Log.WarnContext(ctx, "single logout: an application cannot be told", "rp", p.App, "protocol", p.Protocol)
			continue
		}
		frames = append(frames, f)
	}
	return frames, unreachable
}

func (s *SLO) frame(ctx context.Context, p signin.Participant, n int) (fanOutFrame, bool) {
	name := fmt.Sprintf("gh-slo-%d", n)
	switch p.Protocol {
	case signin.ProtocolSAML:
		if s.LookupSP == nil {
			return fanOutFrame{}, false
		}
		sp, ok := s.LookupSP(p.EntityID)
		if !ok {
			return fanOutFrame{}, false
		}
		ep, ok := sloEndpoint(sp, "")
		if !ok {
			return fanOutFrame{}, false
		}
		var indexes []string
		if p.SessionIndex != "" {
			indexes = []string{p.SessionIndex}
		}
		now := s.now()
		el, err := NewLogoutRequest(LogoutRequestParams{IssueInstant: now, Issuer: s.EntityID, Destination: ep.Location,
			NameID:         NameID{Format: p.NameIDFormat, Value: p.NameID, SPNameQualifier: p.SPNameQualifier},
			SessionIndexes: indexes, NotOnOrAfter: now.Add(logoutRequestLifetime)})
		if err != nil {
			s.Log.ErrorContext(ctx, "single logout: building a logout request", "rp", sp.Name, "err", err)
			return fanOutFrame{}, false
		}
		msg, err := s.Outbound.Send(ctx, el, ep.Binding, ep.Location, "")
		if err != nil {
			s.Log.ErrorContext(ctx, "single logout: signing a logout request", "rp", sp.Name, "err", err)
			return fanOutFrame{}, false
		}
		f := fanOutFrame{Name: name, App: sp.Name}
		if msg.Binding == BindingRedirect {
			f.Src = msg.URL
		} else {
			f.Action, f.Fields = msg.URL, msg.Fields
		}
		return f, true
	case signin.ProtocolWSFed:
		if s.LookupRP == nil {
			return fanOutFrame{}, false
		}
		rp, ok := s.LookupRP(p.EntityID)
		if !ok || len(rp.ReplyURLs) == 0 {
			return fanOutFrame{}, false
		}
		reply := rp.ReplyURLs[0]
		if rp.AllowsReply(p.ReplyURL) {
			reply = p.ReplyURL
		}
		sep := "?"
		if strings.Contains(reply, "?") {
			sep = "&"
		}
		return fanOutFrame{Name: name, App: rp.Name, Src: reply + sep + "wa=" + string(wsfed.ActionSignOutCleanup)}, true
	}
	return fanOutFrame{}, false
}

// render writes the fan-out page with a Content-Security-Policy widened
// for exactly what it needs: frame-src for the frames' origins and
// Gatehouse's own (an SP's LogoutResponse comes back to /saml/slo inside
// its frame), form-action for the origins its forms post to. Without
// frames and with a GET to finish on, it redirects instead.
func (s *SLO) render(w http.ResponseWriter, r *http.Request, page *fanOutPage) error {
	if len(page.Frames) == 0 && page.Finish != nil && page.Finish.URL != "" {
		http.Redirect(w, r, page.Finish.URL, http.StatusSeeOther) // #nosec G710 -- from the SP's metadata, a RP's reply URLs or a checked caller's.
		return nil
	}
	if len(page.Frames) == 0 && page.Finish == nil {
		p := s.Renderer.NewPage(r, "logout.title", nil)
		p.Notice = p.T("logout.done")
		return s.Renderer.Render(w, "logout", http.StatusOK, p)
	}
	wait := s.Wait
	if wait <= 0 {
		wait = DefaultFanOutWait
	}
	page.WaitMS = wait.Milliseconds()
	var frameSrc, formAction []string
	for _, f := range page.Frames {
		o, ok := web.Origin(f.URL())
		if !ok {
			return fmt.Errorf("saml: sign-out frame URL %q has no origin", f.URL())
		}
		if !slices.Contains(frameSrc, o) {
			frameSrc = append(frameSrc, o)
		}
		if f.Action != "" && !slices.Contains(formAction, o) {
			formAction = append(formAction, o)
		}
	}
	if page.Finish != nil && page.Finish.Action != "" && !web.IsLocalPath(page.Finish.Action) {
		o, ok := web.Origin(page.Finish.Action)
		if !ok {
			return fmt.Errorf("saml: sign-out form action %q has no origin", page.Finish.Action)
		}
		if !slices.Contains(formAction, o) {
			formAction = append(formAction, o)
		}
	}
	h := w.Header()
	if len(frameSrc) > 0 {
		if err := web.WidenCSP(h, "frame-src", append([]string{"'self'"}, frameSrc...)...); err != nil {
			return err
		}
	}
	if len(formAction) > 0 {
		if err := web.WidenCSP(h, "form-action", formAction...); err != nil {
			return err
		}
	}
	title := "logout.title"
	if page.Repost {
		title = "logout.signing_out"
	}
	return s.Renderer.Render(w, "logout_fanout", http.StatusOK, s.Renderer.NewPage(r, title, page))
}
