package keys

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAGeneratedPairIsWrittenAndLoadedBack(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	kf, cf := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
	kp, generated, err := LoadOrGenerate(kf, cf, "sso.example.test", now)
	if err != nil || !generated {
		t.Fatalf("LoadOrGenerate = %v, %v", generated, err)
	}
	if kp.Cert.SignatureAlgorithm != x509.SHA256WithRSA || kp.Key.N.BitLen() != 2048 {
		t.Errorf("want RSA-2048 with SHA-256, got %v %d", kp.Cert.SignatureAlgorithm, kp.Key.N.BitLen())
	}
	if st, _ := os.Stat(kf); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode().Perm())
	}
	again, generated, err := LoadOrGenerate(kf, cf, "sso.example.test", now)
	if err != nil || generated || again.ID != kp.ID {
		t.Fatalf("second LoadOrGenerate = %v, %v (ids %s %s)", generated, err, again.ID, kp.ID)
	}
}

func TestMismatchedOrExpiredPairsAreRefused(t *testing.T) {
	now := time.Now()
	a, err := Generate("a", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate("b", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := a.Write(filepath.Join(dir, "a.key"), filepath.Join(dir, "a.crt")); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(filepath.Join(dir, "b.key"), filepath.Join(dir, "b.crt")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "a.key"), filepath.Join(dir, "b.crt"), now); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("mismatched pair: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "a.key"), filepath.Join(dir, "a.crt"), now.Add(2*time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired certificate: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, "a.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "a.key"), filepath.Join(dir, "a.crt"), now); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v", err)
	}
	if err := a.Write(filepath.Join(dir, "a.key"), filepath.Join(dir, "a.crt")); err == nil {
		t.Error("Write overwrote an existing key")
	}
}
