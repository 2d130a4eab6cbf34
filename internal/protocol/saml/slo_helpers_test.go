package saml

import (
	"crypto/x509"
	"encoding/pem"
	"flag"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// The helpers of the metadata, outbound and single-logout tests. Their
// names carry "md"/"slo" so they stay apart from the package's other test
// helpers.

// The -update flag rewrites testdata/*.golden; another test file of the
// package may define it first (package variables are set before init).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite testdata/*.golden from the current output")
	}
}

func sloGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	f := flag.Lookup("update")
	xmltest.Golden(t, f != nil && f.Value.String() == "true", name, got)
}

// sloT0 is the fixed clock of the metadata and logout tests.
var sloT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const sloIssuer = "https://sso.corp.example.com"

// The ID attributes of the SAML 2.0 protocol messages, for xmlsec1.
var (
	sloLogoutRequestID  = validators.IDAttr{Attr: "ID", NodeNS: NSProtocol, NodeTag: "LogoutRequest"}
	sloLogoutResponseID = validators.IDAttr{Attr: "ID", NodeNS: NSProtocol, NodeTag: "LogoutResponse"}
)

func sloPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

func sloKeys(t testing.TB) (cur, next *keys.KeyPair, set *keys.Set) {
	t.Helper()
	cur, next = validators.FixedKey(t, "current"), validators.FixedKey(t, "next")
	set, err := keys.NewSet(cur, next)
	if err != nil {
		t.Fatal(err)
	}
	return cur, next, set
}

func sloSigner(t testing.TB, kp *keys.KeyPair) *assertion.Signer {
	t.Helper()
	s, err := assertion.NewSigner(kp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sloCheckSignature asserts the algorithms of signed's ds:Signature, its
// place (after Issuer when afterIssuer, else first) and that goxmldsig
// verifies it with cert.
func sloCheckSignature(t *testing.T, signed *etree.Element, cert *x509.Certificate, afterIssuer bool) {
	t.Helper()
	sig := xmltest.One(t, signed, "ds:Signature")
	for path, want := range map[string]string{
		"ds:SignedInfo/ds:CanonicalizationMethod":                  assertion.CanonicalizationExcC14N,
		"ds:SignedInfo/ds:SignatureMethod":                         assertion.SignatureMethodRSASHA256,
		"ds:SignedInfo/ds:Reference/ds:DigestMethod":               assertion.DigestMethodSHA256,
		"ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[1]": assertion.TransformEnveloped,
		"ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[2]": assertion.CanonicalizationExcC14N,
	} {
		if got := xmltest.One(t, sig, path).SelectAttrValue("Algorithm", ""); got != want {
			t.Errorf("%s Algorithm = %q, want %q", path, got, want)
		}
	}
	if got, want := xmltest.One(t, sig, "ds:SignedInfo/ds:Reference").SelectAttrValue("URI", ""), "#"+signed.SelectAttrValue("ID", ""); got != want {
		t.Errorf("Reference URI = %q, want %q", got, want)
	}
	children := signed.ChildElements()
	at := 0
	if afterIssuer {
		at = 1
		if children[0].Tag != "Issuer" {
			t.Errorf("the first child is %s, want Issuer", children[0].FullTag())
		}
	}
	if children[at] != sig {
		t.Errorf("the signature is not child %d", at)
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	vc.IdAttribute = "ID"
	vc.Clock = dsig.NewFakeClockAt(sloT0)
	if _, err := vc.Validate(signed.Copy()); err != nil {
		t.Errorf("goxmldsig does not verify the signature: %v", err)
	}
}
