package saml

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

// MaxMetadataSize bounds an SP metadata document, from a file or a URL.
// One SP's metadata is a few kilobytes; a federation's aggregate of
// thousands is refused (give the SP's own document).
const MaxMetadataSize = 1 << 20

// ErrMetadataExpired is returned for metadata whose validUntil has passed.
var ErrMetadataExpired = errors.New("saml: metadata expired (validUntil has passed)")

// MetadataOptions say how ParseSPMetadataWith checks a document.
type MetadataOptions struct {
	// TrustedCerts, when not empty, make a signature mandatory: the
	// document's root element must carry an enveloped signature by one of
	// them (KeyInfo is ignored). Empty: a signature, when present, must be
	// valid for the certificate it carries — which proves the document is
	// intact, not who wrote it.
	TrustedCerts []*x509.Certificate
	// Now is the clock for validUntil and the signing certificate's
	// validity; nil: time.Now.
	Now func() time.Time
}

// ParseSPMetadata reads a service provider from SAML metadata at the time
// of the call, without a trusted signing certificate: see
// ParseSPMetadataWith.
func ParseSPMetadata(data []byte, entityID string) (*ServiceProvider, error) {
	sp, _, err := parseSPMetadata(data, entityID, MetadataOptions{})
	return sp, err
}

// ParseSPMetadataWith reads a service provider from SAML metadata: an
// EntityDescriptor, or an EntitiesDescriptor from which entityID picks one
// (entityID may be empty when it holds exactly one SP; for an
// EntityDescriptor it must match when given). It returns the SP's entity
// ID, its HTTP-POST AssertionConsumerServices (ordered by index, exactly
// one IsDefault), its Redirect and POST SingleLogoutServices, its signing
// and encryption certificates, WantRequestsSigned from
// AuthnRequestsSigned and SignAssertion from WantAssertionsSigned; the
// caller adds the rest from configuration.
//
// The document is read with etree only, at most MaxMetadataSize bytes,
// without DTDs, namespace-checked by URI. When it is signed (or o says it
// must be) the signature must verify (RSA with SHA-256 or stronger, never
// SHA-1) and only the element goxmldsig returns as verified is read.
func ParseSPMetadataWith(data []byte, entityID string, o MetadataOptions) (*ServiceProvider, error) {
	sp, _, err := parseSPMetadata(data, entityID, o)
	return sp, err
}

// parseSPMetadata is ParseSPMetadataWith, also returning the earliest
// validUntil on the way to the SP's descriptor (zero: none).
func parseSPMetadata(data []byte, entityID string, o MetadataOptions) (*ServiceProvider, time.Time, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	root, err := mdParseXML(data)
	if err != nil {
		return nil, time.Time{}, err
	}
	if root, err = verifyMetadata(root, o.TrustedCerts, now()); err != nil {
		return nil, time.Time{}, err
	}
	ed, until, err := pickEntity(root, entityID)
	if err != nil {
		return nil, time.Time{}, err
	}
	sp, spUntil, err := readEntity(ed)
	if err != nil && sp.EntityID != "" {
		err = fmt.Errorf("entity %q: %w", sp.EntityID, err)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	until = mdEarliest(until, spUntil)
	if !until.IsZero() && !now().Before(until) {
		return nil, time.Time{}, mdErr(ErrMetadataExpired, "the metadata of entity %q expired at %s (its validUntil)", sp.EntityID, assertion.FormatTime(until))
	}
	return sp, until, nil
}

func mdMalformed(format string, args ...any) error {
	return mdErr(ErrMalformed, format, args...)
}

// mdError is a problem with SP metadata. Its message alone is shown (to an
// administrator, after the app and file or URL it is about); errors.Is
// matches its kind (ErrMalformed, ErrSignature, …).
type mdError struct {
	kind error
	msg  string
}

func (e *mdError) Error() string { return e.msg }

// Is reports whether target is e's kind.
func (e *mdError) Is(target error) bool { return target == e.kind }

func mdErr(kind error, format string, args ...any) error {
	return &mdError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// parseXMLDocument parses one XML document of at most MaxMetadataSize
// bytes with etree and returns its root element. DTDs (DOCTYPE, ENTITY and
// any other "<!" declaration) are refused in the raw bytes and, in case
// the decoder sees one anyway, among the parsed tokens; comments and CDATA
// are allowed.
func mdParseXML(data []byte) (*etree.Element, error) {
	if len(data) > MaxMetadataSize {
		return nil, mdErr(ErrTooLarge, "metadata larger than %d bytes", MaxMetadataSize)
	}
	for rest := data; ; {
		i := bytes.Index(rest, []byte("<!"))
		if i < 0 {
			break
		}
		rest = rest[i+2:]
		if !bytes.HasPrefix(rest, []byte("--")) && !bytes.HasPrefix(rest, []byte("[CDATA[")) {
			return nil, mdMalformed("DTDs and entity declarations are not accepted")
		}
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, mdMalformed("not well-formed XML: %v", err)
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, mdMalformed("more than one root element")
			}
			root = t
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				return nil, mdMalformed("text outside the root element")
			}
		case *etree.Directive:
			return nil, mdMalformed("DTDs and entity declarations are not accepted")
		}
	}
	if root == nil {
		return nil, mdMalformed("no root element")
	}
	var walk func(e *etree.Element) error
	walk = func(e *etree.Element) error {
		for _, t := range e.Child {
			switch t := t.(type) {
			case *etree.Directive:
				return mdMalformed("DTDs and entity declarations are not accepted")
			case *etree.Element:
				if err := walk(t); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	return root, nil
}

// The signature and digest algorithms accepted on metadata: RSA with
// SHA-256 or stronger.
var (
	metadataSignatureMethods = []string{dsig.RSASHA256SignatureMethod, dsig.RSASHA384SignatureMethod, dsig.RSASHA512SignatureMethod}
	metadataDigestMethods    = []string{
		"http://www.w3.org/2001/04/xmlenc#sha256",
		"http://www.w3.org/2001/04/xmldsig-more#sha384",
		"http://www.w3.org/2001/04/xmlenc#sha512",
	}
)

// verifyMetadata checks the signature on root, when there is one or
// trusted says there must be, and returns the element to read: the one
// goxmldsig verified, or root itself when it is unsigned and nothing is
// trusted.
//
// The signature must be root's own child. goxmldsig picks the first
// ds:Signature anywhere in the tree that references the root, so a second
// one elsewhere (a wrapping attempt) is refused rather than guessed at.
func verifyMetadata(root *etree.Element, trusted []*x509.Certificate, now time.Time) (*etree.Element, error) {
	id := mdAttr(root, "ID")
	var own *etree.Element
	refs := 0
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		for _, c := range e.ChildElements() {
			if mdIs(c, assertion.NSXMLDSig, "Signature") && referencesRoot(c, id) {
				refs++
				if e == root {
					own = c
				}
			}
			walk(c)
		}
	}
	walk(root)
	for _, c := range root.ChildElements() {
		if mdIs(c, assertion.NSXMLDSig, "Signature") && !referencesRoot(c, id) {
			return nil, mdErr(ErrSignature, "the metadata's signature does not reference its root element")
		}
	}
	switch {
	case refs == 0 && len(trusted) > 0:
		return nil, mdErr(ErrSignature, "the metadata is not signed, and metadata_cert_file says it must be")
	case refs == 0:
		return root, nil
	case refs > 1 || own == nil:
		return nil, mdErr(ErrSignature, "the metadata's signature must be one ds:Signature, a child of its root element")
	}
	if err := checkAlgorithms(own); err != nil {
		return nil, err
	}
	if len(trusted) == 0 {
		certs, err := embeddedCerts(own)
		if err != nil {
			return nil, err
		}
		if len(certs) == 0 {
			return nil, mdErr(ErrSignature, "the metadata is signed but carries no certificate to check it with; set metadata_cert_file")
		}
		// The certificate it carries proves the document intact, not who
		// wrote it: its validity period means nothing here, and an
		// expired self-signed one (common in SP metadata) is no reason to
		// refuse the document.
		verified, err := validateWith(root, certs[0], certs[0].NotBefore, false)
		if err != nil {
			return nil, mdErr(ErrSignature, "the metadata's signature does not match the certificate it carries (altered after signing?): %v", err)
		}
		return verified, nil
	}
	var why []string
	for _, c := range trusted {
		verified, err := validateWith(root, c, now, true)
		if err == nil {
			return verified, nil
		}
		why = append(why, err.Error())
	}
	return nil, mdErr(ErrSignature, "the metadata's signature does not verify with metadata_cert_file (%s)", strings.Join(why, "; "))
}

// validateWith verifies root's enveloped signature with cert alone. With
// ignoreKeyInfo the signature's KeyInfo is removed first (it is outside
// what is signed), so the configured certificate decides whatever the
// document names; else KeyInfo must carry cert itself.
func validateWith(root *etree.Element, cert *x509.Certificate, now time.Time, ignoreKeyInfo bool) (*etree.Element, error) {
	el := root.Copy()
	if ignoreKeyInfo {
		for _, s := range el.ChildElements() {
			if mdIs(s, assertion.NSXMLDSig, "Signature") {
				for _, k := range s.ChildElements() {
					if mdIs(k, assertion.NSXMLDSig, "KeyInfo") {
						s.RemoveChild(k)
					}
				}
			}
		}
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	vc.IdAttribute = "ID"
	vc.Clock = dsig.NewFakeClockAt(now)
	verified, err := vc.Validate(el)
	if err != nil {
		return nil, err
	}
	if verified == nil {
		return nil, errors.New("nothing verified")
	}
	return verified, nil
}

// referencesRoot reports whether sig has a Reference to the document's
// root (URI "" or "#"+id), as goxmldsig matches them.
func referencesRoot(sig *etree.Element, id string) bool {
	for _, si := range sig.ChildElements() {
		if !mdIs(si, assertion.NSXMLDSig, "SignedInfo") {
			continue
		}
		for _, ref := range si.ChildElements() {
			if !mdIs(ref, assertion.NSXMLDSig, "Reference") {
				continue
			}
			uri := mdAttr(ref, "URI")
			if uri == "" || (id != "" && uri == "#"+id) {
				return true
			}
		}
	}
	return false
}

// checkAlgorithms refuses a signature made with anything but RSA and
// SHA-256 or stronger, before goxmldsig (which takes SHA-1) sees it.
func checkAlgorithms(sig *etree.Element) error {
	var si *etree.Element
	for _, c := range sig.ChildElements() {
		if mdIs(c, assertion.NSXMLDSig, "SignedInfo") {
			si = c
		}
	}
	if si == nil {
		return mdErr(ErrSignature, "the metadata's signature has no SignedInfo")
	}
	methods := 0
	for _, c := range si.ChildElements() {
		switch {
		case mdIs(c, assertion.NSXMLDSig, "SignatureMethod"):
			methods++
			if alg := mdAttr(c, "Algorithm"); !slices.Contains(metadataSignatureMethods, alg) {
				return mdErr(ErrSignature, "the metadata is signed with %q; Gatehouse accepts RSA with SHA-256 or stronger", alg)
			}
		case mdIs(c, assertion.NSXMLDSig, "Reference"):
			for _, d := range c.ChildElements() {
				if mdIs(d, assertion.NSXMLDSig, "DigestMethod") && !slices.Contains(metadataDigestMethods, mdAttr(d, "Algorithm")) {
					return mdErr(ErrSignature, "the metadata's digest is %q; Gatehouse accepts SHA-256 or stronger", mdAttr(d, "Algorithm"))
				}
			}
		}
	}
	if methods != 1 {
		return mdErr(ErrSignature, "the metadata's signature needs exactly one SignatureMethod")
	}
	return nil
}

// embeddedCerts returns the certificates in a signature's KeyInfo.
func embeddedCerts(sig *etree.Element) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, ki := range sig.ChildElements() {
		if mdIs(ki, assertion.NSXMLDSig, "KeyInfo") {
			c, err := keyInfoCerts(ki)
			if err != nil {
				return nil, mdErr(ErrSignature, "the metadata's signature: %v", err)
			}
			certs = append(certs, c...)
		}
	}
	return certs, nil
}

// pickEntity returns the EntityDescriptor to read and the earliest
// validUntil of the EntitiesDescriptors around it.
func pickEntity(root *etree.Element, entityID string) (*etree.Element, time.Time, error) {
	if mdIs(root, NSMetadata, "EntityDescriptor") {
		if got := mdAttr(root, "entityID"); entityID != "" && got != entityID {
			return nil, time.Time{}, mdMalformed("the metadata is for entity %q, not %q", got, entityID)
		}
		return root, time.Time{}, nil
	}
	if !mdIs(root, NSMetadata, "EntitiesDescriptor") {
		return nil, time.Time{}, mdMalformed("not SAML 2.0 metadata: the root is <%s> in namespace %q", root.Tag, root.NamespaceURI())
	}
	type found struct {
		el    *etree.Element
		until time.Time
	}
	var all []found
	var walk func(e *etree.Element, until time.Time, depth int) error
	walk = func(e *etree.Element, until time.Time, depth int) error {
		if depth > 8 {
			return mdMalformed("EntitiesDescriptors nested too deep")
		}
		u, err := mdValidUntil(e)
		if err != nil {
			return err
		}
		until = mdEarliest(until, u)
		for _, c := range e.ChildElements() {
			switch {
			case mdIs(c, NSMetadata, "EntitiesDescriptor"):
				if err := walk(c, until, depth+1); err != nil {
					return err
				}
			case mdIs(c, NSMetadata, "EntityDescriptor"):
				if entityID == "" && spSSODescriptor(c) == nil {
					continue // an IdP or another role: not a candidate
				}
				if entityID == "" || mdAttr(c, "entityID") == entityID {
					all = append(all, found{c, until})
				}
			}
		}
		return nil
	}
	if err := walk(root, time.Time{}, 0); err != nil {
		return nil, time.Time{}, err
	}
	switch {
	case len(all) == 1:
		return all[0].el, all[0].until, nil
	case len(all) == 0 && entityID != "":
		return nil, time.Time{}, mdMalformed("the metadata has no entity %q", entityID)
	case len(all) == 0:
		return nil, time.Time{}, mdMalformed("the metadata has no SAML 2.0 service provider")
	case entityID != "":
		return nil, time.Time{}, mdMalformed("the metadata has entity %q %d times", entityID, len(all))
	default:
		return nil, time.Time{}, mdMalformed("the metadata has %d service providers; set entity_id to pick one", len(all))
	}
}

// spSSODescriptor returns ed's SPSSODescriptor that supports SAML 2.0, or
// nil (also when there are several: which one would be a guess).
func spSSODescriptor(ed *etree.Element) *etree.Element {
	var found *etree.Element
	for _, c := range ed.ChildElements() {
		if mdIs(c, NSMetadata, "SPSSODescriptor") && slices.Contains(strings.Fields(mdAttr(c, "protocolSupportEnumeration")), NSProtocol) {
			if found != nil {
				return nil
			}
			found = c
		}
	}
	return found
}

// readEntity reads the SP from an EntityDescriptor; the ServiceProvider
// returned carries at least the entity ID, for error messages.
func readEntity(ed *etree.Element) (*ServiceProvider, time.Time, error) {
	sp := &ServiceProvider{EntityID: mdAttr(ed, "entityID")}
	switch {
	case sp.EntityID == "":
		return sp, time.Time{}, mdMalformed("EntityDescriptor without entityID")
	case len(sp.EntityID) > 1024:
		return sp, time.Time{}, mdMalformed("entityID longer than 1024 characters")
	}
	if err := assertion.CheckText("entityID", sp.EntityID); err != nil {
		return sp, time.Time{}, mdMalformed("%v", err)
	}
	until, err := mdValidUntil(ed)
	if err != nil {
		return sp, time.Time{}, err
	}
	d := spSSODescriptor(ed)
	if d == nil {
		return sp, time.Time{}, mdMalformed("no SPSSODescriptor for SAML 2.0 (protocolSupportEnumeration %s), or more than one", NSProtocol)
	}
	u, err := mdValidUntil(d)
	if err != nil {
		return sp, time.Time{}, err
	}
	until = mdEarliest(until, u)
	if sp.WantRequestsSigned, err = mdBool(d, "AuthnRequestsSigned"); err != nil {
		return sp, time.Time{}, err
	}
	if sp.SignAssertion, err = mdBool(d, "WantAssertionsSigned"); err != nil {
		return sp, time.Time{}, err
	}
	indexes := map[int]bool{}
	var acs []acsEntry
	for _, c := range d.ChildElements() {
		switch {
		case mdIs(c, NSMetadata, "KeyDescriptor"):
			if err := readKeyDescriptor(c, sp); err != nil {
				return sp, time.Time{}, err
			}
		case mdIs(c, NSMetadata, "AssertionConsumerService"):
			e, err := readACS(c, indexes)
			if err != nil {
				return sp, time.Time{}, err
			}
			if e.ep.Binding == BindingPOST {
				acs = append(acs, e)
			}
		case mdIs(c, NSMetadata, "SingleLogoutService"):
			b := mdAttr(c, "Binding")
			if b != BindingRedirect && b != BindingPOST {
				continue // SOAP, Artifact: not served
			}
			ep := Endpoint{Binding: b, Location: mdAttr(c, "Location"), ResponseLocation: mdAttr(c, "ResponseLocation")}
			if err := checkEndpoint("SingleLogoutService Location", ep.Location); err != nil {
				return sp, time.Time{}, err
			}
			if ep.ResponseLocation != "" {
				if err := checkEndpoint("SingleLogoutService ResponseLocation", ep.ResponseLocation); err != nil {
					return sp, time.Time{}, err
				}
			}
			sp.SLO = append(sp.SLO, ep)
		}
	}
	if len(acs) == 0 {
		return sp, time.Time{}, mdMalformed("no AssertionConsumerService with the HTTP-POST binding")
	}
	sp.ACS = orderACS(acs)
	return sp, until, nil
}

// acsEntry is an AssertionConsumerService as read, before orderACS.
type acsEntry struct {
	ep Endpoint
	// notDefault: isDefault="false" was written.
	notDefault bool
}

// readACS reads one AssertionConsumerService, of any binding (their
// indexes share one space).
func readACS(c *etree.Element, indexes map[int]bool) (acsEntry, error) {
	raw := mdAttr(c, "index")
	idx, err := strconv.ParseUint(strings.TrimSpace(raw), 10, 16)
	if err != nil {
		return acsEntry{}, mdMalformed("AssertionConsumerService index %q is not a number from 0 to 65535", raw)
	}
	if indexes[int(idx)] {
		return acsEntry{}, mdMalformed("two AssertionConsumerServices have index %d", idx)
	}
	indexes[int(idx)] = true
	e := acsEntry{ep: Endpoint{Binding: mdAttr(c, "Binding"), Location: mdAttr(c, "Location"), Index: int(idx)}}
	if e.ep.Binding != BindingPOST {
		return e, nil
	}
	if e.ep.IsDefault, err = mdBool(c, "isDefault"); err != nil {
		return acsEntry{}, err
	}
	e.notDefault = mdAttr(c, "isDefault") != "" && !e.ep.IsDefault
	if err := checkEndpoint("AssertionConsumerService Location", e.ep.Location); err != nil {
		return acsEntry{}, err
	}
	return e, nil
}

// orderACS sorts the endpoints by index and marks exactly one IsDefault,
// as SAML metadata §2.2.3 says: the first with isDefault="true", else the
// first without isDefault="false", else the first.
func orderACS(es []acsEntry) []Endpoint {
	slices.SortStableFunc(es, func(a, b acsEntry) int { return a.ep.Index - b.ep.Index })
	def := slices.IndexFunc(es, func(e acsEntry) bool { return e.ep.IsDefault })
	if def < 0 {
		def = max(0, slices.IndexFunc(es, func(e acsEntry) bool { return !e.notDefault }))
	}
	eps := make([]Endpoint, len(es))
	for i, e := range es {
		eps[i] = e.ep
		eps[i].IsDefault = i == def
	}
	return eps
}

// readKeyDescriptor adds a KeyDescriptor's certificates: use="signing"
// verifies the SP's requests, use="encryption" encrypts its assertions,
// no use both.
func readKeyDescriptor(kd *etree.Element, sp *ServiceProvider) error {
	use := mdAttr(kd, "use")
	if use != "" && use != "signing" && use != "encryption" {
		return mdMalformed("KeyDescriptor use %q is neither signing nor encryption", use)
	}
	var certs []*x509.Certificate
	for _, ki := range kd.ChildElements() {
		if mdIs(ki, assertion.NSXMLDSig, "KeyInfo") {
			c, err := keyInfoCerts(ki)
			if err != nil {
				return mdMalformed("KeyDescriptor: %v", err)
			}
			certs = append(certs, c...)
		}
	}
	if use != "encryption" {
		sp.SigningCerts = append(sp.SigningCerts, certs...)
	}
	if use != "signing" && sp.EncryptionCert == nil {
		for _, c := range certs {
			if _, ok := c.PublicKey.(*rsa.PublicKey); ok {
				sp.EncryptionCert = c
				break
			}
		}
		if sp.EncryptionCert == nil && use == "encryption" && len(certs) > 0 {
			return mdMalformed("the encryption certificate has no RSA key; Gatehouse encrypts assertions with RSA-OAEP")
		}
	}
	return nil
}

// keyInfoCerts returns the certificates of a ds:KeyInfo's X509Data.
func keyInfoCerts(ki *etree.Element) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, xd := range ki.ChildElements() {
		if !mdIs(xd, assertion.NSXMLDSig, "X509Data") {
			continue
		}
		for _, xc := range xd.ChildElements() {
			if !mdIs(xc, assertion.NSXMLDSig, "X509Certificate") {
				continue
			}
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Text()), ""))
			if err != nil {
				return nil, fmt.Errorf("X509Certificate is not base64: %w", err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("X509Certificate: %w", err)
			}
			certs = append(certs, c)
		}
	}
	return certs, nil
}

// checkEndpoint applies the rule every URL a token or a user is sent to
// follows (config.CheckEndpointURL) and makes sure it can be written into
// a signed document unchanged.
func checkEndpoint(what, u string) error {
	if err := config.CheckEndpointURL(u); err != nil {
		return mdMalformed("%s %q %v", what, u, err)
	}
	if err := assertion.CheckText(what, u); err != nil {
		return mdMalformed("%v", err)
	}
	return nil
}

// validUntil reads e's validUntil attribute (zero when absent).
func mdValidUntil(e *etree.Element) (time.Time, error) {
	raw := mdAttr(e, "validUntil")
	if raw == "" {
		return time.Time{}, nil
	}
	t, err := mdDateTime(raw)
	if err != nil {
		return time.Time{}, mdMalformed("%s validUntil %q is not a date and time", e.Tag, raw)
	}
	return t, nil
}

// parseDateTime reads an xs:dateTime; one without a time zone is UTC.
func mdDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05.999999999", s)
}

func mdEarliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// boolAttr reads an xs:boolean attribute (absent: false).
func mdBool(e *etree.Element, key string) (bool, error) {
	switch v := strings.TrimSpace(mdAttr(e, key)); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, mdMalformed("%s %s=%q is not true or false", e.Tag, key, v)
	}
}

// attr returns the value of e's attribute key in no namespace. etree's
// SelectAttrValue would also match a prefixed one (foo:key).
func mdAttr(e *etree.Element, key string) string {
	for _, a := range e.Attr {
		if a.Space == "" && a.Key == key {
			return a.Value
		}
	}
	return ""
}

// isNS reports whether e is the element local in namespace ns (by URI,
// never by prefix).
func mdIs(e *etree.Element, ns, local string) bool {
	return e.Tag == local && e.NamespaceURI() == ns
}
