package signin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/abuse"
	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

const maxLoginLen, maxPasswordLen = 256, 1024

// afterPrimary decides where a flow goes once the password (or a live
// session) has identified the user: the policy says what is left. since
// is when the flow began (its proofs were made for its request).
func (e *Engine) afterPrimary(ctx context.Context, st *flowState, since time.Time) (string, error) {
	enrolled, err := e.enrolled(ctx, st.User)
	if err != nil {
		return "", err
	}
	proof := policy.Proof{PasswordAt: st.PasswordAt, MFAAt: st.MFAAt, Factors: st.Factors, Remembered: st.Remembered, Since: since}
	d := e.decide(st.Req, st.User, enrolled, st.MustChange != "", proof)
	switch {
	case d.Password && st.Req.SecondFactorOnly:
		return "", errors.New("signin: the policy asked a second-factor-only flow for the password")
	case d.Password:
		// Not reached from a password step (it has just been verified);
		// a step-up whose password the policy no longer accepts asks again.
		st.PasswordAt = time.Time{}
		return StepPassword, nil
	case d.Enrol:
		if e.factors == nil || len(e.factors.Enrollable()) == 0 {
			return "", errors.New("signin: a second factor is required but no method can be enrolled (mfa.methods)")
		}
		return StepEnrol, nil
	case d.MFA:
		return e.mfaStep(st, d.Methods), nil
	case st.Req.AddFactor != "" && !st.Added:
		// The step-up is done: now the factor the user came to add.
		return StepEnrol, nil
	case st.MustChange != "":
		return StepChangePassword, nil
	}
	return StepDone, nil
}

// mfaStep is the second-factor step, offering methods (the user's methods
// the policy accepts).
func (e *Engine) mfaStep(st *flowState, methods []string) string {
	st.enrolled = methods // for the code page this request shows (moveTo)
	// Pending state of a method not offered (the identify page's passkey
	// offer) is dropped: only offered methods are pending.
	if len(st.Pending) > 0 && !slices.Contains(methods, e.pending(*st).Method) {
		st.Pending = nil
	}
	// A method whose challenge is the same every time (an authenticator
	// app code) is made pending now, with the step, so showing the code
	// page does not write the flow again.
	if sc, ok := e.factors.(staticChallenger); ok && len(st.Pending) == 0 {
		method := chooseMethod("", methods, "")
		if data, ok := sc.StaticChallenge(method); ok {
			st.Pending, _ = json.Marshal(pendingFactor{Method: method, Data: data})
		}
	}
	return StepMFA
}

// staticChallenger is implemented by Factors whose challenge for some
// methods needs no state: StaticChallenge returns what Challenge would.
type staticChallenger interface {
	StaticChallenge(method string) ([]byte, bool)
}

func (e *Engine) home(w http.ResponseWriter, r *http.Request) error {
	var data struct{ Name string }
	if res, ok := e.sessions.CurrentUser(r); ok {
		data.Name = firstNonEmpty(res.User.DisplayName, res.User.UPN, res.User.SAMAccountName)
	}
	return e.render.Render(w, "home", http.StatusOK, e.render.NewPage(r, "home.title", data))
}

// loginData is what the sign-in templates show.
type loginData struct {
	Passkey  string // discoverable passkey options, when passwordless sign-in is on
	Remember bool   // offer "remember this device"
	FlowID   string
	Step     string
	Login    string
	Methods  []string
	// Method is the method the page is for; "" on the enrolment step is
	// the chooser between Methods.
	Method string
	Extra  any // a factor's page data
	// Adding: the enrolment adds a method from /account (Request.AddFactor)
	// rather than one the policy requires.
	Adding bool
	// OnlyRecovery: the second step can take nothing but a recovery code,
	// the user having no other method left.
	OnlyRecovery bool
}

func (e *Engine) getLogin(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("flow")
	if id == "" {
		// Direct visit: a sign-in for Gatehouse itself, ending at home.
		res, err := e.Authenticate(w, r, Request{ResumeURL: "/", LoginHint: truncate(r.URL.Query().Get("login_hint"), maxLoginLen)})
		if err != nil || res == nil {
			return err
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	f, st, err := e.loadFlow(r.Context(), r, id)
	if errors.Is(err, errFlowGone) {
		return e.expired(w, r)
	}
	if err != nil {
		return err
	}
	if f.Step == StepDone {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	return e.renderStep(w, r, f, st, http.StatusOK, nil)
}

func (e *Engine) expired(w http.ResponseWriter, r *http.Request) error {
	p := e.render.NewPage(r, "login.title", loginData{Step: StepIdentify})
	p.Errors[""] = p.T("login.expired_flow")
	return e.render.Render(w, "login_identify", http.StatusOK, p)
}

// renderStep shows the page of the flow's current step; errs are field or
// form errors to show with it.
func (e *Engine) renderStep(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState, status int, errs map[string]string) error {
	d := loginData{FlowID: f.ID, Step: f.Step, Login: st.Login}
	p := e.render.NewPage(r, "login.title", &d)
	// The page may answer a POST or a protocol's request: the language
	// switcher comes back to the flow.
	p.Path = "/login?flow=" + url.QueryEscape(f.ID)
	for k, v := range errs {
		p.Errors[k] = v
	}
	page := "login_" + f.Step
	switch f.Step {
	case StepMFA, StepEnrol, StepRecoveryCodes:
		p.Title = "mfa.title"
		switch {
		case f.Step == StepEnrol && st.Req.AddFactor != "":
			p.Title = "account.add_title"
		case f.Step == StepEnrol:
			p.Title = "enrol.title"
		}
		return e.renderFactorStep(w, r, f, st, &p, &d, status)
	case StepChangePassword:
		return e.renderChangePassword(w, r, f, st, &p, status, FieldNew, PasswordFields{})
	case StepIdentify:
		if err := e.offerPasskey(r, f, &st, &d); err != nil {
			return e.staleOr(w, r, f, err)
		}
	}
	return e.render.Render(w, page, status, p)
}

func (e *Engine) postLogin(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.URL.Query().Get("flow")
	if id == "" && r.PostFormValue("step") == StepIdentify && r.PostFormValue("method") == "" {
		// The form of the "expired, start again" page, which has no flow:
		// a sign-in to Gatehouse itself, as a visit of /login would start,
		// for the name typed (the application's own request is gone; its
		// next one finds the session).
		login := strings.TrimSpace(r.PostFormValue("login"))
		if login == "" || len(login) > maxLoginLen {
			return e.expired(w, r)
		}
		res, err := e.Authenticate(w, r, Request{ResumeURL: "/", LoginHint: login})
		if err != nil || res == nil {
			return err
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	f, st, err := e.loadFlow(ctx, r, id)
	if errors.Is(err, errFlowGone) {
		return e.expired(w, r)
	}
	if err != nil {
		return err
	}
	if step := r.PostFormValue("step"); step != f.Step {
		// A stale tab or a double submit: show where the flow is now.
		return e.renderStep(w, r, f, st, http.StatusOK, nil)
	}
	switch f.Step {
	case StepIdentify:
		return e.postIdentify(w, r, f, st)
	case StepPassword:
		return e.postPassword(w, r, f, st)
	case StepMFA, StepEnrol, StepRecoveryCodes:
		return e.postFactor(w, r, f, st)
	case StepChangePassword:
		return e.postChangePassword(w, r, f, st)
	}
	return web.Errorf(http.StatusBadRequest, "error.signin_broken", fmt.Errorf("flow %s in step %q", f.ID, f.Step))
}

func (e *Engine) postIdentify(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) error {
	if r.PostFormValue("method") == "passkey" {
		return e.postPasskey(w, r, f, st)
	}
	login := strings.TrimSpace(r.PostFormValue("login"))
	if login == "" || len(login) > maxLoginLen {
		// The page again, with its passkey offer (a new request: each is
		// used once).
		p := e.render.NewPage(r, "login.title", nil)
		return e.renderStep(w, r, f, st, http.StatusUnprocessableEntity, map[string]string{"login": p.T("login.required")})
	}
	st.Login = login
	return e.moveTo(r.Context(), w, r, f, StepPassword, st)
}

// moveTo saves the flow at step next and shows that step's page in answer
// to the request that completed the last one (no redirect: one request
// per step).
func (e *Engine) moveTo(ctx context.Context, w http.ResponseWriter, r *http.Request, f store.Flow, next string, st flowState) error {
	if err := e.saveFlow(ctx, f.ID, f.Step, next, st); err != nil {
		return e.staleOr(w, r, f, err)
	}
	f.Step = next
	return e.renderStep(w, r, f, st, http.StatusOK, nil)
}

// staleOr answers a lost compare-and-swap by showing the flow's current
// step; other errors are returned.
func (e *Engine) staleOr(w http.ResponseWriter, r *http.Request, f store.Flow, err error) error {
	if errors.Is(err, errStaleStep) {
		http.Redirect(w, r, "/login?flow="+f.ID, http.StatusSeeOther)
		return nil
	}
	return err
}

func (e *Engine) postPassword(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) error {
	ctx := r.Context()
	password := r.PostFormValue("password")
	fail := func(status int, key string) error {
		p := e.render.NewPage(r, "login.title", loginData{FlowID: f.ID, Step: f.Step, Login: st.Login})
		p.Errors[""] = p.T(key)
		return e.render.Render(w, "login_password", status, p)
	}
	if password == "" || len(password) > maxPasswordLen {
		return fail(http.StatusUnprocessableEntity, "login.password_required")
	}
	u, familiar, err := e.checkPassword(ctx, abuse.Attempt{Login: st.Login, App: st.Req.App, Device: e.familiarToken(r)}, password)
	st.Familiar = familiar
	switch {
	case err == nil:
	case directory.PasswordAccepted(err):
		st.MustChange = "must_change"
		if errors.Is(err, directory.ErrPasswordExpired) {
			st.MustChange = "expired"
		}
		st.SealedOld = e.box.Seal([]byte(password), []byte("oldpw:"+f.ID))
	case errors.Is(err, abuse.ErrThrottled):
		if secs, ok := abuse.RetryAfter(err); ok {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		return fail(http.StatusTooManyRequests, "login.throttled")
	case errors.Is(err, directory.ErrInvalidCredentials), errors.Is(err, directory.ErrAccountLocked):
		// A locked account answers any password alike (AD's 775), so
		// "locked" would tell whoever typed a name that the account
		// exists — whatever the password. It gets a wrong password's
		// answer; the page offers everyone the unlock link.
		return fail(http.StatusUnauthorized, "login.invalid")
	case errors.Is(err, directory.ErrAccountDisabled):
		return fail(http.StatusForbidden, "login.disabled")
	case errors.Is(err, directory.ErrAccountExpired):
		return fail(http.StatusForbidden, "login.account_expired")
	case errors.Is(err, directory.ErrNotPermitted):
		return fail(http.StatusForbidden, "login.not_permitted")
	default:
		e.log.ErrorContext(ctx, "directory authentication failed", "user", st.Login, "err", err)
		return fail(http.StatusServiceUnavailable, "login.unavailable")
	}
	st.User, st.PasswordAt = u, e.now()
	st.Methods = []string{"pwd"}
	e.sessions.directorySaid(u, st.PasswordAt)
	// A remembered browser may stand in for a second factor the
	// configuration requires; the policy never lets it answer one the
	// request demands, and it adds no MFA claim.
	_, st.Remembered = e.sessions.rememberedMFA(ctx, r, u.ID)
	return e.advance(ctx, w, r, f, st)
}

func (e *Engine) postLogout(w http.ResponseWriter, r *http.Request) error {
	if e.fanOut != nil {
		ended, _, err := e.sessions.EndBrowserSession(w, r, SignOutRequest{Via: "page"})
		if err != nil {
			return err
		}
		if ended != nil && len(ended.Participants) > 0 {
			return e.fanOut.FanOut(w, r, ended.Participants, "")
		}
	} else {
		e.sessions.SignOut(w, r)
	}
	p := e.render.NewPage(r, "logout.title", nil)
	p.Notice = p.T("logout.done")
	return e.render.Render(w, "logout", http.StatusOK, p)
}

// getLogout shows a confirmation form: signing out by GET would let any
// site sign users out.
func (e *Engine) getLogout(w http.ResponseWriter, r *http.Request) error {
	return e.render.Render(w, "logout_confirm", http.StatusOK, e.render.NewPage(r, "logout.confirm_title", nil))
}

// CheckPassword is the password check for flows without pages (WS-Trust):
// the same limits and smart lockout (a refusal matches abuse.ErrThrottled
// and abuse.RetryAfter tells how long to wait) — an address the user signed in from
// counts as familiar, rich clients holding no cookie — the same uniform
// failure timing and the same audit as the sign-in page. app names the
// relying party for the audit.
func (e *Engine) CheckPassword(ctx context.Context, app, login, password string) (*directory.User, error) {
	if login == "" || password == "" || len(login) > maxLoginLen || len(password) > maxPasswordLen {
		return nil, directory.ErrInvalidCredentials
	}
	u, familiar, err := e.checkPassword(ctx, abuse.Attempt{Login: login, App: app, ByAddress: true}, password)
	switch {
	case err == nil:
		e.audit.Record(ctx, audit.Event{Type: audit.SignInSuccess, UserID: u.ID, Login: login, App: app, Result: "ok",
			Familiar: familiar, Detail: map[string]string{"amr": "pwd", "via": "ws-trust"}})
		return u, nil
	case directory.PasswordAccepted(err):
		// No page to change it on here: a refusal like the others.
		e.audit.Record(ctx, audit.Event{Type: audit.SignInFailure, UserID: u.ID, Login: login, App: app, Result: failureReason(err),
			Familiar: familiar})
	}
	return nil, err
}

// checkPassword is every password check: the guard's limits and smart
// lockout around the directory bind, and uniform failure timing. It audits
// failures; a right password that must change (directory.PasswordAccepted)
// is returned with the user and left to the caller. It also returns
// whether the guard found the client familiar to the account (unknown
// when no account was found).
func (e *Engine) checkPassword(ctx context.Context, a abuse.Attempt, password string) (*directory.User, audit.Familiarity, error) {
	a.IP = observe.ClientIP(ctx)
	start := time.Now()
	u, res, err := e.guard.Authenticate(ctx, a, password)
	familiar := audit.FamiliarityUnknown
	if res.User != nil {
		familiar = audit.Unfamiliar
		if res.Familiar {
			familiar = audit.Familiar
		}
	}
	if err == nil {
		// A DC may accept the bind of a password that must change or has
		// expired (Samba does for some pwdLastSet=0 accounts): the
		// account's own state decides, for every caller alike.
		err = passwordState(u, e.now())
	}
	if err == nil || directory.PasswordAccepted(err) {
		e.delay.success(time.Since(start))
		return u, familiar, err
	}
	// A refusal, a repeated wrong password, an unknown name and a locked
	// account (answered as a wrong password: postPassword) take as long as
	// a wrong password: none may tell whether the account exists.
	if errors.Is(err, directory.ErrInvalidCredentials) || errors.Is(err, abuse.ErrThrottled) || errors.Is(err, directory.ErrAccountLocked) {
		e.delay.pad(ctx, start)
	}
	ev := audit.Event{Type: audit.SignInFailure, Login: a.Login, App: a.App, Result: failureReason(err), Familiar: familiar}
	if res.User != nil {
		ev.UserID = res.User.ID
	}
	var th *abuse.Throttled
	switch {
	case errors.As(err, &th):
		ev.Reason = th.Scope
	case res.Repeat:
		ev.Reason = "known_wrong_password" // answered without asking AD
	}
	e.audit.Record(ctx, ev)
	return nil, familiar, err
}

func failureReason(err error) string {
	for _, c := range []struct {
		err    error
		reason string
	}{
		{directory.ErrInvalidCredentials, "invalid_credentials"}, {directory.ErrPasswordExpired, "password_expired"},
		{directory.ErrMustChangePassword, "must_change"}, {directory.ErrAccountLocked, "locked"},
		{directory.ErrAccountDisabled, "disabled"}, {directory.ErrAccountExpired, "account_expired"},
		{directory.ErrNotPermitted, "not_permitted"}, {abuse.ErrThrottled, "throttled"},
	} {
		if errors.Is(err, c.err) {
			return c.reason
		}
	}
	return "error"
}

// advance moves a flow on after a step succeeded: to the next step the
// policy asks for, or to the session when nothing is left.
func (e *Engine) advance(ctx context.Context, w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) error {
	next, err := e.afterPrimary(ctx, &st, f.CreatedAt)
	if err != nil {
		return err
	}
	if next == StepDone {
		return e.finish(ctx, w, r, f, st)
	}
	return e.moveTo(ctx, w, r, f, next, st)
}

// passwordless returns the capability when passwordless sign-in is on.
func (e *Engine) passwordless() (Passwordless, bool) {
	pl, ok := e.factors.(Passwordless)
	if !ok || !e.passwordlessOn {
		return nil, false
	}
	_, ok = e.dir.(directory.IDLookup)
	return pl, ok
}

// offerPasskey puts a discoverable passkey request on the identify page and
// keeps its session in the flow (one per showing; each is used once).
func (e *Engine) offerPasskey(r *http.Request, f store.Flow, st *flowState, d *loginData) error {
	pl, ok := e.passwordless()
	if !ok {
		return nil
	}
	opts, sess, ok, err := pl.BeginPasswordless(r.Context())
	if err != nil || !ok {
		return err
	}
	raw, _ := json.Marshal(pendingFactor{Method: "passkey", Data: sess})
	st.Pending = raw
	d.Passkey = opts
	return e.saveFlow(r.Context(), f.ID, f.Step, f.Step, *st)
}

// postPasskey signs a user in with a discoverable passkey: no password, and
// multi-factor (possession of the key plus its PIN or biometrics). The
// account's state still applies.
func (e *Engine) postPasskey(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) error {
	ctx := r.Context()
	pl, ok := e.passwordless()
	pf := e.pending(st)
	fail := func(status int, key string) error {
		p := e.render.NewPage(r, "login.title", nil)
		return e.renderStep(w, r, f, st, status, map[string]string{"": p.T(key)})
	}
	if !ok || pf.Method != "passkey" {
		return fail(http.StatusBadRequest, "mfa.invalid")
	}
	// The session is used once, whatever the outcome.
	st.Pending = nil
	if err := e.saveFlow(ctx, f.ID, f.Step, f.Step, st); err != nil {
		return e.staleOr(w, r, f, err)
	}
	userID, amr, err := pl.FinishPasswordless(ctx, r, pf.Data)
	if err != nil {
		var ue UserError
		if errors.As(err, &ue) {
			e.audit.Record(ctx, audit.Event{Type: audit.SignInFailure, App: st.Req.App, Result: "passkey_" + ue.Reason})
			return fail(ue.Status, ue.MessageKey)
		}
		return err
	}
	u, err := e.dir.(directory.IDLookup).LookupUserByID(ctx, userID)
	if err != nil {
		e.audit.Record(ctx, audit.Event{Type: audit.SignInFailure, UserID: userID, App: st.Req.App, Result: "passkey_user_gone"})
		return fail(http.StatusUnauthorized, "mfa.invalid")
	}
	now := e.now()
	// The account's state, judged as for a session (accountProblem): a
	// passkey proves the user, not that the account may sign in.
	if problem := accountProblem(u.State, now); problem != "" {
		key := "login.passkey_change_first" // the password must change or has expired
		switch problem {
		case "account_disabled":
			key = "login.disabled"
		case "account_expired":
			key = "login.account_expired"
		case "account_locked":
			key = "login.locked"
		}
		e.audit.Record(ctx, audit.Event{Type: audit.SignInFailure, UserID: u.ID, Login: u.UPN, App: st.Req.App, Result: "passkey_account_state"})
		return fail(http.StatusForbidden, key)
	}
	st.User, st.Login = u, firstNonEmpty(u.UPN, u.SAMAccountName)
	st.PasswordAt, st.MFAAt = now, now
	st.Methods, st.Factors = []string{amr}, []string{policy.MethodWebAuthn}
	return e.advance(ctx, w, r, f, st)
}

// passwordState is the error a successful bind should have given for u's
// password at now: must change, expired, or nil.
func passwordState(u *directory.User, now time.Time) error {
	switch accountProblem(u.State, now) {
	case "password_must_change":
		return directory.ErrMustChangePassword
	case "password_expired":
		return directory.ErrPasswordExpired
	}
	return nil
}

// ErrWrongCurrentPassword is CheckCurrentPassword's answer to a wrong
// password.
var ErrWrongCurrentPassword = errors.New("signin: the current password is wrong")

// CheckCurrentPassword checks the password a signed-in user typed as their
// current one (before a change as the user, which AD counts as a bind):
// through the same guard as every sign-in — budgets taken before AD is
// asked, smart lockout, repeats answered without AD, this browser's
// familiarity — so parallel wrong attempts cannot lock the account. It
// returns nil for the right password (also one that has expired or must
// change), ErrWrongCurrentPassword, an error matching abuse.ErrThrottled,
// or the directory's error.
func (e *Engine) CheckCurrentPassword(r *http.Request, u *directory.User, password string) error {
	login := firstNonEmpty(u.UPN, u.SAMAccountName)
	got, _, err := e.checkPassword(r.Context(), abuse.Attempt{Login: login, App: "password-change", Device: e.familiarToken(r)}, password)
	switch {
	case err == nil, directory.PasswordAccepted(err):
		if got == nil || got.ID != u.ID {
			return ErrWrongCurrentPassword // the name now names another account
		}
		return nil
	case errors.Is(err, directory.ErrInvalidCredentials):
		return ErrWrongCurrentPassword
	}
	return err
}
