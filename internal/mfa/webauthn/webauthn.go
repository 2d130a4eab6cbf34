package webauthn

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Size limits. Every JSON input is refused unread beyond them.
const (
	// MaxCredentialJSON bounds a credential response from the browser. A
	// response with attestation "none" is well under 2 KiB; a full
	// certificate chain stays under 16 KiB.
	MaxCredentialJSON = 64 << 10
	// MaxSessionJSON bounds the session bytes handed back to a Finish call.
	MaxSessionJSON = 16 << 10
	// MaxNameRunes bounds a credential's label.
	MaxNameRunes = 64
	// MaxUserHandle is the WebAuthn limit on a user handle (user.id).
	MaxUserHandle = 64
)

// DefaultTimeout is how long a ceremony may take, from Begin to Finish,
// when Options.Timeout is zero. The browser is told the same.
const DefaultTimeout = 5 * time.Minute

// DefaultName is the label older versions stored for a credential the
// user did not name. Such a credential is now stored without a name (pages
// show the method's name in the reader's language); pages treat this
// label as no name.
const DefaultName = "Passkey"

// Type is the store.Credential.Type of a WebAuthn credential.
const Type = mfa.MethodWebAuthn

// Store is what the factor needs of the store; store.Credentials has it.
type Store interface {
	CreateCredential(ctx context.Context, c store.Credential) error
	GetCredentialByLookupKey(ctx context.Context, typ, key string) (store.Credential, error)
	ListCredentials(ctx context.Context, userID string) ([]store.Credential, error)
	UpdateCredential(ctx context.Context, id string, fn func(store.Credential) (store.Credential, error)) (store.Credential, error)
}

// RelyingParty names Gatehouse to authenticators.
type RelyingParty struct {
	// ID is the RP ID credentials are scoped to: the issuer's host name
	// ("sso.corp.example.com", or "localhost" for the demo and tests). An
	// IP address cannot be an RP ID.
	ID string
	// Name is shown by some authenticators (config ui.name).
	Name string
	// Origins are the exact origins pages run at, e.g.
	// "https://sso.corp.example.com" or "http://localhost:8080". Each must be
	// the RP ID or a subdomain of it.
	Origins []string
}

// RelyingPartyFromIssuer derives the relying party from Gatehouse's issuer
// URL: its host is the RP ID and its origin (scheme, host and any
// non-default port) the one allowed origin. Plain http is accepted for
// localhost only, as browsers allow WebAuthn nowhere else without TLS.
func RelyingPartyFromIssuer(issuer, name string) (RelyingParty, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return RelyingParty{}, fmt.Errorf("webauthn: issuer: %w", err)
	}
	origin, err := canonicalOrigin(u)
	if err != nil {
		return RelyingParty{}, fmt.Errorf("webauthn: issuer %q: %w", issuer, err)
	}
	return RelyingParty{ID: strings.ToLower(u.Hostname()), Name: name, Origins: []string{origin}}, nil
}

// canonicalOrigin returns u's origin as a browser serialises it.
func canonicalOrigin(u *url.URL) (string, error) {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	switch {
	case scheme != "http" && scheme != "https":
		return "", errors.New("origin must be http or https")
	case host == "":
		return "", errors.New("origin has no host")
	case net.ParseIP(host) != nil:
		return "", fmt.Errorf("WebAuthn needs a host name, not the IP address %s (use http://localhost:PORT locally)", host)
	case scheme == "http" && host != "localhost":
		return "", errors.New("WebAuthn needs https except on localhost")
	}
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// Validate reports every problem with the relying party at once.
func (rp RelyingParty) Validate() error {
	var errs []error
	id := strings.ToLower(rp.ID)
	switch {
	case id == "":
		errs = append(errs, errors.New("webauthn: relying party ID is empty"))
	case net.ParseIP(id) != nil:
		errs = append(errs, fmt.Errorf("webauthn: relying party ID %q is an IP address; WebAuthn needs a host name", id))
	}
	if strings.TrimSpace(rp.Name) == "" {
		errs = append(errs, errors.New("webauthn: relying party name is empty"))
	}
	if len(rp.Origins) == 0 {
		errs = append(errs, errors.New("webauthn: no allowed origin"))
	}
	for _, o := range rp.Origins {
		u, err := url.Parse(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("webauthn: origin %q: %w", o, err))
			continue
		}
		c, err := canonicalOrigin(u)
		if err != nil {
			errs = append(errs, fmt.Errorf("webauthn: origin %q: %w", o, err))
			continue
		}
		if c != o || u.Path != "" {
			errs = append(errs, fmt.Errorf("webauthn: origin %q is not in canonical form %q", o, c))
		}
		if h := u.Hostname(); id != "" && h != id && !strings.HasSuffix(h, "."+id) {
			errs = append(errs, fmt.Errorf("webauthn: origin %q is not within relying party ID %q", o, id))
		}
	}
	return errors.Join(errs...)
}

// Options configures the factor.
type Options struct {
	RP    RelyingParty
	Store Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of credential record IDs; nil means crypto/rand.
	// (Challenges always come from crypto/rand, inside the library.)
	Rand io.Reader
	// Timeout bounds a ceremony; zero means DefaultTimeout.
	Timeout time.Duration
	// RequireResidentKey asks for a discoverable credential at
	// registration instead of preferring one. Preferred already yields a
	// passkey on every current platform authenticator; required refuses
	// security keys without resident-key storage.
	RequireResidentKey bool
}

// Service runs the WebAuthn ceremonies for one relying party.
type Service struct {
	wa          *gowebauthn.WebAuthn
	rp          RelyingParty
	store       Store
	now         func() time.Time
	rand        io.Reader
	timeout     time.Duration
	residentKey protocol.ResidentKeyRequirement
}

// New returns the factor.
func New(o Options) (*Service, error) {
	var errs []error
	if err := o.RP.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Store == nil {
		errs = append(errs, errors.New("webauthn: a store is required"))
	}
	if o.Timeout < 0 {
		errs = append(errs, errors.New("webauthn: timeout is negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Service{rp: o.RP, store: o.Store, now: o.Now, rand: o.Rand, timeout: o.Timeout,
		residentKey: protocol.ResidentKeyRequirementPreferred}
	s.rp.ID = strings.ToLower(s.rp.ID)
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if o.RequireResidentKey {
		s.residentKey = protocol.ResidentKeyRequirementRequired
	}
	timeouts := gowebauthn.TimeoutConfig{Timeout: s.timeout, TimeoutUVD: s.timeout} // enforced here, with s.now
	wa, err := gowebauthn.New(&gowebauthn.Config{
		RPID:                  s.rp.ID,
		RPDisplayName:         s.rp.Name,
		RPOrigins:             s.rp.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      s.residentKey,
			UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: gowebauthn.TimeoutsConfig{Login: timeouts, Registration: timeouts},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	s.wa = wa
	return s, nil
}

// RP returns the relying party the service was built for.
func (s *Service) RP() RelyingParty { return s.rp }

// ErrVerification is matched (errors.Is) by every *VerificationError.
var ErrVerification = errors.New("webauthn: verification failed")

// Reasons a ceremony failed, for logs and audit events only. The mfa
// package's reasons are reused where they mean the same.
const (
	ReasonMalformed         = mfa.ReasonMalformed // not a parsable response, or too large
	ReasonExpired           = mfa.ReasonExpired   // the ceremony ran out
	ReasonMismatch          = mfa.ReasonMismatch  // session of another user or ceremony
	ReasonWrong             = mfa.ReasonWrong     // signature, challenge, origin, RP ID, flags or policy
	ReasonUnknownCredential = "unknown_credential"
	ReasonSignCount         = "sign_count"         // counter did not advance: possibly a cloned authenticator
	ReasonDuplicate         = "already_registered" // credential ID already stored
)

// VerificationError is a failed ceremony the browser or the user caused.
// It matches ErrVerification and mfa.ErrInvalidCode with errors.Is, and
// *mfa.CodeError with errors.As (so mfa.Reason works). Err holds the
// detail for the log; nothing of it is for the user.
type VerificationError struct {
	Reason string
	Err    error
}

func (e *VerificationError) Error() string {
	if e.Err == nil {
		return "webauthn: verification failed (" + e.Reason + ")"
	}
	return "webauthn: verification failed (" + e.Reason + "): " + e.Err.Error()
}

func (e *VerificationError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrVerification) and errors.Is(err,
// mfa.ErrInvalidCode) true, so the sign-in engine treats a failed passkey
// like any other refused factor.
func (e *VerificationError) Is(target error) bool {
	return target == ErrVerification || target == mfa.ErrInvalidCode
}

// As lets errors.As find an *mfa.CodeError, which mfa.Reason reads.
func (e *VerificationError) As(target any) bool {
	if p, ok := target.(**mfa.CodeError); ok {
		*p = &mfa.CodeError{Method: Type, Reason: e.Reason}
		return true
	}
	return false
}

// fail returns a VerificationError; err's library detail is kept.
func fail(reason string, err error) error {
	return &VerificationError{Reason: reason, Err: describe(err)}
}

// describe keeps go-webauthn's developer information, which its Error
// method leaves out, in the message for the log.
func describe(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return fmt.Errorf("%w (%s: %s)", err, pe.Type, pe.DevInfo)
	}
	return err
}
