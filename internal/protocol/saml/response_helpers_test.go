package saml

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"
)

// The helpers of the response tests. Their names start with "resp" so they
// stay apart from the package's other test helpers.

// The -update flag rewrites testdata/*.golden; another test file of the
// package may define it first (package variables are set before init).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite testdata/*.golden from the current output")
	}
}

func respGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	f := flag.Lookup("update")
	xmltest.Golden(t, f != nil && f.Value.String() == "true", name, got)
}

// respT0 is the fixed clock of the response tests.
var respT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	respIDP        = "https://sso.corp.example.com/saml/metadata"
	respEntraIssue = "https://sso.corp.example.com/corp.example.com"
	respWikiACS    = "https://wiki.corp.example.com/saml/acs"
	respEntraACS   = "https://login.microsoftonline.com/login.srf"
	respRequestID  = "_4f1c2d3e-request"
	// respAliceGUID is Alice's objectGUID as Windows (and Python's
	// uuid.UUID(bytes_le=…)) shows it; respAliceID is the hex of the bytes
	// as AD stores them.
	respAliceGUID = "4239f2aa-ee22-4990-9caa-a069b04cc4fc"
	respAliceID   = "aaf2394222ee90499caaa069b04cc4fc"
)

// respCounter is a deterministic randomness source: 0x01, 0x02, … .
type respCounter struct{ n byte }

func (c *respCounter) Read(p []byte) (int, error) {
	for i := range p {
		c.n++
		p[i] = c.n
	}
	return len(p), nil
}

// respResponder returns a Responder signing with kp whose clock stands at
// now, with numbered ids and deterministic randomness.
func respResponder(t testing.TB, kp *keys.KeyPair, now time.Time) *Responder {
	t.Helper()
	n := 0
	b, err := assertion.NewBuilder(assertion.Options{
		Key:   kp,
		Now:   func() time.Time { return now },
		NewID: func() string { n++; return fmt.Sprintf("_00000000-0000-4000-8000-%012d", n) },
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResponder(ResponderOptions{Builder: b, EntityID: respIDP, Rand: &respCounter{}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func respAlice() *directory.User {
	raw, _ := hex.DecodeString(respAliceID)
	return &directory.User{
		ID: respAliceID, DN: "CN=Alice Smith,OU=Staff,DC=corp,DC=example,DC=com",
		SAMAccountName: "alice", UPN: "alice@corp.example.com", Mail: "alice.smith@corp.example.com",
		DisplayName: "Alice Smith", GivenName: "Alice", Surname: "Smith",
		ImmutableID: base64.StdEncoding.EncodeToString(raw),
		Groups: []string{
			"CN=Engineers,OU=Staff,DC=corp,DC=example,DC=com",
			"CN=Staff-All,OU=Staff,DC=corp,DC=example,DC=com",
			`CN=R\2CD \+ Test,OU=Staff,DC=corp,DC=example,DC=com`,
		},
		Attributes: map[string][]string{"department": {"Engineering"}, "title": {"Engineer"}},
	}
}

// respWiki is a generic SP that wants everything: persistent NameID from
// objectGUID, several kinds of attribute, assertion and response signed.
func respWiki() *ServiceProvider {
	return &ServiceProvider{
		Name: "Wiki", EntityID: "https://wiki.corp.example.com/saml/metadata",
		ACS: []Endpoint{
			{Binding: BindingPOST, Location: respWikiACS, Index: 0, IsDefault: true},
			{Binding: BindingPOST, Location: "https://wiki.corp.example.com/saml/acs2", Index: 1},
		},
		NameID: NameIDRule{Format: NameIDPersistent, Source: "objectguid"},
		Attributes: []AttributeRule{
			{Name: "urn:oid:0.9.2342.19200300.100.1.3", NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", FriendlyName: "mail", Source: "mail"},
			{Name: "displayName", Source: "displayname"},
			{Name: "groups", Source: "groups"},
			{Name: "department", Source: "ad:Department"},
			{Name: "pager", Source: "ad:pager"},
			{Name: "role", Values: []string{"staff", "wiki-editor"}},
		},
		SignResponse: true, SignAssertion: true,
	}
}

// respEntra is Microsoft Entra ID over SAML-P.
func respEntra() *ServiceProvider {
	return &ServiceProvider{
		Name: "Microsoft 365", EntityID: "urn:federation:MicrosoftOnline",
		ACS:    []Endpoint{{Binding: BindingPOST, Location: respEntraACS, IsDefault: true}},
		NameID: NameIDRule{Format: NameIDPersistent, Source: "immutable_id"},
		Entra:  true, SignAssertion: true,
	}
}

func respWikiGrant(sp *ServiceProvider) Grant {
	return Grant{SP: sp, ACS: respWikiACS, InResponseTo: respRequestID, User: respAlice(),
		AuthInstant: respT0.Add(-10 * time.Minute), SessionIndex: "_session-1"}
}

func respEntraGrant(mfa bool) Grant {
	return Grant{SP: respEntra(), ACS: respEntraACS, InResponseTo: respRequestID, Issuer: respEntraIssue,
		User: respAlice(), AuthInstant: respT0.Add(-10 * time.Minute), MFA: mfa, SessionIndex: "_session-1",
		NameIDFormat: NameIDPersistent}
}

func respPEM(kp *keys.KeyPair) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.Cert.Raw})
}

func respBuild(t testing.TB, r *Responder, g Grant) []byte {
	t.Helper()
	out, _, err := r.Response(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// respCheckSignature asserts the algorithms, reference and certificate of
// el's enveloped signature (right after its Issuer, as the schema wants)
// and that goxmldsig verifies it with kp.
func respCheckSignature(t *testing.T, el *etree.Element, kp *keys.KeyPair) {
	t.Helper()
	kids := el.ChildElements()
	if len(kids) < 2 || kids[0].Tag != "Issuer" || kids[1].Tag != "Signature" || kids[1].NamespaceURI() != assertion.NSXMLDSig {
		t.Fatalf("<%s>'s signature must follow its Issuer", el.Tag)
	}
	sig := kids[1]
	for path, want := range map[string]string{
		"ds:SignedInfo/ds:CanonicalizationMethod":                  assertion.CanonicalizationExcC14N,
		"ds:SignedInfo/ds:SignatureMethod":                         assertion.SignatureMethodRSASHA256,
		"ds:SignedInfo/ds:Reference/ds:DigestMethod":               assertion.DigestMethodSHA256,
		"ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[1]": assertion.TransformEnveloped,
		"ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[2]": assertion.CanonicalizationExcC14N,
	} {
		if e := sig.FindElement(path); e == nil || e.SelectAttrValue("Algorithm", "") != want {
			t.Errorf("<%s> signature: %s Algorithm should be %s", el.Tag, path, want)
		}
	}
	if n := len(sig.FindElements("ds:SignedInfo/ds:Reference")); n != 1 {
		t.Errorf("<%s> signature has %d references", el.Tag, n)
	}
	if got, want := xmltest.One(t, sig, "ds:SignedInfo/ds:Reference").SelectAttrValue("URI", ""), "#"+el.SelectAttrValue("ID", ""); got != want {
		t.Errorf("Reference URI = %q, want %q", got, want)
	}
	if got := xmltest.One(t, sig, "ds:KeyInfo/ds:X509Data/ds:X509Certificate").Text(); got != base64.StdEncoding.EncodeToString(kp.Cert.Raw) {
		t.Error("KeyInfo does not carry the signing certificate")
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{kp.Cert}})
	vc.IdAttribute = "ID"
	vc.Clock = dsig.NewFakeClockAt(respT0)
	if _, err := vc.Validate(el.Copy()); err != nil {
		t.Errorf("goxmldsig does not verify <%s>'s signature: %v", el.Tag, err)
	}
}

// respAttrs maps each saml:Attribute's Name to its values, failing on a
// repeated name or a value that is not an xs:string.
func respAttrs(t *testing.T, a *etree.Element) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	for _, at := range a.FindElements("saml:AttributeStatement/saml:Attribute") {
		name := at.SelectAttrValue("Name", "")
		if _, dup := m[name]; dup {
			t.Errorf("attribute %s appears twice", name)
		}
		m[name] = []string{}
		for _, v := range at.SelectElements("AttributeValue") {
			if v.SelectAttrValue("xsi:type", "") != "xs:string" {
				t.Errorf("attribute %s: a value typed %q", name, v.SelectAttrValue("xsi:type", ""))
			}
			m[name] = append(m[name], v.Text())
		}
	}
	return m
}
