package assertion

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Namespaces and URIs of the SAML 2.0 assertion (SAML core, saml-core-2.0-os).
const (
	NSSAML20 = "urn:oasis:names:tc:SAML:2.0:assertion"
	// NSXMLSchema and NSXMLSchemaInstance type every AttributeValue as
	// xs:string.
	NSXMLSchema         = "http://www.w3.org/2001/XMLSchema"
	NSXMLSchemaInstance = "http://www.w3.org/2001/XMLSchema-instance"
	// ConfirmationBearer20 is the Web SSO profile's subject confirmation.
	ConfirmationBearer20 = "urn:oasis:names:tc:SAML:2.0:cm:bearer" // #nosec G101 -- a SAML URI, not a credential.
)

// SubjectConfirmationLifetime is how long a SAML 2.0 assertion may be
// presented at the assertion consumer service (SubjectConfirmationData's
// NotOnOrAfter): the POST happens right away, so minutes, as AD FS and
// Entra's own samples have it.
const SubjectConfirmationLifetime = 5 * time.Minute

// NotBeforeSkew is how far before the issue instant a SAML 2.0 assertion's
// Conditions start, so an SP whose clock runs a little behind ours does not
// refuse a fresh assertion as "not yet valid". Only the start moves: the
// end stays IssueInstant + lifetime.
const NotBeforeSkew = time.Minute

// SAML20Issue is what one SAML 2.0 assertion says (SAML core 2.3.3, Web SSO
// profile 4.1.4.2): who issues it, about whom, for which SP, and how the
// user signed in. protocol/saml fills it from the SP's configuration.
type SAML20Issue struct {
	// Issuer is written byte for byte (for Entra the domain's IssuerUri).
	Issuer string
	// NameID is the subject's identifier in NameIDFormat; SPNameQualifier,
	// when set, is written on it.
	NameID          string
	NameIDFormat    string
	SPNameQualifier string
	// Recipient is the assertion consumer service URL the response is
	// posted to; InResponseTo the AuthnRequest's ID (empty when
	// unsolicited).
	Recipient    string
	InResponseTo string
	// Audience is the SP's entity ID.
	Audience string
	// AuthInstant is when the user last authenticated (the session's
	// sign-in, not this assertion's issue time).
	AuthInstant time.Time
	// SessionIndex names the session for single logout; empty: omitted.
	SessionIndex string
	// AuthnContextClassRef is how the user authenticated.
	AuthnContextClassRef string
	// Attributes, in order; none: no AttributeStatement.
	Attributes []SAML20Attribute
	// Sign signs the assertion (enveloped, right after the Issuer). An SP
	// that takes a signed Response only gets an unsigned assertion inside.
	Sign bool
}

// SAML20Attribute is one saml:Attribute; every value is an xs:string.
type SAML20Attribute struct {
	Name string
	// NameFormat and FriendlyName are written when set.
	NameFormat   string
	FriendlyName string
	Values       []string
}

// SAML20 builds a SAML 2.0 assertion, signed when in.Sign: Issuer, the
// signature, Subject (NameID and a bearer SubjectConfirmation for the
// recipient, valid SubjectConfirmationLifetime), Conditions (from
// NotBeforeSkew before now to the builder's lifetime after it, for the one
// audience), the AuthnStatement and, when there are attributes, the
// AttributeStatement. The element declares every namespace it uses, so it
// can be embedded in a Response or encrypted as it is. Signing is the
// signing phase of the request in ctx (Server-Timing).
func (b *Builder) SAML20(ctx context.Context, in SAML20Issue) (*Assertion, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	id, now, err := b.start()
	if err != nil {
		return nil, err
	}
	notBefore, notAfter := now.Add(-NotBeforeSkew), now.Add(b.lifetime)

	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", NSSAML20)
	if len(in.Attributes) > 0 {
		// xs is used only inside the xsi:type values, so exclusive C14N
		// leaves its declaration out of what is signed (goxmldsig cannot
		// write an InclusiveNamespaces PrefixList): swapping it could
		// change the name of a value's type, never a value.
		a.CreateAttr("xmlns:xs", NSXMLSchema)
		a.CreateAttr("xmlns:xsi", NSXMLSchemaInstance)
	}
	a.CreateAttr("ID", id)
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", FormatTime(now))
	a.CreateElement("saml:Issuer").SetText(in.Issuer)

	subj := a.CreateElement("saml:Subject")
	n := subj.CreateElement("saml:NameID")
	n.CreateAttr("Format", in.NameIDFormat)
	if in.SPNameQualifier != "" {
		n.CreateAttr("SPNameQualifier", in.SPNameQualifier)
	}
	n.SetText(in.NameID)
	sc := subj.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", ConfirmationBearer20)
	scd := sc.CreateElement("saml:SubjectConfirmationData")
	if in.InResponseTo != "" {
		scd.CreateAttr("InResponseTo", in.InResponseTo)
	}
	scd.CreateAttr("NotOnOrAfter", FormatTime(now.Add(min(SubjectConfirmationLifetime, b.lifetime))))
	scd.CreateAttr("Recipient", in.Recipient)

	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", FormatTime(notBefore))
	cond.CreateAttr("NotOnOrAfter", FormatTime(notAfter))
	cond.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(in.Audience)

	st := a.CreateElement("saml:AuthnStatement")
	st.CreateAttr("AuthnInstant", FormatTime(in.AuthInstant))
	if in.SessionIndex != "" {
		st.CreateAttr("SessionIndex", in.SessionIndex)
	}
	st.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText(in.AuthnContextClassRef)

	if len(in.Attributes) > 0 {
		as := a.CreateElement("saml:AttributeStatement")
		for _, at := range in.Attributes {
			e := as.CreateElement("saml:Attribute")
			e.CreateAttr("Name", at.Name)
			if at.NameFormat != "" {
				e.CreateAttr("NameFormat", at.NameFormat)
			}
			if at.FriendlyName != "" {
				e.CreateAttr("FriendlyName", at.FriendlyName)
			}
			for _, v := range at.Values {
				av := e.CreateElement("saml:AttributeValue")
				av.CreateAttr("xsi:type", "xs:string")
				av.SetText(v)
			}
		}
	}

	if in.Sign {
		// The schema puts ds:Signature right after the Issuer.
		if err := b.signer.SignEnveloped(ctx, a, "ID", 1); err != nil {
			return nil, err
		}
	}
	return done(a, Assertion{ID: id, Issuer: in.Issuer, Audience: in.Audience, IssueInstant: now, NotBefore: notBefore, NotOnOrAfter: notAfter})
}

func (in SAML20Issue) check() error {
	errs := checkFields(true, textField{"issuer", in.Issuer}, textField{"audience", in.Audience}, textField{"recipient", in.Recipient},
		textField{"NameID", in.NameID}, textField{"NameID format", in.NameIDFormat},
		textField{"authentication context class", in.AuthnContextClassRef})
	errs = append(errs, checkFields(false, textField{"SPNameQualifier", in.SPNameQualifier},
		textField{"InResponseTo", in.InResponseTo}, textField{"SessionIndex", in.SessionIndex})...)
	if in.AuthInstant.IsZero() {
		errs = append(errs, errors.New("authentication instant is not set"))
	}
	seen := map[string]bool{}
	for _, at := range in.Attributes {
		key := at.NameFormat + " " + at.Name
		switch {
		case strings.TrimSpace(at.Name) == "":
			errs = append(errs, errors.New("an attribute has no name"))
		case seen[key]:
			errs = append(errs, fmt.Errorf("attribute %s given twice", at.Name))
		case len(at.Values) == 0:
			errs = append(errs, fmt.Errorf("attribute %s has no value", at.Name))
		}
		seen[key] = true
		for _, s := range append([]string{at.Name, at.NameFormat, at.FriendlyName}, at.Values...) {
			if err := CheckText("attribute "+at.Name, s); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("assertion: %w", errors.Join(errs...))
	}
	return nil
}
