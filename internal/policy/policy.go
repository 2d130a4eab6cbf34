// Package policy answers one question for every flow: what must this user
// prove, for this app or self-service action, now? Protocols, the sign-in
// engine, /account and the self-service flows ask Decide (and Recovery for
// a forgotten password or a locked account); nothing else decides.
//
// It is a pure function of its inputs: no I/O, no clock of its own, no
// HTTP. Callers gather what it needs (the user, the methods they have, what
// the session or flow has proved) and act on the Decision.
package policy

import (
	"slices"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// Factor method names, as in mfa.methods.
const (
	MethodTOTP     = "totp"
	MethodWebAuthn = "webauthn"
	MethodEmail    = "email"
	MethodRecovery = "recovery"
)

// Action is a Gatehouse action that is not signing in to an app.
type Action string

// Actions.
const (
	// ActionSignIn is signing in to an app (Target.App) or to Gatehouse's
	// own pages (/, /account, /password/change): mfa.required_for applies.
	ActionSignIn Action = ""
	// ActionAccountSecurity is creating or replacing a factor (new
	// recovery codes, adding or removing a factor): a second factor used
	// within Settings.StepUpWindow whenever the user has one, whatever
	// mfa.required_for says; a user with none enrols a strong one first.
	ActionAccountSecurity Action = "account_security"
)

// App is what the policy needs of a configured app.
type App struct {
	// MFA is "required", "optional" or "" (follow mfa.required_for).
	MFA string
	// Groups, when set, limits the app to members of any of these groups.
	Groups []string
	// DenyPasswordOnly refuses password-only channels (WS-Trust) for the
	// app (ws_trust: deny).
	DenyPasswordOnly bool
}

// Settings are the configuration the policy applies.
type Settings struct {
	// RequiredFor is "all", "apps" or "none" (mfa.required_for).
	RequiredFor string
	// RequiredGroups' members always need a second factor, whatever the
	// app says (mfa.required_groups).
	RequiredGroups []string
	// Apps by configured name.
	Apps map[string]App
	// EmailIsMFA lets an email code be the second factor where one is
	// required (mfa.email_as_second_factor). Off by default: a federated
	// user's mailbox often sits behind this very sign-in, or is reachable
	// with the password alone.
	EmailIsMFA bool
	// StepUpWindow is how recent the second factor must be for an
	// ActionAccountSecurity (and the password, for a user with none).
	StepUpWindow time.Duration
	// Recovery: what a forgotten-password reset or an unlock must verify.
	Recovery RecoveryRule
}

// Demands are what the request itself asks for.
type Demands struct {
	// MFA: the relying party wants a second factor (wauth=multipleauthn,
	// RequestedAuthnContext, acr_values); a remembered browser does not
	// satisfy it.
	MFA bool
	// ForceAuthn: verify the password again now (wfresh=0, prompt=login,
	// ForceAuthn).
	ForceAuthn bool
	// MaxAge: the password must have been verified this recently.
	MaxAge time.Duration
	// MFAMaxAge: the second factor must have been used this recently
	// (asking how fresh it is asks for one).
	MFAMaxAge time.Duration
}

// Proof is what a session or flow has proved.
type Proof struct {
	// PasswordAt is when the password (or a passwordless passkey) was
	// verified; zero for none.
	PasswordAt time.Time
	// MFAAt is when a second factor was used in this session; zero for
	// none. A remembered browser does not set it.
	MFAAt time.Time
	// Factors are the methods used for MFAAt (totp, webauthn, email,
	// recovery); a passwordless passkey counts as webauthn.
	Factors []string
	// Remembered: the browser is remembered for this user (it passed a
	// second factor here within sessions.remember_device). It satisfies a
	// second factor the configuration requires, never one the request
	// demands, and never adds the MFA claim.
	Remembered bool
	// Since: proofs made at or after this time were made for this very
	// request (a flow it started); they satisfy ForceAuthn. Zero for a
	// session that predates the request.
	Since time.Time
}

// Input is one question.
type Input struct {
	App    string // the app's configured name; "" for Gatehouse itself
	Action Action
	// PasswordOnly: the channel can check nothing but a password
	// (WS-Trust usernamemixed).
	PasswordOnly bool
	Demands      Demands
	// User is nil until the user is known.
	User *directory.User
	// Enrolled are the enabled methods the user has; nil when not looked
	// up (then Enrol and Methods are left for the step that looks).
	Enrolled []string
	// MustChange: the password was right but expired or must change; the
	// second factor comes first whenever the user has one.
	MustChange bool
	// SecondFactorOnly: the app checked the first factor itself and asks
	// Gatehouse for the second alone — Microsoft Entra ID with Gatehouse
	// as its external authentication method. No password is asked (it was
	// not Gatehouse that checked it, so nothing here counts as a password
	// proof); a second factor is always needed, made for this very request
	// (Proof.Since) — never a session's, never a remembered browser — and
	// a recovery code is none (SecondFactorOnlyAcceptable). A user with no
	// method enrols one, as after a password; a user left with recovery
	// codes alone is Denied: those are for Gatehouse's own sign-in, where
	// a new method is added, and enrolling one here instead would let the
	// first factor alone replace a factor the user still has.
	SecondFactorOnly bool
	Proof            Proof
	Now              time.Time
}

// Decision is what must be proved now.
type Decision struct {
	// Denied: this user may not use this app at all (not in its groups,
	// or a password-only channel the app refuses); Reason says which.
	Denied bool
	// Password: the password (or a passwordless passkey) must be verified
	// now.
	Password bool
	// MFA: a second factor must be used now.
	MFA bool
	// Enrol: MFA is needed and the user has none of Methods; a strong
	// factor must be enrolled first (it then counts as the second factor).
	Enrol bool
	// Methods are the user's methods that may serve as the second factor
	// (when Enrolled was given).
	Methods []string
	// MFAClaim: a token may say a second factor was used (multipleauthn,
	// amr mfa): one was used in this session.
	MFAClaim bool
	// Reason names the rule that decided, for logs and audit.
	Reason string
}

// Satisfied reports whether nothing more is needed.
func (d Decision) Satisfied() bool { return !d.Denied && !d.Password && !d.MFA && !d.Enrol }

// Strong reports whether a method is a strong factor: one the password
// does not reach (an authenticator app or a passkey).
func Strong(method string) bool { return method == MethodTOTP || method == MethodWebAuthn }

// accepts reports whether method may serve as a second factor.
func (s Settings) accepts(method string) bool {
	return method != MethodEmail || s.EmailIsMFA
}

// Decide answers: what must in.User prove for in.App or in.Action, now.
func Decide(s Settings, in Input) Decision {
	var d Decision
	app, known := s.Apps[in.App]
	if in.App != "" && known && in.User != nil && len(app.Groups) > 0 && !in.User.InAnyGroup(app.Groups) {
		return Decision{Denied: true, Reason: "not_in_app_groups"}
	}
	if in.PasswordOnly && app.DenyPasswordOnly {
		return Decision{Denied: true, Reason: "password_only_denied"}
	}
	if in.SecondFactorOnly {
		return secondFactorOnly(s, in)
	}
	p := in.Proof
	switch {
	case p.PasswordAt.IsZero():
		d.Password, d.Reason = true, "no_session"
	case in.Demands.ForceAuthn && (p.Since.IsZero() || p.PasswordAt.Before(p.Since)):
		d.Password, d.Reason = true, "force_authn"
	case in.Demands.MaxAge > 0 && in.Now.Sub(p.PasswordAt) > in.Demands.MaxAge:
		d.Password, d.Reason = true, "max_age"
	case in.Action == ActionAccountSecurity && in.Now.Sub(p.PasswordAt) > s.StepUpWindow && !hasAccepted(s, in.Enrolled):
		// No factor to step up with: the password itself must be fresh
		// (and the user then enrols one).
		d.Password, d.Reason = true, "step_up_password"
	}
	if in.Enrolled != nil {
		d.Methods = s.Acceptable(in.Enrolled)
	}
	// A second factor counts when every method it was made with is
	// acceptable here (an email code does not count where email is not).
	usable := !p.MFAAt.IsZero() && len(p.Factors) > 0 && !slices.ContainsFunc(p.Factors, func(m string) bool { return !s.accepts(m) })
	d.MFAClaim = usable
	need, remembered, fresh, why := mfaNeed(s, in, app, known)
	if in.PasswordOnly {
		// WS-Trust cannot ask for a second factor: its tokens never carry
		// the MFA claim and the app's own setting (ws_trust) decides.
		d.MFAClaim = false
		return d
	}
	if !need {
		return d
	}
	ok := usable && (fresh == 0 || in.Now.Sub(p.MFAAt) <= fresh)
	if !ok && remembered && p.Remembered {
		ok = true
	}
	if ok {
		return d
	}
	d.MFA = true
	if d.Reason == "" {
		d.Reason = why
	}
	if in.Enrolled != nil && len(d.Methods) == 0 {
		d.Enrol = true
	}
	return d
}

// ReasonRecoveryCodesOnly is the Reason of a SecondFactorOnly decision
// that denies a user whose only method left is recovery codes.
const ReasonRecoveryCodesOnly = "recovery_codes_only"

// secondFactorOnly decides a SecondFactorOnly input (see Input).
func secondFactorOnly(s Settings, in Input) Decision {
	var d Decision
	if in.Enrolled != nil {
		d.Methods = s.SecondFactorOnlyAcceptable(in.Enrolled)
	}
	p := in.Proof
	made := !p.Since.IsZero() && !p.MFAAt.IsZero() && !p.MFAAt.Before(p.Since) && len(p.Factors) > 0 &&
		!slices.ContainsFunc(p.Factors, func(m string) bool { return !s.acceptsAlone(m) })
	if made {
		d.MFAClaim = true
		return d
	}
	d.MFA, d.Reason = true, "second_factor_only"
	if in.Enrolled != nil && len(d.Methods) == 0 {
		if slices.Contains(in.Enrolled, MethodRecovery) {
			return Decision{Denied: true, Reason: ReasonRecoveryCodesOnly}
		}
		d.Enrol = true
	}
	return d
}

// acceptsAlone reports whether method may be the second factor of a
// SecondFactorOnly answer: one a second factor may be at all, and not a
// recovery code — a printed fallback for regaining Gatehouse, which the
// answer could only call "otp" though it is no device the user holds.
func (s Settings) acceptsAlone(method string) bool {
	return method != MethodRecovery && s.accepts(method)
}

// SecondFactorOnlyAcceptable is the subset of enrolled that may answer a
// SecondFactorOnly request.
func (s Settings) SecondFactorOnlyAcceptable(enrolled []string) []string {
	return slices.DeleteFunc(slices.Clone(enrolled), func(m string) bool { return !s.acceptsAlone(m) })
}

// hasAccepted reports whether enrolled holds a method accepted as a second
// factor.
func hasAccepted(s Settings, enrolled []string) bool {
	return slices.ContainsFunc(enrolled, s.accepts)
}

// mfaNeed says whether a second factor is needed, whether a remembered
// browser may stand in for it, how fresh it must be (0: any time in this
// session) and why.
func mfaNeed(s Settings, in Input, app App, known bool) (need, remembered bool, fresh time.Duration, why string) {
	switch {
	case in.Action == ActionAccountSecurity:
		if in.Enrolled != nil && !hasAccepted(s, in.Enrolled) {
			return true, false, 0, "step_up_enrol" // a factor is enrolled first
		}
		return true, false, s.StepUpWindow, "step_up"
	case in.Demands.MFA || in.Demands.MFAMaxAge > 0:
		return true, false, in.Demands.MFAMaxAge, "request"
	case in.MustChange && (in.Enrolled == nil || hasAccepted(s, in.Enrolled)):
		// An expired password proves little: the second factor first
		// whenever the user has one (a remembered browser is no proof).
		return true, false, 0, "must_change"
	}
	switch {
	case known && app.MFA == "required":
		return true, true, 0, "app"
	case in.User != nil && in.User.InAnyGroup(s.RequiredGroups):
		return true, true, 0, "group"
	case known && app.MFA == "optional":
		return false, false, 0, ""
	case s.RequiredFor == "all":
		return true, true, 0, "required_for_all"
	}
	return false, false, 0, ""
}

// Acceptable is the subset of enrolled that may serve as a second factor.
func (s Settings) Acceptable(enrolled []string) []string {
	return slices.DeleteFunc(slices.Clone(enrolled), func(m string) bool { return !s.accepts(m) })
}
