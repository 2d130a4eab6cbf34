package wsfed

import (
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// The shared XML test helpers, under the names these tests use.
var (
	parse = xmltest.Parse
	one   = xmltest.One
)

func golden(t *testing.T, name string, got []byte) { t.Helper(); xmltest.Golden(t, *update, name, got) }

// t0 is the fixed clock of every test token.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const testBaseIssuer = "https://sso.corp.example.com"

func newBuilder(t testing.TB, kp *keys.KeyPair, now time.Time) *assertion.Builder {
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
	return b
}

func entraRegistry(t testing.TB) *Registry {
	t.Helper()
	reg, err := NewRegistry(
		RelyingParty{Name: "Microsoft 365", Realm: EntraRealm, ReplyURLs: []string{EntraReplyURL}, Issuer: testBaseIssuer,
			Domains: []Domain{
				{Name: "corp.example.com", IssuerURI: DomainIssuer(testBaseIssuer, "corp.example.com")},
				{Name: "example.org", IssuerURI: "http://example.org/adfs/services/trust/"},
			}},
		RelyingParty{Name: "Wiki", Realm: "https://wiki.corp.example.com/", Issuer: testBaseIssuer,
			ReplyURLs: []string{"https://wiki.corp.example.com/signin-wsfed", "https://wiki.corp.example.com/signin-wsfed?alt=1"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func aliceClaims(mfa bool) assertion.Claims {
	return assertion.Claims{
		Subject:     assertion.Subject{ImmutableID: "8bJ5sEt4uUWZ2wOyxGXQqA==", UPN: "alice@corp.example.com"},
		AuthInstant: t0.Add(-10 * time.Minute),
		AMR:         []string{"pwd"},
		MFA:         mfa,
	}
}

func pemCert(kp *keys.KeyPair) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.Cert.Raw})
}

// checkSignature asserts the algorithms of sig (a ds:Signature) and that
// goxmldsig verifies signed (the element holding it) with kp.
func checkSignature(t *testing.T, signed *etree.Element, idAttr string, kp *keys.KeyPair) {
	t.Helper()
	sig := one(t, signed, "ds:Signature")
	for path, want := range map[string]string{
		"ds:SignedInfo/ds:CanonicalizationMethod":                  assertion.CanonicalizationExcC14N,
		"ds:SignedInfo/ds:SignatureMethod":                         assertion.SignatureMethodRSASHA256,
		"ds:SignedInfo/ds:Reference/ds:DigestMethod":               assertion.DigestMethodSHA256,
		"ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[1]": assertion.TransformEnveloped,
		"ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[2]": assertion.CanonicalizationExcC14N,
	} {
		if got := one(t, sig, path).SelectAttrValue("Algorithm", ""); got != want {
			t.Errorf("%s Algorithm = %q, want %q", path, got, want)
		}
	}
	if got, want := one(t, sig, "ds:SignedInfo/ds:Reference").SelectAttrValue("URI", ""), "#"+signed.SelectAttrValue(idAttr, ""); got != want {
		t.Errorf("Reference URI = %q, want %q", got, want)
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{kp.Cert}})
	vc.IdAttribute = idAttr
	vc.Clock = dsig.NewFakeClockAt(t0)
	if _, err := vc.Validate(signed.Copy()); err != nil {
		t.Errorf("goxmldsig does not verify the signature: %v", err)
	}
}
