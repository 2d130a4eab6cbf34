package signin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Steps of a self-service recovery flow. Identifying has no flow yet (it
// starts one), so a recovery flow begins at StepVerify.
const (
	StepVerify      = "verify"
	StepNewPassword = "new_password"
)

// Recovery configures a self-service recovery on the engine's steps: a
// forgotten-password reset or an unlock. The person has not signed in, so
// they identify an account by name and prove it with the account's own
// factors (every enrolled method, passkeys included) until policy.Recovery
// says it is enough; a reset then asks for the new password. The flow ends
// in Ending — a directory write — instead of a session.
//
// It keeps the engine's guarantees: the flow lives in the flow store,
// bound to the browser by the sign-in's binding cookie, and names no user
// (store.Flow.UserID) until the account is proved. An unknown account — or
// one that may not be recovered, disabled or expired — walks through the
// very same pages: the email step shows a decoy masked address, counts
// against the same send limit and says the same when the mail server is
// failing; every email step and every identify step is padded to the same
// time whatever the account; a passkey request names no credential; and
// every answer fails like a wrong one, throttled at the same count.
type Recovery struct {
	// Kind names the flow in the store and its counters: "reset", "unlock".
	Kind string
	// Path is where the pages are: GET and POST.
	Path string
	// Title and Intro are catalog keys: the pages' title and the first
	// page's text.
	Title, Intro string
	// Event is the audit event type (audit.PasswordReset, …).
	Event string
	// Purpose is the email code mail's wording (notify.PurposeReset, …).
	Purpose string
	// NewPassword asks for a new password once the account is proved.
	NewPassword bool
	// Policy decides what must be verified (its Recovery rule).
	Policy policy.Settings
	// DecoyKey derives the masked address an unknown account's email step
	// shows when no MailDomain is known.
	DecoyKey []byte
	// MailDomain is the organisation's mail domain: the decoy address of
	// a typed user name (not an address) is in it, as a real account's
	// mail is.
	MailDomain string
	// Support is whom a user with nothing to verify with should contact
	// (config ui.support); "" is the generic wording.
	Support string
	// Ending makes the change.
	Ending RecoveryEnding
}

// RecoveryEnding is the directory write a recovery ends in, and what must
// follow it (ending sessions, the audit, the notice). internal/selfservice
// provides the reset's and the unlock's.
type RecoveryEnding interface {
	// End makes the change for u, an account the person proved with the
	// methods verified; newPassword is "" when Recovery.NewPassword is
	// off. It returns the catalog key of the notice on the last page. A
	// *directory.PolicyError refuses the new password: the form is shown
	// again with its reasons. After any error the flow stays at its step,
	// for another try.
	End(ctx context.Context, r *http.Request, u *directory.User, newPassword string, verified []string) (notice string, err error)
}

// recoveryFactors is the capability of Factors a recovery needs (FactorSet
// has it): verifying a person who has not signed in.
type recoveryFactors interface {
	// RecoveryMethods lists the methods that may verify a recovery, in the
	// order to offer them: the same for every account.
	RecoveryMethods() []string
	// RecoveryEnrolled is Enrolled, with email counting for a user with a
	// recovery address (the alternate one or mail).
	RecoveryEnrolled(ctx context.Context, u *directory.User) ([]string, error)
	// RecoveryChallenge starts method: an email code to u's recovery
	// address worded for purpose, or a passkey request that names no
	// credential (u may then be nil). It returns the state to keep and
	// what the page shows (the masked address, the request's options), or
	// mfa.ErrNotEnrolled when u has no address, mfa.ErrThrottled when u
	// was sent too many codes lately.
	RecoveryChallenge(ctx context.Context, u *directory.User, method, purpose, lang string) (pending []byte, show string, err error)
	// RecoveryVerify checks the answer in r for u: a passkey must be one
	// of u's. Refusals are UserErrors.
	RecoveryVerify(ctx context.Context, r *http.Request, u *directory.User, method string, pending []byte) (amr string, err error)
	// RecoveryDecoy stands in for RecoveryChallenge's email code when u —
	// an account without an address, or unknownUser's stand-in — gets
	// none: it counts against u's send limit as a send does
	// (mfa.ErrThrottled at the same count) and returns a pending
	// challenge that no code opens, whose checks are limited like a real
	// one's.
	RecoveryDecoy(ctx context.Context, u *directory.User, method, purpose string) (pending []byte, err error)
}

var _ recoveryFactors = (*FactorSet)(nil)

// recoveryState is a recovery's own part of the flow state.
type recoveryState struct {
	// Account is the account the typed name found, when it may be
	// recovered; nil for an unknown, disabled or expired one. It becomes
	// the flow's User only once proved.
	Account *directory.User `json:"account,omitempty"`
	// Verified are the distinct methods verified so far.
	Verified []string `json:"verified,omitempty"`
	// Pending is each offered method's challenge (an email code's, a
	// passkey request's): the page offers several at once.
	Pending map[string][]byte `json:"pending,omitempty"`
	// Destination is the masked address the last email code went to.
	Destination string `json:"destination,omitempty"`
}

// Limits per client address on starting recoveries.
const (
	recoveryStarts = 20
	recoveryWindow = 15 * time.Minute
)

// recoveryFlow serves one Recovery.
type recoveryFlow struct {
	Recovery
	e       *Engine
	factors recoveryFactors // nil: no method is available
	send    *delayer        // pads every email step to the same time
	ident   *delayer        // pads every identify step to the same time
	mail    mailHealth
}

// mailHealth is what the last real send said of the mail server. The
// email step of an account that gets no code answers as a real send would
// now: "sent" while the last real send went out, "could not send" once it
// failed, until a real send goes out again.
type mailHealth struct {
	mu      sync.Mutex
	failing bool
}

func (m *mailHealth) set(failing bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failing = failing
}

func (m *mailHealth) isFailing() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failing
}

// MountRecovery registers rc's pages.
func (e *Engine) MountRecovery(mux *http.ServeMux, rc Recovery) {
	h := &recoveryFlow{Recovery: rc, e: e, send: newSendDelayer(e.padWait), ident: newIdentifyDelayer(e.padWait)}
	h.factors, _ = e.factors.(recoveryFactors)
	page := func(f web.ReturnHandler) http.Handler { return web.NoStore(e.csrf.Protect(web.Handle(e.log, f))) }
	mux.Handle("GET "+rc.Path, page(h.get))
	mux.Handle("POST "+rc.Path, page(h.post))
}

// recoveryData is what the recovery pages (password_reset.html) show.
type recoveryData struct {
	FlowID string
	// Step is "identify", StepVerify or StepNewPassword; "" when Done.
	Step  string
	Path  string
	Intro string
	// Login is the name typed, shown again on the identify page after a
	// refusal that was not about it.
	Login string
	// Offer are the methods still to choose from (not yet verified);
	// Verified those already verified.
	Offer, Verified []string
	// Method is the method the verify page shows, one at a time; "" shows
	// the choice of Offer. The same for every account: what is offered
	// depends on the configuration only.
	Method string
	// CodeSent says an email code was asked for in this flow, so the
	// email method shows the field for it (a decoy's alike).
	CodeSent bool
	// Destination is where the email code went (a decoy for an unknown
	// account).
	Destination string
	// Passkey is the passkey request's options, when the passkey is shown.
	Passkey     string
	NewPassword NewPasswordForm
	Done        bool

	// focus and kept are how the new-password fields are shown (Refill).
	focus string
	kept  PasswordFields
}

func (h *recoveryFlow) t(r *http.Request, key string, args ...any) string {
	c := h.e.render.Catalog()
	return c.T(c.Language(r), key, args...)
}

// page renders d with field errors errs and notice, both already worded.
func (h *recoveryFlow) page(w http.ResponseWriter, r *http.Request, status int, d *recoveryData, u *directory.User, errs map[string]string, notice string) error {
	d.Path, d.Intro = h.Path, h.Intro
	p := h.e.render.NewPage(r, h.Title, d)
	for k, v := range errs {
		p.Errors[k] = v
	}
	p.Notice = notice
	if d.Step == StepNewPassword {
		focus := d.focus
		if focus == "" {
			focus = FieldNew
		}
		d.NewPassword = h.e.NewPasswordForm(h.e.ResetPolicyFor(r.Context(), u), u, &p, focus, d.kept)
	}
	return h.e.render.Render(w, "password_reset", status, p)
}

// identifyPage shows the first page, with the error key on field ("" for
// the form) and login, the name typed, in its field again.
func (h *recoveryFlow) identifyPage(w http.ResponseWriter, r *http.Request, status int, field, key, login string) error {
	var errs map[string]string
	if key != "" {
		errs = map[string]string{field: h.t(r, key)}
	}
	return h.page(w, r, status, &recoveryData{Step: "identify", Login: login}, nil, errs, "")
}

func (h *recoveryFlow) get(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("flow")
	if id == "" {
		return h.identifyPage(w, r, http.StatusOK, "", "", "")
	}
	f, st, err := h.load(r, id)
	if errors.Is(err, errFlowGone) || (err == nil && f.Step == StepDone) {
		return h.identifyPage(w, r, http.StatusOK, "", "login.expired_flow", "")
	}
	if err != nil {
		return err
	}
	return h.show(w, r, f, st, view{status: http.StatusOK, method: r.URL.Query().Get("method")})
}

func (h *recoveryFlow) load(r *http.Request, id string) (store.Flow, flowState, error) {
	f, st, err := h.e.loadFlowOf(r.Context(), r, id, h.Kind)
	if err == nil && st.Recovery == nil {
		err = fmt.Errorf("signin: %s flow %s without its state", h.Kind, id)
	}
	return f, st, err
}

func (h *recoveryFlow) post(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("flow")
	if id == "" {
		return h.identify(w, r)
	}
	f, st, err := h.load(r, id)
	if errors.Is(err, errFlowGone) {
		http.Redirect(w, r, h.Path+"?flow="+url.QueryEscape(id), http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	switch f.Step {
	case StepVerify:
		return h.verify(w, r, f, st)
	case StepNewPassword:
		return h.newPassword(w, r, f, st)
	}
	return h.identifyPage(w, r, http.StatusOK, "", "login.expired_flow", "")
}

// staleOr answers a lost compare-and-swap — the flow moved on, or ended
// meanwhile — by showing where it is now; other errors are returned.
func (h *recoveryFlow) staleOr(w http.ResponseWriter, r *http.Request, f store.Flow, err error) error {
	if errors.Is(err, errStaleStep) || errors.Is(err, store.ErrNotFound) {
		http.Redirect(w, r, h.Path+"?flow="+url.QueryEscape(f.ID), http.StatusSeeOther)
		return nil
	}
	return err
}

// recoverable reports whether an account may be reset or unlocked here: a
// disabled or expired account may not (an administrator disabled it, or
// its time is over), and is treated like an unknown one. A locked account
// and an expired password may: that is what the flows are for.
func recoverable(u *directory.User, now time.Time) bool {
	p := accountProblem(u.State, now)
	return p != "account_disabled" && p != "account_expired"
}

// identify starts a flow for the account named, known or not.
func (h *recoveryFlow) identify(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	login := strings.TrimSpace(r.PostFormValue("login"))
	if login == "" || len(login) > maxLoginLen {
		return h.identifyPage(w, r, http.StatusUnprocessableEntity, "login", "login.required", "")
	}
	c, err := h.e.throttle.IncrementCounter(ctx, h.Kind+":ip:"+observe.ClientIP(ctx), h.e.now(), recoveryWindow)
	if err != nil {
		return err
	}
	if c.Count > recoveryStarts {
		setRetryAfter(w, c.ExpiresAt.Sub(h.e.now()))
		return h.identifyPage(w, r, http.StatusTooManyRequests, "", "login.throttled", login)
	}
	rs := &recoveryState{}
	ev := audit.Event{Type: h.Event, Login: login, Result: "started"}
	// Every lookup, found or not, is padded to the same time: finding an
	// account (and reading its attributes) takes the directory longer. A
	// found one moves the target only after it was padded to it.
	start := time.Now()
	u, err := h.e.dir.LookupUser(ctx, login)
	took := time.Since(start)
	if err == nil || errors.Is(err, directory.ErrUserNotFound) {
		h.ident.pad(ctx, start)
	}
	if err == nil {
		h.ident.success(took)
	}
	switch {
	case err == nil && recoverable(u, h.e.now()):
		rs.Account, ev.UserID = u, u.ID
	case err == nil:
		// Walks on like an unknown account; the audit says why.
		ev.UserID, ev.Detail = u.ID, map[string]string{"account": accountState(u)}
	case errors.Is(err, directory.ErrUserNotFound):
	default:
		h.e.log.ErrorContext(ctx, "looking up the account to recover", "user", login, "err", err)
		return h.identifyPage(w, r, http.StatusServiceUnavailable, "", "login.unavailable", login)
	}
	bind := h.e.ensureBinding(w, r)
	// The flow names no user (st.User) until the account is proved: a
	// store that evicts flows without a user first treats a known and an
	// unknown account's recovery alike.
	f, err := h.e.newFlow(ctx, h.Kind, StepVerify, flowState{Binding: hashBinding(bind), Login: login, Recovery: rs})
	if err != nil {
		return err
	}
	h.e.audit.Record(ctx, ev)
	http.Redirect(w, r, h.Path+"?flow="+url.QueryEscape(f.ID), http.StatusSeeOther)
	return nil
}

// accountState says why an account may not be recovered, for the audit.
func accountState(u *directory.User) string {
	if u.State.Disabled {
		return "disabled"
	}
	return "expired"
}

func (h *recoveryFlow) methods() []string {
	if h.factors == nil {
		return nil
	}
	return h.factors.RecoveryMethods()
}

// view is how show shows a step.
type view struct {
	status int
	// errs are the errors to show, already worded: field → message.
	errs map[string]string
	// method is the verify step's method to show; "" (or one not
	// offered) shows the choice, unless only one is left.
	method string
	// emailSent shows the notice that a code went out.
	emailSent bool
	// focus and kept are the new-password step's after a refusal
	// (Refill).
	focus string
	kept  PasswordFields
}

// show renders the flow's current step. The passkey, when shown, gets a
// new request each time (each is used once), kept in the flow.
func (h *recoveryFlow) show(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState, v view) error {
	rs := st.Recovery
	d := &recoveryData{FlowID: f.ID, Step: f.Step, Verified: rs.Verified, focus: v.focus, kept: v.kept}
	if f.Step == StepVerify {
		for _, m := range h.methods() {
			if !slices.Contains(rs.Verified, m) {
				d.Offer = append(d.Offer, m)
			}
		}
		switch {
		case slices.Contains(d.Offer, v.method):
			d.Method = v.method
		case len(d.Offer) == 1:
			d.Method = d.Offer[0]
		}
		d.Destination = rs.Destination
		if d.Destination == "" {
			d.Destination = h.decoy(st.Login)
		}
		d.CodeSent = len(rs.Pending[mfa.MethodEmail]) > 0
		if d.Method == mfa.MethodWebAuthn {
			sess, opts, err := h.factors.RecoveryChallenge(r.Context(), nil, mfa.MethodWebAuthn, h.Purpose, h.e.render.Catalog().Language(r))
			if err != nil {
				return err
			}
			setPending(rs, mfa.MethodWebAuthn, sess)
			if err := h.e.saveFlow(r.Context(), f.ID, f.Step, f.Step, st); err != nil {
				return h.staleOr(w, r, f, err)
			}
			d.Passkey = opts
		}
	}
	notice := ""
	if v.emailSent {
		notice = h.t(r, "reset.email_sent", "address", d.Destination)
	}
	return h.page(w, r, v.status, d, st.User, v.errs, notice)
}

func setPending(rs *recoveryState, method string, data []byte) {
	if rs.Pending == nil {
		rs.Pending = map[string][]byte{}
	}
	rs.Pending[method] = data
}

// unknownUser stands in for an account that cannot be recovered when an
// answer is checked: its ID is no account's, so every answer fails like a
// wrong one, and is still counted against the name typed.
func unknownUser(login string) *directory.User {
	return &directory.User{ID: "unknown:" + hex.EncodeToString([]byte(strings.ToLower(login)))}
}

// verify checks one method's answer, or sends an email code.
func (h *recoveryFlow) verify(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) error {
	ctx := r.Context()
	rs := st.Recovery
	method := r.PostFormValue("method")
	if !slices.Contains(h.methods(), method) {
		return h.show(w, r, f, st, view{status: http.StatusBadRequest})
	}
	if method == mfa.MethodEmail && r.PostFormValue("send") == "1" {
		return h.sendCode(w, r, f, st)
	}
	u := rs.Account
	if u == nil {
		u = unknownUser(st.Login)
	}
	pending := rs.Pending[method]
	if method == mfa.MethodWebAuthn {
		delete(rs.Pending, method) // used once; the page shows a new request
	}
	_, err := h.factors.RecoveryVerify(ctx, r, u, method, pending)
	if err == nil && rs.Account == nil {
		err = userError(mfa.Invalid(method, mfa.ReasonMismatch)) // cannot happen: belt and braces
	}
	if err != nil {
		var ue UserError
		if !errors.As(err, &ue) {
			return err
		}
		h.e.audit.Record(ctx, audit.Event{Type: h.Event, UserID: accountID(rs), Login: st.Login, Result: "verify_failed",
			Detail: map[string]string{"method": method, "reason": ue.Reason}})
		setRetryAfter(w, ue.RetryAfter)
		return h.show(w, r, f, st, view{status: ue.Status, errs: map[string]string{"code_" + method: h.t(r, ue.MessageKey)}, method: method})
	}
	if method == mfa.MethodEmail {
		delete(rs.Pending, method)
	}
	if !slices.Contains(rs.Verified, method) {
		rs.Verified = append(rs.Verified, method)
	}
	enrolled, err := h.factors.RecoveryEnrolled(ctx, rs.Account)
	if err != nil {
		return err
	}
	next := StepVerify
	switch dec := policy.Recovery(h.Policy, rs.Verified, enrolled); {
	case dec.Done && !h.NewPassword:
		st.User = rs.Account
		return h.end(w, r, f, st, "")
	case dec.Done:
		st.User, next = rs.Account, StepNewPassword // proved: the flow names its user from now on
	case dec.Helpdesk:
		// The code proved the mailbox, but this user has nothing else to
		// verify with and email alone is not allowed here.
		h.e.audit.Record(ctx, audit.Event{Type: h.Event, UserID: rs.Account.ID, Login: st.Login, Result: "no_factor"})
		if err := h.e.flows.DeleteFlow(ctx, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		support := h.Support
		if support == "" {
			support = h.t(r, "reset.helpdesk_generic")
		}
		return h.page(w, r, http.StatusOK, &recoveryData{Done: true}, nil, map[string]string{"": h.t(r, "reset.no_factor", "helpdesk", support)}, "")
	}
	if err := h.e.saveFlow(ctx, f.ID, f.Step, next, st); err != nil {
		return h.staleOr(w, r, f, err)
	}
	http.Redirect(w, r, h.Path+"?flow="+url.QueryEscape(f.ID), http.StatusSeeOther)
	return nil
}

func accountID(rs *recoveryState) string {
	if rs.Account == nil {
		return ""
	}
	return rs.Account.ID
}

// sendEmailField is the error key of the email method's send button: a
// code that could not be sent is not a wrong code.
const sendEmailField = "send_email"

// errMailFailed is an email step's answer while the mail server fails.
var errMailFailed = errors.New("signin: the email code could not be sent")

// sendCode mails a code to the account's recovery address. An account that
// gets none (unknown, or without an address) gets the decoy instead: the
// same send limit, the same answer while the mail server fails, a decoy
// address. Either way the step is padded to the same time.
func (h *recoveryFlow) sendCode(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) error {
	ctx := r.Context()
	rs := st.Recovery
	start := time.Now()
	pending, dest, took, err := h.sendOrDecoy(ctx, r, st)
	h.send.pad(ctx, start)
	if took > 0 { // a real send moves the target only after it was padded to it
		h.send.success(took)
	}
	var errs map[string]string
	var status int
	switch {
	case err == nil:
		setPending(rs, mfa.MethodEmail, pending)
		rs.Destination = dest
		if err := h.e.saveFlow(ctx, f.ID, f.Step, f.Step, st); err != nil {
			return h.staleOr(w, r, f, err)
		}
		return h.show(w, r, f, st, view{status: http.StatusOK, method: mfa.MethodEmail, emailSent: true})
	case errors.Is(err, mfa.ErrThrottled):
		status, errs = http.StatusTooManyRequests, map[string]string{sendEmailField: h.t(r, "reset.email_throttled")}
	case errors.Is(err, errMailFailed):
		status, errs = http.StatusServiceUnavailable, map[string]string{sendEmailField: h.t(r, "mfa.email_failed")}
	default:
		return err
	}
	h.e.audit.Record(ctx, audit.Event{Type: h.Event, UserID: accountID(rs), Login: st.Login, Result: "code_not_sent",
		Detail: map[string]string{"method": mfa.MethodEmail, "reason": mfa.Reason(err)}})
	return h.show(w, r, f, st, view{status: status, errs: errs, method: mfa.MethodEmail})
}

// sendOrDecoy sends the code, or makes the decoy. It returns the pending
// challenge and the masked address to show, and how long a real send that
// went out took; mfa.ErrThrottled at the send limit, errMailFailed when
// the mail server fails (for the decoy: failed on the last real send), or
// another error.
func (h *recoveryFlow) sendOrDecoy(ctx context.Context, r *http.Request, st flowState) ([]byte, string, time.Duration, error) {
	rs := st.Recovery
	u := rs.Account
	if u != nil {
		start := time.Now()
		pending, dest, err := h.factors.RecoveryChallenge(ctx, u, mfa.MethodEmail, h.Purpose, h.e.render.Catalog().Language(r))
		switch {
		case err == nil:
			h.mail.set(false)
			return pending, dest, time.Since(start), nil
		case errors.Is(err, mfa.ErrThrottled):
			return nil, "", 0, err
		case errors.Is(err, notify.ErrRecipient) && pending != nil:
			// This account's mail cannot go out (an address the server
			// refuses); the mail server is fine. Answered like a code that
			// went out, as a decoy is, so that it tells nothing about
			// whether the account exists; the admin reads the log.
			h.e.log.ErrorContext(ctx, "the email code could not be mailed to this account's address", "event", h.Kind, "user", u.ID, "err", err)
			return pending, dest, time.Since(start), nil
		case !errors.Is(err, mfa.ErrNotEnrolled):
			h.mail.set(true)
			h.e.log.ErrorContext(ctx, "sending the email code", "event", h.Kind, "user", u.ID, "err", err)
			return nil, "", 0, errMailFailed
		}
		// No address: the decoy, counted against the account.
	} else {
		u = unknownUser(st.Login)
	}
	pending, err := h.factors.RecoveryDecoy(ctx, u, mfa.MethodEmail, h.Purpose)
	switch {
	case err != nil:
		return nil, "", 0, err
	case h.mail.isFailing():
		return nil, "", 0, errMailFailed
	}
	return pending, h.decoy(st.Login), 0, nil
}

// decoy is a stable, plausible masked address for an account that gets no
// code, shaped like the one a real account with that login would show:
// the first letter of the login's user part (mail addresses mostly start
// like the user name), and the domain typed or, for a user name, the
// organisation's mail domain. Without a known mail domain, a domain letter
// derived from the login with DecoyKey and ".com".
func (h *recoveryFlow) decoy(login string) string {
	name := strings.ToLower(login)
	if _, user, ok := strings.Cut(name, `\`); ok { // DOMAIN\user
		name = user
	}
	local, domain, typed := strings.Cut(name, "@")
	if !typed {
		domain = strings.ToLower(h.MailDomain)
	}
	m := hmac.New(sha256.New, h.DecoyKey)
	m.Write([]byte(name))
	s := m.Sum(nil)
	const letters = "abcdefghijklmnoprstw"
	if domain == "" {
		domain = string(letters[int(s[1])%len(letters)]) + "x.com"
	}
	if local == "" {
		local = string(letters[int(s[0])%len(letters)])
	}
	return notify.MaskAddress(local + "@" + domain)
}

// newPassword takes the new password of a proved account and ends the
// flow with it.
func (h *recoveryFlow) newPassword(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) error {
	if st.User == nil { // cannot happen: only a proved account gets here
		return web.Errorf(http.StatusBadRequest, "error.flow_broken", fmt.Errorf("signin: %s flow %s at %s without a user", h.Kind, f.ID, f.Step))
	}
	newPW, confirm := r.PostFormValue(FieldNew), r.PostFormValue(FieldConfirm)
	// The form comes back with the field that was wrong focused and
	// empty, and what was right kept (Refill).
	typed := PasswordFields{New: newPW, Confirm: confirm}
	again := func(status int, field, msg string) error {
		return h.show(w, r, f, st, view{status: status, errs: map[string]string{field: msg}, focus: field, kept: Refill(field, typed, false)})
	}
	switch {
	case newPW == "" || len(newPW) > maxPasswordLen:
		return again(http.StatusUnprocessableEntity, FieldNew, h.t(r, "change.new_required"))
	case newPW != confirm:
		return again(http.StatusUnprocessableEntity, FieldConfirm, h.t(r, "change.mismatch"))
	}
	pol := h.e.ResetPolicyFor(r.Context(), st.User)
	if v := h.e.CheckNewPassword(pol, newPW, st.User); len(v) > 0 {
		p := h.e.render.NewPage(r, h.Title, nil)
		return again(http.StatusUnprocessableEntity, FieldNew, PolicyMessage(&p, pol, v))
	}
	return h.end(w, r, f, st, newPW)
}

// end claims the flow, checks the account again and calls the ending.
func (h *recoveryFlow) end(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState, newPW string) error {
	ctx := r.Context()
	// Claimed first: of concurrent submits, one writes to the directory.
	if err := h.e.saveFlow(ctx, f.ID, f.Step, StepDone, st); err != nil {
		return h.staleOr(w, r, f, err)
	}
	restore := func() {
		if err := h.e.saveFlow(ctx, f.ID, StepDone, f.Step, st); err != nil {
			h.e.log.WarnContext(ctx, "putting the flow back after a failed ending", "event", h.Kind, "err", err)
		}
	}
	// The account may have been disabled since it was looked up.
	u, err := h.e.dir.LookupUser(ctx, st.Login)
	switch {
	case err == nil && u.ID == st.User.ID && recoverable(u, h.e.now()):
	case err == nil || errors.Is(err, directory.ErrUserNotFound):
		h.e.audit.Record(ctx, audit.Event{Type: h.Event, UserID: st.User.ID, Login: st.Login, Result: "account_state"})
		if err := h.e.flows.DeleteFlow(ctx, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			h.e.log.WarnContext(ctx, "ending the flow", "event", h.Kind, "err", err)
		}
		return web.Errorf(http.StatusForbidden, "error.account_not_changeable", err)
	default:
		restore()
		return err
	}
	notice, err := h.Ending.End(ctx, r, u, newPW, slices.Clone(st.Recovery.Verified))
	if err != nil {
		restore()
		var pe *directory.PolicyError
		if errors.As(err, &pe) && f.Step == StepNewPassword {
			p := h.e.render.NewPage(r, h.Title, nil)
			msg := PolicyMessage(&p, h.e.ResetPolicyFor(ctx, u), pe.Violations)
			return h.show(w, r, f, st, view{status: http.StatusUnprocessableEntity, errs: map[string]string{FieldNew: msg}, focus: FieldNew})
		}
		return err
	}
	// The directory has the change: the flow is over whatever the store
	// says (it stays claimed, so it cannot be replayed).
	if err := h.e.flows.DeleteFlow(ctx, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		h.e.log.WarnContext(ctx, "ending the flow", "event", h.Kind, "err", err)
	}
	return h.page(w, r, http.StatusOK, &recoveryData{Done: true}, nil, nil, h.t(r, notice))
}
