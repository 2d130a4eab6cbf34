package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestASealedValueOpensOnlyWithItsKeyAndPlace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	if err := CreateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	if err := CreateKeyFile(p); err == nil {
		t.Fatal("CreateKeyFile overwrote an existing key")
	}
	key, err := LoadKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(key)
	sealed := b.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("totp:1"))
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("sealed value contains the plaintext")
	}
	pt, err := b.Open(sealed, []byte("totp:1"))
	if err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := b.Open(sealed, []byte("totp:2")); !errors.Is(err, ErrOpen) {
		t.Errorf("opened with other associated data: %v", err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := b.Open(tampered, []byte("totp:1")); !errors.Is(err, ErrOpen) {
		t.Errorf("opened a tampered value: %v", err)
	}
	other, _ := New(bytes.Repeat([]byte{7}, KeySize))
	if _, err := other.Open(sealed, []byte("totp:1")); !errors.Is(err, ErrOpen) {
		t.Errorf("opened with another key: %v", err)
	}
	if _, err := b.Open(sealed[:5], nil); !errors.Is(err, ErrOpen) {
		t.Errorf("opened a truncated value: %v", err)
	}
}

func TestAKeyFileOthersCanReadIsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	if err := CreateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(p); err == nil {
		t.Fatal("a group-readable key file was accepted")
	}
	if err := os.WriteFile(p, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(p); err == nil {
		t.Fatal("a malformed key file was accepted")
	}
}
