// Package secrets seals and opens secrets kept at rest (TOTP seeds, private
// keys in the store) with AES-256-GCM under a key read from
// secrets.encryption_key_file.
//
// It owns the key file's format and the sealed-value format; it must not
// log or return plaintext in errors.
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of the encryption key in bytes.
const KeySize = 32

// version prefixes every sealed value so the format can change later.
const version byte = 1

// ErrOpen is returned when a sealed value cannot be opened: wrong key,
// truncated or tampered.
var ErrOpen = errors.New("secrets: cannot open sealed value (wrong encryption key or damaged data)")

// Box seals and opens values under one key.
type Box struct {
	aead cipher.AEAD
	key  []byte
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secrets: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return &Box{aead: aead, key: bytes.Clone(key)}, nil
}

// DeriveKey returns a 32-byte key for one purpose (e.g. "csrf"), derived
// from the encryption key with HKDF-SHA256, so each use has its own key and
// none reveals the others.
func (b *Box) DeriveKey(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, b.key, nil, "gatehouse "+purpose, KeySize)
	if err != nil {
		panic("secrets: hkdf: " + err.Error()) // only for lengths HKDF cannot give
	}
	return k
}

// Seal encrypts plaintext. associated binds the value to its place (e.g.
// "totp:" + credential ID) so a sealed value copied elsewhere fails to open.
func (b *Box) Seal(plaintext, associated []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("secrets: no randomness: " + err.Error())
	}
	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, plaintext, associated)
}

// Open decrypts a value made by Seal with the same associated data.
func (b *Box) Open(sealed, associated []byte) ([]byte, error) {
	ns := b.aead.NonceSize()
	if len(sealed) < 1+ns+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], associated)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// LoadKeyFile reads a key file holding 32 bytes as base64 (one line). It
// refuses a file other users can read.
func LoadKeyFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("encryption key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("encryption key file %s can be read by other users (mode %#o); run: chmod 600 %s", path, st.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path) // #nosec G304 -- the operator names the file.
	if err != nil {
		return nil, fmt.Errorf("encryption key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("encryption key file %s must hold %d random bytes in base64 (make one with: openssl rand -base64 32 > %s)", path, KeySize, path)
	}
	return key, nil
}

// CreateKeyFile writes a new random key to path (mode 0600), refusing to
// overwrite an existing file.
func CreateKeyFile(path string) error {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("encryption key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("encryption key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the operator names the file.
	if err != nil {
		return fmt.Errorf("encryption key: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		_ = f.Close()
		return fmt.Errorf("encryption key: %w", err)
	}
	return f.Close()
}
