package saml

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

// Errors Response returns for a sign-in the SP must hear about as a SAML
// status (ErrorResponse), not as an error page.
var (
	// ErrInvalidNameIDPolicy: the request's NameIDPolicy asks for a NameID
	// format the SP is not configured for (status Requester /
	// InvalidNameIDPolicy).
	ErrInvalidNameIDPolicy = errors.New("saml: NameID format not offered to this service provider")
	// ErrNoSubjectValue: the user has no value for the SP's NameID source
	// (or Entra's IDPEmail), so no assertion can name them (status
	// Responder). Never an empty NameID.
	ErrNoSubjectValue = errors.New("saml: the user has no value for the service provider's NameID")
)

// AttrNameFormatBasic is an attribute Name's format when the rule names
// none.
const AttrNameFormatBasic = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"

// AttrIDPEmail is the attribute Entra reads the user's UPN from
// (ENTRA.md).
const AttrIDPEmail = "IDPEmail"

// ResponderOptions configure a Responder.
type ResponderOptions struct {
	// Builder builds and signs the assertions; its clock and ids also date
	// and name the Responses (the one WS-Federation uses).
	Builder *assertion.Builder
	// EntityID is the IdP's entity ID: the Issuer of every Response whose
	// Grant names no other.
	EntityID string
	// Rand makes transient NameIDs and encryption keys. Nil: crypto/rand.
	Rand io.Reader
}

// Responder builds the signed samlp:Responses Gatehouse posts to an SP's
// assertion consumer service.
type Responder struct {
	b        *assertion.Builder
	entityID string
	rand     io.Reader
}

// NewResponder checks o and returns a Responder.
func NewResponder(o ResponderOptions) (*Responder, error) {
	if o.Builder == nil {
		return nil, errors.New("saml: ResponderOptions.Builder is required")
	}
	if strings.TrimSpace(o.EntityID) == "" {
		return nil, errors.New("saml: ResponderOptions.EntityID is required")
	}
	if err := assertion.CheckText("entity ID", o.EntityID); err != nil {
		return nil, fmt.Errorf("saml: %w", err)
	}
	r := &Responder{b: o.Builder, entityID: o.EntityID, rand: o.Rand}
	if r.rand == nil {
		r.rand = rand.Reader
	}
	return r, nil
}

// Grant is one successful sign-in for an SP: everything a Response says.
type Grant struct {
	SP *ServiceProvider
	// ACS is where the Response goes; it must be one of SP.ACS.
	ACS string
	// InResponseTo is the AuthnRequest's ID; empty for an IdP-initiated
	// (unsolicited) Response.
	InResponseTo string
	// Issuer overrides the IdP's entity ID; for Entra it is the domain's
	// IssuerUri, byte for byte, and required.
	Issuer string
	User   *directory.User
	// AuthInstant is when the user last authenticated (the session's
	// sign-in time).
	AuthInstant time.Time
	// MFA reports whether a second factor was verified in this session.
	MFA bool
	// SessionIndex names the session for single logout.
	SessionIndex string
	// NameIDFormat is the request's NameIDPolicy Format; "" or
	// unspecified: the SP's.
	NameIDFormat string
	// Demands are what the request's RequestedAuthnContext asked
	// (DemandsOf): the stated class is Demands.Class.
	Demands Demands
}

// Response builds the samlp:Response for g: Status Success and one
// assertion about the user (NameID and attributes from the SP's rules,
// the authentication context, the session index), signed as the SP wants
// (the assertion first, then the Response) and encrypted when it has an
// encryption certificate. It returns the Response and the NameID it
// names the user with (kept for single logout). ErrInvalidNameIDPolicy
// and ErrNoSubjectValue mean the SP should get ErrorResponse instead.
func (r *Responder) Response(ctx context.Context, g Grant) ([]byte, NameID, error) {
	sp := g.SP
	if sp == nil || g.User == nil {
		return nil, NameID{}, errors.New("saml: a grant needs a service provider and a user")
	}
	if err := checkACS(sp, g.ACS); err != nil {
		return nil, NameID{}, err
	}
	issuer := r.entityID
	if g.Issuer != "" {
		issuer = g.Issuer
	} else if sp.Entra {
		return nil, NameID{}, fmt.Errorf("saml: %s: Entra needs the domain's IssuerUri as the issuer", sp.Name)
	}
	nameID, err := r.nameID(g)
	if err != nil {
		return nil, NameID{}, err
	}
	attrs, err := attributes(sp, g.User)
	if err != nil {
		return nil, NameID{}, err
	}
	signAssertion, signResponse := signing(sp)
	a, err := r.b.SAML20(ctx, assertion.SAML20Issue{
		Issuer: issuer, NameID: nameID.Value, NameIDFormat: nameID.Format, SPNameQualifier: nameID.SPNameQualifier,
		Recipient: g.ACS, InResponseTo: g.InResponseTo, Audience: sp.EntityID,
		AuthInstant: g.AuthInstant, SessionIndex: g.SessionIndex, AuthnContextClassRef: authnClass(g),
		Attributes: attrs, Sign: signAssertion,
	})
	if err != nil {
		return nil, NameID{}, fmt.Errorf("saml: %s: %w", sp.Name, err)
	}
	inner := a.Element()
	if sp.EncryptionCert != nil {
		if inner, err = encryptAssertion(r.rand, sp.EncryptionCert, a.XML); err != nil {
			return nil, NameID{}, fmt.Errorf("saml: %s: %w", sp.Name, err)
		}
	}
	resp := r.response(issuer, g.ACS, g.InResponseTo, a.IssueInstant)
	addStatus(resp, StatusSuccess, "", "")
	resp.AddChild(inner)
	out, err := r.finish(ctx, resp, signResponse)
	if err != nil {
		return nil, NameID{}, fmt.Errorf("saml: %s: %w", sp.Name, err)
	}
	return out, nameID, nil
}

// ErrorResponse builds a signed samlp:Response that carries no assertion,
// only the status (e.g. StatusRequester), the nested subStatus (e.g.
// StatusInvalidNameIDPolicy; empty: none) and message (empty: none), for
// a request the SP should hear was refused. acs must be one of the SP's.
func (r *Responder) ErrorResponse(ctx context.Context, sp *ServiceProvider, acs, inResponseTo, status, subStatus, message string) ([]byte, error) {
	if sp == nil {
		return nil, errors.New("saml: an error response needs a service provider")
	}
	if err := checkACS(sp, acs); err != nil {
		return nil, err
	}
	if status == "" || status == StatusSuccess {
		return nil, fmt.Errorf("saml: an error response needs an error status, not %q", status)
	}
	for _, f := range []struct{ what, v string }{
		{"InResponseTo", inResponseTo}, {"status", status}, {"status", subStatus}, {"status message", message},
	} {
		if err := assertion.CheckText(f.what, f.v); err != nil {
			return nil, fmt.Errorf("saml: %w", err)
		}
	}
	resp := r.response(r.entityID, acs, inResponseTo, r.b.Now().UTC().Truncate(time.Millisecond))
	addStatus(resp, status, subStatus, message)
	out, err := r.finish(ctx, resp, true)
	if err != nil {
		return nil, fmt.Errorf("saml: %s: %w", sp.Name, err)
	}
	return out, nil
}

// response starts a samlp:Response: its attributes and Issuer.
func (r *Responder) response(issuer, acs, inResponseTo string, now time.Time) *etree.Element {
	resp := etree.NewElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", NSProtocol)
	resp.CreateAttr("xmlns:saml", NSAssertion)
	resp.CreateAttr("ID", r.b.NewID())
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", assertion.FormatTime(now))
	resp.CreateAttr("Destination", acs)
	if inResponseTo != "" {
		resp.CreateAttr("InResponseTo", inResponseTo)
	}
	resp.CreateElement("saml:Issuer").SetText(issuer)
	return resp
}

// addStatus adds samlp:Status with code, the nested sub code and the
// message when set.
func addStatus(resp *etree.Element, code, sub, message string) {
	st := resp.CreateElement("samlp:Status")
	sc := st.CreateElement("samlp:StatusCode")
	sc.CreateAttr("Value", code)
	if sub != "" {
		sc.CreateElement("samlp:StatusCode").CreateAttr("Value", sub)
	}
	if message != "" {
		st.CreateElement("samlp:StatusMessage").SetText(message)
	}
}

// finish signs resp when sign is set (the signature right after the
// Issuer, as the schema wants) and marshals it.
func (r *Responder) finish(ctx context.Context, resp *etree.Element, sign bool) ([]byte, error) {
	if sign {
		if err := r.b.Signer().SignEnveloped(ctx, resp, "ID", 1); err != nil {
			return nil, err
		}
	}
	return assertion.Marshal(resp, false)
}

// checkACS refuses a URL that is not one of the SP's assertion consumer
// services: the handler resolved it from the metadata already, and a
// Response must never go anywhere else.
func checkACS(sp *ServiceProvider, acs string) error {
	for _, e := range sp.ACS {
		if e.Location == acs && acs != "" {
			return nil
		}
	}
	return fmt.Errorf("%w: %q for %s", ErrACSNotAllowed, acs, sp.EntityID)
}

// signing says what is signed for sp: Entra always gets a signed
// assertion (ENTRA.md); an SP configured for neither gets both, the
// choice every SP accepts.
func signing(sp *ServiceProvider) (signAssertion, signResponse bool) {
	signAssertion, signResponse = sp.SignAssertion, sp.SignResponse
	if sp.Entra {
		signAssertion = true
	}
	if !signAssertion && !signResponse {
		return true, true
	}
	return signAssertion, signResponse
}

// authnClass is the AuthnContextClassRef the assertion states
// (Demands.Class).
func authnClass(g Grant) string { return g.Demands.Class(g.MFA, g.SP.Entra) }

// nameIDRule is the SP's NameID rule with its defaults: Entra's is fixed
// (persistent ImmutableID), a missing format is unspecified, and a missing
// source follows the format.
func nameIDRule(sp *ServiceProvider) NameIDRule {
	if sp.Entra {
		return NameIDRule{Format: NameIDPersistent, Source: "immutable_id"}
	}
	rule := sp.NameID
	if rule.Format == "" {
		rule.Format = NameIDUnspecified
	}
	if rule.Source == "" {
		switch rule.Format {
		case NameIDPersistent:
			rule.Source = "objectguid"
		case NameIDEmail:
			rule.Source = "mail"
		default:
			rule.Source = "upn"
		}
	}
	return rule
}

// nameID makes the subject's NameID for g.
func (r *Responder) nameID(g Grant) (NameID, error) {
	rule := nameIDRule(g.SP)
	if f := g.NameIDFormat; f != "" && f != NameIDUnspecified && f != rule.Format {
		return NameID{}, fmt.Errorf("%w: %s asked for %s, configured %s", ErrInvalidNameIDPolicy, g.SP.EntityID, f, rule.Format)
	}
	n := NameID{Format: rule.Format}
	if rule.Format == NameIDTransient {
		var b [16]byte
		if _, err := io.ReadFull(r.rand, b[:]); err != nil {
			return NameID{}, fmt.Errorf("saml: transient NameID: %w", err)
		}
		n.Value = "_" + hex.EncodeToString(b[:])
		return n, nil
	}
	vals, err := sourceValues(g.User, rule.Source)
	if err != nil {
		return NameID{}, err
	}
	if len(vals) == 0 || strings.TrimSpace(vals[0]) == "" {
		return NameID{}, fmt.Errorf("%w: %s has no %s", ErrNoSubjectValue, g.User.UPN, rule.Source)
	}
	n.Value = vals[0]
	if rule.Format == NameIDPersistent && !g.SP.Entra {
		// A persistent identifier is scoped to the SP it is issued to
		// (SAML core 8.3.7); Entra's sample carries no qualifier.
		n.SPNameQualifier = g.SP.EntityID
	}
	return n, nil
}

// attributes makes the SP's attributes for u: each rule's values, a rule
// with none left out; Entra's IDPEmail (the UPN) first.
func attributes(sp *ServiceProvider, u *directory.User) ([]assertion.SAML20Attribute, error) {
	var out []assertion.SAML20Attribute
	if sp.Entra {
		if strings.TrimSpace(u.UPN) == "" {
			return nil, fmt.Errorf("%w: %s has no UPN for %s", ErrNoSubjectValue, u.DN, AttrIDPEmail)
		}
		out = append(out, assertion.SAML20Attribute{Name: AttrIDPEmail, Values: []string{u.UPN}})
	}
	for _, rule := range sp.Attributes {
		if sp.Entra && rule.Name == AttrIDPEmail {
			continue
		}
		vals := rule.Values
		if len(vals) == 0 {
			var err error
			if vals, err = sourceValues(u, rule.Source); err != nil {
				return nil, fmt.Errorf("saml: %s: attribute %s: %w", sp.Name, rule.Name, err)
			}
		}
		var kept []string
		for _, v := range vals {
			if v != "" {
				kept = append(kept, v)
			}
		}
		if len(kept) == 0 {
			continue
		}
		format := rule.NameFormat
		if format == "" {
			format = AttrNameFormatBasic
		}
		out = append(out, assertion.SAML20Attribute{Name: rule.Name, NameFormat: format, FriendlyName: rule.FriendlyName, Values: kept})
	}
	return out, nil
}

// sourceValues reads a NameID or attribute source from u: upn, mail,
// samaccountname, displayname, givenname, surname, objectguid (the GUID as
// Windows shows it), immutable_id, groups (the CN of every group), group_dns
// or ad:<attribute>.
func sourceValues(u *directory.User, source string) ([]string, error) {
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	src := strings.ToLower(source)
	switch src {
	case "upn":
		return one(u.UPN), nil
	case "mail":
		return one(u.Mail), nil
	case "samaccountname":
		return one(u.SAMAccountName), nil
	case "displayname":
		return one(u.DisplayName), nil
	case "givenname":
		return one(u.GivenName), nil
	case "surname":
		return one(u.Surname), nil
	case "immutable_id":
		return one(u.ImmutableID), nil
	case "objectguid":
		g, err := GUIDString(u.ID)
		if err != nil {
			return nil, err
		}
		return one(g), nil
	case "groups":
		cns := make([]string, 0, len(u.Groups))
		for _, dn := range u.Groups {
			cns = append(cns, firstRDNValue(dn))
		}
		return cns, nil
	case "group_dns":
		return append([]string(nil), u.Groups...), nil
	}
	if name, ok := strings.CutPrefix(src, "ad:"); ok && name != "" {
		return append([]string(nil), u.Attributes[name]...), nil
	}
	return nil, fmt.Errorf("saml: unknown value source %q", source)
}

// GUIDString turns a user ID (the hex of objectGUID's 16 bytes as AD
// stores them) into the GUID as Windows shows it, e.g.
// 2e1f04a2-7c3b-4d5e-9f60-718293a4b5c6: the first three groups are stored
// little-endian, the last two as they are.
func GUIDString(id string) (string, error) {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 16 {
		return "", fmt.Errorf("%w: user ID %q is not the hex of a 16-byte objectGUID", ErrNoSubjectValue, id)
	}
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%x-%x",
		b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8:10], b[10:]), nil
}

// firstRDNValue returns the value of a DN's first RDN (a group's CN),
// with the DN escapes (\, or \2C) undone; a DN it cannot read comes back
// whole.
func firstRDNValue(dn string) string {
	_, rest, ok := strings.Cut(dn, "=")
	if !ok {
		return dn
	}
	var out []byte
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c == ',' || c == '+':
			return string(out)
		case c == '\\' && i+2 < len(rest) && isHex(rest[i+1]) && isHex(rest[i+2]):
			v, _ := hex.DecodeString(rest[i+1 : i+3])
			out = append(out, v[0])
			i += 2
		case c == '\\' && i+1 < len(rest):
			out = append(out, rest[i+1])
			i++
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
