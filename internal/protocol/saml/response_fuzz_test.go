package saml

import (
	"context"
	"crypto/x509"
	"testing"

	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// FuzzResponseCarriesAnyValueOrRefusesIt: whatever the directory holds, a
// Response either refuses it with an error or carries it unchanged under
// a signature that verifies — never a document whose values read back
// differently or whose signature breaks.
func FuzzResponseCarriesAnyValueOrRefusesIt(f *testing.F) {
	for _, s := range []string{"Alice Smith", `a&b<c>"d'e`, "tab\there\nline", "Zoë 日本語 😀", "\x00", "a\rb", "\xff", "]]>", "&#x41;"} {
		f.Add(s, "CN="+s+",OU=Staff,DC=corp")
	}
	kp := validators.FixedKey(f, "current")
	r := respResponder(f, kp, respT0)
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{kp.Cert}})
	vc.IdAttribute = "ID"
	vc.Clock = dsig.NewFakeClockAt(respT0)
	f.Fuzz(func(t *testing.T, display, groupDN string) {
		sp := respWiki()
		sp.SignResponse = false
		g := respWikiGrant(sp)
		g.User.DisplayName, g.User.Groups = display, []string{groupDN}
		raw, _, err := r.Response(context.Background(), g)
		if err != nil {
			return
		}
		a := xmltest.One(t, xmltest.Parse(t, raw), "saml:Assertion")
		verified, err := vc.Validate(a.Copy())
		if err != nil {
			t.Fatalf("the signature does not verify for %q / %q: %v", display, groupDN, err)
		}
		attrs := respAttrs(t, verified)
		if display != "" && (len(attrs["displayName"]) != 1 || attrs["displayName"][0] != display) {
			t.Fatalf("displayName %q reads back as %q", display, attrs["displayName"])
		}
		if cn := firstRDNValue(groupDN); cn != "" && (len(attrs["groups"]) != 1 || attrs["groups"][0] != cn) {
			t.Fatalf("group %q reads back as %q", cn, attrs["groups"])
		}
	})
}
