package saml

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- OAEP's hash, as the code under test uses it.
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"hash"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func TestAnEncryptedAssertionUsesAES256GCMAndRSAOAEP(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	spKey := validators.FixedKey(t, "next")
	sp := respWiki()
	sp.EncryptionCert = spKey.Cert
	raw := respBuild(t, respResponder(t, kp, respT0), respWikiGrant(sp))
	resp := xmltest.Parse(t, raw)
	if resp.FindElement("saml:Assertion") != nil || bytes.Contains(raw, []byte(respAliceGUID)) || bytes.Contains(raw, []byte("Engineering")) {
		t.Fatal("the assertion or its values are readable in the response")
	}
	respCheckSignature(t, resp, kp)
	ed := xmltest.One(t, resp, "saml:EncryptedAssertion/xenc:EncryptedData")
	if ed.NamespaceURI() != NSXMLEnc || ed.SelectAttrValue("Type", "") != "http://www.w3.org/2001/04/xmlenc#Element" {
		t.Errorf("EncryptedData {%s} %v", ed.NamespaceURI(), ed.Attr)
	}
	for path, want := range map[string]string{
		"xenc:EncryptionMethod":                                              "http://www.w3.org/2009/xmlenc11#aes256-gcm",
		"ds:KeyInfo/xenc:EncryptedKey/xenc:EncryptionMethod":                 "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
		"ds:KeyInfo/xenc:EncryptedKey/xenc:EncryptionMethod/ds:DigestMethod": "http://www.w3.org/2000/09/xmldsig#sha1",
	} {
		if got := xmltest.One(t, ed, path).SelectAttrValue("Algorithm", ""); got != want {
			t.Errorf("%s Algorithm %q, want %q", path, got, want)
		}
	}
	if ki := xmltest.One(t, ed, "ds:KeyInfo"); ki.NamespaceURI() != assertion.NSXMLDSig {
		t.Errorf("KeyInfo in %s", ki.NamespaceURI())
	}

	// Decrypt with the SP's key by hand, with Go's own primitives: the
	// layout is XML Encryption 1.1's (IV, ciphertext, tag).
	wrapped, err := base64.StdEncoding.DecodeString(xmltest.One(t, ed, "ds:KeyInfo/xenc:EncryptedKey/xenc:CipherData/xenc:CipherValue").Text())
	if err != nil {
		t.Fatal(err)
	}
	if len(wrapped) != 256 {
		t.Errorf("the wrapped key has %d bytes, want one 2048-bit RSA block", len(wrapped))
	}
	key, err := rsa.DecryptOAEP(sha1New(), nil, spKey.Key, wrapped, nil)
	if err != nil {
		t.Fatalf("the key is not RSA-OAEP(SHA-1) for the SP's certificate: %v", err)
	}
	if len(key) != 32 {
		t.Errorf("AES key of %d bytes, want 32", len(key))
	}
	sealed, err := base64.StdEncoding.DecodeString(xmltest.One(t, ed, "xenc:CipherData/xenc:CipherValue").Text())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := openGCM(key, sealed)
	if err != nil {
		t.Fatalf("not AES-256-GCM with a 12-byte IV in front and the tag behind: %v", err)
	}
	if len(sealed) != 12+len(plain)+16 {
		t.Errorf("ciphertext of %d bytes for %d of plaintext", len(sealed), len(plain))
	}
	a := xmltest.Parse(t, plain)
	if a.Tag != "Assertion" || a.NamespaceURI() != NSAssertion {
		t.Fatalf("the plaintext is {%s}%s", a.NamespaceURI(), a.Tag)
	}
	respCheckSignature(t, a, kp)
	if got := xmltest.One(t, a, "saml:Subject/saml:NameID").Text(); got != respAliceGUID {
		t.Errorf("NameID inside %q", got)
	}
}

func TestEachEncryptionUsesAFreshKeyAndIV(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	sp := respWiki()
	sp.EncryptionCert = validators.FixedKey(t, "next").Cert
	b, err := assertion.NewBuilder(assertion.Options{Key: kp, Now: func() time.Time { return respT0 },
		NewID: func() string { return "_same" }})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResponder(ResponderOptions{Builder: b, EntityID: respIDP}) // crypto/rand
	if err != nil {
		t.Fatal(err)
	}
	cipherValues := func() (string, string) {
		ed := xmltest.One(t, xmltest.Parse(t, respBuild(t, r, respWikiGrant(sp))), "saml:EncryptedAssertion/xenc:EncryptedData")
		return xmltest.One(t, ed, "ds:KeyInfo/xenc:EncryptedKey/xenc:CipherData/xenc:CipherValue").Text(),
			xmltest.One(t, ed, "xenc:CipherData/xenc:CipherValue").Text()
	}
	k1, c1 := cipherValues()
	k2, c2 := cipherValues()
	if k1 == k2 || c1[:16] == c2[:16] {
		t.Error("two encryptions of the same assertion share a wrapped key or an IV")
	}
}

func TestAssertionsAreNotEncryptedToUnfitCertificates(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024) // #nosec G403 -- the weak key under test.
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		pub  any
		priv any
		want string
	}{
		{"a 1024-bit RSA key", &small.PublicKey, small, "1024-bit"},
		{"an ECDSA key", &ec.PublicKey, ec, "not RSA"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sp"},
				NotBefore: respT0.Add(-time.Hour), NotAfter: respT0.Add(time.Hour)}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, c.pub, c.priv)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			sp := respWiki()
			sp.EncryptionCert = cert
			_, _, err = respResponder(t, validators.FixedKey(t, "current"), respT0).Response(t.Context(), respWikiGrant(sp))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q (never a cleartext fallback)", err, c.want)
			}
		})
	}
}

func sha1New() hash.Hash { return sha1.New() } // #nosec G401 -- OAEP's hash, as the code under test uses it.

// openGCM undoes XML Encryption 1.1's AES-GCM: the 12-byte IV, then the
// ciphertext with the 16-byte tag.
func openGCM(key, sealed []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 12+16 {
		return nil, errors.New("too short")
	}
	return gcm.Open(nil, sealed[:12], sealed[12:], nil)
}
