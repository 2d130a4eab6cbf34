package wsfed

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

// Action is the wa parameter.
type Action string

// The actions of the passive profile.
const (
	ActionSignIn         Action = "wsignin1.0"
	ActionSignOut        Action = "wsignout1.0"
	ActionSignOutCleanup Action = "wsignoutcleanup1.0"
)

// wauth values with a meaning (ENTRA.md "MFA hand-off").
const (
	AuthMFA          = assertion.MultipleAuthN
	authPasswordPath = "://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password" // #nosec G101 -- a URI, not a credential.
)

// Errors of request parsing; every error ParseSignIn and ParseSignOut
// return is a *RequestError wrapping one of them.
var (
	ErrBadAction         = errors.New("unsupported wa")
	ErrMissingParameter  = errors.New("missing parameter")
	ErrParameterTooLong  = errors.New("parameter too long")
	ErrBadParameter      = errors.New("malformed parameter")
	ErrTooManyParameters = errors.New("too many parameters")
	ErrUnknownRealm      = errors.New("unknown relying party")
	ErrReplyNotAllowed   = errors.New("reply URL does not belong to the relying party")
)

// RequestError says which parameter was wrong and how. Its message quotes
// at most a short prefix of the offending value; html-escape it before
// showing it.
type RequestError struct {
	Param string
	Err   error
	// Detail explains Err, e.g. the realm that is not known.
	Detail string
}

func (e *RequestError) Error() string {
	msg := "wsfed: " + e.Param + ": " + e.Err.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func (e *RequestError) Unwrap() error { return e.Err }

func reqErr(param string, err error, format string, args ...any) *RequestError {
	return &RequestError{Param: param, Err: err, Detail: fmt.Sprintf(format, args...)}
}

// paramLimits caps the length in bytes of each parameter WS-Fed (and
// Entra) defines; any other parameter is capped at DefaultParamLimit.
// wctx carries Entra's estsrequest, which runs to a few kilobytes.
var paramLimits = map[string]int{
	"wa": 32, "wtrealm": 1024, "wreply": 2048, "wctx": 8192, "wauth": 512, "wfresh": 16,
	"whr": 1024, "username": 1024, "login_hint": 1024, "prompt": 64, "mfa_max_age": 16, "wct": 64,
}

// ParamLimit returns the longest value, in bytes, accepted for the
// parameter name, and whether name is one WS-Fed defines (and so travels
// with a sign-in); any other is capped at DefaultParamLimit.
func ParamLimit(name string) (limit int, known bool) {
	limit, known = paramLimits[name]
	if !known {
		limit = DefaultParamLimit
	}
	return limit, known
}

// Overall limits of a request's parameters.
const (
	DefaultParamLimit = 2048
	MaxParams         = 64
)

// SignInRequest is a validated wsignin1.0 request.
type SignInRequest struct {
	RP *RelyingParty
	// Reply is where the token goes: wreply when given (always one of the
	// relying party's reply URLs), else its first reply URL.
	Reply string
	// Context is wctx, to be returned unchanged ("" when absent).
	Context string
	// Auth is wauth as sent.
	Auth string
	// RequireMFA: wauth asked for multipleauthn; MFA must happen now
	// unless MFAMaxAge allows a recent one.
	RequireMFA bool
	// ForceAuthn: wfresh=0, prompt=login or wauth=…/password; the user
	// must authenticate again even with a live session.
	ForceAuthn bool
	// MaxAuthAge is wfresh (minutes) when given: a session older than
	// this must authenticate again.
	MaxAuthAge *time.Duration
	// MFAMaxAge is mfa_max_age (seconds) when given: an MFA older than
	// this does not count.
	MFAMaxAge *time.Duration
	// LoginHint pre-fills the user name: username, else login_hint.
	LoginHint string
	// HomeRealm is whr as sent.
	HomeRealm string
	// Prompt is prompt as sent.
	Prompt string
}

// SignOutRequest is a wsignout1.0 or wsignoutcleanup1.0 request.
type SignOutRequest struct {
	Action Action
	// RP is the relying party named by wtrealm; nil when there was none.
	RP *RelyingParty
	// Reply is wreply when it is a reply URL of RP (or, without
	// wtrealm, of any relying party); "" otherwise: show a page instead
	// of redirecting.
	Reply string
}

// ParseAction checks the common limits and returns wa.
func ParseAction(q url.Values) (Action, error) {
	if err := checkParams(q); err != nil {
		return "", err
	}
	wa := q.Get("wa")
	switch Action(wa) {
	case ActionSignIn, ActionSignOut, ActionSignOutCleanup:
		return Action(wa), nil
	case "":
		return "", reqErr("wa", ErrMissingParameter, "")
	}
	return "", reqErr("wa", ErrBadAction, "%q", short(wa))
}

// checkParams applies the size and well-formedness rules to every
// parameter: limited count and length, one value each, valid UTF-8 and
// no control characters.
func checkParams(q url.Values) error {
	if len(q) > MaxParams {
		return reqErr("(query)", ErrTooManyParameters, "%d parameters, at most %d", len(q), MaxParams)
	}
	for name, vals := range q {
		if len(name) > 64 {
			return reqErr(short(name), ErrParameterTooLong, "parameter name longer than 64 bytes")
		}
		if len(vals) > 1 {
			return reqErr(name, ErrBadParameter, "given %d times", len(vals))
		}
		limit, _ := ParamLimit(name)
		for _, v := range vals {
			if len(v) > limit {
				return reqErr(name, ErrParameterTooLong, "%d bytes, at most %d", len(v), limit)
			}
			if !utf8.ValidString(v) {
				return reqErr(name, ErrBadParameter, "not valid UTF-8")
			}
			if strings.ContainsFunc(v, isControl) {
				return reqErr(name, ErrBadParameter, "contains a control character")
			}
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// short returns at most the first 64 bytes of s, for error messages.
func short(s string) string {
	if len(s) <= 64 {
		return s
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// ParseSignIn validates a wsignin1.0 request against the registry: the
// realm must be known, wreply (when given) exactly one of its reply URLs,
// and every parameter within its limit.
func ParseSignIn(q url.Values, reg *Registry) (*SignInRequest, error) {
	a, err := ParseAction(q)
	if err != nil {
		return nil, err
	}
	if a != ActionSignIn {
		return nil, reqErr("wa", ErrBadAction, "%q where %q was expected", a, ActionSignIn)
	}
	realm := q.Get("wtrealm")
	if realm == "" {
		return nil, reqErr("wtrealm", ErrMissingParameter, "")
	}
	rp, ok := reg.ByRealm(realm)
	if !ok {
		return nil, reqErr("wtrealm", ErrUnknownRealm, "%q", short(realm))
	}
	r := &SignInRequest{RP: rp, Reply: rp.ReplyURLs[0], Context: q.Get("wctx"), Auth: q.Get("wauth"),
		HomeRealm: q.Get("whr"), Prompt: q.Get("prompt")}
	if wreply := q.Get("wreply"); wreply != "" {
		if !rp.AllowsReply(wreply) {
			return nil, reqErr("wreply", ErrReplyNotAllowed, "%q is not a reply URL of %q", short(wreply), rp.Name)
		}
		r.Reply = wreply
	}
	switch r.Auth {
	case AuthMFA:
		r.RequireMFA = true
	case "http" + authPasswordPath, "https" + authPasswordPath:
		r.ForceAuthn = true
	}
	if v, ok := q["wfresh"]; ok {
		minutes, err := nonNegative(v[0])
		if err != nil {
			return nil, reqErr("wfresh", ErrBadParameter, "%v", err)
		}
		d := time.Duration(minutes) * time.Minute
		r.MaxAuthAge = &d
		if minutes == 0 {
			r.ForceAuthn = true
		}
	}
	if v, ok := q["mfa_max_age"]; ok {
		seconds, err := nonNegative(v[0])
		if err != nil {
			return nil, reqErr("mfa_max_age", ErrBadParameter, "%v", err)
		}
		d := time.Duration(seconds) * time.Second
		r.MFAMaxAge = &d
	}
	for _, p := range strings.Fields(r.Prompt) {
		if p == "login" {
			r.ForceAuthn = true
		}
	}
	r.LoginHint = q.Get("username")
	if r.LoginHint == "" {
		r.LoginHint = q.Get("login_hint")
	}
	return r, nil
}

// maxAgeValue caps wfresh and mfa_max_age so durations cannot overflow.
const maxAgeValue = 10 * 366 * 24 * 60 * 60

func nonNegative(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s[0] == '+' {
		return 0, fmt.Errorf("%q is not a non-negative integer", short(s))
	}
	if n > maxAgeValue {
		n = maxAgeValue
	}
	return n, nil
}

// ParseSignOut validates a wsignout1.0 or wsignoutcleanup1.0 request.
// wtrealm is optional; wreply is kept only when it is exactly a reply URL
// of that relying party (without wtrealm: of any relying party).
//
// The session should end whatever the outcome: on ErrUnknownRealm and
// ErrReplyNotAllowed the returned request is still usable, with Reply ""
// (show a signed-out page). Only a request whose wa or size is wrong
// returns a nil request.
func ParseSignOut(q url.Values, reg *Registry) (*SignOutRequest, error) {
	a, err := ParseAction(q)
	if err != nil {
		return nil, err
	}
	if a != ActionSignOut && a != ActionSignOutCleanup {
		return nil, reqErr("wa", ErrBadAction, "%q where a sign-out was expected", a)
	}
	r := &SignOutRequest{Action: a}
	if realm := q.Get("wtrealm"); realm != "" {
		rp, ok := reg.ByRealm(realm)
		if !ok {
			return r, reqErr("wtrealm", ErrUnknownRealm, "%q", short(realm))
		}
		r.RP = rp
	}
	wreply := q.Get("wreply")
	if wreply == "" {
		return r, nil
	}
	if r.RP != nil {
		if !r.RP.AllowsReply(wreply) {
			return r, reqErr("wreply", ErrReplyNotAllowed, "%q is not a reply URL of %q", short(wreply), r.RP.Name)
		}
		r.Reply = wreply
		return r, nil
	}
	for _, rp := range reg.All() {
		if rp.AllowsReply(wreply) {
			r.Reply = wreply
			return r, nil
		}
	}
	return r, reqErr("wreply", ErrReplyNotAllowed, "%q is not a reply URL of any relying party", short(wreply))
}
