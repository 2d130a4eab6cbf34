package keys

import (
	"crypto/sha1" // #nosec G505 -- SHA-1 thumbprints are an identifier relying parties configure, not a signature.
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// CertificateBase64 returns the certificate as bare base64 of its DER bytes:
// the form Microsoft Graph's -SigningCertificate, XML-DSig X509Certificate
// and most relying-party settings take.
func (kp *KeyPair) CertificateBase64() string {
	return base64.StdEncoding.EncodeToString(kp.Cert.Raw)
}

// SHA1Thumbprint returns the upper-case hex SHA-1 of the certificate, the
// "thumbprint" Windows and AD FS-era relying parties show and pin.
func (kp *KeyPair) SHA1Thumbprint() string {
	sum := sha1.Sum(kp.Cert.Raw) // #nosec G401 -- an identifier, see import.
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Set is the signing key in use and, ahead of a rollover, the next one.
// Tokens are always signed with Current; metadata publishes both so that
// relying parties (Entra's nextSigningCertificate) trust Next before the
// switch.
type Set struct {
	Current *KeyPair
	// Next is nil when no rollover is prepared.
	Next *KeyPair
}

// NewSet checks that current is present and that next, when given, is a
// different key.
func NewSet(current, next *KeyPair) (*Set, error) {
	if current == nil {
		return nil, errors.New("signing keys: no current key")
	}
	if next != nil && (next.ID == current.ID || next.Key.PublicKey.Equal(&current.Key.PublicKey)) {
		return nil, errors.New("signing keys: the next key is the same as the current one")
	}
	return &Set{Current: current, Next: next}, nil
}

// Published returns the pairs relying parties should trust, current first.
func (s *Set) Published() []*KeyPair {
	if s.Next == nil {
		return []*KeyPair{s.Current}
	}
	return []*KeyPair{s.Current, s.Next}
}

// Rollover returns the set after the switch: Next becomes Current and no
// next key is left. It fails when no next key is prepared.
func (s *Set) Rollover() (*Set, error) {
	if s.Next == nil {
		return nil, errors.New("signing keys: no next key to roll over to")
	}
	return &Set{Current: s.Next}, nil
}

// ParseNext is Parse for a next key: its certificate may still be in its
// future (published ahead of the rollover), but it must not have expired.
func ParseNext(keyPEM, certPEM []byte, now time.Time) (*KeyPair, error) {
	kp, err := parse(keyPEM, certPEM, now, true)
	if err != nil {
		return nil, fmt.Errorf("next %w", err)
	}
	return kp, nil
}

// LoadNext is Load for a next key; see ParseNext.
func LoadNext(keyFile, certFile string, now time.Time) (*KeyPair, error) {
	keyPEM, certPEM, err := readPair(keyFile, certFile)
	if err != nil {
		return nil, fmt.Errorf("next %w", err)
	}
	return ParseNext(keyPEM, certPEM, now)
}

// LoadSet loads the current pair and, when nextKeyFile is not empty, the
// next one.
func LoadSet(keyFile, certFile, nextKeyFile, nextCertFile string, now time.Time) (*Set, error) {
	cur, err := Load(keyFile, certFile, now)
	if err != nil {
		return nil, err
	}
	var next *KeyPair
	if nextKeyFile != "" || nextCertFile != "" {
		if next, err = LoadNext(nextKeyFile, nextCertFile, now); err != nil {
			return nil, err
		}
	}
	return NewSet(cur, next)
}

// readPair reads a key file (which must not be readable by others) and a
// certificate file.
func readPair(keyFile, certFile string) (keyPEM, certPEM []byte, err error) {
	st, err := os.Stat(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("signing key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("signing key %s can be read by other users (mode %#o); run: chmod 600 %s", keyFile, st.Mode().Perm(), keyFile)
	}
	keyPEM, err = os.ReadFile(keyFile) // #nosec G304 -- the operator names the file.
	if err != nil {
		return nil, nil, fmt.Errorf("signing key: %w", err)
	}
	certPEM, err = os.ReadFile(certFile) // #nosec G304 -- the operator names the file.
	if err != nil {
		return nil, nil, fmt.Errorf("signing certificate: %w", err)
	}
	return keyPEM, certPEM, nil
}
