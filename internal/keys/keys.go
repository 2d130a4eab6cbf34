// Package keys owns the token-signing key and its certificate: loading and
// checking them at startup, and generating a self-signed pair for the demo
// or a first install; and the Set of the current key plus the next one that
// is published ahead of a rollover; and the JWKS that publishes both.
//
// It must not sign protocol messages itself (protocol/assertion does) and
// never logs key material.
package keys

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// MinRSABits is the smallest RSA key Gatehouse signs with.
const MinRSABits = 2048

// KeyPair is a signing key with its certificate.
type KeyPair struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
	// ID is the key id (kid): base64url of the SHA-256 of the certificate,
	// which is also the certificate's thumbprint relying parties pin.
	ID string
}

// Signer returns the private key as a crypto.Signer.
func (kp *KeyPair) Signer() crypto.Signer { return kp.Key }

// Load reads a PEM private key (PKCS#8 or PKCS#1, RSA ≥ 2048 bits) and a PEM
// certificate, and checks that they belong together and that the
// certificate is currently valid.
func Load(keyFile, certFile string, now time.Time) (*KeyPair, error) {
	keyPEM, certPEM, err := readPair(keyFile, certFile)
	if err != nil {
		return nil, err
	}
	return Parse(keyPEM, certPEM, now)
}

// Parse is Load on PEM bytes.
func Parse(keyPEM, certPEM []byte, now time.Time) (*KeyPair, error) {
	return parse(keyPEM, certPEM, now, false)
}

// parse is Parse; notYetValidOK accepts a certificate whose validity starts
// after now (a next key).
func parse(keyPEM, certPEM []byte, now time.Time, notYetValidOK bool) (*KeyPair, error) {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("signing key: no PEM block found")
	}
	var key *rsa.PrivateKey
	switch kb.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("signing key: must be RSA (Microsoft Entra ID accepts only RSA), got %T", k)
		}
		key = rk
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(kb.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		key = k
	default:
		return nil, fmt.Errorf("signing key: unexpected PEM block %q (want PRIVATE KEY)", kb.Type)
	}
	if key.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("signing key: RSA key has %d bits, need at least %d", key.N.BitLen(), MinRSABits)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("signing certificate: no CERTIFICATE PEM block found")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("signing certificate does not belong to the signing key")
	}
	if now.Before(cert.NotBefore) && !notYetValidOK {
		return nil, fmt.Errorf("signing certificate is not valid before %s", cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if !now.Before(cert.NotAfter) {
		return nil, fmt.Errorf("signing certificate expired at %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	sum := sha256.Sum256(cert.Raw)
	return &KeyPair{Key: key, Cert: cert, ID: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

// Generate makes a new RSA-2048 key and a self-signed certificate for
// commonName, valid from now for validity.
func Generate(commonName string, now time.Time, validity time.Duration) (*KeyPair, error) {
	key, err := rsa.GenerateKey(rand.Reader, MinRSABits)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)), // positive, never zero
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-5 * time.Minute).UTC(),
		NotAfter:              now.Add(validity).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("generate signing certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return Parse(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), now)
}

// Write saves kp as PEM files: the key with mode 0600, the certificate 0644.
// It refuses to overwrite either file.
func (kp *KeyPair) Write(keyFile, certFile string) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(kp.Key)
	if err != nil {
		return fmt.Errorf("write signing key: %w", err)
	}
	if err := writeNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("write signing key: %w", err)
	}
	if err := writeNew(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.Cert.Raw}), 0o644); err != nil {
		return fmt.Errorf("write signing certificate: %w", err)
	}
	return nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode) // #nosec G304 -- the operator names the file.
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// LoadOrGenerate loads the pair when the key file exists, and otherwise
// generates and writes a new one. It reports whether it generated.
func LoadOrGenerate(keyFile, certFile, commonName string, now time.Time) (*KeyPair, bool, error) {
	if _, err := os.Stat(keyFile); err == nil {
		kp, err := Load(keyFile, certFile, now)
		return kp, false, err
	}
	kp, err := Generate(commonName, now, 3*365*24*time.Hour)
	if err != nil {
		return nil, false, err
	}
	if err := kp.Write(keyFile, certFile); err != nil {
		return nil, false, err
	}
	return kp, true, nil
}
