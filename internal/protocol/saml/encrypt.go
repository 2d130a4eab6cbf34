package saml

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- OAEP's hash (rsa-oaep-mgf1p), not a signature: see keyTransport.
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

// The XML Encryption algorithms of an EncryptedAssertion.
const (
	// EncryptionAES256GCM encrypts the assertion (XML Encryption 1.1
	// 5.2.4: a 12-byte IV, the ciphertext, then the 16-byte tag).
	EncryptionAES256GCM = NSXMLEnc11 + "aes256-gcm"
	// KeyTransportRSAOAEP wraps the AES key for the SP's certificate:
	// RSA-OAEP with SHA-1 and MGF1-SHA-1. SHA-1 does no harm inside OAEP
	// (no collision matters there), and it is the one OAEP both ends of
	// the usual SP stacks read: node-saml's xml-encryption knows no
	// xmlenc11#rsa-oaep, and xmlsec1 1.2 neither.
	KeyTransportRSAOAEP = NSXMLEnc + "rsa-oaep-mgf1p"
	// TypeElement marks EncryptedData that replaces one element.
	TypeElement = NSXMLEnc + "Element"
)

// minEncryptionKeyBits is the smallest RSA key an assertion is encrypted to.
const minEncryptionKeyBits = 2048

// encryptAssertion returns a saml:EncryptedAssertion holding plain (a
// marshalled, standalone saml:Assertion, already signed when the SP wants
// that) encrypted with a fresh AES-256-GCM key, the key wrapped for cert in
// an xenc:EncryptedKey inside the EncryptedData's ds:KeyInfo. The
// EncryptedKey names no certificate: an SP tries the decryption keys it
// has, and a KeyInfo would make xmlsec1 try to verify a certificate chain.
func encryptAssertion(random io.Reader, cert *x509.Certificate, plain []byte) (*etree.Element, error) {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("saml: the encryption certificate %q has a %T key, not RSA", cert.Subject, cert.PublicKey)
	}
	if n := pub.N.BitLen(); n < minEncryptionKeyBits {
		return nil, fmt.Errorf("saml: the encryption certificate %q has a %d-bit RSA key, at least %d needed", cert.Subject, n, minEncryptionKeyBits)
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(random, key); err != nil {
		return nil, fmt.Errorf("saml: encryption key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("saml: encrypt: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("saml: encrypt: %w", err)
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plain)+gcm.Overhead())
	if _, err := io.ReadFull(random, nonce); err != nil {
		return nil, fmt.Errorf("saml: encryption IV: %w", err)
	}
	sealed := gcm.Seal(nonce, nonce, plain, nil)
	wrapped, err := keyTransport(random, pub, key)
	if err != nil {
		return nil, err
	}

	ea := etree.NewElement("saml:EncryptedAssertion")
	ed := ea.CreateElement("xenc:EncryptedData")
	ed.CreateAttr("xmlns:xenc", NSXMLEnc)
	ed.CreateAttr("Type", TypeElement)
	ed.CreateElement("xenc:EncryptionMethod").CreateAttr("Algorithm", EncryptionAES256GCM)
	ki := ed.CreateElement("ds:KeyInfo")
	ki.CreateAttr("xmlns:ds", assertion.NSXMLDSig)
	ek := ki.CreateElement("xenc:EncryptedKey")
	em := ek.CreateElement("xenc:EncryptionMethod")
	em.CreateAttr("Algorithm", KeyTransportRSAOAEP)
	em.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", DigestSHA1)
	ek.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").SetText(base64.StdEncoding.EncodeToString(wrapped))
	ed.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").SetText(base64.StdEncoding.EncodeToString(sealed))
	return ea, nil
}

// keyTransport wraps key for pub with RSA-OAEP, SHA-1 and MGF1-SHA-1
// (KeyTransportRSAOAEP).
func keyTransport(random io.Reader, pub *rsa.PublicKey, key []byte) ([]byte, error) {
	wrapped, err := rsa.EncryptOAEP(sha1.New(), random, pub, key, nil) // #nosec G401 -- OAEP's hash; see KeyTransportRSAOAEP.
	if err != nil {
		return nil, fmt.Errorf("saml: wrap the encryption key: %w", err)
	}
	return wrapped, nil
}
