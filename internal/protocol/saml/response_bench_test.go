package saml

import (
	"context"
	"testing"

	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// BenchmarkResponse builds one signed SAML 2.0 Response per iteration,
// once the user is authenticated: what a SAML sign-in costs Gatehouse on
// top of the sign-in itself. Nearly all of it is RSA-2048 signing, so each
// variant reports signatures/op (what the SP's configuration costs) and
// ns/signature (compare it with wsfed's BenchmarkRSASign2048 and
// BenchmarkIssueToken, one signature per Entra WS-Fed token).
func BenchmarkResponse(b *testing.B) {
	kp := validators.FixedKey(b, "current")
	if n := kp.Key.N.BitLen(); n != 2048 {
		b.Fatalf("the fixed key has %d bits, want 2048", n)
	}
	encTo := validators.FixedKey(b, "next").Cert
	for _, c := range []struct {
		name string
		sigs int
		g    func() Grant
	}{
		{"assertion signed", 1, func() Grant { sp := respWiki(); sp.SignResponse = false; return respWikiGrant(sp) }},
		{"response signed", 1, func() Grant { sp := respWiki(); sp.SignAssertion = false; return respWikiGrant(sp) }},
		{"both signed", 2, func() Grant { return respWikiGrant(respWiki()) }},
		{"assertion signed and encrypted", 1, func() Grant {
			sp := respWiki()
			sp.SignResponse, sp.EncryptionCert = false, encTo
			return respWikiGrant(sp)
		}},
		{"Entra after MFA", 1, func() Grant { return respEntraGrant(true) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := respResponder(b, kp, respT0)
			g := c.g()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.Response(context.Background(), g); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(c.sigs), "signatures/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(c.sigs), "ns/signature")
		})
	}
}
