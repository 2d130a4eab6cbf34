package assertion

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
)

// DefaultLifetime is how long an assertion is valid when Options.Lifetime
// is zero.
const DefaultLifetime = time.Hour

// Options configure a Builder. Key and Now are required.
type Options struct {
	// Key signs every assertion.
	Key *keys.KeyPair
	// Now is the clock; it is read once per assertion.
	Now func() time.Time
	// NewID returns a fresh assertion id. It must start with a letter or
	// "_" and be unique. Nil: "_" + 32 random hex digits.
	NewID func() string
	// Lifetime is NotOnOrAfter − NotBefore. Zero: DefaultLifetime.
	Lifetime time.Duration
}

// Builder builds and signs assertions.
type Builder struct {
	signer   *Signer
	now      func() time.Time
	newID    func() string
	lifetime time.Duration
}

// NewBuilder checks o and returns a Builder.
func NewBuilder(o Options) (*Builder, error) {
	s, err := NewSigner(o.Key)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		return nil, errors.New("assertion: Options.Now is required")
	}
	if o.Lifetime < 0 {
		return nil, fmt.Errorf("assertion: negative lifetime %v", o.Lifetime)
	}
	b := &Builder{signer: s, now: o.Now, newID: o.NewID, lifetime: o.Lifetime}
	if b.newID == nil {
		b.newID = RandomID
	}
	if b.lifetime == 0 {
		b.lifetime = DefaultLifetime
	}
	return b, nil
}

// Signer returns the builder's signer, for documents that travel with the
// assertions (metadata).
func (b *Builder) Signer() *Signer { return b.signer }

// NewID returns a fresh id from the builder's source, for the documents
// that carry its assertions (a SAML 2.0 Response), so one Options.NewID
// makes a whole response deterministic in tests.
func (b *Builder) NewID() string { return b.newID() }

// Now reads the builder's clock.
func (b *Builder) Now() time.Time { return b.now() }

// RandomID returns "_" followed by 32 random hex digits.
func RandomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("assertion: crypto/rand failed: " + err.Error()) // rand.Read does not fail on supported platforms.
	}
	return "_" + hex.EncodeToString(b[:])
}

// Issue says who issues a token for whom.
type Issue struct {
	// Issuer is written byte for byte: for Entra the domain's IssuerUri.
	Issuer string
	// Audience is the relying party's realm.
	Audience string
	Claims   Claims
}

// Assertion is a signed assertion.
type Assertion struct {
	ID           string
	Issuer       string
	Audience     string
	IssueInstant time.Time
	NotBefore    time.Time
	NotOnOrAfter time.Time
	// XML is the signed assertion as sent: no XML declaration, no
	// whitespace, ASCII only, every namespace declared on the root.
	XML []byte

	el *etree.Element
}

// Element returns a copy of the signed assertion element, to embed in a
// larger document (which must then be written with Marshal).
func (a *Assertion) Element() *etree.Element { return a.el.Copy() }

// SAML11 builds and signs a SAML 1.1 assertion as Microsoft Entra ID
// expects it (MS-MWBF 2.2.4.2): one AttributeStatement and one
// AuthenticationStatement, each with the Subject (NameIdentifier =
// ImmutableID, bearer confirmation); the UPN and ImmutableID attributes;
// authenticationinstant; the multipleauthn claims only when MFA happened;
// the password-expiry and corporate-network claims when given. Signing is
// the signing phase of the request in ctx (Server-Timing).
func (b *Builder) SAML11(ctx context.Context, in Issue) (*Assertion, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	id, now, err := b.start()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(b.lifetime)
	c := in.Claims

	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("MajorVersion", "1")
	a.CreateAttr("MinorVersion", "1")
	a.CreateAttr("AssertionID", id)
	a.CreateAttr("Issuer", in.Issuer)
	a.CreateAttr("IssueInstant", FormatTime(now))
	a.CreateAttr("xmlns:saml", NSSAML11)

	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", FormatTime(now))
	cond.CreateAttr("NotOnOrAfter", FormatTime(notAfter))
	cond.CreateElement("saml:AudienceRestrictionCondition").CreateElement("saml:Audience").SetText(in.Audience)

	as := a.CreateElement("saml:AttributeStatement")
	subject(as, c.ImmutableID)
	attribute(as, NSClaims, AttrUPN, c.UPN)
	attribute(as, NSLiveIDFed, AttrImmutableID, c.ImmutableID)
	attribute(as, NSIdentityClaims, AttrAuthnInstant, FormatTime(c.AuthInstant))
	authMethod := AuthMethodPassword
	if c.MFA {
		authMethod = MultipleAuthN
		attribute(as, NSIdentityClaims, AttrAuthnMethod, MultipleAuthN)
		attribute(as, NSMSClaims, AttrAuthnMethRefs, MultipleAuthN)
	}
	if !c.PasswordExpires.IsZero() {
		attribute(as, NSWS201201, AttrPwdExpiration, FormatTime(c.PasswordExpires))
		if c.PasswordChangeURL != "" {
			attribute(as, NSWS201201, AttrPwdChangeURL, c.PasswordChangeURL)
		}
	}
	if c.InsideCorporateNetwork != nil {
		attribute(as, NSWS201201, AttrInsideCorpNet, fmt.Sprint(*c.InsideCorporateNetwork))
	}
	for _, x := range c.Extra {
		attribute(as, x.Namespace, x.Name, x.Values...)
	}

	st := a.CreateElement("saml:AuthenticationStatement")
	st.CreateAttr("AuthenticationMethod", authMethod)
	st.CreateAttr("AuthenticationInstant", FormatTime(c.AuthInstant))
	subject(st, c.ImmutableID)

	if err := b.signer.SignEnveloped(ctx, a, "AssertionID", -1); err != nil {
		return nil, err
	}
	return done(a, Assertion{ID: id, Issuer: in.Issuer, Audience: in.Audience, IssueInstant: now, NotBefore: now, NotOnOrAfter: notAfter})
}

// start reads a new assertion's id and the clock (once, to the
// millisecond a token shows).
func (b *Builder) start() (string, time.Time, error) {
	id := b.newID()
	if !validID(id) {
		return "", time.Time{}, fmt.Errorf("assertion: id %q must start with a letter or _", id)
	}
	return id, b.now().UTC().Truncate(time.Millisecond), nil
}

// done marshals the finished element a into meta's XML.
func done(a *etree.Element, meta Assertion) (*Assertion, error) {
	raw, err := Marshal(a, false)
	if err != nil {
		return nil, err
	}
	meta.XML, meta.el = raw, a
	return &meta, nil
}

// validID reports whether id starts with a letter or "_", as an xs:ID
// (and Entra) wants.
func validID(id string) bool {
	if id == "" {
		return false
	}
	c := id[0]
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func subject(parent *etree.Element, nameID string) {
	s := parent.CreateElement("saml:Subject")
	n := s.CreateElement("saml:NameIdentifier")
	n.CreateAttr("Format", NameIDFormatUnspecified)
	n.SetText(nameID)
	s.CreateElement("saml:SubjectConfirmation").CreateElement("saml:ConfirmationMethod").SetText(ConfirmationBearer)
}

func attribute(parent *etree.Element, ns, name string, values ...string) {
	at := parent.CreateElement("saml:Attribute")
	at.CreateAttr("AttributeName", name)
	at.CreateAttr("AttributeNamespace", ns)
	for _, v := range values {
		at.CreateElement("saml:AttributeValue").SetText(v)
	}
}

// reserved are the attributes SAML11 writes itself.
var reserved = map[[2]string]bool{
	{NSClaims, AttrUPN}: true, {NSLiveIDFed, AttrImmutableID}: true,
	{NSIdentityClaims, AttrAuthnInstant}: true, {NSIdentityClaims, AttrAuthnMethod}: true,
	{NSMSClaims, AttrAuthnMethRefs}: true, {NSWS201201, AttrPwdExpiration}: true,
	{NSWS201201, AttrPwdChangeURL}: true, {NSWS201201, AttrInsideCorpNet}: true,
}

func (in Issue) check() error {
	c := in.Claims
	errs := checkFields(true, textField{"issuer", in.Issuer}, textField{"audience", in.Audience},
		textField{"ImmutableID", c.ImmutableID}, textField{"UPN", c.UPN})
	if c.AuthInstant.IsZero() {
		errs = append(errs, errors.New("authentication instant is not set"))
	}
	if err := CheckText("password change URL", c.PasswordChangeURL); err != nil {
		errs = append(errs, err)
	}
	seen := map[[2]string]bool{}
	for _, x := range c.Extra {
		key := [2]string{x.Namespace, x.Name}
		switch {
		case x.Namespace == "" || x.Name == "":
			errs = append(errs, fmt.Errorf("extra attribute %q/%q needs a namespace and a name", x.Namespace, x.Name))
		case reserved[key]:
			errs = append(errs, fmt.Errorf("extra attribute %s/%s is a standard claim", x.Namespace, x.Name))
		case seen[key]:
			errs = append(errs, fmt.Errorf("extra attribute %s/%s given twice", x.Namespace, x.Name))
		case len(x.Values) == 0:
			errs = append(errs, fmt.Errorf("extra attribute %s/%s has no value", x.Namespace, x.Name))
		}
		seen[key] = true
		for _, s := range append([]string{x.Namespace, x.Name}, x.Values...) {
			if err := CheckText("extra attribute "+x.Name, s); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("assertion: %w", errors.Join(errs...))
	}
	return nil
}
