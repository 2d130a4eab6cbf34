package webauthn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// The ceremony a session belongs to; a session of one kind is refused by
// the Finish call of another.
const (
	kindRegister = "register"
	kindLogin    = "login"
	kindDiscover = "discover"
)

const sessionVersion = 1

// session is what the opaque session bytes hold: the library's
// SessionData plus what Gatehouse binds it to.
type session struct {
	V        int                    `json:"v"`
	Kind     string                 `json:"kind"`
	RPID     string                 `json:"rp_id"`
	UserID   string                 `json:"user,omitempty"`
	NotAfter time.Time              `json:"not_after"`
	Data     gowebauthn.SessionData `json:"data"`
}

func (s *Service) seal(kind, userID string, data *gowebauthn.SessionData, options any) (optionsJSON, sess []byte, err error) {
	optionsJSON, err = json.Marshal(options)
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: options: %w", err)
	}
	sess, err = json.Marshal(session{V: sessionVersion, Kind: kind, RPID: s.rp.ID, UserID: userID,
		NotAfter: s.now().Add(s.timeout), Data: *data})
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: session: %w", err)
	}
	return optionsJSON, sess, nil
}

// open checks the session bytes belong to this ceremony, user and relying
// party and have not expired.
func (s *Service) open(raw []byte, kind, userID string) (session, error) {
	if len(raw) == 0 || len(raw) > MaxSessionJSON {
		return session{}, fail(ReasonMalformed, fmt.Errorf("session of %d bytes", len(raw)))
	}
	var ss session
	if err := json.Unmarshal(raw, &ss); err != nil {
		return session{}, fail(ReasonMalformed, fmt.Errorf("session: %w", err))
	}
	switch {
	case ss.V != sessionVersion:
		return session{}, fail(ReasonMalformed, fmt.Errorf("session version %d", ss.V))
	case ss.Kind != kind:
		return session{}, fail(ReasonMismatch, fmt.Errorf("session of a %q ceremony used for %q", ss.Kind, kind))
	case ss.RPID != s.rp.ID:
		return session{}, fail(ReasonMismatch, fmt.Errorf("session for RP ID %q, not %q", ss.RPID, s.rp.ID))
	case ss.UserID != userID:
		return session{}, fail(ReasonMismatch, errors.New("session belongs to another user"))
	case !s.now().Before(ss.NotAfter):
		return session{}, fail(ReasonExpired, fmt.Errorf("ceremony expired at %s", ss.NotAfter.Format(time.RFC3339)))
	}
	return ss, nil
}

// parseCreation parses a registration response (the browser's
// PublicKeyCredential from navigator.credentials.create, serialised as
// webauthn.js does) after checking its size. Every error is a
// *VerificationError with ReasonMalformed.
func parseCreation(b []byte) (*protocol.ParsedCredentialCreationData, error) {
	if len(b) == 0 || len(b) > MaxCredentialJSON {
		return nil, fail(ReasonMalformed, fmt.Errorf("credential response of %d bytes", len(b)))
	}
	p, err := protocol.ParseCredentialCreationResponseBytes(b)
	if err != nil {
		return nil, fail(ReasonMalformed, err)
	}
	return p, nil
}

// parseAssertion parses an authentication response (from
// navigator.credentials.get) after checking its size. Every error is a
// *VerificationError with ReasonMalformed.
func parseAssertion(b []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if len(b) == 0 || len(b) > MaxCredentialJSON {
		return nil, fail(ReasonMalformed, fmt.Errorf("credential response of %d bytes", len(b)))
	}
	p, err := protocol.ParseCredentialRequestResponseBytes(b)
	if err != nil {
		return nil, fail(ReasonMalformed, err)
	}
	return p, nil
}

// BeginRegistration starts registering a passkey or security key for u.
// The options exclude the user's existing credentials (so one
// authenticator is not registered twice), prefer a resident key (a
// passkey) and user verification, and ask for no attestation (nothing
// here would check it, and it identifies the device model).
func (s *Service) BeginRegistration(ctx context.Context, u *directory.User) (optionsJSON, sess []byte, err error) {
	if err := checkUser(u); err != nil {
		return nil, nil, err
	}
	existing, err := s.credentials(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	wu := newUser(u.ID, u, existing)
	creation, data, err := s.wa.BeginRegistration(wu,
		gowebauthn.WithExclusions(gowebauthn.Credentials(wu.creds).CredentialDescriptors()),
		gowebauthn.WithResidentKeyRequirement(s.residentKey),
		gowebauthn.WithExtensions(gowebauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: begin registration: %w", describe(err))
	}
	return s.seal(kindRegister, u.ID, data, creation)
}

// FinishRegistration verifies the browser's response to BeginRegistration
// and stores the credential under name (which may be empty). It
// returns the stored record; the response is refused with a
// *VerificationError for anything the browser or user did wrong, and
// ReasonDuplicate when the credential is already registered.
func (s *Service) FinishRegistration(ctx context.Context, u *directory.User, sess, credentialJSON []byte, name string) (store.Credential, error) {
	if err := checkUser(u); err != nil {
		return store.Credential{}, err
	}
	ss, err := s.open(sess, kindRegister, u.ID)
	if err != nil {
		return store.Credential{}, err
	}
	parsed, err := parseCreation(credentialJSON)
	if err != nil {
		return store.Credential{}, err
	}
	created, err := s.wa.CreateCredential(newUser(u.ID, u, nil), ss.Data, parsed)
	if err != nil {
		return store.Credential{}, fail(ReasonWrong, err)
	}
	id, err := mfa.NewID(s.rand)
	if err != nil {
		return store.Credential{}, fmt.Errorf("webauthn: %w", err)
	}
	c := store.Credential{
		ID: id, UserID: u.ID, Type: Type, Name: cleanName(name),
		LookupKey: lookupKey(created.ID), Data: newRecord(s.rp.ID, created).encode(), CreatedAt: s.now(),
	}
	if err := s.store.CreateCredential(ctx, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Credential{}, fail(ReasonDuplicate, err)
		}
		return store.Credential{}, fmt.Errorf("webauthn: store credential: %w", err)
	}
	return c, nil
}

// BeginLogin starts using one of u's credentials as a second factor:
// allowCredentials lists them, user verification is preferred. It returns
// an error matching mfa.ErrNotEnrolled when u has none for this relying
// party.
func (s *Service) BeginLogin(ctx context.Context, u *directory.User) (optionsJSON, sess []byte, err error) {
	if err := checkUser(u); err != nil {
		return nil, nil, err
	}
	creds, err := s.credentials(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	if len(creds) == 0 {
		return nil, nil, fmt.Errorf("webauthn: begin login: %w", mfa.ErrNotEnrolled)
	}
	assertion, data, err := s.wa.BeginLogin(newUser(u.ID, u, creds),
		gowebauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: begin login: %w", describe(err))
	}
	return s.seal(kindLogin, u.ID, data, assertion)
}

// FinishLogin verifies the browser's response to BeginLogin for u and
// records the use (sign count, flags, LastUsedAt). It returns the RFC 8176
// amr value the credential proves: AMRHardwareKey or AMRSoftwareKey (see
// record.amr for the rule).
func (s *Service) FinishLogin(ctx context.Context, u *directory.User, sess, credentialJSON []byte) (amr string, err error) {
	if err := checkUser(u); err != nil {
		return "", err
	}
	ss, err := s.open(sess, kindLogin, u.ID)
	if err != nil {
		return "", err
	}
	parsed, err := parseAssertion(credentialJSON)
	if err != nil {
		return "", err
	}
	creds, err := s.credentials(ctx, u.ID)
	if err != nil {
		return "", err
	}
	if _, err := s.wa.ValidateLogin(newUser(u.ID, u, creds), ss.Data, parsed); err != nil {
		return "", loginFailure(err)
	}
	for _, c := range creds {
		if string(c.id) == string(parsed.RawID) {
			return s.recordUse(ctx, c.cred.ID, parsed.Response.AuthenticatorData)
		}
	}
	// ValidateLogin only succeeds for one of creds.
	return "", fail(ReasonUnknownCredential, errors.New("validated credential not among the user's"))
}

// BeginDiscoverableLogin starts a passwordless sign-in: no user is named,
// the browser offers the passkeys it holds for this relying party, and
// user verification (PIN or biometric) is required, so the passkey alone
// is two factors.
func (s *Service) BeginDiscoverableLogin(ctx context.Context) (optionsJSON, sess []byte, err error) {
	assertion, data, err := s.wa.BeginDiscoverableLogin(gowebauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: begin discoverable login: %w", describe(err))
	}
	return s.seal(kindDiscover, "", data, assertion)
}

// FinishDiscoverableLogin verifies the browser's response to
// BeginDiscoverableLogin: the credential is found by its ID, the user
// handle must be that credential's user's, and the user must have been
// verified. It records the use and returns the directory user ID (the
// caller must still look the user up and check the account may sign in)
// and the amr value.
func (s *Service) FinishDiscoverableLogin(ctx context.Context, sess, credentialJSON []byte) (userID, amr string, err error) {
	ss, err := s.open(sess, kindDiscover, "")
	if err != nil {
		return "", "", err
	}
	parsed, err := parseAssertion(credentialJSON)
	if err != nil {
		return "", "", err
	}
	c, err := s.store.GetCredentialByLookupKey(ctx, Type, lookupKey(parsed.RawID))
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fail(ReasonUnknownCredential, err)
	}
	if err != nil {
		return "", "", fmt.Errorf("webauthn: look up credential: %w", err)
	}
	sc, err := decodeStored(c)
	if err != nil {
		return "", "", err
	}
	if sc.record.RPID != s.rp.ID {
		return "", "", fail(ReasonUnknownCredential, fmt.Errorf("credential of RP ID %q", sc.record.RPID))
	}
	owner := func(_, _ []byte) (gowebauthn.User, error) {
		return newUser(c.UserID, nil, []stored{sc}), nil
	}
	if _, _, err := s.wa.ValidatePasskeyLogin(owner, ss.Data, parsed); err != nil {
		return "", "", loginFailure(err)
	}
	amr, err = s.recordUse(ctx, c.ID, parsed.Response.AuthenticatorData)
	if err != nil {
		return "", "", err
	}
	return c.UserID, amr, nil
}

func loginFailure(err error) error {
	var unknown *protocol.ErrorUnknownCredential
	if errors.As(err, &unknown) {
		return fail(ReasonUnknownCredential, err)
	}
	return fail(ReasonWrong, err)
}

// recordUse writes a verified assertion back to the credential with
// compare-and-swap: the sign count must advance (unless the authenticator
// keeps none, reporting 0 throughout), UserVerified only ever becomes
// true, BackupState follows the assertion, LastUsedAt is now.
//
// A sign count that does not advance means two copies of the private key
// may exist (a cloned authenticator), or that a concurrent request used
// the same credential. Either way the assertion is refused with
// ReasonSignCount and the credential keeps a clone warning for the
// account page and the administrator; it is not disabled, since a
// legitimate authenticator can follow after a failed clone.
func (s *Service) recordUse(ctx context.Context, id string, ad protocol.AuthenticatorData) (string, error) {
	var regressed error
	updated, err := s.store.UpdateCredential(ctx, id, func(c store.Credential) (store.Credential, error) {
		regressed = nil
		r, err := decodeRecord(c.Data)
		if err != nil {
			return c, err
		}
		if (ad.Counter != 0 || r.SignCount != 0) && ad.Counter <= r.SignCount {
			regressed = fmt.Errorf("sign count %d did not advance past %d", ad.Counter, r.SignCount)
			r.CloneWarning = true
			c.Data = r.encode()
			return c, nil
		}
		r.SignCount = ad.Counter
		r.UserPresent = r.UserPresent || ad.Flags.HasUserPresent()
		r.UserVerified = r.UserVerified || ad.Flags.HasUserVerified()
		r.BackupState = ad.Flags.HasBackupState()
		c.Data = r.encode()
		c.LastUsedAt = s.now()
		return c, nil
	})
	if err != nil {
		return "", fmt.Errorf("webauthn: record credential use: %w", err)
	}
	if regressed != nil {
		return "", fail(ReasonSignCount, regressed)
	}
	r, err := decodeRecord(updated.Data)
	if err != nil {
		return "", err
	}
	return r.amr(), nil
}
