package saml

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// spTestNow is the clock of the SP metadata tests: before every validUntil
// in testdata/spmetadata.
var spTestNow = time.Date(2026, 12, 10, 9, 0, 0, 0, time.UTC)

func spNow() time.Time { return spTestNow }

// spMetadata returns testdata/spmetadata/<name>.
func spMetadata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "spmetadata", name)) // #nosec G304 -- fixed test file.
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// spFixedCert is one of the fixed test certificates ("current", "next",
// "other").
func spFixedCert(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	return validators.FixedKey(t, name).Cert
}

// spFixedCertPEM is spFixedCert as PEM.
func spFixedCertPEM(t testing.TB, name string) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: spFixedCert(t, name).Raw})
}

// spSignMetadata signs the root of doc (which needs an ID) with Gatehouse's
// own signer and the fixed key name, the signature first inside the root
// as SAML metadata wants it.
func spSignMetadata(t testing.TB, doc []byte, name string) []byte {
	t.Helper()
	return spSignMetadataWith(t, doc, validators.FixedKey(t, name))
}

// spSignMetadataWith is spSignMetadata with the key pair kp.
func spSignMetadataWith(t testing.TB, doc []byte, kp *keys.KeyPair) []byte {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	s, err := assertion.NewSigner(kp)
	if err != nil {
		t.Fatal(err)
	}
	root := d.Root()
	if err := s.SignEnveloped(context.Background(), root, "ID", 0); err != nil {
		t.Fatal(err)
	}
	out, err := assertion.Marshal(root, true)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// spWithTemplate inserts an xmlsec1 signature template as the first child of
// the root element of doc (after the root's start tag).
func spWithTemplate(t testing.TB, doc []byte, tmpl string) []byte {
	t.Helper()
	s := string(doc)
	start := strings.Index(s, "<EntityDescriptor")
	if start < 0 {
		start = strings.Index(s, "<EntitiesDescriptor")
	}
	end := strings.Index(s[start:], ">")
	if start < 0 || end < 0 {
		t.Fatal("no root start tag")
	}
	at := start + end + 1
	return []byte(s[:at] + tmpl + s[at:])
}

// spReplaceOnce replaces old by repl in doc, failing when old is not there.
func spReplaceOnce(t testing.TB, doc []byte, old, repl string) []byte {
	t.Helper()
	if !bytes.Contains(doc, []byte(old)) {
		t.Fatalf("%q not in the document", old)
	}
	return bytes.Replace(doc, []byte(old), []byte(repl), 1)
}
