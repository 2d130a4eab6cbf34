package mfa

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Method names, as written in config (mfa.methods), in flow state and as
// store.Credential.Type for the methods that store a credential.
const (
	MethodTOTP     = "totp"
	MethodWebAuthn = "webauthn"
	MethodEmail    = "email"
	MethodRecovery = "recovery"
)

// RFC 8176 authentication method reference values a second factor adds to
// a session. The engine adds "mfa" itself when a second factor was used.
const (
	// AMROTP is "otp", a one-time password: TOTP, email and recovery codes.
	AMROTP = "otp"
	// AMRHardwareKey is "hwk", proof of possession of a hardware-secured
	// key: the default for WebAuthn.
	AMRHardwareKey = "hwk"
	// AMRSoftwareKey is "swk", proof of possession of a software-secured
	// key: for a WebAuthn credential known to be synced or software-held.
	AMRSoftwareKey = "swk"
)

// AMR returns the RFC 8176 amr value a successful verification of method
// contributes, or "" for an unknown method.
//
// Recovery codes count as "otp": RFC 8176 defines otp as a one-time
// password, and a recovery code is exactly that — a pre-issued secret,
// each usable once. "kba" would be wrong (it means answers to knowledge
// questions) and "pwd" would make a relying party believe only a password
// was presented. WebAuthn maps to "hwk" here; the webauthn factor reports
// "swk" instead when it knows the authenticator is software-backed.
func AMR(method string) string {
	switch method {
	case MethodTOTP, MethodEmail, MethodRecovery:
		return AMROTP
	case MethodWebAuthn:
		return AMRHardwareKey
	}
	return ""
}

// Typed errors. Factors return them wrapped; test with errors.Is.
var (
	// ErrInvalidCode is returned for a wrong, expired, replayed or
	// already-used code alike. The user must not learn which (Reason tells
	// the log).
	ErrInvalidCode = errors.New("mfa: invalid code")
	// ErrThrottled is returned when too many attempts were made; the user
	// should wait or use another factor.
	ErrThrottled = errors.New("mfa: too many attempts")
	// ErrNotEnrolled is returned when the user has no usable factor of the
	// method asked for.
	ErrNotEnrolled = errors.New("mfa: factor not enrolled")
)

// Reasons a code was refused, for logs and audit events only.
const (
	ReasonMalformed = "malformed" // not of the code's shape
	ReasonWrong     = "wrong"     // does not match
	ReasonExpired   = "expired"   // the challenge or enrolment ran out
	ReasonReplayed  = "replayed"  // a TOTP step already used
	ReasonUsed      = "used"      // wrong, or right but already consumed (cannot be told apart)
	ReasonMismatch  = "mismatch"  // enrolment state belongs to someone else
)

// CodeError is a refused code. It matches ErrInvalidCode with errors.Is;
// Reason says why, for the log only.
type CodeError struct {
	Method string
	Reason string
}

// Error names the method and the reason; it never holds the code.
func (e *CodeError) Error() string {
	return "mfa: invalid code (" + e.Method + ": " + e.Reason + ")"
}

// Is makes errors.Is(err, ErrInvalidCode) true.
func (e *CodeError) Is(target error) bool { return target == ErrInvalidCode }

// Invalid returns a CodeError for method and reason.
func Invalid(method, reason string) error { return &CodeError{Method: method, Reason: reason} }

// Reason returns why err refused a code ("wrong", "replayed", …),
// "throttled" or "not_enrolled" for those errors, and "" for any other.
// It is meant for audit records and logs, never for the user.
func Reason(err error) string {
	var ce *CodeError
	switch {
	case errors.As(err, &ce):
		return ce.Reason
	case errors.Is(err, ErrThrottled):
		return "throttled"
	case errors.Is(err, ErrNotEnrolled):
		return "not_enrolled"
	}
	return ""
}

// Limit is a number of attempts allowed in a fixed window.
type Limit struct {
	Max    int
	Window time.Duration
}

// NoLimit is a Limit that never refuses and counts nothing: for a factor
// whose checks another layer budgets (internal/abuse, one budget per user
// across methods).
func NoLimit() Limit { return Limit{Max: -1} }

// Limiter counts attempts in store.Throttle counters. Attempt counts
// before the check it guards, so concurrent attempts cannot overrun the
// limit: the counter is incremented atomically and only the first Max in a
// window are let through.
type Limiter struct {
	Throttle store.Throttle
	Limit    Limit
}

// Attempt records one attempt under key and returns ErrThrottled when it
// is beyond the limit.
func (l Limiter) Attempt(ctx context.Context, key string, now time.Time) error {
	if l.Limit.Max < 0 {
		return nil
	}
	c, err := l.Throttle.IncrementCounter(ctx, key, now, l.Limit.Window)
	if err != nil {
		return fmt.Errorf("mfa: throttle: %w", err)
	}
	if c.Count > l.Limit.Max {
		return ErrThrottled
	}
	return nil
}

// Reset clears key's counter, after a success.
func (l Limiter) Reset(ctx context.Context, key string) error {
	if l.Limit.Max < 0 {
		return nil
	}
	if err := l.Throttle.ResetCounter(ctx, key); err != nil {
		return fmt.Errorf("mfa: throttle: %w", err)
	}
	return nil
}

// Factor is one enrolled factor of a user, as listed on the account page.
type Factor struct {
	ID         string // store credential ID
	Method     string // MethodTOTP, MethodWebAuthn, MethodRecovery
	Name       string // the user's label
	CreatedAt  time.Time
	LastUsedAt time.Time // zero when never used
}

// CredentialLister is the part of store.Credentials ListFactors needs.
type CredentialLister interface {
	ListCredentials(ctx context.Context, userID string) ([]store.Credential, error)
}

// ListFactors returns the user's enrolled factors of the known methods,
// oldest first. Email codes need no enrolment (they go to the directory's
// mail address) and so are never listed. A recovery-code set is listed
// even when no code is left; recovery.Codes.Remaining tells.
func ListFactors(ctx context.Context, s CredentialLister, userID string) ([]Factor, error) {
	creds, err := s.ListCredentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("mfa: list factors: %w", err)
	}
	var out []Factor
	for _, c := range creds {
		switch c.Type {
		case MethodTOTP, MethodWebAuthn, MethodRecovery:
			out = append(out, Factor{ID: c.ID, Method: c.Type, Name: c.Name, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt})
		}
	}
	return out, nil
}

// MaxInput bounds the length of a code as typed; anything longer is
// refused before it is looked at.
const MaxInput = 64

// NormalizeDigits turns a typed numeric code into its canonical form: it
// drops white space (including the no-break spaces some phones paste) and
// dashes, and accepts exactly n ASCII digits. It reports false for
// anything else.
func NormalizeDigits(s string, n int) (string, bool) {
	if len(s) > MaxInput || n <= 0 {
		return "", false
	}
	var b strings.Builder
	b.Grow(n)
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			if b.Len() == n {
				return "", false
			}
			b.WriteRune(r)
		case IsSeparator(r):
		default:
			return "", false
		}
	}
	if b.Len() != n {
		return "", false
	}
	return b.String(), true
}

// IsSeparator reports whether r may appear between the characters of a
// typed code: spaces of any kind and dashes. The factor parsers share it.
func IsSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\u00a0', '\u202f', '\u2007', '\u2009', '-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212':
		return true
	}
	return false
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a random 128-bit identifier read from rnd, for credential
// and challenge IDs.
func NewID(rnd io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", fmt.Errorf("mfa: randomness: %w", err)
	}
	return strings.ToLower(idEncoding.EncodeToString(b[:])), nil
}
