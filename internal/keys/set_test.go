package keys

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestASetPublishesTheNextKeyAheadOfTheRollover(t *testing.T) {
	now := time.Now()
	cur, err := Generate("current", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	next, err := Generate("next", now, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(cur, next)
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Published(); len(p) != 2 || p[0] != cur || p[1] != next {
		t.Errorf("Published = %v", p)
	}
	r, err := s.Rollover()
	if err != nil || r.Current != next || r.Next != nil || len(r.Published()) != 1 {
		t.Fatalf("Rollover = %+v, %v", r, err)
	}
	if _, err := r.Rollover(); err == nil {
		t.Error("rolled over without a next key")
	}
	if _, err := NewSet(cur, cur); err == nil {
		t.Error("the same key as current and next was accepted")
	}
	if _, err := NewSet(nil, next); err == nil {
		t.Error("a set without a current key was accepted")
	}
	if len(cur.CertificateBase64()) < 100 || len(cur.SHA1Thumbprint()) != 40 || strings.ToUpper(cur.SHA1Thumbprint()) != cur.SHA1Thumbprint() {
		t.Errorf("certificate forms: %q %q", cur.CertificateBase64()[:20], cur.SHA1Thumbprint())
	}
}

func TestANextKeyMayNotBeValidYetButTheCurrentMust(t *testing.T) {
	now := time.Now()
	future, err := Generate("next", now.Add(48*time.Hour), 365*24*time.Hour) // valid from tomorrow
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kf, cf := filepath.Join(dir, "next.key"), filepath.Join(dir, "next.crt")
	if err := future.Write(kf, cf); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(kf, cf, now); err == nil || !strings.Contains(err.Error(), "not valid before") {
		t.Errorf("Load of a future certificate: %v", err)
	}
	if _, err := LoadNext(kf, cf, now); err != nil {
		t.Errorf("LoadNext of a future certificate: %v", err)
	}
	if _, err := LoadNext(kf, cf, now.Add(3*365*24*time.Hour)); err == nil || !strings.Contains(err.Error(), "next signing certificate expired") {
		t.Errorf("LoadNext of an expired certificate: %v", err)
	}
	cur, err := Generate("current", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ck, cc := filepath.Join(dir, "cur.key"), filepath.Join(dir, "cur.crt")
	if err := cur.Write(ck, cc); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSet(ck, cc, kf, cf, now)
	if err != nil || s.Next == nil || s.Next.ID != future.ID {
		t.Fatalf("LoadSet = %+v, %v", s, err)
	}
	if s, err := LoadSet(ck, cc, "", "", now); err != nil || s.Next != nil {
		t.Errorf("LoadSet without next = %+v, %v", s, err)
	}
	if err := os.Chmod(kf, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSet(ck, cc, kf, cf, now); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable next key: %v", err)
	}
}
