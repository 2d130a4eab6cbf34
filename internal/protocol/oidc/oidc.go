package oidc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"
)

// Endpoints (ARCHITECTURE.md: paths are part of the contract).
const (
	PathDiscovery = "/.well-known/openid-configuration"
	PathAuthorize = "/oauth2/authorize"
	PathToken     = "/oauth2/token" // #nosec G101 -- a path, not a credential.
	PathUserinfo  = "/oauth2/userinfo"
	PathKeys      = "/oauth2/keys"
	PathRevoke    = "/oauth2/revoke"
	PathLogout    = "/oauth2/logout"
)

// Authentication context classes (acr). An MFA value in acr_values asks
// for a second factor; the acr claim says what the sign-in proved.
const (
	// ACRMFA is the PAPE multi-factor policy, stated when a second factor
	// that the policy counts was used.
	ACRMFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
	// ACRPassword is stated for a sign-in without a second factor.
	ACRPassword = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport" // #nosec G101 -- a class name, not a credential.
)

// MFAValues are the acr_values that ask for a second factor: the short
// "mfa", PAPE's multi-factor policy, REFEDS MFA and Microsoft's
// multipleauthn.
func MFAValues() []string {
	return []string{"mfa", ACRMFA, "https://refeds.org/profile/mfa", "http://schemas.microsoft.com/claims/multipleauthn"}
}

// ACRValues are the classes discovery lists.
func ACRValues() []string { return append(MFAValues(), ACRPassword) }

// Lifetimes Gatehouse does not let an administrator stretch.
const (
	// CodeLifetime is how long an authorization code may wait for its
	// exchange.
	CodeLifetime = time.Minute
	// DefaultRefreshLifetime is a refresh-token family's life when the
	// app sets none (refresh_token_lifetime).
	DefaultRefreshLifetime = 30 * 24 * time.Hour
	// PendingLifetime bounds an authorization request that arrived by
	// POST, waiting for the GET the browser is sent to.
	PendingLifetime = 5 * time.Minute
)

// Errors of requests and tokens; the handlers map them to protocol
// answers.
var (
	ErrUnknownClient  = errors.New("oidc: unknown client_id")
	ErrRedirectURI    = errors.New("oidc: redirect_uri not registered for the client")
	ErrMalformed      = errors.New("oidc: malformed request")
	ErrStale          = errors.New("oidc: the request expired or was used")
	ErrInvalidToken   = errors.New("oidc: invalid or expired token")
	ErrTokenReused    = errors.New("oidc: a rotated refresh token was used again; its family is revoked")
	ErrAccountRevoked = errors.New("oidc: the account no longer may use the app")
)

// randomToken is 256 random bits, base64url.
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("oidc: crypto/rand failed: " + err.Error()) // rand.Read does not fail on supported platforms.
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// randomID is 144 random bits, base64url: a grant's or request's id.
func randomID() string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("oidc: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// digest is what the store keeps of a secret: its SHA-256 under a purpose,
// hex. A copy of the database holds no usable code or token.
func digest(purpose, secret string) string {
	s := sha256.Sum256([]byte("gatehouse-oidc\x00" + purpose + "\x00" + secret))
	return hex.EncodeToString(s[:])
}

// sameDigest compares two digests in constant time.
func sameDigest(a, b string) bool {
	return a != "" && hmac.Equal([]byte(a), []byte(b))
}
