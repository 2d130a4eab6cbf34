package signin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/abuse"
	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/password"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/secrets"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Options are the engine's collaborators: each part of the configuration
// and of the store it uses, no more.
type Options struct {
	// Issuer is the public base URL.
	Issuer string
	// FlowTimeout bounds one flow (sessions.flow_timeout).
	FlowTimeout time.Duration
	// Passwordless offers "sign in with a passkey" (mfa.passwordless).
	Passwordless bool
	// Policy decides what each user must prove (internal/policy).
	Policy    policy.Settings
	Directory directory.Directory
	Flows     store.Flows
	// Throttle keeps the counters of the limits the engine applies itself
	// (strength checks, recovery starts).
	Throttle store.Throttle
	// Sessions issues and reads the browser sessions the flows end in.
	Sessions *Sessions
	// Guard decides whether a password attempt may reach the directory
	// (and checks it there).
	Guard    *abuse.Guard
	Secrets  *secrets.Box
	Renderer *web.Renderer
	CSRF     *web.CSRF
	Audit    *audit.Recorder
	Logger   *slog.Logger
	Now      func() time.Time
	// Factors provides second factors; nil means none are available.
	Factors Factors
	// Passwords judges new passwords beyond the directory's policy; nil
	// adds no checks.
	Passwords *password.Checker
}

// Engine runs the flows — sign-in, and reset and unlock (recover.go) — on
// the same steps: identify, password, second factor, enrolment, new
// password. Sessions (Sessions), factor checks (Factors), limits (abuse)
// and the policy live in their own parts; the engine asks them.
type Engine struct {
	issuer         string
	flowTimeout    time.Duration
	passwordlessOn bool
	dir            directory.Directory
	flows          store.Flows
	throttle       store.Throttle
	sessions       *Sessions
	box            *secrets.Box
	render         *web.Renderer
	csrf           *web.CSRF
	audit          *audit.Recorder
	log            *slog.Logger
	now            func() time.Time
	factors        Factors
	cookies
	delay   *delayer
	guard   *abuse.Guard
	pwcheck *password.Checker
	pol     policy.Settings
	// resumeTo answers an InPlace request's finished flow (SetResumeHandler).
	resumeTo http.Handler
	// fanOut tells a signed-out session's applications (SetLogoutFanOut).
	fanOut LogoutFanOut
	// padWait, when set before MountRecovery, waits out the recovery
	// steps' padding instead of sleeping: tests see the targets.
	padWait func(ctx context.Context, start time.Time, target time.Duration)
}

// SetResumeHandler gives the engine the handler that serves the protocol
// endpoints (the app's mux, without its middleware): a flow for an InPlace
// request ends by calling it with the finished sign-in instead of
// redirecting the browser to it. Without one, every flow ends in a redirect.
func (e *Engine) SetResumeHandler(h http.Handler) { e.resumeTo = h }

// New builds the engine.
func New(o Options) *Engine {
	u, _ := url.Parse(o.Issuer)
	e := &Engine{
		issuer: o.Issuer, flowTimeout: o.FlowTimeout, passwordlessOn: o.Passwordless, pol: o.Policy,
		dir: o.Directory, flows: o.Flows, throttle: o.Throttle, sessions: o.Sessions, guard: o.Guard,
		box: o.Secrets, render: o.Renderer, csrf: o.CSRF, audit: o.Audit, log: o.Logger, now: o.Now, factors: o.Factors,
		pwcheck: o.Passwords, cookies: cookies{secure: u != nil && u.Scheme == "https"}, delay: newDelayer(),
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// Issuer is the configured public URL.
func (e *Engine) Issuer() string { return e.issuer }

// Mount registers the sign-in pages.
func (e *Engine) Mount(mux *http.ServeMux) {
	page := func(h web.ReturnHandler) http.Handler { return web.NoStore(e.csrf.Protect(web.Handle(e.log, h))) }
	mux.Handle("GET /login", page(e.getLogin))
	mux.Handle("POST /login", page(e.postLogin))
	mux.Handle("POST /logout", page(e.postLogout))
	mux.Handle("GET /logout", page(e.getLogout))
	mux.Handle("GET /{$}", page(e.home))
	mux.Handle("POST /password/strength", web.NoStore(e.csrf.Protect(http.HandlerFunc(e.postStrength))))
}

func (e *Engine) bindCookie() string { return e.cookieName("gh_bind") }

// ensureBinding returns the browser's binding cookie value, setting one.
func (e *Engine) ensureBinding(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(e.bindCookie()); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	e.setCookie(w, e.bindCookie(), v, 0)
	return v
}

// decide asks the policy what u must still prove for req, given proof.
// enrolled is nil when not looked up.
func (e *Engine) decide(req Request, u *directory.User, enrolled []string, mustChange bool, proof policy.Proof) policy.Decision {
	return policy.Decide(e.pol, policy.Input{
		App: req.App, Action: req.Action, User: u, Enrolled: enrolled, MustChange: mustChange, Proof: proof, Now: e.now(),
		SecondFactorOnly: req.SecondFactorOnly,
		Demands:          policy.Demands{MFA: req.RequireMFA, ForceAuthn: req.ForceAuthn, MaxAge: req.MaxAge, MFAMaxAge: req.MFAMaxAge},
	})
}

// Decide answers the policy's question for a caller outside a flow (a
// password-only protocol such as WS-Trust).
func (e *Engine) Decide(in policy.Input) policy.Decision {
	in.Now = e.now()
	return policy.Decide(e.pol, in)
}

// enrolledFor is the user's enabled methods, looked up only when the
// request's action depends on them (account security); nil otherwise.
func (e *Engine) enrolledFor(ctx context.Context, req Request, u *directory.User) ([]string, error) {
	if req.Action != policy.ActionAccountSecurity {
		return nil, nil
	}
	return e.enrolled(ctx, u)
}

// enrolled is the user's enabled methods (none without factors).
func (e *Engine) enrolled(ctx context.Context, u *directory.User) ([]string, error) {
	if e.factors == nil {
		return []string{}, nil
	}
	m, err := e.factors.Enrolled(ctx, u)
	if m == nil {
		m = []string{}
	}
	return m, err
}

// errDenied is returned (as the page) when the policy refuses the user
// the app.
func (e *Engine) deny(ctx context.Context, req Request, res *Result, d policy.Decision) error {
	e.audit.Record(ctx, audit.Event{Type: audit.SignInFailure, UserID: res.User.ID, Login: firstNonEmpty(res.User.UPN, res.User.SAMAccountName),
		App: req.App, Result: d.Reason})
	key := "error.app_denied"
	if d.Reason == policy.ReasonRecoveryCodesOnly {
		key = "error.recovery_codes_only" // says where a new method is added
	}
	return web.Errorf(http.StatusForbidden, key,
		fmt.Errorf("signin: %s denied to %s: %s", req.App, res.User.ID, d.Reason))
}

// admit checks a result the engine has (a session, a resumed or finished
// flow) against req: it returns the result when the policy is satisfied,
// nil when more must be proved, and the refusal when it denies.
func (e *Engine) admit(ctx context.Context, req Request, res *Result, since time.Time) (*Result, error) {
	if res.secondFactorOnly != req.SecondFactorOnly {
		// A second factor alone is no sign-in, and a sign-in's proofs
		// were not made for a second-factor-only request.
		return nil, nil
	}
	enrolled, err := e.enrolledFor(ctx, req, &res.User)
	if err != nil {
		return nil, err
	}
	d := e.decide(req, &res.User, enrolled, false, res.proof(since))
	switch {
	case d.Denied:
		return nil, e.deny(ctx, req, res, d)
	case !d.Satisfied():
		return nil, nil
	}
	return grant(res, d), nil
}

// grant is res as the policy's satisfied decision d lets the protocol use
// it: the MFA claim only where d allows it.
func grant(res *Result, d policy.Decision) *Result {
	res.mfaClaim = d.MFAClaim
	if !d.MFAClaim {
		res.Methods = slices.DeleteFunc(slices.Clone(res.Methods), func(m string) bool { return m == "mfa" })
	}
	return res
}

// Authenticate is what a protocol calls. It returns the result when the
// browser's session already meets req, when the request carries a finished
// flow for it (the ResumeParam of a redirect, or — for an InPlace request —
// the finished sign-in the engine passes in the context when it calls the
// endpoint itself). Otherwise it starts a flow, answers the request with
// the first step's page and returns nil: the response has been written.
func (e *Engine) Authenticate(w http.ResponseWriter, r *http.Request, req Request) (*Result, error) {
	ctx := r.Context()
	if res, ok := ctx.Value(finishedKey{}).(*Result); ok {
		// The flow this request started has just ended: its proofs were
		// made for it.
		if res, err := e.admit(ctx, req, res, res.flowStart); res != nil || err != nil {
			return res, err
		}
	}
	if id := r.URL.Query().Get(ResumeParam); id != "" {
		res, err := e.resume(ctx, r, id, req)
		switch {
		case err == nil:
			if res, err := e.admit(ctx, req, res, res.flowStart); res != nil || err != nil {
				return res, err
			}
		case !errors.Is(err, errFlowGone):
			return nil, err
		}
		// A stale or foreign flow id, or one that does not meet this
		// request: start again.
	}
	if req.SecondFactorOnly {
		return nil, e.startSecondFactorOnly(w, r, req)
	}
	s, sd := e.sessions.currentSession(ctx, r)
	var d policy.Decision
	if s != nil {
		res := sessionResult(s, sd)
		enrolled, err := e.enrolledFor(ctx, req, &sd.User)
		if err != nil {
			return nil, err
		}
		if d = e.decide(req, &sd.User, enrolled, false, res.proof(time.Time{})); d.Denied {
			return nil, e.deny(ctx, req, res, d)
		}
		if d.Satisfied() && req.AddFactor == "" {
			return grant(res, d), nil
		}
	}
	if req.Passive {
		return nil, ErrInteractionRequired
	}
	if req.AddFactor != "" && !slices.Contains(e.Enrollable(), req.AddFactor) {
		return nil, web.Errorf(http.StatusBadRequest, "error.method_not_addable",
			fmt.Errorf("signin: method %q cannot be enrolled", req.AddFactor))
	}
	bind := e.ensureBinding(w, r)
	st := flowState{Req: req, Binding: hashBinding(bind)}
	step := StepIdentify
	if req.LoginHint != "" {
		st.Login = truncate(req.LoginHint, 256)
		step = StepPassword
	} else if s != nil {
		// Re-authenticating a signed-in user: ask only for the password.
		st.Login, step = firstNonEmpty(sd.User.UPN, sd.User.SAMAccountName), StepPassword
	}
	// Step-up: a live session whose password the policy still accepts
	// keeps it; only the second factor (or an enrolment) is left.
	if s != nil && !d.Password {
		u := sd.User
		st.User, st.Login, st.PasswordAt, st.Methods = &u, firstNonEmpty(u.UPN, u.SAMAccountName), s.AuthTime, slices.Clone(s.Methods)
		st.Factors, st.Remembered = slices.Clone(sd.Factors), sd.Remembered
		if !s.MFATime.IsZero() {
			st.MFAAt = s.MFATime
		}
		st.PriorSessID = s.ID
		next, err := e.afterPrimary(ctx, &st, e.now())
		if err != nil {
			return nil, err
		}
		step = next
	}
	f, err := e.createFlow(ctx, step, st)
	if err != nil {
		return nil, err
	}
	// The first step's page answers this request itself (no redirect to
	// /login first): its forms post to /login?flow=, which Protect guards.
	return nil, e.renderStep(w, e.csrf.Ensure(w, r), f, st, http.StatusOK, nil)
}

// Finished returns the result of the finished flow r carries (its
// ResumeParam) when that flow answers req, and uses it up; nil when r
// carries none, or one that does not answer req. Unlike Authenticate it
// never starts a flow: a page that only reports how a flow ended (/account
// after adding a sign-in method) calls it on a GET.
func (e *Engine) Finished(r *http.Request, req Request) (*Result, error) {
	id := r.URL.Query().Get(ResumeParam)
	if id == "" {
		return nil, nil
	}
	res, err := e.resume(r.Context(), r, id, req)
	if errors.Is(err, errFlowGone) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.admit(r.Context(), req, res, res.flowStart)
}

// Enrollable lists the methods a user may set up (Request.AddFactor), in
// the configured order.
func (e *Engine) Enrollable() []string {
	if e.factors == nil {
		return nil
	}
	return e.factors.Enrollable()
}

func (e *Engine) createFlow(ctx context.Context, step string, st flowState) (store.Flow, error) {
	return e.newFlow(ctx, flowSignIn, step, st)
}

// CreateFlowError is err from a store's CreateFlow as the page to show: a
// store at its bound of flows in progress (store.ErrCapacity) is a 503 that
// asks the user to come back, not an internal error.
func CreateFlowError(err error) error {
	if errors.Is(err, store.ErrCapacity) {
		return web.Errorf(http.StatusServiceUnavailable, "error.too_many_flows", err)
	}
	return err
}

// finishedKey carries a finished sign-in to the endpoint that asked for it
// when the engine calls that endpoint in place (finish).
type finishedKey struct{}

// resume hands back a finished flow, once, to the browser that ran it.
func (e *Engine) resume(ctx context.Context, r *http.Request, id string, req Request) (*Result, error) {
	f, st, err := e.loadFlow(ctx, r, id)
	if err != nil {
		return nil, err
	}
	if f.Step != StepDone || (st.SessionID == "" && !st.Req.SecondFactorOnly) || !st.Req.sameAsk(req) {
		// A flow finished for another app or weaker demands is no answer
		// to this request, and is not used up by it.
		return nil, errFlowGone
	}
	if st.Req.SecondFactorOnly {
		if err := e.flows.DeleteFlow(ctx, id); err != nil { // single use
			if errors.Is(err, store.ErrNotFound) {
				return nil, errFlowGone
			}
			return nil, err
		}
		return secondFactorResult(f, st), nil
	}
	if err := e.flows.DeleteFlow(ctx, id); err != nil { // single use: a second resume fails
		if errors.Is(err, store.ErrNotFound) {
			return nil, errFlowGone
		}
		return nil, err
	}
	s, err := e.sessions.get(ctx, st.SessionID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errFlowGone
		}
		return nil, err
	}
	res := &Result{SessionID: s.ID, User: *st.User, AuthTime: s.AuthTime, MFATime: s.MFATime, Methods: s.Methods, State: st.Req.State,
		factors: st.Factors, remembered: st.Remembered, flowStart: f.CreatedAt}
	return res, nil
}

// finish issues the session: a new id every time (rotation at sign-in);
// the session it replaces is ended. The flow is used up here when the
// request answers in place, otherwise when the browser comes back with it
// (resume).
func (e *Engine) finish(ctx context.Context, w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) error {
	if st.Req.SecondFactorOnly {
		return e.finishSecondFactorOnly(ctx, w, r, f, st)
	}
	methods := slices.Clone(st.Methods)
	if !st.MFAAt.IsZero() && !slices.Contains(methods, "mfa") {
		methods = append(methods, "mfa")
	}
	s, token, err := e.sessions.newSession(st.User, st.Login, methods, st.PasswordAt, st.MFAAt,
		sessionData{App: st.Req.App, Factors: st.Factors, Remembered: st.Remembered})
	if err != nil {
		return err
	}
	// The flow is claimed before the session exists, so concurrent
	// submits of the last step issue one session: in place by using the
	// flow up, otherwise by moving it to done (compare-and-swap) with the
	// session's id for the resume.
	st.SessionID, st.SealedOld, st.Pending = s.ID, nil, nil
	claimed, err := e.claimDone(ctx, w, r, f, st)
	if err != nil || claimed == nil {
		return err
	}
	inPlace := *claimed
	// Only the request that ended the flow gets here: a double submit
	// remembers the browser once.
	if err := e.sessions.start(ctx, w, r, s, token, st.PriorSessID, st.Remember); err != nil {
		return err
	}
	e.keepFamiliar(ctx, w, r, st.User.ID)
	e.audit.Record(ctx, audit.Event{Type: audit.SignInSuccess, UserID: st.User.ID, Login: st.Login, App: st.Req.App, Result: "ok",
		Familiar: st.Familiar,
		Detail:   map[string]string{"amr": strings.Join(methods, " ")}})
	res := &Result{SessionID: s.ID, User: *st.User, AuthTime: s.AuthTime, MFATime: s.MFATime, Methods: s.Methods, State: st.Req.State,
		factors: st.Factors, remembered: st.Remembered, flowStart: f.CreatedAt}
	e.deliver(w, r, f, st, res, inPlace)
	return nil
}

// claimDone claims the flow's last step before its result is made, so
// concurrent submits of it end the flow once: an InPlace flow (with a
// resume handler) is used up here, any other moves to done
// (compare-and-swap) to wait for its ResumeParam. It returns whether the
// flow ends in place, or nil when the page saying why it cannot end has
// been written.
func (e *Engine) claimDone(ctx context.Context, w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) (*bool, error) {
	inPlace := st.Req.InPlace && e.resumeTo != nil
	if inPlace {
		if err := e.flows.DeleteFlow(ctx, f.ID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, e.expired(w, r)
			}
			return nil, err
		}
	} else if err := e.saveFlow(ctx, f.ID, f.Step, StepDone, st); err != nil {
		return nil, e.staleOr(w, r, f, err)
	}
	return &inPlace, nil
}

// deliver takes the finished flow f's result to the protocol: its endpoint
// is called with it in place, or the browser is sent there with the
// flow's ResumeParam.
func (e *Engine) deliver(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState, res *Result, inPlace bool) {
	target := st.Req.ResumeURL
	if target == "" || !isLocalPath(target) {
		target = "/"
	}
	if inPlace {
		e.resumeTo.ServeHTTP(w, resumeRequest(r, target, res))
		return
	}
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	http.Redirect(w, r, target+sep+ResumeParam+"="+url.QueryEscape(f.ID), http.StatusSeeOther)
}

// resumeRequest is the GET of target, a local path, that the browser would
// have made after a redirect, carrying the finished sign-in res: the
// request r's headers and client, no body.
func resumeRequest(r *http.Request, target string, res *Result) *http.Request {
	u, err := url.Parse(target)
	if err != nil { // isLocalPath passed it; be safe anyway
		u = &url.URL{Path: "/"}
	}
	r2 := r.Clone(context.WithValue(r.Context(), finishedKey{}, res))
	r2.Method, r2.URL, r2.RequestURI = http.MethodGet, u, u.RequestURI()
	r2.Body, r2.ContentLength, r2.Form, r2.PostForm, r2.MultipartForm = http.NoBody, 0, nil, nil, nil
	r2.Header.Del("Content-Type")
	r2.Header.Del("Content-Length")
	r2.Pattern = ""
	return r2
}

// isLocalPath accepts only a path on this site: no scheme, no host, no
// protocol-relative or backslash tricks.
func isLocalPath(p string) bool {
	return web.IsLocalPath(p)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
