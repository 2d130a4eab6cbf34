package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// The errors a browser would report as DOMExceptions.
var (
	// ErrExcluded is InvalidStateError: the authenticator already holds a
	// credential from excludeCredentials.
	ErrExcluded = errors.New("webauthntest: InvalidStateError: authenticator already registered")
	// ErrNotAllowed is NotAllowedError: no usable credential, user
	// verification failed, or the user cancelled.
	ErrNotAllowed = errors.New("webauthntest: NotAllowedError")
	// ErrSecurity is SecurityError: the RP ID is not the origin's host or
	// a parent domain of it.
	ErrSecurity = errors.New("webauthntest: SecurityError: RP ID not valid for this origin")
)

// Credential is one key pair the authenticator made.
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	Key        *ecdsa.PrivateKey
	// SignCount is the last counter reported; Get increments it first
	// unless the authenticator has NoSignCount.
	SignCount uint32
	// BackupEligible and BackupState are the flags the credential reports.
	BackupEligible, BackupState bool
}

// Authenticator is a platform authenticator with a built-in browser.
// Its exported fields may be changed between ceremonies.
type Authenticator struct {
	// Origin is the page origin the "browser" reports, e.g.
	// "http://localhost:8080".
	Origin string
	// AAGUID identifies the authenticator model.
	AAGUID [16]byte
	// UserVerified is whether user verification succeeds (the UV flag).
	UserVerified bool
	// BackupEligible and BackupState are given to new credentials: true
	// for a synced passkey, false for a device-bound key.
	BackupEligible, BackupState bool
	// NoSignCount makes every assertion report a counter of 0, as synced
	// passkeys do.
	NoSignCount bool

	mu    sync.Mutex
	creds []*Credential
}

// New returns an authenticator for pages at origin that verifies its user
// and makes device-bound credentials.
func New(origin string) *Authenticator {
	return &Authenticator{Origin: origin, UserVerified: true,
		AAGUID: [16]byte{0x67, 0x61, 0x74, 0x65, 0x68, 0x6f, 0x75, 0x73, 0x65, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x00, 0x01}}
}

// Credentials returns the credentials made so far (the live values).
func (a *Authenticator) Credentials() []*Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*Credential(nil), a.creds...)
}

type creationOptions struct {
	PublicKey struct {
		RP struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"rp"`
		User struct {
			ID          protocol.URLEncodedBase64 `json:"id"`
			Name        string                    `json:"name"`
			DisplayName string                    `json:"displayName"`
		} `json:"user"`
		Challenge        protocol.URLEncodedBase64 `json:"challenge"`
		PubKeyCredParams []struct {
			Type string `json:"type"`
			Alg  int64  `json:"alg"`
		} `json:"pubKeyCredParams"`
		ExcludeCredentials []descriptor `json:"excludeCredentials"`
		Selection          struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		Extensions struct {
			CredProps bool `json:"credProps"`
		} `json:"extensions"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge        protocol.URLEncodedBase64 `json:"challenge"`
		RPID             string                    `json:"rpId"`
		AllowCredentials []descriptor              `json:"allowCredentials"`
		UserVerification string                    `json:"userVerification"`
	} `json:"publicKey"`
}

type descriptor struct {
	Type string                    `json:"type"`
	ID   protocol.URLEncodedBase64 `json:"id"`
}

// credentialJSON is PublicKeyCredential.toJSON(), as webauthn.js builds it.
type credentialJSON struct {
	ID                      string          `json:"id"`
	RawID                   string          `json:"rawId"`
	Type                    string          `json:"type"`
	AuthenticatorAttachment string          `json:"authenticatorAttachment"`
	ClientExtensionResults  map[string]any  `json:"clientExtensionResults"`
	Response                json.RawMessage `json:"response"`
}

type attestationResponseJSON struct {
	ClientDataJSON     string   `json:"clientDataJSON"`
	AttestationObject  string   `json:"attestationObject"`
	Transports         []string `json:"transports"`
	AuthenticatorData  string   `json:"authenticatorData"`
	PublicKey          string   `json:"publicKey"`
	PublicKeyAlgorithm int64    `json:"publicKeyAlgorithm"`
}

type assertionResponseJSON struct {
	ClientDataJSON    string `json:"clientDataJSON"`
	AuthenticatorData string `json:"authenticatorData"`
	Signature         string `json:"signature"`
	UserHandle        string `json:"userHandle,omitempty"`
}

var b64 = base64.RawURLEncoding

// checkRPID does what a browser does before talking to an authenticator.
func (a *Authenticator) checkRPID(rpID string) error {
	u, err := url.Parse(a.Origin)
	if err != nil {
		return fmt.Errorf("webauthntest: origin: %w", err)
	}
	host := u.Hostname()
	if rpID == "" || (host != rpID && !strings.HasSuffix(host, "."+rpID)) {
		return ErrSecurity
	}
	return nil
}

func (a *Authenticator) clientData(typ string, challenge []byte) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": b64.EncodeToString(challenge), "origin": a.Origin, "crossOrigin": false})
	return b
}

// Create answers navigator.credentials.create with the options JSON of
// webauthn.Service.BeginRegistration.
func (a *Authenticator) Create(optionsJSON []byte) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return nil, fmt.Errorf("webauthntest: creation options: %w", err)
	}
	pk := o.PublicKey
	if err := a.checkRPID(pk.RP.ID); err != nil {
		return nil, err
	}
	es256 := false
	for _, p := range pk.PubKeyCredParams {
		es256 = es256 || (p.Type == "public-key" && p.Alg == int64(webauthncose.AlgES256))
	}
	if !es256 {
		return nil, ErrNotAllowed
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range pk.ExcludeCredentials {
		if a.find(pk.RP.ID, ex.ID) != nil {
			return nil, ErrExcluded
		}
	}
	if pk.Selection.UserVerification == "required" && !a.UserVerified {
		return nil, ErrNotAllowed
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &Credential{ID: make([]byte, 32), RPID: pk.RP.ID, UserHandle: pk.User.ID, Key: key,
		BackupEligible: a.BackupEligible, BackupState: a.BackupState}
	if _, err := rand.Read(c.ID); err != nil {
		return nil, err
	}
	ecdh, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	point := ecdh.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         int64(webauthncose.P256), XCoord: point[1:33], YCoord: point[33:],
	})
	if err != nil {
		return nil, err
	}
	// Attested credential data: AAGUID, credential ID length and ID, key.
	att := append([]byte(nil), a.AAGUID[:]...)
	att = binary.BigEndian.AppendUint16(att, uint16(len(c.ID))) // #nosec G115 -- 32 bytes
	att = append(att, c.ID...)
	att = append(att, cose...)
	authData := a.authData(c, pk.RP.ID, protocol.FlagAttestedCredentialData, 0, att)
	attObj, err := webauthncbor.Marshal(struct {
		Fmt      string         `cbor:"fmt"`
		AttStmt  map[string]any `cbor:"attStmt"`
		AuthData []byte         `cbor:"authData"`
	}{"none", map[string]any{}, authData})
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	resp, _ := json.Marshal(attestationResponseJSON{
		ClientDataJSON:     b64.EncodeToString(a.clientData("webauthn.create", pk.Challenge)),
		AttestationObject:  b64.EncodeToString(attObj),
		Transports:         []string{"internal"},
		AuthenticatorData:  b64.EncodeToString(authData),
		PublicKey:          b64.EncodeToString(spki),
		PublicKeyAlgorithm: int64(webauthncose.AlgES256),
	})
	ext := map[string]any{}
	if pk.Extensions.CredProps {
		ext["credProps"] = map[string]bool{"rk": true}
	}
	a.creds = append(a.creds, c)
	return json.Marshal(credentialJSON{ID: b64.EncodeToString(c.ID), RawID: b64.EncodeToString(c.ID), Type: "public-key",
		AuthenticatorAttachment: "platform", ClientExtensionResults: ext, Response: resp})
}

// Get answers navigator.credentials.get with the options JSON of
// webauthn.Service.BeginLogin or BeginDiscoverableLogin: with
// allowCredentials it uses the first of them it holds, without it the
// first credential it made for the RP ID (a discoverable login).
func (a *Authenticator) Get(optionsJSON []byte) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return nil, fmt.Errorf("webauthntest: request options: %w", err)
	}
	pk := o.PublicKey
	rpID := pk.RPID
	if rpID == "" {
		u, err := url.Parse(a.Origin)
		if err != nil {
			return nil, fmt.Errorf("webauthntest: origin: %w", err)
		}
		rpID = u.Hostname()
	}
	if err := a.checkRPID(rpID); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var c *Credential
	if len(pk.AllowCredentials) > 0 {
		for _, d := range pk.AllowCredentials {
			if c = a.find(rpID, d.ID); c != nil {
				break
			}
		}
	} else {
		for _, cand := range a.creds {
			if cand.RPID == rpID {
				c = cand
				break
			}
		}
	}
	if c == nil || (pk.UserVerification == "required" && !a.UserVerified) {
		return nil, ErrNotAllowed
	}
	if !a.NoSignCount {
		c.SignCount++
	}
	authData := a.authData(c, rpID, 0, c.SignCount, nil)
	cd := a.clientData("webauthn.get", pk.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), authData...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
	if err != nil {
		return nil, err
	}
	resp, _ := json.Marshal(assertionResponseJSON{
		ClientDataJSON:    b64.EncodeToString(cd),
		AuthenticatorData: b64.EncodeToString(authData),
		Signature:         b64.EncodeToString(sig),
		UserHandle:        b64.EncodeToString(c.UserHandle),
	})
	return json.Marshal(credentialJSON{ID: b64.EncodeToString(c.ID), RawID: b64.EncodeToString(c.ID), Type: "public-key",
		AuthenticatorAttachment: "platform", ClientExtensionResults: map[string]any{}, Response: resp})
}

func (a *Authenticator) find(rpID string, id []byte) *Credential {
	for _, c := range a.creds {
		if c.RPID == rpID && string(c.ID) == string(id) {
			return c
		}
	}
	return nil
}

// authData builds authenticator data: RP ID hash, flags, counter and any
// attested credential data.
func (a *Authenticator) authData(c *Credential, rpID string, extra protocol.AuthenticatorFlags, counter uint32, att []byte) []byte {
	flags := protocol.FlagUserPresent | extra
	if a.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if c.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if c.BackupState {
		flags |= protocol.FlagBackupState
	}
	h := sha256.Sum256([]byte(rpID))
	out := append([]byte(nil), h[:]...)
	out = append(out, byte(flags))
	out = binary.BigEndian.AppendUint32(out, counter)
	return append(out, att...)
}
