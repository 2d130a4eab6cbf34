package saml

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// The two query or form parameters a SAML message travels in.
const (
	ParamRequest  = "SAMLRequest"
	ParamResponse = "SAMLResponse"
)

// Signature algorithms accepted on inbound messages: RSA-SHA256 from every
// SP, RSA-SHA1 (with SHA-1 digests) from Entra only.
const (
	SigAlgRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	SigAlgRSASHA1   = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	DigestSHA256    = "http://www.w3.org/2001/04/xmlenc#sha256"
	DigestSHA1      = "http://www.w3.org/2000/09/xmldsig#sha1"
)

// Limits on inbound messages. They are far above what any SP sends (an
// AuthnRequest is a few KiB) and small enough that a hostile one costs
// little: a deflated message is never inflated past MaxMessageBytes.
const (
	// MaxMessageBytes caps the XML of a message, after base64 decoding
	// and, on the Redirect binding, after inflating.
	MaxMessageBytes = 256 << 10
	// MaxRelayStateBytes caps RelayState (SAML says 80 bytes; SPs send
	// URLs).
	MaxRelayStateBytes = 1 << 10
	// MaxFormBytes caps an HTTP-POST body: MaxMessageBytes in base64,
	// form-encoded, with room for RelayState.
	MaxFormBytes = 1 << 20
	// maxMarkup caps the number of "<" in a message (tags, comments,
	// declarations), checked before parsing so that a message of many tiny
	// elements cannot make a large tree.
	maxMarkup = 4096
	// maxDepth caps element nesting (an AuthnRequest is four deep; its
	// signature seven).
	maxDepth = 32
)

// encodingDeflate is the only SAMLEncoding the Redirect binding defines
// (and the default when the parameter is absent).
const encodingDeflate = "urn:oasis:names:tc:SAML:2.0:bindings:URL-Encoding:DEFLATE"

// Message is a SAML protocol message as received over the HTTP-Redirect or
// HTTP-POST binding: decoded, size-checked and parsed, but not trusted.
// Only Issuer may be read before Verify, to find the SP whose keys verify
// it; everything else comes from the element Verify returns.
type Message struct {
	// Binding is BindingRedirect or BindingPOST.
	Binding string
	// RelayState is the RelayState parameter exactly as sent (decoded
	// from the query or form, otherwise unchanged; "" when absent).
	RelayState string

	root *etree.Element

	// Redirect binding only: the query signature and the octets it signs
	// (more than one when an empty RelayState may or may not be signed).
	sigAlg       string
	signature    []byte
	signedOctets [][]byte
}

// ReadMessage reads the SAML message in the parameter param (ParamRequest
// or ParamResponse) of r: from the query of a GET (HTTP-Redirect:
// base64 of raw DEFLATE, with an optional query signature) or from the
// form of a POST (HTTP-POST: base64 of the XML, with an optional enveloped
// signature). It refuses messages over the size limits (ErrTooLarge), and
// XML that is not well-formed, holds a DTD, a processing instruction or
// duplicate attributes, or nests too deep (ErrMalformed). It does not
// check signatures: call Verify with the SP that Issuer names.
func ReadMessage(r *http.Request, param string) (*Message, error) {
	switch r.Method {
	case http.MethodGet:
		return readRedirect(r.URL.RawQuery, param)
	case http.MethodPost:
		return readPOST(r, param)
	}
	return nil, fmt.Errorf("%w: method %.16s is neither the Redirect (GET) nor the POST binding", ErrMalformed, r.Method)
}

// MessageParam reports which of ParamRequest and ParamResponse r carries,
// for the endpoint that takes both (single logout). A POST body is read
// (capped at MaxFormBytes) and kept for ReadMessage.
func MessageParam(r *http.Request) (string, error) {
	var has func(string) bool
	switch r.Method {
	case http.MethodGet:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return "", fmt.Errorf("%w: query: %w", ErrMalformed, err)
		}
		has = q.Has
	case http.MethodPost:
		if err := parseForm(r); err != nil {
			return "", err
		}
		has = r.PostForm.Has
	default:
		return "", fmt.Errorf("%w: method %.16s is neither the Redirect (GET) nor the POST binding", ErrMalformed, r.Method)
	}
	req, resp := has(ParamRequest), has(ParamResponse)
	switch {
	case req && !resp:
		return ParamRequest, nil
	case resp && !req:
		return ParamResponse, nil
	case req && resp:
		return "", fmt.Errorf("%w: both SAMLRequest and SAMLResponse", ErrMalformed)
	}
	return "", fmt.Errorf("%w: neither SAMLRequest nor SAMLResponse", ErrMalformed)
}

// Issuer returns the message's Issuer as sent, unverified: use it only to
// look up the SP whose keys then verify the message. It is "" when
// absent or longer than 1024 bytes.
func (m *Message) Issuer() string {
	iss := issuerOf(m.root)
	if len(iss) > 1024 {
		return ""
	}
	return iss
}

// Verify checks the message's signature against sp's signing
// certificates and returns the element to read: on the POST binding the
// element goxmldsig verified (never the parsed document), on the Redirect
// binding the whole message the query signature covers. signed reports
// whether a signature was verified.
//
// A signature that is present must verify, whatever the SP's settings
// (ErrSignature); an absent one is refused when sp.WantRequestsSigned
// (ErrSignature) and otherwise accepted with signed false. RSA-SHA256
// with SHA-256 digests is accepted from every SP, RSA-SHA1 and SHA-1
// only from sp.Entra. The key comes from the configuration alone: KeyInfo
// is ignored (Entra sends one holding no certificate), and so are the
// validity dates of the SP's certificates, which, as in SAML metadata,
// only carry its keys.
func (m *Message) Verify(sp *ServiceProvider) (el *etree.Element, signed bool, err error) {
	if m.Binding == BindingRedirect {
		return m.verifyRedirect(sp)
	}
	return m.verifyPOST(sp)
}

// readRedirect decodes the HTTP-Redirect binding from the raw query.
func readRedirect(rawQuery, param string) (*Message, error) {
	if len(rawQuery) > MaxFormBytes {
		return nil, fmt.Errorf("%w: query over %d bytes", ErrTooLarge, MaxFormBytes)
	}
	raw, err := rawParams(rawQuery)
	if err != nil {
		return nil, err
	}
	value := func(k string) (string, bool, error) {
		rv, ok := raw[k]
		if !ok {
			return "", false, nil
		}
		v, err := url.QueryUnescape(rv)
		if err != nil {
			return "", true, fmt.Errorf("%w: %s is not URL-encoded", ErrMalformed, k)
		}
		return v, true, nil
	}
	msg, ok, err := value(param)
	if err != nil {
		return nil, err
	}
	if !ok || msg == "" {
		return nil, fmt.Errorf("%w: no %s", ErrMalformed, param)
	}
	m := &Message{Binding: BindingRedirect}
	relay, hasRelay, err := value("RelayState")
	if err != nil {
		return nil, err
	}
	if len(relay) > MaxRelayStateBytes {
		return nil, fmt.Errorf("%w: RelayState over %d bytes", ErrTooLarge, MaxRelayStateBytes)
	}
	m.RelayState = relay
	if enc, ok, err := value("SAMLEncoding"); err != nil {
		return nil, err
	} else if ok && enc != encodingDeflate {
		return nil, fmt.Errorf("%w: SAMLEncoding is not DEFLATE", ErrMalformed)
	}
	deflated, err := decodeBase64(msg, base64.StdEncoding.EncodedLen(MaxMessageBytes+1024))
	if err != nil {
		return nil, err
	}
	data, err := inflate(deflated, MaxMessageBytes)
	if err != nil {
		return nil, err
	}
	if m.root, err = parseMessageXML(data); err != nil {
		return nil, err
	}

	sigAlg, hasAlg, err := value("SigAlg")
	if err != nil {
		return nil, err
	}
	sig, hasSig, err := value("Signature")
	if err != nil {
		return nil, err
	}
	switch {
	case !hasAlg && !hasSig:
		return m, nil
	case !hasAlg || !hasSig || sigAlg == "" || sig == "":
		return nil, fmt.Errorf("%w: a query signature needs both SigAlg and Signature", ErrSignature)
	}
	m.sigAlg = sigAlg
	if m.signature, err = base64.StdEncoding.DecodeString(stripSpace(sig)); err != nil || len(m.signature) > 1024 {
		return nil, fmt.Errorf("%w: Signature is not base64 of at most 1024 bytes", ErrSignature)
	}
	// SAML bindings 3.4.4.1: the signature covers the parameters exactly
	// as they appear in the query (never re-encoded), in this order.
	octets := param + "=" + raw[param]
	withoutRelay := octets + "&SigAlg=" + raw["SigAlg"]
	if hasRelay {
		octets += "&RelayState=" + raw["RelayState"]
	}
	octets += "&SigAlg=" + raw["SigAlg"]
	m.signedOctets = [][]byte{[]byte(octets)}
	if hasRelay && relay == "" {
		// Some SPs sign "RelayState=" when empty, some leave it out; the
		// empty value changes nothing either way.
		m.signedOctets = append(m.signedOctets, []byte(withoutRelay))
	}
	return m, nil
}

// rawParams splits a raw query into its parameters, keeping each value
// exactly as received (still URL-encoded). A parameter the binding uses
// may appear only once.
func rawParams(rawQuery string) (map[string]string, error) {
	raw := map[string]string{}
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("%w: query is not URL-encoded", ErrMalformed)
		}
		switch key {
		case ParamRequest, ParamResponse, "RelayState", "SigAlg", "Signature", "SAMLEncoding":
			if _, dup := raw[key]; dup {
				return nil, fmt.Errorf("%w: %s appears more than once", ErrMalformed, key)
			}
			raw[key] = v
		}
	}
	return raw, nil
}

// readPOST decodes the HTTP-POST binding from the form.
func readPOST(r *http.Request, param string) (*Message, error) {
	if err := parseForm(r); err != nil {
		return nil, err
	}
	for _, k := range []string{param, "RelayState"} {
		if len(r.PostForm[k]) > 1 {
			return nil, fmt.Errorf("%w: %s appears more than once", ErrMalformed, k)
		}
	}
	msg := r.PostForm.Get(param)
	if msg == "" {
		return nil, fmt.Errorf("%w: no %s", ErrMalformed, param)
	}
	m := &Message{Binding: BindingPOST, RelayState: r.PostForm.Get("RelayState")}
	if len(m.RelayState) > MaxRelayStateBytes {
		return nil, fmt.Errorf("%w: RelayState over %d bytes", ErrTooLarge, MaxRelayStateBytes)
	}
	data, err := decodeBase64(msg, base64.StdEncoding.EncodedLen(MaxMessageBytes))
	if err != nil {
		return nil, err
	}
	if m.root, err = parseMessageXML(data); err != nil {
		return nil, err
	}
	return m, nil
}

// parseForm reads r's form with the body capped at MaxFormBytes, even
// when the caller capped it already.
func parseForm(r *http.Request) error {
	if r.PostForm == nil && r.Body != nil {
		r.Body = http.MaxBytesReader(nil, r.Body, MaxFormBytes)
	}
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fmt.Errorf("%w: body over %d bytes", ErrTooLarge, MaxFormBytes)
		}
		return fmt.Errorf("%w: form: %w", ErrMalformed, err)
	}
	return nil
}

// decodeBase64 decodes s, ignoring the line breaks some SPs add, after
// checking it is at most maxLen long.
func decodeBase64(s string, maxLen int) ([]byte, error) {
	if len(s) > maxLen+maxLen/32 {
		return nil, fmt.Errorf("%w: message over %d bytes", ErrTooLarge, MaxMessageBytes)
	}
	b, err := base64.StdEncoding.DecodeString(stripSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: message is not base64", ErrMalformed)
	}
	return b, nil
}

func stripSpace(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// inflate inflates raw DEFLATE data, refusing (without producing it) any
// output past limit bytes.
func inflate(deflated []byte, limit int) ([]byte, error) {
	fr := flate.NewReader(bytes.NewReader(deflated))
	defer func() { _ = fr.Close() }()
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(fr, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: message is not raw DEFLATE", ErrMalformed)
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("%w: message inflates past %d bytes", ErrTooLarge, limit)
	}
	return out.Bytes(), nil
}

// declEncoding finds the encoding of an XML declaration.
var declEncoding = regexp.MustCompile(`encoding\s*=\s*["']([^"']*)["']`)

// parseMessageXML parses one SAML message with etree: no DTD or entity
// declaration (checked in the raw bytes and in the parsed tokens), no
// processing instruction but the XML declaration, UTF-8 only, no
// duplicate attribute names, at most maxMarkup tags and maxDepth levels.
// Comments are removed: exclusive C14N ignores them, and a comment
// splitting a text node must not let the unsigned half be read.
func parseMessageXML(data []byte) (*etree.Element, error) {
	if len(data) > MaxMessageBytes {
		return nil, fmt.Errorf("%w: message over %d bytes", ErrTooLarge, MaxMessageBytes)
	}
	upper := bytes.ToUpper(data)
	if bytes.Contains(upper, []byte("<!DOCTYPE")) || bytes.Contains(upper, []byte("<!ENTITY")) {
		return nil, fmt.Errorf("%w: DTDs and entity declarations are not accepted", ErrMalformed)
	}
	if bytes.Count(data, []byte("<")) > maxMarkup {
		return nil, fmt.Errorf("%w: more than %d tags", ErrTooLarge, maxMarkup)
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{PreserveDuplicateAttrs: true}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("%w: not well-formed XML", ErrMalformed)
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, fmt.Errorf("%w: more than one root element", ErrMalformed)
			}
			root = t
		case *etree.ProcInst:
			if t.Target != "xml" || t.Index() != 0 {
				return nil, fmt.Errorf("%w: processing instructions are not accepted", ErrMalformed)
			}
			if enc := declEncoding.FindStringSubmatch(t.Inst); enc != nil && !strings.EqualFold(enc[1], "utf-8") {
				return nil, fmt.Errorf("%w: encoding %.16q (only UTF-8 is accepted)", ErrMalformed, enc[1])
			}
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				return nil, fmt.Errorf("%w: text outside the message", ErrMalformed)
			}
		case *etree.Comment:
		default:
			// *etree.Directive: a DOCTYPE however spelt.
			return nil, fmt.Errorf("%w: DTDs are not accepted", ErrMalformed)
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", ErrMalformed)
	}
	if err := sanitize(root, 1); err != nil {
		return nil, err
	}
	// Detach the root from the document: what Verify returns never has
	// a parent to climb to.
	doc.RemoveChild(root)
	return root, nil
}

// sanitize checks the tree below el and removes its comments.
func sanitize(el *etree.Element, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: elements nested deeper than %d", ErrMalformed, maxDepth)
	}
	seen := make(map[string]bool, len(el.Attr))
	for _, a := range el.Attr {
		if a.Space == "xmlns" || a.Space == "" && a.Key == "xmlns" {
			continue
		}
		// Two attributes of one local name (ID and x:ID) would let a
		// lookup by name and goxmldsig's pick different ones.
		if seen[a.Key] {
			return fmt.Errorf("%w: attribute %.32s twice on <%.32s>", ErrMalformed, a.Key, el.Tag)
		}
		seen[a.Key] = true
	}
	for i := 0; i < len(el.Child); {
		switch t := el.Child[i].(type) {
		case *etree.Comment:
			el.RemoveChildAt(i)
			continue
		case *etree.Element:
			if err := sanitize(t, depth+1); err != nil {
				return err
			}
		case *etree.CharData:
		default:
			return fmt.Errorf("%w: DTDs and processing instructions are not accepted", ErrMalformed)
		}
		i++
	}
	return nil
}

// issuerOf returns the text of el's saml:Issuer child ("" when absent).
func issuerOf(el *etree.Element) string {
	for _, c := range el.ChildElements() {
		if c.Tag == "Issuer" && c.NamespaceURI() == NSAssertion {
			s, _ := textOf(c)
			return strings.TrimSpace(s)
		}
	}
	return ""
}

// textOf returns el's text, refusing element children (simple content).
func textOf(el *etree.Element) (string, error) {
	var b strings.Builder
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			b.WriteString(t.Data)
		default:
			return "", fmt.Errorf("%w: <%.32s> holds markup where text belongs", ErrMalformed, el.Tag)
		}
	}
	return b.String(), nil
}

// attr returns el's unqualified attribute name (SAML protocol attributes
// are unqualified) and whether it is present.
func attr(el *etree.Element, name string) (string, bool) {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == name {
			return a.Value, true
		}
	}
	return "", false
}

// verifyRedirect checks the query signature (SAML bindings 3.4.4.1).
func (m *Message) verifyRedirect(sp *ServiceProvider) (*etree.Element, bool, error) {
	if m.signature == nil {
		if sp.WantRequestsSigned {
			return nil, false, fmt.Errorf("%w: %s requires signed messages and this one is not", ErrSignature, sp.Name)
		}
		return m.root, false, nil
	}
	var hash crypto.Hash
	switch m.sigAlg {
	case SigAlgRSASHA256:
		hash = crypto.SHA256
	case SigAlgRSASHA1:
		if !sp.Entra {
			return nil, false, fmt.Errorf("%w: RSA-SHA1 is accepted from Entra only", ErrSignature)
		}
		hash = crypto.SHA1
	default:
		return nil, false, fmt.Errorf("%w: SigAlg %.80q is not accepted (RSA-SHA256 only)", ErrSignature, m.sigAlg)
	}
	if len(sp.SigningCerts) == 0 {
		return nil, false, fmt.Errorf("%w: signed, but %s has no signing certificate configured", ErrSignature, sp.Name)
	}
	for _, octets := range m.signedOctets {
		h := hash.New()
		h.Write(octets)
		sum := h.Sum(nil)
		for _, c := range sp.SigningCerts {
			if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && rsa.VerifyPKCS1v15(pub, hash, sum, m.signature) == nil {
				return m.root, true, nil
			}
		}
	}
	return nil, false, fmt.Errorf("%w: the query signature does not verify with %s's certificates", ErrSignature, sp.Name)
}

// verifyPOST checks the enveloped signature with goxmldsig and returns
// the element it verified.
func (m *Message) verifyPOST(sp *ServiceProvider) (*etree.Element, bool, error) {
	var sigs []*etree.Element
	findAll(m.root, dsig.Namespace, dsig.SignatureTag, &sigs)
	switch {
	case len(sigs) == 0:
		if sp.WantRequestsSigned {
			return nil, false, fmt.Errorf("%w: %s requires signed messages and this one is not", ErrSignature, sp.Name)
		}
		return m.root.Copy(), false, nil
	case len(sigs) > 1:
		return nil, false, fmt.Errorf("%w: more than one Signature", ErrSignature)
	case sigs[0].Parent() != m.root:
		return nil, false, fmt.Errorf("%w: the Signature is not on the message itself", ErrSignature)
	}
	if err := checkSignatureShape(sigs[0], m.root, sp.Entra); err != nil {
		return nil, false, err
	}
	if len(sp.SigningCerts) == 0 {
		return nil, false, fmt.Errorf("%w: signed, but %s has no signing certificate configured", ErrSignature, sp.Name)
	}
	// goxmldsig takes the key from KeyInfo when there is one (and refuses
	// a KeyInfo without a certificate) and otherwise uses the one
	// certificate in its store: remove KeyInfo, which no digest covers,
	// and try each configured certificate on its own.
	unkeyed := m.root.Copy()
	for _, s := range unkeyed.ChildElements() {
		if s.Tag == dsig.SignatureTag && s.NamespaceURI() == dsig.Namespace {
			for _, ki := range s.ChildElements() {
				if ki.Tag == dsig.KeyInfoTag && ki.NamespaceURI() == dsig.Namespace {
					s.RemoveChild(ki)
				}
			}
		}
	}
	for _, c := range sp.SigningCerts {
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{c}})
		vc.Clock = dsig.NewFakeClockAt(c.NotBefore)
		if el, err := vc.Validate(unkeyed); err == nil {
			return el, true, nil
		}
	}
	return nil, false, fmt.Errorf("%w: the signature does not verify with %s's certificates", ErrSignature, sp.Name)
}

// checkSignatureShape accepts only the signature shape SAML SPs produce:
// exclusive C14N, one reference to the message's own ID with the
// enveloped-signature and exclusive C14N transforms, and RSA-SHA256 with
// SHA-256 (or, from Entra, RSA-SHA1 with SHA-1). goxmldsig would accept
// more (inclusive C14N, ECDSA, SHA-1 from anyone).
func checkSignatureShape(sig, root *etree.Element, entra bool) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrSignature, why) }
	id, _ := attr(root, "ID")
	if id == "" {
		return bad("the signed message has no ID")
	}
	si := onlyChild(sig, dsig.Namespace, dsig.SignedInfoTag)
	if si == nil {
		return bad("no single SignedInfo")
	}
	var c14n, method, ref *etree.Element
	for _, c := range si.ChildElements() {
		if c.NamespaceURI() != dsig.Namespace {
			return bad("unexpected element in SignedInfo")
		}
		switch {
		case c.Tag == dsig.CanonicalizationMethodTag && c14n == nil:
			c14n = c
		case c.Tag == dsig.SignatureMethodTag && method == nil:
			method = c
		case c.Tag == dsig.ReferenceTag && ref == nil:
			ref = c
		default:
			return bad("SignedInfo is not one CanonicalizationMethod, SignatureMethod and Reference")
		}
	}
	if c14n == nil || method == nil || ref == nil {
		return bad("SignedInfo is not one CanonicalizationMethod, SignatureMethod and Reference")
	}
	if a, _ := attr(c14n, dsig.AlgorithmAttr); a != string(dsig.CanonicalXML10ExclusiveAlgorithmId) {
		return bad("canonicalization is not exclusive C14N")
	}
	switch sigAlg, _ := attr(method, dsig.AlgorithmAttr); {
	case sigAlg == SigAlgRSASHA256, sigAlg == SigAlgRSASHA1 && entra:
	case sigAlg == SigAlgRSASHA1:
		return bad("RSA-SHA1 is accepted from Entra only")
	default:
		return bad("signature method is not RSA-SHA256")
	}
	if uri, _ := attr(ref, dsig.URIAttr); uri != "#"+id {
		return bad("the reference is not to the message's ID")
	}
	var transforms, digest *etree.Element
	for _, c := range ref.ChildElements() {
		switch {
		case c.NamespaceURI() != dsig.Namespace:
			return bad("unexpected element in Reference")
		case c.Tag == dsig.TransformsTag && transforms == nil:
			transforms = c
		case c.Tag == dsig.DigestMethodTag && digest == nil:
			digest = c
		case c.Tag == dsig.DigestValueTag:
		default:
			return bad("unexpected element in Reference")
		}
	}
	if digest == nil {
		return bad("no DigestMethod")
	}
	switch a, _ := attr(digest, dsig.AlgorithmAttr); {
	case a == DigestSHA256, a == DigestSHA1 && entra:
	case a == DigestSHA1:
		return bad("SHA-1 digests are accepted from Entra only")
	default:
		return bad("digest is not SHA-256")
	}
	if transforms == nil {
		return bad("no Transforms")
	}
	ts := transforms.ChildElements()
	want := []dsig.AlgorithmID{dsig.EnvelopedSignatureAltorithmId, dsig.CanonicalXML10ExclusiveAlgorithmId}
	if len(ts) != len(want) {
		return bad("transforms are not enveloped-signature and exclusive C14N")
	}
	for i, t := range ts {
		if a, _ := attr(t, dsig.AlgorithmAttr); t.Tag != dsig.TransformTag || t.NamespaceURI() != dsig.Namespace || a != string(want[i]) {
			return bad("transforms are not enveloped-signature and exclusive C14N")
		}
	}
	return nil
}

// onlyChild returns el's one child ns:tag, nil when there is none or more.
func onlyChild(el *etree.Element, ns, tag string) *etree.Element {
	var found *etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			if found != nil {
				return nil
			}
			found = c
		}
	}
	return found
}

// findAll appends every element ns:tag at or below el.
func findAll(el *etree.Element, ns, tag string, out *[]*etree.Element) {
	if el.Tag == tag && el.NamespaceURI() == ns {
		*out = append(*out, el)
	}
	for _, c := range el.ChildElements() {
		findAll(c, ns, tag, out)
	}
}
