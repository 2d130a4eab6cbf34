package directory

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Typed errors. Authenticate returns them wrapped; test with errors.Is.
var (
	// ErrInvalidCredentials: wrong password or unknown user — never tell
	// which.
	ErrInvalidCredentials = errors.New("directory: invalid credentials")
	// ErrPasswordExpired: the password was right but has expired; the user
	// may change it in place.
	ErrPasswordExpired = errors.New("directory: password expired")
	// ErrMustChangePassword: the password was right but must be changed at
	// this sign-in.
	ErrMustChangePassword = errors.New("directory: password must be changed")
	// ErrAccountLocked: locked out after too many bad passwords.
	ErrAccountLocked = errors.New("directory: account locked")
	// ErrAccountDisabled: disabled by an administrator.
	ErrAccountDisabled = errors.New("directory: account disabled")
	// ErrAccountExpired: the account's end date has passed.
	ErrAccountExpired = errors.New("directory: account expired")
	// ErrNotPermitted: sign-in not allowed at this time or from here.
	ErrNotPermitted = errors.New("directory: sign-in not permitted now or from here")
	// ErrUserNotFound is returned by LookupUser only. Authenticate reports an
	// unknown user as ErrInvalidCredentials.
	ErrUserNotFound = errors.New("directory: user not found")
	// ErrAmbiguousUser: a login matched more than one account.
	ErrAmbiguousUser = errors.New("directory: login matches more than one account")
	// ErrWrongPassword: a password change was refused because the current
	// password is wrong.
	ErrWrongPassword = errors.New("directory: current password is wrong")
	// ErrUnavailable: no directory server could be reached.
	ErrUnavailable = errors.New("directory: unavailable")
)

// PasswordAccepted reports whether err means the password itself was right
// (expired or must-change), so a flow may continue to a password change.
func PasswordAccepted(err error) bool {
	return errors.Is(err, ErrPasswordExpired) || errors.Is(err, ErrMustChangePassword)
}

// Reason is one rule a new password broke.
type Reason string

// The rules a new password can break.
const (
	ReasonTooShort     Reason = "too_short"
	ReasonComplexity   Reason = "complexity"
	ReasonHistory      Reason = "history"
	ReasonTooYoung     Reason = "too_young"
	ReasonContainsName Reason = "contains_name"
	// ReasonBreached and ReasonWeak come from Gatehouse's own checks
	// (internal/password), not from the directory.
	ReasonBreached       Reason = "breached"
	ReasonWeak           Reason = "weak"
	ReasonUnknownRefusal Reason = "refused"
)

// PolicyViolation is a broken rule with its wording for the user.
type PolicyViolation struct {
	Reason  Reason
	Message string // e.g. "Use at least 12 characters."
}

// PolicyError is returned when a new password breaks the password policy.
// Its violations are precise and safe to show to the user.
type PolicyError struct {
	Violations []PolicyViolation
}

func (e *PolicyError) Error() string {
	return "directory: password policy: " + Messages(e.Violations)
}

// Messages joins the violations' wording for the user.
func Messages(v []PolicyViolation) string {
	msgs := make([]string, len(v))
	for i, x := range v {
		msgs[i] = x.Message
	}
	return strings.Join(msgs, " ")
}

// Has reports whether the error includes reason r.
func (e *PolicyError) Has(r Reason) bool {
	for _, v := range e.Violations {
		if v.Reason == r {
			return true
		}
	}
	return false
}

// AccountState is what the directory says about an account.
type AccountState struct {
	Disabled        bool
	Locked          bool
	LockedUntil     time.Time // zero: until an administrator unlocks
	MustChange      bool
	PasswordExpires time.Time // zero: never
	AccountExpires  time.Time // zero: never
	PasswordLastSet time.Time
	// BadPasswordCount and BadPasswordTime are AD's badPwdCount and
	// badPasswordTime as the DC that answered holds them (AD keeps them per
	// DC): wrong passwords since the last right one, and when the last was.
	BadPasswordCount int
	BadPasswordTime  time.Time
	// Lockout is the lockout rule that applies to the account (its PSO, or
	// the domain's); nil when the directory could not read it.
	Lockout *LockoutPolicy `json:",omitempty"`
}

// LockoutPolicy is when the directory locks an account out: at the
// Threshold-th wrong password within ObservationWindow of the previous
// one, for Duration.
type LockoutPolicy struct {
	Threshold         int           // zero: never
	ObservationWindow time.Duration // a wrong password older than this no longer counts
	Duration          time.Duration // zero with a threshold: until an administrator unlocks
}

// Counted returns the wrong passwords that still count towards a lockout at
// now: BadPasswordCount, or zero when the last one is older than the
// observation window (AD then starts again at one).
func (s AccountState) Counted(now time.Time) int {
	if s.Lockout == nil || s.BadPasswordCount <= 0 {
		return max(s.BadPasswordCount, 0)
	}
	if w := s.Lockout.ObservationWindow; w > 0 && !s.BadPasswordTime.IsZero() && !now.Before(s.BadPasswordTime.Add(w)) {
		return 0
	}
	return s.BadPasswordCount
}

// User is a directory account.
type User struct {
	// ID is the stable key Gatehouse stores against the user (hex of the
	// objectGUID in AD); it never changes when the user is renamed.
	ID             string
	DN             string
	SAMAccountName string
	UPN            string
	Mail           string
	// AlternateMail is the configured alternate address (e.g. a private
	// one) for reset and unlock codes; empty when none.
	AlternateMail string
	DisplayName   string
	GivenName     string
	Surname       string
	// ImmutableID is what Entra ID matches the user on: base64 of the raw
	// bytes of the configured source attribute.
	ImmutableID string
	// Groups holds the distinguished names of every group the user is in,
	// nested membership included.
	Groups []string
	// Attributes holds the extra AD attributes apps are configured to
	// receive (SAML attribute mapping "ad:<name>"), keyed by the
	// attribute's name in lower case; nil when none were asked for (the
	// file directory returns whatever its users carry). See attributes.go.
	Attributes map[string][]string
	State      AccountState
}

// InGroup reports whether the user is in the group named by DN or by CN,
// case-insensitively.
func (u *User) InGroup(group string) bool {
	for _, g := range u.Groups {
		if strings.EqualFold(g, group) {
			return true
		}
		cn, _, _ := strings.Cut(g, ",")
		if strings.EqualFold(strings.TrimPrefix(strings.TrimPrefix(cn, "CN="), "cn="), group) {
			return true
		}
	}
	return false
}

// InAnyGroup reports whether the user is in at least one of groups (see
// InGroup).
func (u *User) InAnyGroup(groups []string) bool {
	for _, g := range groups {
		if u.InGroup(g) {
			return true
		}
	}
	return false
}

// Directory authenticates users and looks them up.
type Directory interface {
	// Authenticate checks login + password. On success it returns the user.
	// With ErrPasswordExpired or ErrMustChangePassword it also returns the
	// user (the password was right). Any other failure returns a nil user.
	Authenticate(ctx context.Context, login, password string) (*User, error)
	// LookupUser finds a user by any configured login attribute, or
	// ErrUserNotFound.
	LookupUser(ctx context.Context, login string) (*User, error)
	// Check reports whether the directory can serve now (for /readyz and
	// startup).
	Check(ctx context.Context) error
	// Close releases connections.
	Close() error
}

// PasswordChanger changes a password as the user: the old password is
// checked and the history enforced. It works for users whose password has
// expired or must change.
type PasswordChanger interface {
	ChangePassword(ctx context.Context, u *User, oldPassword, newPassword string) error
}

// PasswordResetter sets a new password administratively (after the user
// proved who they are with a second factor), enforcing the policy
// including history where the directory can.
type PasswordResetter interface {
	ResetPassword(ctx context.Context, u *User, newPassword string) error
}

// ResetHistoryReporter is a PasswordResetter whose resets may not check
// the password history. Active Directory checks it on a reset only with
// the policy-hints control, which not every DC offers (Samba 4.17 does
// not); a page that promises "not one of your last N passwords" asks
// first. A PasswordResetter without this method always checks history.
type ResetHistoryReporter interface {
	// ResetChecksHistory reports whether ResetPassword, sent now, refuses
	// a password from the user's history.
	ResetChecksHistory(ctx context.Context) (bool, error)
}

// Unlocker clears a lockout.
type Unlocker interface {
	Unlock(ctx context.Context, u *User) error
}

// Policy is the effective password policy for a user.
type Policy struct {
	MinLength         int
	Complexity        bool
	HistoryLength     int
	MinAge            time.Duration
	MaxAge            time.Duration // zero: passwords never expire
	LockoutThreshold  int           // zero: no lockout
	LockoutDuration   time.Duration // zero with a threshold: until an administrator unlocks
	ObservationWindow time.Duration
	// Source names where the policy came from: "domain" or the PSO's DN.
	Source string
}

// Lockout returns the lockout part of the policy.
func (p Policy) Lockout() LockoutPolicy {
	return LockoutPolicy{Threshold: p.LockoutThreshold, ObservationWindow: p.ObservationWindow, Duration: p.LockoutDuration}
}

// CheckedAuthenticator authenticates with a check between finding the user
// and checking the password, in the same directory round trips as
// Authenticate. The abuse guard uses it to take the account's budget, and
// read the account's lockout state, before a password reaches the
// directory.
type CheckedAuthenticator interface {
	// AuthenticateWith is Authenticate, except that once login names
	// exactly one user, before is called with that user as just read
	// (State fresh, Lockout filled in where the directory can) and before
	// the password is checked. An error from before is returned unchanged
	// and the password is never checked. before is not called for an
	// unknown or ambiguous login (ErrInvalidCredentials) or when the
	// lookup fails.
	AuthenticateWith(ctx context.Context, login, password string, before func(context.Context, *User) error) (*User, error)
}

// DomainPolicyReader reads the policy that applies to accounts without a
// fine-grained one (the domain's).
type DomainPolicyReader interface {
	DomainPolicy(ctx context.Context) (Policy, error)
}

// PolicyReader reads the effective password policy for a user.
type PolicyReader interface {
	PasswordPolicy(ctx context.Context, u *User) (Policy, error)
}

// IDLookup finds a user by User.ID (for a passkey, which names its user by
// that ID). It returns ErrUserNotFound when there is none.
type IDLookup interface {
	LookupUserByID(ctx context.Context, id string) (*User, error)
}

// ExpiryLister lists the users whose password expires soon, for expiry
// reminders.
type ExpiryLister interface {
	// ListExpiring returns every enabled user with a mail address whose
	// password expires after from and no later than until
	// (State.PasswordExpires), soonest first. Users who must change their
	// password, whose password never expires or has already expired, and
	// whose account has expired are left out. Groups may be left empty.
	ListExpiring(ctx context.Context, from, until time.Time) ([]*User, error)
}
