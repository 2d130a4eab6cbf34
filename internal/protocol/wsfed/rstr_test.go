package wsfed

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func issue(t *testing.T, b *assertion.Builder, rp *RelyingParty, c assertion.Claims) (*assertion.Assertion, []byte) {
	t.Helper()
	a, err := IssueAssertion(context.Background(), b, rp, c)
	if err != nil {
		t.Fatal(err)
	}
	wresult, err := BuildRSTR(a)
	if err != nil {
		t.Fatal(err)
	}
	return a, wresult
}

func TestTheWResultIsTheRSTREntraExpects(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	rp, _ := entraRegistry(t).ByRealm(EntraRealm)
	for _, mfa := range []bool{false, true} {
		name := map[bool]string{false: "rstr_password", true: "rstr_mfa"}[mfa]
		t.Run(name, func(t *testing.T) {
			a, wresult := issue(t, newBuilder(t, kp, t0), rp, aliceClaims(mfa))
			golden(t, name, wresult)
			if !bytes.Contains(wresult, append([]byte("<t:RequestedSecurityToken>"), a.XML...)) ||
				!bytes.Contains(wresult, append(append([]byte{}, a.XML...), "</t:RequestedSecurityToken>"...)) {
				t.Error("RequestedSecurityToken must hold exactly the assertion, byte for byte, with nothing around it")
			}
			if bytes.ContainsAny(wresult, "\n\r\t") || bytes.HasPrefix(wresult, []byte("<?xml")) {
				t.Error("the wresult must have no whitespace and no XML declaration")
			}
			root := parse(t, wresult)
			if root.Tag != "RequestSecurityTokenResponse" || root.NamespaceURI() != NSTrust2005 {
				t.Fatalf("root %s in %s", root.Tag, root.NamespaceURI())
			}
			var order []string
			for _, c := range root.ChildElements() {
				order = append(order, c.FullTag())
			}
			if got := join(order); got != "t:Lifetime wsp:AppliesTo t:RequestedSecurityToken t:TokenType t:RequestType t:KeyType" {
				t.Errorf("children: %s", got)
			}
			for path, want := range map[string]string{
				"t:Lifetime/wsu:Created":                          "2026-03-01T10:00:00.000Z",
				"t:Lifetime/wsu:Expires":                          "2026-03-01T11:00:00.000Z",
				"wsp:AppliesTo/wsa:EndpointReference/wsa:Address": EntraRealm,
				"t:TokenType":                                     "urn:oasis:names:tc:SAML:1.0:assertion",
				"t:RequestType":                                   "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue",
				"t:KeyType":                                       "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey",
			} {
				if got := one(t, root, path).Text(); got != want {
					t.Errorf("%s = %q, want %q", path, got, want)
				}
			}
			if ns := one(t, root, "wsp:AppliesTo").NamespaceURI(); ns != NSPolicy {
				t.Errorf("AppliesTo namespace %s", ns)
			}
			tok := one(t, root, "t:RequestedSecurityToken")
			if len(tok.Child) != 1 {
				t.Fatalf("RequestedSecurityToken has %d child tokens, want only the assertion", len(tok.Child))
			}
			as := one(t, tok, "saml:Assertion")
			if got := as.SelectAttrValue("Issuer", ""); got != "https://sso.corp.example.com/corp.example.com" {
				t.Errorf("Issuer = %q, want the domain's issuer URI", got)
			}
			if got := one(t, as, "saml:Conditions/saml:AudienceRestrictionCondition/saml:Audience").Text(); got != EntraRealm {
				t.Errorf("Audience = %q", got)
			}
			checkSignature(t, as, "AssertionID", kp)
		})
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func TestTheIssuerIsTheUsersDomainIssuerByteForByte(t *testing.T) {
	rp, _ := entraRegistry(t).ByRealm(EntraRealm)
	cases := []struct {
		upn, issuer, domain string
		err                 error
	}{
		{"alice@corp.example.com", "https://sso.corp.example.com/corp.example.com", "corp.example.com", nil},
		{"Alice@CORP.Example.com", "https://sso.corp.example.com/corp.example.com", "corp.example.com", nil},
		{"bob@eu.corp.example.com", "https://sso.corp.example.com/corp.example.com", "corp.example.com", nil},
		{"carol@example.org", "http://example.org/adfs/services/trust/", "example.org", nil},
		{"dave@notcorp.example.com", "", "", ErrDomainNotFederated},
		{"erin@example.com", "", "", ErrDomainNotFederated},
		{"frank", "", "", ErrDomainNotFederated},
	}
	for _, c := range cases {
		iss, dom, err := rp.IssuerFor(c.upn)
		if iss != c.issuer || dom != c.domain || !errors.Is(err, c.err) {
			t.Errorf("IssuerFor(%q) = %q, %q, %v; want %q, %q, %v", c.upn, iss, dom, err, c.issuer, c.domain, c.err)
		}
	}
	wiki, _ := entraRegistry(t).ByRealm("https://wiki.corp.example.com/")
	if iss, _, err := wiki.IssuerFor("anyone@anywhere.example"); iss != testBaseIssuer || err != nil {
		t.Errorf("a generic relying party's issuer: %q, %v", iss, err)
	}
	b := newBuilder(t, validators.FixedKey(t, "current"), t0)
	long := aliceClaims(false)
	long.ImmutableID = string(bytes.Repeat([]byte("A"), 60))
	if _, err := IssueAssertion(context.Background(), b, rp, long); err == nil {
		t.Error("an ImmutableID of 60 characters was accepted for Entra")
	}
	if _, err := IssueAssertion(context.Background(), b, wiki, long); err != nil {
		t.Errorf("a generic relying party refused a long NameIdentifier: %v", err)
	}
}

func TestIndependentValidatorsAcceptTheWResultAndRejectForgeries(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	reg := entraRegistry(t)
	rp, _ := reg.ByRealm(EntraRealm)
	b := newBuilder(t, kp, t0)
	_, plain := issue(t, b, rp, aliceClaims(false))
	mfaA, mfa := issue(t, b, rp, aliceClaims(true))
	tampered := bytes.Replace(plain, []byte("alice@corp.example.com"), []byte("mallory@corp.example.com"), 1)
	_, other := issue(t, newBuilder(t, validators.FixedKey(t, "other"), t0), rp, aliceClaims(false))
	_, expired := issue(t, newBuilder(t, kp, t0.Add(-61*time.Minute)), rp, aliceClaims(false))
	_, early := issue(t, newBuilder(t, kp, t0.Add(time.Minute)), rp, aliceClaims(false))
	wiki, _ := reg.ByRealm("https://wiki.corp.example.com/")
	_, forWiki := issue(t, b, wiki, aliceClaims(false))

	t.Run("xmlsec1", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			doc   []byte
			valid bool
		}{
			{"password-only wresult", plain, true},
			{"MFA wresult", mfa, true},
			{"the assertion alone, as MSAL posts it", mfaA.XML, true},
			{"UPN changed after signing", tampered, false},
			{"signed with another key", other, false},
		} {
			err := validators.XMLSec1(t, c.doc, pemCert(kp), validators.SAML11Assertion)
			if c.valid && err != nil {
				t.Errorf("%s: rejected: %v", c.name, err)
			}
			if !c.valid && !errors.Is(err, validators.ErrRejected) {
				t.Errorf("%s: accepted", c.name)
			}
		}
	})
	t.Run("passport-wsfed-saml2", func(t *testing.T) {
		cases := []struct {
			name  string
			doc   []byte
			valid bool
		}{
			{"password-only wresult", plain, true},
			{"MFA wresult", mfa, true},
			{"UPN changed after signing", tampered, false},
			{"signed with another key", other, false},
			{"expired a minute ago", expired, false},
			{"not valid for another minute", early, false},
			{"for another relying party", forWiki, false},
		}
		in := validators.PassportInput{CertBase64: kp.CertificateBase64(), Realm: EntraRealm, Now: t0}
		for _, c := range cases {
			in.Cases = append(in.Cases, validators.PassportCase{Name: c.name, WResult: string(c.doc)})
		}
		res := validators.Passport(t, in)
		for i, r := range res {
			if r.Valid != cases[i].valid {
				t.Errorf("%s: valid=%v, want %v (%s)", r.Name, r.Valid, cases[i].valid, r.Error)
			}
		}
		for _, r := range res[:2] {
			if r.Issuer != "https://sso.corp.example.com/corp.example.com" ||
				r.Profile[assertion.NSClaims+"/UPN"] != "alice@corp.example.com" ||
				r.Profile[assertion.NSLiveIDFed+"/ImmutableID"] != "8bJ5sEt4uUWZ2wOyxGXQqA==" ||
				r.Profile["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"] != "8bJ5sEt4uUWZ2wOyxGXQqA==" {
				t.Errorf("%s: the library read issuer %q and claims %v", r.Name, r.Issuer, r.Profile)
			}
		}
		if _, ok := res[0].Profile[assertion.NSIdentityClaims+"/authenticationmethod"]; ok {
			t.Error("authenticationmethod claim in a password-only token")
		}
		if got := res[1].Profile[assertion.NSIdentityClaims+"/authenticationmethod"]; got != assertion.MultipleAuthN {
			t.Errorf("authenticationmethod in the MFA token: %v", got)
		}
	})
}
