package webauthn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// recordVersion is written into every record so its shape can change.
const recordVersion = 1

// record is the public data of a credential, stored as JSON in
// store.Credential.Data. Field names are Gatehouse's own, not the
// library's, so a library upgrade cannot change what is stored.
type record struct {
	V int `json:"v"`
	// RPID is the relying party the credential is scoped to; a record of
	// another RP ID (the issuer changed) is never offered or accepted.
	RPID string `json:"rp_id"`
	// PublicKey is the COSE_Key from the attested credential data.
	PublicKey         []byte   `json:"public_key"`
	AttestationType   string   `json:"attestation_type,omitempty"`
	AttestationFormat string   `json:"attestation_format,omitempty"`
	Transports        []string `json:"transports,omitempty"`
	AAGUID            []byte   `json:"aaguid,omitempty"`
	Attachment        string   `json:"attachment,omitempty"`
	SignCount         uint32   `json:"sign_count"`
	// CloneWarning is set when an assertion's sign count did not advance;
	// that assertion was refused.
	CloneWarning bool `json:"clone_warning,omitempty"`
	// Flags. UserVerified only ever goes from false to true; BackupState
	// follows the last assertion; BackupEligible is fixed at registration.
	UserPresent    bool `json:"user_present"`
	UserVerified   bool `json:"user_verified"`
	BackupEligible bool `json:"backup_eligible"`
	BackupState    bool `json:"backup_state"`
	// Discoverable is the credProps extension's answer, when the browser
	// gave one: whether the credential is a resident (discoverable) key.
	Discoverable *bool `json:"discoverable,omitempty"`
}

// knownTransports are the transports stored; anything else a browser
// reports is dropped (it is only a hint for later allowCredentials).
var knownTransports = []protocol.AuthenticatorTransport{
	protocol.USB, protocol.NFC, protocol.BLE, protocol.SmartCard, protocol.Hybrid, protocol.Internal,
}

func newRecord(rpID string, c *gowebauthn.Credential) record {
	r := record{
		V: recordVersion, RPID: rpID, PublicKey: c.PublicKey,
		AttestationType: c.AttestationType, AttestationFormat: c.AttestationFormat,
		AAGUID: c.Authenticator.AAGUID, Attachment: string(c.Authenticator.Attachment),
		SignCount:   c.Authenticator.SignCount,
		UserPresent: c.Flags.UserPresent, UserVerified: c.Flags.UserVerified,
		BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState,
		Discoverable: c.Extensions.RK,
	}
	for _, t := range c.Transport {
		if slices.Contains(knownTransports, t) && !slices.Contains(r.Transports, string(t)) {
			r.Transports = append(r.Transports, string(t))
		}
	}
	return r
}

func decodeRecord(data []byte) (record, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return record{}, fmt.Errorf("webauthn: stored credential: %w", err)
	}
	if r.V != recordVersion || len(r.PublicKey) == 0 {
		return record{}, fmt.Errorf("webauthn: stored credential: unsupported record (v%d)", r.V)
	}
	return r, nil
}

func (r record) encode() []byte {
	b, _ := json.Marshal(r) // cannot fail: plain fields only
	return b
}

// flags rebuilds the library's view of the stored flags.
func (r record) flags() gowebauthn.CredentialFlags {
	var f protocol.AuthenticatorFlags
	if r.UserPresent {
		f |= protocol.FlagUserPresent
	}
	if r.UserVerified {
		f |= protocol.FlagUserVerified
	}
	if r.BackupEligible {
		f |= protocol.FlagBackupEligible
	}
	if r.BackupState {
		f |= protocol.FlagBackupState
	}
	return gowebauthn.NewCredentialFlags(f)
}

// amr is the RFC 8176 method a use of the credential proves.
//
// RFC 8176 defines "hwk" as proof of possession of a hardware-secured key
// and "swk" of a software-secured one. A backup-eligible credential (the
// BE flag: a synced passkey, e.g. in iCloud Keychain, Google Password
// Manager or a password manager) can by definition leave the device it
// was made on, so it is not hardware-bound: "swk". A device-bound
// credential (BE clear: a security key, a TPM- or Secure-Enclave-held key
// that cannot be exported) is "hwk". Gatehouse asks for no attestation, so
// this rests on the authenticator's own flags, not on a verified
// manufacturer statement; BE is fixed at registration and checked by the
// library against every assertion.
func (r record) amr() string {
	if r.BackupEligible {
		return AMRSoftwareKey
	}
	return AMRHardwareKey
}

// The amr values FinishLogin and FinishDiscoverableLogin return.
const (
	AMRHardwareKey = mfa.AMRHardwareKey // "hwk"
	AMRSoftwareKey = mfa.AMRSoftwareKey // "swk"
)

func (r record) credential(id []byte) gowebauthn.Credential {
	c := gowebauthn.Credential{
		ID: id, PublicKey: r.PublicKey,
		AttestationType: r.AttestationType, AttestationFormat: r.AttestationFormat,
		Flags: r.flags(),
		Authenticator: gowebauthn.Authenticator{
			AAGUID: r.AAGUID, SignCount: r.SignCount, CloneWarning: r.CloneWarning,
			Attachment: protocol.AuthenticatorAttachment(r.Attachment),
		},
	}
	for _, t := range r.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// stored is one of the user's credentials, decoded.
type stored struct {
	cred   store.Credential
	id     []byte // the WebAuthn credential ID
	record record
}

// lookupKey is the store.Credential.LookupKey of a credential ID.
func lookupKey(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

func decodeStored(c store.Credential) (stored, error) {
	id, err := base64.RawURLEncoding.DecodeString(c.LookupKey)
	if err != nil || len(id) == 0 {
		return stored{}, fmt.Errorf("webauthn: stored credential %s: bad lookup key", c.ID)
	}
	r, err := decodeRecord(c.Data)
	if err != nil {
		return stored{}, fmt.Errorf("webauthn: stored credential %s: %w", c.ID, err)
	}
	return stored{cred: c, id: id, record: r}, nil
}

// credentials returns the user's WebAuthn credentials for this relying
// party. A record that cannot be decoded is an error, not skipped: it
// would otherwise vanish silently from the user's sign-in options.
func (s *Service) credentials(ctx context.Context, userID string) ([]stored, error) {
	all, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("webauthn: list credentials: %w", err)
	}
	return s.usable(all)
}

// HasCredentialsIn is HasCredentials for a user whose credentials were
// already listed: it saves a store read.
func (s *Service) HasCredentialsIn(all []store.Credential) (bool, error) {
	creds, err := s.usable(all)
	return len(creds) > 0, err
}

// usable are the passkeys among all that belong to this relying party.
func (s *Service) usable(all []store.Credential) ([]stored, error) {
	var out []stored
	for _, c := range all {
		if c.Type != Type {
			continue
		}
		sc, err := decodeStored(c)
		if err != nil {
			return nil, err
		}
		if sc.record.RPID == s.rp.ID {
			out = append(out, sc)
		}
	}
	return out, nil
}

// HasCredentials reports whether the user has a WebAuthn credential that
// can be used with this relying party (BeginLogin would not fail with
// mfa.ErrNotEnrolled).
func (s *Service) HasCredentials(ctx context.Context, userID string) (bool, error) {
	creds, err := s.credentials(ctx, userID)
	return len(creds) > 0, err
}

// UserHandle is the WebAuthn user handle (user.id) of a directory user:
// the bytes of the stable directory ID (hex objectGUID in AD, 32 bytes),
// or, for an ID longer than the 64 bytes WebAuthn allows, its SHA-256.
// Either way a discoverable login is checked by recomputing it from the
// stored credential's user, so no reverse mapping is needed.
func UserHandle(userID string) []byte {
	if len(userID) <= MaxUserHandle {
		return []byte(userID)
	}
	sum := sha256.Sum256([]byte(userID))
	return sum[:]
}

// user adapts a directory user and their credentials to the library.
type user struct {
	id            []byte
	name, display string
	creds         []gowebauthn.Credential
}

func (u *user) WebAuthnID() []byte                           { return u.id }
func (u *user) WebAuthnName() string                         { return u.name }
func (u *user) WebAuthnDisplayName() string                  { return u.display }
func (u *user) WebAuthnCredentials() []gowebauthn.Credential { return u.creds }

func newUser(userID string, du *directory.User, creds []stored) *user {
	u := &user{id: UserHandle(userID)}
	if du != nil {
		u.name = firstNonEmpty(du.UPN, du.SAMAccountName, du.Mail, du.ID)
		u.display = firstNonEmpty(du.DisplayName, u.name)
	}
	for _, c := range creds {
		u.creds = append(u.creds, c.record.credential(c.id))
	}
	return u
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// cleanName makes the user's label for a credential safe to store and
// show: control characters dropped, space trimmed, at most MaxNameRunes.
func cleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	if r := []rune(name); len(r) > MaxNameRunes {
		name = strings.TrimSpace(string(r[:MaxNameRunes]))
	}
	return name
}

var errNoUser = errors.New("webauthn: a directory user with an ID is required")

func checkUser(u *directory.User) error {
	if u == nil || u.ID == "" {
		return errNoUser
	}
	return nil
}
