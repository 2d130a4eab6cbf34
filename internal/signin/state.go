package signin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Steps of a sign-in flow.
const (
	StepIdentify       = "identify"
	StepPassword       = "password"
	StepChangePassword = "change_password"
	StepMFA            = "mfa"
	StepEnrol          = "enrol"
	StepRecoveryCodes  = "recovery_codes"
	StepDone           = "done"
)

// Request is what a protocol asks of the engine.
type Request struct {
	App        string        // the app's configured name, for policy and audit
	Action     policy.Action // a Gatehouse action (account security) instead of an app sign-in
	RequireMFA bool          // the app or the request (wauth=multipleauthn) demands a second factor
	ForceAuthn bool          // wfresh=0, prompt=login: verify the password again now
	MaxAge     time.Duration // the password must have been verified this recently (0: any)
	MFAMaxAge  time.Duration // the second factor must have been used this recently (0: any)
	LoginHint  string        // pre-fills the user name
	// ResumeURL is where the browser goes when the flow is done: a path on
	// this site (with its query). The engine adds ResumeParam to the
	// redirect; an InPlace request's endpoint is instead called with it.
	ResumeURL string
	// InPlace lets the engine answer the last sign-in step with the
	// resumed endpoint's own response (a protocol's auto-POST form or
	// redirect to the relying party) instead of redirecting the browser
	// there first. Gatehouse's own pages leave it off, so they keep their
	// address.
	InPlace bool
	// State is the protocol's own saved request, handed back on resume.
	State []byte
	// AddFactor asks for one more second factor before the flow ends:
	// /account's "Add a sign-in method", naming the method to start with
	// (the enrol page offers the others too). The flow first proves what
	// the request asks (the account-security step-up), then enrols, then
	// ends as any flow does; a live session alone never answers it.
	AddFactor string
	// Passive asks for no interaction (SAML IsPassive, prompt=none): when
	// the browser's session does not already meet the request,
	// Authenticate returns ErrInteractionRequired instead of showing a
	// page.
	Passive bool
	// SecondFactorOnly: the app checked the first factor itself and asks
	// for the second alone (policy.Input.SecondFactorOnly) — Microsoft
	// Entra ID with Gatehouse as its external authentication method. The
	// flow starts at the second factor, or its enrolment, for KnownUser;
	// it never asks for a password, never reads the browser's session,
	// never issues one and remembers no browser, so nothing it proves
	// counts for another app or for Gatehouse's own pages. Its result
	// answers this request alone (the endpoint called in place, or the
	// flow's ResumeParam) and carries no password time.
	SecondFactorOnly bool
	// KnownUser is the user a SecondFactorOnly request is for, as the
	// protocol found them (FindUser) and matched them to the app's
	// account. It starts the flow and is not kept in it (the flow keeps
	// its user); a resumed request leaves it nil.
	KnownUser *directory.User `json:"-"`
}

// sameAsk reports whether a flow finished for r answers o: the same app
// or action with the same demands. A flow for a weaker request (a
// password-only /login, no wfresh) must not answer a stricter one.
func (r Request) sameAsk(o Request) bool {
	return r.App == o.App && r.Action == o.Action && r.RequireMFA == o.RequireMFA && r.ForceAuthn == o.ForceAuthn &&
		r.MaxAge == o.MaxAge && r.MFAMaxAge == o.MFAMaxAge && r.AddFactor == o.AddFactor && r.SecondFactorOnly == o.SecondFactorOnly
}

// ResumeParam is the query parameter that carries a finished flow's id
// back to the protocol.
const ResumeParam = "gh_flow"

// Result is an authenticated user, as a protocol needs it.
type Result struct {
	SessionID string
	User      directory.User
	AuthTime  time.Time // when the password (or passkey) was verified
	MFATime   time.Time // zero when no second factor was used
	Methods   []string  // RFC 8176 amr values actually used
	State     []byte    // the protocol's saved request (resumed flows only)

	factors    []string  // the second factors used (policy method names)
	remembered bool      // the browser is remembered for this user
	flowStart  time.Time // when the flow that produced it began (zero for a session)
	mfaClaim   bool      // set by admit: the policy lets a token claim MFA
	// secondFactorOnly: a SecondFactorOnly flow produced it (no session,
	// no password); it answers only a SecondFactorOnly request.
	secondFactorOnly bool
}

// MFA reports whether a token may say a second factor was used: one was
// used in this session, and the policy counts it for the app (an email
// code does not unless mfa.email_as_second_factor; a remembered browser
// never does).
func (r *Result) MFA() bool { return r.mfaClaim }

// proof is what the result has proved, for the policy; since is when the
// flow that produced it began (zero for a session).
func (r *Result) proof(since time.Time) policy.Proof {
	p := policy.Proof{PasswordAt: r.AuthTime, MFAAt: r.MFATime, Factors: r.factors, Remembered: r.remembered, Since: since}
	return p
}

// flowState is the engine's state for one flow, kept in store.Flow.Data.
type flowState struct {
	// enrolled is the user's methods as mfaStep read them, for the page the
	// same request shows; never stored.
	enrolled   []string
	Req        Request         `json:"req"`
	Binding    string          `json:"binding"` // sha256 of the browser's binding cookie
	Login      string          `json:"login,omitempty"`
	User       *directory.User `json:"user,omitempty"`
	PasswordAt time.Time       `json:"password_at,omitzero"`
	MFAAt      time.Time       `json:"mfa_at,omitzero"`
	Methods    []string        `json:"methods,omitempty"`
	// Factors are the second factors used in this flow (method names);
	// Remembered: the browser was remembered for the user, which lets a
	// configured MFA requirement pass without a factor (never a demanded
	// one, never the MFA claim).
	Factors    []string `json:"factors,omitempty"`
	Remembered bool     `json:"remembered,omitempty"`
	// Familiar is what the abuse guard judged the client that gave the
	// password, for the sign-in's audit event.
	Familiar   audit.Familiarity `json:"familiar,omitempty"`
	MustChange string            `json:"must_change,omitempty"` // "expired" or "must_change"
	// Remember: the user ticked "remember this browser" with the second
	// factor; done when the flow ends, by the request that ends it.
	Remember    bool            `json:"remember,omitempty"`
	SealedOld   []byte          `json:"sealed_old,omitempty"` // old password sealed for the change step
	Pending     json.RawMessage `json:"pending,omitempty"`    // a factor's in-progress data (enrolment, email challenge)
	SessionID   string          `json:"session_id,omitempty"` // set when done
	PriorSessID string          `json:"prior_session_id,omitempty"`
	Consumed    bool            `json:"consumed,omitempty"`
	// Added: the factor Req.AddFactor asked for has been enrolled.
	Added bool `json:"added,omitempty"`
	// Recovery is a self-service recovery's own part (MountRecovery); nil
	// in a sign-in.
	Recovery *recoveryState `json:"recovery,omitempty"`
}

func newID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashBinding(v string) string {
	s := sha256.Sum256([]byte("gh-bind\x00" + v))
	return hex.EncodeToString(s[:])
}

// ErrInteractionRequired is Authenticate's answer to a Passive request the
// browser's session does not meet: the protocol tells the app so (SAML
// NoPassive, OIDC login_required) instead of showing a page.
var ErrInteractionRequired = errors.New("signin: the request is passive but the user must interact")

var errFlowGone = errors.New("signin: flow missing, expired or not this browser's")

// flowSignIn is the store.Flow.Kind of a sign-in.
const flowSignIn = "signin"

// loadFlow returns the sign-in flow if it exists, is live, and belongs to
// this browser.
func (e *Engine) loadFlow(ctx context.Context, r *http.Request, id string) (store.Flow, flowState, error) {
	return e.loadFlowOf(ctx, r, id, flowSignIn)
}

// loadFlowOf is loadFlow for a flow of kind: a flow of another kind (a
// reset's id given to /login) is gone to this one.
func (e *Engine) loadFlowOf(ctx context.Context, r *http.Request, id, kind string) (store.Flow, flowState, error) {
	var st flowState
	if id == "" || len(id) > 64 {
		return store.Flow{}, st, errFlowGone
	}
	f, err := e.flows.GetFlow(ctx, id, e.now())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return f, st, errFlowGone
		}
		return f, st, err
	}
	if f.Kind != kind {
		return f, st, errFlowGone
	}
	if err := json.Unmarshal(f.Data, &st); err != nil {
		return f, st, fmt.Errorf("signin: flow %s: %w", id, err)
	}
	ck, err := r.Cookie(e.bindCookie())
	if err != nil || st.Binding == "" || hashBinding(ck.Value) != st.Binding {
		return f, st, errFlowGone
	}
	return f, st, nil
}

// maxNewFlow caps a new flow's state: what a protocol asks to keep for the
// sign-in (its request and resume URL) is never near it; a flood of huge
// requests cannot fill the store with it.
const maxNewFlow = 32 << 10

// newFlow stores a new flow of kind at step. It names st.User, if any: a
// flow names its user only once the user is proved.
func (e *Engine) newFlow(ctx context.Context, kind, step string, st flowState) (store.Flow, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return store.Flow{}, err
	}
	if len(data) > maxNewFlow {
		return store.Flow{}, web.Errorf(http.StatusBadRequest, "error.signin_too_large",
			fmt.Errorf("signin: a new flow of %d bytes", len(data))).Then(web.NextHome) // the application's request is what is too large
	}
	now := e.now()
	f := store.Flow{ID: newID(), Kind: kind, Step: step, Data: data, CreatedAt: now, ExpiresAt: now.Add(e.flowTimeout)}
	if st.User != nil {
		f.UserID = st.User.ID
	}
	return f, CreateFlowError(e.flows.CreateFlow(ctx, f))
}

// saveFlow writes the new step and state with compare-and-swap on step:
// a double-submitted form cannot advance a flow twice.
func (e *Engine) saveFlow(ctx context.Context, id, fromStep, toStep string, st flowState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = e.flows.UpdateFlow(ctx, id, func(f store.Flow) (store.Flow, error) {
		if f.Step != fromStep {
			return f, errStaleStep
		}
		f.Step, f.Data = toStep, data
		if st.User != nil {
			f.UserID = st.User.ID
		}
		return f, nil
	})
	return err
}

var errStaleStep = errors.New("signin: the flow moved on")

// sessionData is what a session keeps about its user, so a single sign-on
// needs no directory round trip.
type sessionData struct {
	User       directory.User `json:"user"`
	App        string         `json:"app,omitempty"`
	Factors    []string       `json:"factors,omitempty"`
	Remembered bool           `json:"remembered,omitempty"`
	// PwdLastSet is the directory's pwdLastSet of the password the session
	// is based on: one set later ends the session (recheck.go).
	PwdLastSet time.Time `json:"pwd_last_set,omitzero"`
	// Participants are the applications that received tokens in the
	// session (participants.go), which a sign-out tells.
	Participants []Participant `json:"participants,omitempty"`
}
