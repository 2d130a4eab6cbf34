package assertion

import (
	"context"
	"errors"
	"fmt"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

// The XML-DSig algorithms every Gatehouse signature uses.
const (
	SignatureMethodRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	DigestMethodSHA256       = "http://www.w3.org/2001/04/xmlenc#sha256"
	CanonicalizationExcC14N  = "http://www.w3.org/2001/10/xml-exc-c14n#"
	TransformEnveloped       = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	NSXMLDSig                = "http://www.w3.org/2000/09/xmldsig#"
)

// Signer makes enveloped XML-DSig signatures with one key pair: RSA-SHA256,
// SHA-256 digest, exclusive C14N (no inclusive prefixes), the certificate
// in KeyInfo/X509Data. The SAML 1.1 and 2.0 assertion builders and the
// metadata documents share it.
type Signer struct {
	kp *keys.KeyPair
}

// NewSigner returns a Signer for kp.
func NewSigner(kp *keys.KeyPair) (*Signer, error) {
	if kp == nil || kp.Key == nil || kp.Cert == nil {
		return nil, errors.New("assertion: signer needs a key and its certificate")
	}
	return &Signer{kp: kp}, nil
}

// KeyPair returns the pair the Signer signs with.
func (s *Signer) KeyPair() *keys.KeyPair { return s.kp }

// SignEnveloped signs el, whose idAttr attribute holds the id the
// signature's Reference points at (URI="#id"), and inserts the ds:Signature
// as el's child element number at (0: first, as SAML metadata wants; a
// negative at or one past the last element: last, as SAML 1.1 wants). The
// time it takes is the signing phase of the request in ctx (Server-Timing).
//
// el must be the root of the document it will be sent in, or declare every
// namespace it uses itself (exclusive C14N then makes the signature
// independent of where it is embedded). el must not contain whitespace-only
// text between elements that the caller later changes.
func (s *Signer) SignEnveloped(ctx context.Context, el *etree.Element, idAttr string, at int) error {
	defer observe.Start(ctx, observe.PhaseSigning)()
	if el.SelectAttrValue(idAttr, "") == "" {
		return fmt.Errorf("assertion: sign <%s>: no %s attribute", el.Tag, idAttr)
	}
	sc, err := dsig.NewSigningContext(s.kp.Key, [][]byte{s.kp.Cert.Raw})
	if err != nil {
		return fmt.Errorf("assertion: signing context: %w", err)
	}
	sc.IdAttribute = idAttr
	sc.Prefix = dsig.DefaultPrefix
	sc.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := sc.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return fmt.Errorf("assertion: signing context: %w", err)
	}
	// ConstructSignature sorts the attributes of what it canonicalizes;
	// give it a copy so the document keeps its written order.
	sig, err := sc.ConstructSignature(el.Copy(), true)
	if err != nil {
		return fmt.Errorf("assertion: sign <%s>: %w", el.Tag, err)
	}
	children := el.ChildElements()
	if at < 0 || at >= len(children) {
		el.AddChild(sig)
		return nil
	}
	el.InsertChildAt(children[at].Index(), sig)
	return nil
}
