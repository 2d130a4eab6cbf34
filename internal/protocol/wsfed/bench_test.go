package wsfed

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// BenchmarkIssueToken builds and signs one Entra WS-Fed token (SAML 1.1
// assertion, RSA-2048 XML signature, RSTR around it): what a sign-in to
// Microsoft 365 costs Gatehouse once the user is authenticated. Compare it
// with BenchmarkRSASign2048 to see how much of it is the RSA operation.
func BenchmarkIssueToken(b *testing.B) {
	kp := validators.FixedKey(b, "current")
	if n := kp.Key.N.BitLen(); n != 2048 {
		b.Fatalf("the fixed key has %d bits, want 2048", n)
	}
	builder := newBuilder(b, kp, t0)
	rp, _ := entraRegistry(b).ByRealm(EntraRealm)
	claims := aliceClaims(true)
	b.ReportAllocs()
	for b.Loop() {
		a, err := IssueAssertion(context.Background(), builder, rp, claims)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := BuildRSTR(a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSASign2048 is one PKCS#1 v1.5 SHA-256 signature with a
// 2048-bit key over a SignedInfo-sized message: the floor under
// BenchmarkIssueToken.
func BenchmarkRSASign2048(b *testing.B) {
	key := validators.FixedKey(b, "current").Key
	msg := []byte(strings.Repeat("<ds:SignedInfo/>", 40)) // about the size of a canonical SignedInfo
	b.ReportAllocs()
	for b.Loop() {
		digest := sha256.Sum256(msg)
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}
