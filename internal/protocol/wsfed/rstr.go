package wsfed

import (
	"errors"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

// WS-Trust 2005/02 (the passive profile's wresult and WS-Trust 2005's
// response) and the namespaces around it.
const (
	NSTrust2005          = "http://schemas.xmlsoap.org/ws/2005/02/trust"
	NSPolicy             = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	NSAddressing         = "http://www.w3.org/2005/08/addressing"
	NSWSU                = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	TokenTypeSAML11      = "urn:oasis:names:tc:SAML:1.0:assertion" // #nosec G101 -- a URI, not a credential.
	RequestTypeIssue2005 = "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue"
	KeyTypeNoProofKey    = "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey"
)

// RSTRParts are the children of a RequestSecurityTokenResponse, which
// WS-Trust 1.3 and 2005 share apart from the namespace and a few URIs.
type RSTRParts struct {
	// Prefix and Namespace of the trust elements ("t", NSTrust2005).
	Prefix, Namespace string
	RequestType       string
	KeyType           string
}

// RSTRElement builds a RequestSecurityTokenResponse holding a: Lifetime
// (the assertion's), AppliesTo (its audience), RequestedSecurityToken with
// the assertion as its only content (no whitespace: MSAL Go and
// passport-wsfed-saml2 take the first child), TokenType
// urn:oasis:names:tc:SAML:1.0:assertion, RequestType and KeyType. Write
// the document holding it with assertion.Marshal.
func RSTRElement(a *assertion.Assertion, p RSTRParts) *etree.Element {
	t := func(name string) string { return p.Prefix + ":" + name }
	r := etree.NewElement(t("RequestSecurityTokenResponse"))
	r.CreateAttr("xmlns:"+p.Prefix, p.Namespace)
	lt := r.CreateElement(t("Lifetime"))
	created := lt.CreateElement("wsu:Created")
	created.CreateAttr("xmlns:wsu", NSWSU)
	created.SetText(assertion.FormatTime(a.NotBefore))
	expires := lt.CreateElement("wsu:Expires")
	expires.CreateAttr("xmlns:wsu", NSWSU)
	expires.SetText(assertion.FormatTime(a.NotOnOrAfter))
	at := r.CreateElement("wsp:AppliesTo")
	at.CreateAttr("xmlns:wsp", NSPolicy)
	epr := at.CreateElement("wsa:EndpointReference")
	epr.CreateAttr("xmlns:wsa", NSAddressing)
	epr.CreateElement("wsa:Address").SetText(a.Audience)
	r.CreateElement(t("RequestedSecurityToken")).AddChild(a.Element())
	r.CreateElement(t("TokenType")).SetText(TokenTypeSAML11)
	r.CreateElement(t("RequestType")).SetText(p.RequestType)
	r.CreateElement(t("KeyType")).SetText(p.KeyType)
	return r
}

// BuildRSTR returns the wresult of a passive sign-in: a WS-Trust 2005/02
// t:RequestSecurityTokenResponse around the signed assertion a, with
// AppliesTo = a's audience, KeyType NoProofKey, no XML declaration and no
// whitespace.
func BuildRSTR(a *assertion.Assertion) ([]byte, error) {
	if a == nil || len(a.XML) == 0 {
		return nil, errors.New("wsfed: no assertion")
	}
	return assertion.Marshal(RSTRElement(a, RSTRParts{
		Prefix: "t", Namespace: NSTrust2005, RequestType: RequestTypeIssue2005, KeyType: KeyTypeNoProofKey,
	}), false)
}
