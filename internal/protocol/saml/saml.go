// Package saml is Gatehouse's SAML 2.0 identity provider: service providers
// from configuration and their metadata (sp.go, spmetadata.go), the
// HTTP-Redirect and HTTP-POST bindings with signature checks (binding.go,
// request.go), responses and assertions (response.go, with the SAML 2.0
// builder in protocol/assertion), the IdP's own metadata (metadata.go),
// single logout (slo.go) and the endpoints that tie them to the sign-in
// engine (handler.go).
//
// Attacker-supplied XML is parsed only with etree (DTDs refused, sizes
// capped) and, once a signature is checked, only the element goxmldsig
// returns as verified is read. Gatehouse signs with RSA-SHA256 and SHA-256
// digests only; the one exception it accepts on input is Microsoft Entra
// ID's RSA-SHA1-signed AuthnRequest, for the entra SP only.
package saml

import (
	"crypto/x509"
	"errors"
	"time"
)

// Endpoint paths (ARCHITECTURE.md: part of the contract).
const (
	PathMetadata = "/saml/metadata"
	PathSSO      = "/saml/sso"
	PathSLO      = "/saml/slo"
)

// Namespaces.
const (
	NSProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	NSAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
	NSXMLEnc    = "http://www.w3.org/2001/04/xmlenc#"
	NSXMLEnc11  = "http://www.w3.org/2009/xmlenc11#"
)

// Bindings. Responses go to an ACS over HTTP-POST only; requests arrive
// over HTTP-Redirect or HTTP-POST.
const (
	BindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingPOST     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
)

// NameID formats.
const (
	NameIDPersistent  = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	NameIDTransient   = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
	NameIDEmail       = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	NameIDUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
)

// Status codes.
const (
	StatusSuccess             = "urn:oasis:names:tc:SAML:2.0:status:Success"
	StatusRequester           = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	StatusResponder           = "urn:oasis:names:tc:SAML:2.0:status:Responder"
	StatusVersionMismatch     = "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch"
	StatusAuthnFailed         = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
	StatusNoPassive           = "urn:oasis:names:tc:SAML:2.0:status:NoPassive" // #nosec G101 -- a SAML URI, not a credential.
	StatusNoAuthnContext      = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
	StatusInvalidNameIDPolicy = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
	StatusRequestDenied       = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
	StatusUnsupportedBinding  = "urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding"
	StatusPartialLogout       = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"
	StatusUnknownPrincipal    = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"
)

// Authentication context classes. ClassPasswordProtectedTransport is what a
// password over TLS is; the MFA classes are the ones a request may ask for
// to demand a second factor, and the one written after MFA.
const (
	ClassPassword                   = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"                   // #nosec G101 -- a SAML URI, not a credential.
	ClassPasswordProtectedTransport = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport" // #nosec G101 -- a SAML URI, not a credential.
	ClassUnspecified                = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
	// ClassMultipleAuthN is Entra's MFA class (ENTRA.md).
	ClassMultipleAuthN = "http://schemas.microsoft.com/claims/multipleauthn"
	// ClassREFEDSMFA is the REFEDS MFA profile, what most other SPs ask for.
	ClassREFEDSMFA = "https://refeds.org/profile/mfa"
	// ClassMobileTwoFactor is the SAML spec's two-factor class.
	ClassMobileTwoFactor = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"
)

// mfaClasses are the AuthnContextClassRefs that ask for (and, written in an
// assertion, claim) a second factor.
var mfaClasses = []string{ClassREFEDSMFA, ClassMultipleAuthN, ClassMobileTwoFactor}

// Endpoint is one endpoint of a service provider's metadata.
type Endpoint struct {
	Binding  string
	Location string
	// ResponseLocation, for an SLO endpoint, is where LogoutResponses go
	// when it differs from Location.
	ResponseLocation string
	// Index and IsDefault order AssertionConsumerServices.
	Index     int
	IsDefault bool
}

// NameIDRule is how an SP's NameID is made.
type NameIDRule struct {
	// Format is one of the NameID* formats.
	Format string
	// Source is objectguid (the GUID string of objectGUID), immutable_id
	// (the Entra ImmutableID), upn, mail or samaccountname; unused for
	// transient (a fresh random value per assertion).
	Source string
}

// AttributeRule is one attribute an SP receives.
type AttributeRule struct {
	// Name is the Attribute's Name, e.g. "email" or an OID URN.
	Name string
	// NameFormat: empty for urn:oasis:names:tc:SAML:2.0:attrname-format:basic.
	NameFormat   string
	FriendlyName string
	// Source is where the values come from: upn, mail, samaccountname,
	// displayname, givenname, surname, objectguid, immutable_id, groups
	// (the CNs of every group, nested membership included), group_dns, or
	// "ad:<attribute>" (any other AD attribute); empty when Values is set.
	Source string
	// Values are static values.
	Values []string
}

// ServiceProvider is one configured SAML 2.0 service provider.
type ServiceProvider struct {
	// Name is the app's name in the configuration (policy, audit, tiles).
	Name     string
	EntityID string
	// ACS are the AssertionConsumerServices with the HTTP-POST binding; a
	// request's ACS URL must equal one of them byte for byte.
	ACS []Endpoint
	// SLO are the SingleLogoutServices (either binding).
	SLO []Endpoint
	// SigningCerts verify the SP's signed requests (AuthnRequest,
	// LogoutRequest/Response). Empty: the SP cannot sign.
	SigningCerts []*x509.Certificate
	// EncryptionCert, when set, encrypts every assertion to the SP.
	EncryptionCert *x509.Certificate
	// WantRequestsSigned refuses unsigned requests (the SP's
	// AuthnRequestsSigned, or require_signed_requests).
	WantRequestsSigned bool
	NameID             NameIDRule
	Attributes         []AttributeRule
	// SignResponse and SignAssertion say what is signed (at least one).
	SignResponse  bool
	SignAssertion bool
	// Entra marks Microsoft Entra ID over SAML-P: persistent NameID =
	// ImmutableID, IDPEmail = UPN, the multipleauthn class after MFA, and
	// its RSA-SHA1 request signature (KeyInfo ignored) accepted.
	Entra bool
	// IDPInitiated allows unsolicited responses (/saml/sso?sp=…).
	IDPInitiated bool
}

// AuthnRequest is a checked AuthnRequest: the SP is known, its signature
// (when required or present) verified, its ACS resolved.
type AuthnRequest struct {
	ID           string
	IssueInstant time.Time
	SP           *ServiceProvider
	// ACS is the URL the response goes to (by index or exact URL, else the
	// SP's default), always one of SP.ACS.
	ACS        string
	ForceAuthn bool
	IsPassive  bool
	// NameIDFormat is NameIDPolicy's Format ("" or unspecified: the SP's).
	NameIDFormat string
	// AllowCreate is NameIDPolicy's AllowCreate.
	AllowCreate bool
	// Subject is the request's Subject NameID, when it names one: the
	// assertion must be about that subject (SAML core 3.4.1).
	Subject NameID
	// RequestedClasses and Comparison are RequestedAuthnContext's.
	RequestedClasses []string
	Comparison       string
	// Signed: the request's signature was verified.
	Signed bool
	// Binding is how it arrived.
	Binding    string
	RelayState string
}

// Errors the parsers return; the handler maps them to a SAML status (the
// SP can be answered) or an error page (it cannot).
var (
	// ErrUnknownSP: the Issuer is not a configured SP (error page).
	ErrUnknownSP = errors.New("saml: unknown service provider")
	// ErrACSNotAllowed: the ACS URL or index is not in the SP's metadata
	// (error page: never post to an unlisted URL).
	ErrACSNotAllowed = errors.New("saml: assertion consumer service not allowed")
	// ErrMalformed: not a SAML message we can read (error page).
	ErrMalformed = errors.New("saml: malformed message")
	// ErrSignature: a required signature is missing or does not verify
	// (error page: a forged request gets nothing posted back).
	ErrSignature = errors.New("saml: signature missing or invalid")
	// ErrReplay: a request ID already seen.
	ErrReplay = errors.New("saml: request replayed")
	// ErrStale: IssueInstant too old or in the future.
	ErrStale = errors.New("saml: request too old or from the future")
	// ErrTooLarge: a message over the size limits.
	ErrTooLarge = errors.New("saml: message too large")
	// ErrUnsupportedBinding: the request wants its response by another
	// binding than HTTP-POST (status UnsupportedBinding to the ACS).
	ErrUnsupportedBinding = errors.New("saml: unsupported response binding")
	// ErrNoAuthnContext: the request asks for an authentication context
	// Gatehouse cannot satisfy (status NoAuthnContext to the ACS).
	ErrNoAuthnContext = errors.New("saml: requested authentication context not supported")
)

// NameID is a subject's NameID as sent.
type NameID struct {
	Format string
	Value  string
	// SPNameQualifier, when set, is the SP's entity ID (persistent IDs).
	SPNameQualifier string
}

// LogoutRequest is a checked LogoutRequest from an SP (or, parsed from a
// verified element, one Gatehouse sent).
type LogoutRequest struct {
	ID           string
	IssueInstant time.Time
	SP           *ServiceProvider
	NameID       NameID
	// SessionIndexes are the SessionIndex values it names (none: every
	// session of the NameID at the SP).
	SessionIndexes []string
	Signed         bool
	Binding        string
	RelayState     string
}

// LogoutResponse is a checked LogoutResponse from an SP.
type LogoutResponse struct {
	ID           string
	InResponseTo string
	SP           *ServiceProvider
	Status       string
	Signed       bool
	Binding      string
	RelayState   string
}
