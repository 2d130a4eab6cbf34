package signin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/abuse"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/emailcode"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/recovery"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/totp"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/webauthn"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/secrets"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// FactorSet is the engine's Factors made of the configured methods. A nil
// field means the method is off.
type FactorSet struct {
	Methods  []string // configured order (mfa.methods)
	TOTP     *totp.TOTP
	Recovery *recovery.Codes
	Email    *emailcode.Codes
	WebAuthn *webauthn.Service
	Box      *secrets.Box
	Now      func() time.Time
	Log      *slog.Logger // nil: no log
	// Credentials lists a user's stored factors once for Enrolled.
	Credentials interface {
		ListCredentials(ctx context.Context, userID string) ([]store.Credential, error)
	}
	// Guard budgets code checks (one budget per user across methods;
	// reset and unlock on budgets of their own); nil: only each method's
	// own limits apply.
	Guard *abuse.Guard
}

var _ Factors = (*FactorSet)(nil)

func (fs *FactorSet) enabled(m string) bool {
	if !slices.Contains(fs.Methods, m) {
		return false
	}
	switch m {
	case mfa.MethodTOTP:
		return fs.TOTP != nil
	case mfa.MethodRecovery:
		return fs.Recovery != nil
	case mfa.MethodEmail:
		return fs.Email != nil
	case mfa.MethodWebAuthn:
		return fs.WebAuthn != nil
	}
	return false
}

// Enrolled implements Factors. Email counts for a user with a mail
// address: the code goes to the directory's mail attribute.
func (fs *FactorSet) Enrolled(ctx context.Context, u *directory.User) ([]string, error) {
	return fs.enrolled(ctx, u, signIn)
}

// enrolled lists u's methods; email counts when a.address has somewhere to
// send the code.
func (fs *FactorSet) enrolled(ctx context.Context, u *directory.User, a ask) ([]string, error) {
	creds, err := fs.Credentials.ListCredentials(ctx, u.ID) // one read for every method
	if err != nil {
		return nil, fmt.Errorf("signin: list factors: %w", err)
	}
	var out []string
	for _, m := range fs.Methods {
		if !fs.enabled(m) {
			continue
		}
		var ok bool
		var err error
		switch m {
		case mfa.MethodTOTP:
			ok = slices.ContainsFunc(creds, func(c store.Credential) bool { return c.Type == mfa.MethodTOTP })
		case mfa.MethodRecovery:
			var n int
			n, err = recovery.RemainingIn(creds)
			ok = n > 0
		case mfa.MethodEmail:
			ok = a.address(u) != ""
		case mfa.MethodWebAuthn:
			ok, err = fs.WebAuthn.HasCredentialsIn(creds)
		}
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// ask is what a challenge or a verification is for: a sign-in's second
// factor, or a self-service recovery (reset, unlock), where the person has
// not signed in and the account may not exist.
type ask struct {
	// purpose is the email code mail's wording (notify.Purpose*).
	purpose string
	// recovery: codes go to the recovery address (the alternate one
	// first), and a passkey request names no credential — a page that
	// listed the account's credential IDs would tell anyone who typed the
	// name that it exists and has passkeys — so the passkey's owner is
	// checked after the ceremony instead.
	recovery bool
}

// signIn is how the sign-in's second factor asks.
var signIn = ask{purpose: notify.PurposeSignIn}

// address is where an email code for u goes ("" for nowhere).
func (a ask) address(u *directory.User) string {
	if a.recovery && u.AlternateMail != "" {
		return u.AlternateMail // a mailbox the forgotten password does not open
	}
	return u.Mail
}

// Enrollable implements Factors.
func (fs *FactorSet) Enrollable() []string {
	var out []string
	for _, m := range fs.Methods {
		if (m == mfa.MethodTOTP || m == mfa.MethodWebAuthn) && fs.enabled(m) {
			out = append(out, m)
		}
	}
	return out
}

// emailPending is the email method's state in the flow.
type emailPending struct {
	Challenge emailcode.Challenge `json:"challenge"`
}

// StaticChallenge implements staticChallenger: an authenticator-app or
// recovery code needs nothing from the server to be asked for.
func (fs *FactorSet) StaticChallenge(method string) ([]byte, bool) {
	if method == mfa.MethodTOTP || method == mfa.MethodRecovery {
		return []byte(method), true
	}
	return nil, false
}

// Challenge implements Factors.
func (fs *FactorSet) Challenge(ctx context.Context, _ *http.Request, u *directory.User, method string, prev []byte, p *web.Page) ([]byte, error) {
	data, show, err := fs.challenge(ctx, u, method, prev, p.Lang, signIn)
	switch {
	case errors.Is(err, mfa.ErrThrottled):
		// Too many codes sent, not too many wrong ones: say which.
		p.Errors["code"] = p.T("mfa.send_throttled")
		return prev, nil
	case err != nil && method == mfa.MethodEmail:
		// The mail server is down or refused: the user is told and
		// offered their other methods; the page is no 500.
		p.Errors["code"] = p.T("mfa.email_failed")
		if fs.Log != nil {
			fs.Log.ErrorContext(ctx, "sending the sign-in email code", "user", u.ID, "err", err)
		}
		return nil, nil
	case err != nil:
		return nil, err
	}
	if d, ok := p.Data.(*loginData); ok && show != "" {
		d.Extra = show
	}
	return data, nil
}

// challenge starts method for u: it returns the state to keep in the flow
// and what the page shows (a passkey request's options, the masked address
// an email code went to). prev is the last challenge's state: a live email
// code is not sent again. It returns mfa.ErrThrottled, with prev, when the
// user was sent too many codes lately.
func (fs *FactorSet) challenge(ctx context.Context, u *directory.User, method string, prev []byte, lang string, a ask) (pending []byte, show string, err error) {
	if data, ok := fs.StaticChallenge(method); ok {
		return data, "", nil
	}
	switch method {
	case mfa.MethodWebAuthn:
		var opts, sess []byte
		if a.recovery {
			opts, sess, err = fs.WebAuthn.BeginDiscoverableLogin(ctx)
		} else {
			opts, sess, err = fs.WebAuthn.BeginLogin(ctx, u)
		}
		if err != nil {
			return nil, "", err
		}
		return sess, string(opts), nil
	case mfa.MethodEmail:
		var ep emailPending
		if prev != nil && json.Unmarshal(prev, &ep) == nil && ep.Challenge.ExpiresAt.After(fs.Now()) {
			return prev, ep.Challenge.Destination, nil
		}
		ch, err := fs.Email.Send(ctx, emailcode.Recipient{UserID: u.ID, Address: a.address(u), Name: u.DisplayName, Lang: lang}, a.purpose)
		if err != nil && (!errors.Is(err, notify.ErrRecipient) || ch.ID == "") {
			return prev, "", err
		}
		// A recipient error comes with the challenge no mail carried.
		data, merr := json.Marshal(emailPending{Challenge: ch})
		return data, ch.Destination, errors.Join(err, merr)
	}
	return nil, "", fmt.Errorf("signin: method %q cannot be challenged", method)
}

// Verify implements Factors.
func (fs *FactorSet) Verify(ctx context.Context, r *http.Request, u *directory.User, method string, pending []byte) (string, error) {
	return fs.verify(ctx, r, u, method, pending, signIn)
}

// verify checks the answer posted in r to the challenge pending: the amr
// value to record, or a UserError.
func (fs *FactorSet) verify(ctx context.Context, r *http.Request, u *directory.User, method string, pending []byte, a ask) (string, error) {
	if fs.Guard == nil || method == mfa.MethodWebAuthn {
		// A passkey's answer cannot be guessed: nothing to budget.
		amr, err := fs.check(ctx, r, u, method, pending, a)
		if err != nil {
			return "", userError(err)
		}
		return amr, nil
	}
	c, err := fs.Guard.BeginCode(ctx, abuse.CodeAttempt{UserID: u.ID, IP: observe.ClientIP(ctx), SelfService: a.recovery, Method: method})
	if err != nil {
		return "", userError(err)
	}
	amr, err := fs.check(ctx, r, u, method, pending, a)
	switch {
	case err == nil:
		c.Right(ctx)
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrNotEnrolled):
		// A method the account lacks fails like a wrong code, so an
		// unknown account's recovery counts alike.
		c.Wrong(ctx)
	default:
		c.Void(ctx)
	}
	if err != nil {
		return "", userError(err)
	}
	return amr, nil
}

// check verifies the answer in r to the challenge pending, unbudgeted.
func (fs *FactorSet) check(ctx context.Context, r *http.Request, u *directory.User, method string, pending []byte, a ask) (string, error) {
	code := r.PostFormValue("code")
	var err error
	switch method {
	case mfa.MethodTOTP:
		err = fs.TOTP.Verify(ctx, u.ID, code)
	case mfa.MethodRecovery:
		_, err = fs.Recovery.Verify(ctx, u.ID, code)
	case mfa.MethodWebAuthn:
		cred := []byte(r.PostFormValue("credential"))
		var amr, owner string
		if a.recovery {
			if owner, amr, err = fs.WebAuthn.FinishDiscoverableLogin(ctx, pending, cred); err == nil && owner != u.ID {
				err = mfa.Invalid(method, mfa.ReasonMismatch) // someone's passkey, not this account's
			}
		} else {
			amr, err = fs.WebAuthn.FinishLogin(ctx, u, pending, cred)
		}
		if err == nil {
			return amr, nil
		}
	case mfa.MethodEmail:
		var ep emailPending
		if json.Unmarshal(pending, &ep) != nil {
			err = mfa.Invalid(method, mfa.ReasonMismatch)
		} else {
			err = fs.Email.Verify(ctx, u.ID, ep.Challenge, code)
		}
	default:
		return "", fmt.Errorf("signin: method %q cannot be verified", method)
	}
	if err != nil {
		return "", err
	}
	return mfa.AMR(method), nil
}

// RecoveryMethods implements recoveryFactors: every configured method
// that can verify a person who has not signed in.
func (fs *FactorSet) RecoveryMethods() []string {
	return slices.DeleteFunc(slices.Clone(fs.Methods), func(m string) bool { return !fs.enabled(m) })
}

// RecoveryEnrolled implements recoveryFactors.
func (fs *FactorSet) RecoveryEnrolled(ctx context.Context, u *directory.User) ([]string, error) {
	return fs.enrolled(ctx, u, ask{recovery: true})
}

// RecoveryChallenge implements recoveryFactors.
func (fs *FactorSet) RecoveryChallenge(ctx context.Context, u *directory.User, method, purpose, lang string) ([]byte, string, error) {
	return fs.challenge(ctx, u, method, nil, lang, ask{purpose: purpose, recovery: true})
}

// RecoveryDecoy implements recoveryFactors.
func (fs *FactorSet) RecoveryDecoy(ctx context.Context, u *directory.User, method, purpose string) ([]byte, error) {
	if method != mfa.MethodEmail || !fs.enabled(method) {
		return nil, fmt.Errorf("signin: method %q has no decoy", method)
	}
	ch, err := fs.Email.Decoy(ctx, u.ID, purpose)
	if err != nil {
		return nil, err
	}
	return json.Marshal(emailPending{Challenge: ch})
}

// RecoveryVerify implements recoveryFactors.
func (fs *FactorSet) RecoveryVerify(ctx context.Context, r *http.Request, u *directory.User, method string, pending []byte) (string, error) {
	return fs.verify(ctx, r, u, method, pending, ask{recovery: true})
}

func userError(err error) error {
	var th *abuse.Throttled
	switch {
	case errors.As(err, &th) && th.Scope == abuse.ScopeSelfServiceAccount:
		return UserError{Reason: "throttled_" + th.Scope, MessageKey: "mfa.self_service_closed", Status: http.StatusTooManyRequests, RetryAfter: th.RetryAfter}
	case errors.As(err, &th):
		return UserError{Reason: "throttled_" + th.Scope, MessageKey: "mfa.throttled", Status: http.StatusTooManyRequests, RetryAfter: th.RetryAfter}
	case errors.Is(err, mfa.ErrThrottled):
		return UserError{Reason: "throttled", MessageKey: "mfa.throttled", Status: http.StatusTooManyRequests}
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrNotEnrolled):
		return UserError{Reason: mfa.Reason(err), MessageKey: "mfa.invalid", Status: http.StatusUnauthorized}
	}
	return err
}

// totpEnrolPage is a TOTP enrolment as the page needs it, sealed in the
// flow because it holds the secret.
type totpEnrolPage struct {
	QR      string `json:"qr"`
	URL     string `json:"url,omitempty"` // the otpauth:// key URI the QR code holds
	Secret  string `json:"secret"`
	Pending []byte `json:"pending"`
}

// totpPage is what login_enrol.html shows of a TOTP enrolment.
type totpPage struct {
	QR template.URL // a PNG data: URI
	// URL is the otpauth:// key URI the QR code holds, for a link that
	// opens the authenticator app on the phone showing the page; "" for
	// an enrolment begun before it was kept.
	URL template.URL
	// Key is the secret to copy (no spaces); Groups is it in the groups
	// of four the page shows, each unbroken.
	Key    string
	Groups []string
}

func (fs *FactorSet) sealAD(u *directory.User) []byte { return []byte("totp-enrol-page\x00" + u.ID) }

// BeginEnrol implements Factors.
func (fs *FactorSet) BeginEnrol(ctx context.Context, _ *http.Request, u *directory.User, method string, prev []byte, p *web.Page) ([]byte, error) {
	if method == mfa.MethodWebAuthn && fs.enabled(method) {
		opts, sess, err := fs.WebAuthn.BeginRegistration(ctx, u)
		if err != nil {
			return nil, err
		}
		if d, ok := p.Data.(*loginData); ok {
			d.Extra = string(opts)
		}
		return append([]byte("webauthn:"), sess...), nil
	}
	if method != mfa.MethodTOTP || !fs.enabled(method) {
		return nil, fmt.Errorf("signin: method %q cannot be enrolled here", method)
	}
	var page totpEnrolPage
	if prev != nil {
		if raw, err := fs.Box.Open(prev, fs.sealAD(u)); err == nil && json.Unmarshal(raw, &page) == nil {
			setEnrolExtra(p, page)
			return prev, nil
		}
	}
	en, err := fs.TOTP.Enrol(ctx, u.ID, firstNonEmpty(u.UPN, u.Mail, u.SAMAccountName))
	if err != nil {
		return nil, err
	}
	page = totpEnrolPage{QR: en.QRCodeDataURI(), URL: en.URL, Secret: en.Secret, Pending: en.Pending}
	setEnrolExtra(p, page)
	raw, err := json.Marshal(page) // #nosec G117 -- sealed on the next line, never stored in the clear.
	if err != nil {
		return nil, err
	}
	return fs.Box.Seal(raw, fs.sealAD(u)), nil
}

func setEnrolExtra(p *web.Page, page totpEnrolPage) {
	d, ok := p.Data.(*loginData)
	if !ok {
		return
	}
	key := strings.ReplaceAll(page.Secret, " ", "")
	tp := totpPage{Key: key, Groups: totp.SecretGroups(key)}
	// The QR code is a data: URI we generated, not user input.
	tp.QR = template.URL(page.QR) // #nosec G203 -- generated PNG data URI.
	// html/template lets only http(s) and mailto links through; this
	// otpauth:// URI is the one totp.Enrol built (our issuer, the user's
	// name, the secret, each query-escaped by net/url).
	if strings.HasPrefix(page.URL, "otpauth://") {
		tp.URL = template.URL(page.URL) // #nosec G203 -- generated otpauth URI.
	}
	d.Extra = tp
}

// FinishEnrol implements Factors. A user's first factor also gets a set of
// recovery codes, shown once.
func (fs *FactorSet) FinishEnrol(ctx context.Context, r *http.Request, u *directory.User, method string, pending []byte) (string, []string, error) {
	switch method {
	case mfa.MethodWebAuthn:
		sess, ok := bytes.CutPrefix(pending, []byte("webauthn:"))
		if !ok || !fs.enabled(method) {
			return "", nil, userError(mfa.Invalid(method, mfa.ReasonMismatch))
		}
		if _, err := fs.WebAuthn.FinishRegistration(ctx, u, sess, []byte(r.PostFormValue("credential")), ""); err != nil {
			return "", nil, userError(err)
		}
	default:
		raw, err := fs.Box.Open(pending, fs.sealAD(u))
		var page totpEnrolPage
		if err != nil || json.Unmarshal(raw, &page) != nil {
			return "", nil, userError(mfa.Invalid(method, mfa.ReasonMismatch))
		}
		if _, err := fs.TOTP.Confirm(ctx, u.ID, page.Pending, r.PostFormValue("code"), ""); err != nil {
			return "", nil, userError(err)
		}
	}
	var codes []string
	if fs.enabled(mfa.MethodRecovery) {
		if n, err := fs.Recovery.Remaining(ctx, u.ID); err == nil && n == 0 {
			codes, err = fs.Recovery.Generate(ctx, u.ID)
			if err != nil {
				return "", nil, err
			}
		}
	}
	return mfa.AMR(method), codes, nil
}

// BeginPasswordless starts a discoverable passkey sign-in; ok is false when
// passkeys are off.
func (fs *FactorSet) BeginPasswordless(ctx context.Context) (options string, session []byte, ok bool, err error) {
	if !fs.enabled(mfa.MethodWebAuthn) {
		return "", nil, false, nil
	}
	opts, sess, err := fs.WebAuthn.BeginDiscoverableLogin(ctx)
	return string(opts), sess, err == nil, err
}

// FinishPasswordless checks the posted passkey assertion and returns whose
// it is.
func (fs *FactorSet) FinishPasswordless(ctx context.Context, r *http.Request, session []byte) (userID, amr string, err error) {
	userID, amr, err = fs.WebAuthn.FinishDiscoverableLogin(ctx, session, []byte(r.PostFormValue("credential")))
	if err != nil {
		return "", "", userError(err)
	}
	return userID, amr, nil
}
