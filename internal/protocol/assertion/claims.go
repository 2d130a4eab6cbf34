package assertion

import (
	"net/netip"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// Namespaces and URIs of the SAML 1.1 token (ENTRA.md; MS-MWBF 2.2.4.2).
const (
	NSSAML11                = "urn:oasis:names:tc:SAML:1.0:assertion"
	NameIDFormatUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	ConfirmationBearer      = "urn:oasis:names:tc:SAML:1.0:cm:bearer" // #nosec G101 -- a SAML URI, not a credential.
	// AuthMethodPassword is the AuthenticationMethod without MFA.
	AuthMethodPassword = "urn:oasis:names:tc:SAML:1.0:am:password" // #nosec G101 -- a SAML URI, not a credential.
	// MultipleAuthN tells Entra that MFA was done: the AuthenticationMethod,
	// the authenticationmethod attribute and an authnmethodsreferences value.
	MultipleAuthN = "http://schemas.microsoft.com/claims/multipleauthn"

	// Attribute namespaces (AttributeNamespace) and names (AttributeName).
	NSClaims          = "http://schemas.xmlsoap.org/claims"                       // UPN
	NSLiveIDFed       = "http://schemas.microsoft.com/LiveID/Federation/2008/05"  // ImmutableID
	NSWS201201        = "http://schemas.microsoft.com/ws/2012/01"                 // insidecorporatenetwork, passwordexpirationtime, passwordchangeurl
	NSMSClaims        = "http://schemas.microsoft.com/claims"                     // authnmethodsreferences
	NSIdentityClaims  = "http://schemas.microsoft.com/ws/2008/06/identity/claims" // authenticationmethod, authenticationinstant
	AttrUPN           = "UPN"
	AttrImmutableID   = "ImmutableID"
	AttrInsideCorpNet = "insidecorporatenetwork"
	AttrPwdExpiration = "passwordexpirationtime"
	AttrPwdChangeURL  = "passwordchangeurl"
	AttrAuthnMethRefs = "authnmethodsreferences"
	AttrAuthnMethod   = "authenticationmethod"
	AttrAuthnInstant  = "authenticationinstant"
)

// Subject is who the token is about.
type Subject struct {
	// ImmutableID is the NameIdentifier and the ImmutableID attribute:
	// base64 of the raw source-anchor bytes, case-sensitive, never
	// reformatted.
	ImmutableID string
	// UPN is the user's Entra user principal name.
	UPN string
}

// Claims is everything a token says about one sign-in.
type Claims struct {
	Subject
	// AuthInstant is when the user last authenticated (the session's
	// sign-in, not this token's issue time). It drives Entra's sign-in
	// frequency.
	AuthInstant time.Time
	// AMR lists the RFC 8176 methods used ("pwd", "otp", "hwk", "mfa", …).
	// SAML 1.1 does not carry them; kept for SAML 2.0 and OIDC.
	AMR []string
	// MFA reports whether a second factor was verified in this session.
	// Only then does the token carry the multipleauthn claims.
	MFA bool
	// PasswordExpires, when not zero, is sent as passwordexpirationtime
	// (Office shows the expiry warning), with PasswordChangeURL when set.
	PasswordExpires   time.Time
	PasswordChangeURL string
	// InsideCorporateNetwork, when not nil, is sent as
	// insidecorporatenetwork; Entra skips MFA for true when the tenant
	// trusts it, so set it only from a trustworthy client address.
	InsideCorporateNetwork *bool
	// Extra attributes, after the standard ones. They must not repeat a
	// standard attribute.
	Extra []Attribute
}

// Attribute is one SAML 1.1 attribute.
type Attribute struct {
	Namespace string
	Name      string
	Values    []string
}

// DefaultPasswordExpiryWindow is how long before expiry ClaimsPolicy starts
// sending passwordexpirationtime (AD FS's usual 14 days).
const DefaultPasswordExpiryWindow = 14 * 24 * time.Hour

// ClaimsPolicy turns a directory user and a sign-in into Claims.
type ClaimsPolicy struct {
	// PasswordExpiryWindow: passwordexpirationtime is sent when the
	// password expires within this window. Zero: the default; negative:
	// never.
	PasswordExpiryWindow time.Duration
	// PasswordChangeURL is sent with it, e.g. https://sso…/password/change.
	PasswordChangeURL string
	// CorporateNetworks, when not empty, makes insidecorporatenetwork
	// true for client addresses inside one of them and false otherwise.
	// Empty: the claim is not sent.
	CorporateNetworks []netip.Prefix
}

// SignIn is what the sign-in flow knows about the authentication.
type SignIn struct {
	AuthInstant time.Time
	AMR         []string
	MFA         bool
	// ClientIP is the real client address (through trusted proxies only).
	ClientIP netip.Addr
}

// Claims builds the claims for u after s, at now.
func (p ClaimsPolicy) Claims(u *directory.User, s SignIn, now time.Time) Claims {
	c := Claims{
		Subject:     Subject{ImmutableID: u.ImmutableID, UPN: u.UPN},
		AuthInstant: s.AuthInstant,
		AMR:         append([]string(nil), s.AMR...),
		MFA:         s.MFA,
	}
	window := p.PasswordExpiryWindow
	if window == 0 {
		window = DefaultPasswordExpiryWindow
	}
	if exp := u.State.PasswordExpires; window > 0 && !exp.IsZero() && exp.After(now) && !exp.After(now.Add(window)) {
		c.PasswordExpires = exp
		c.PasswordChangeURL = p.PasswordChangeURL
	}
	if len(p.CorporateNetworks) > 0 {
		inside := false
		if s.ClientIP.IsValid() {
			ip := s.ClientIP.Unmap()
			for _, n := range p.CorporateNetworks {
				if n.Contains(ip) {
					inside = true
					break
				}
			}
		}
		c.InsideCorporateNetwork = &inside
	}
	return c
}
