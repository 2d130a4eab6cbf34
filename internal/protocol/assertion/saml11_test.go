package assertion

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// The shared XML test helpers, under the names these tests use.
var (
	parse = xmltest.Parse
	one   = xmltest.One
)

func golden(t *testing.T, name string, got []byte) { t.Helper(); xmltest.Golden(t, *update, name, got) }

// t0 is the fixed clock of every test token.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	testIssuer   = "https://sso.corp.example.com/corp.example.com"
	testAudience = "urn:federation:MicrosoftOnline"
)

func newBuilder(t testing.TB, kp *keys.KeyPair, now time.Time) *Builder {
	t.Helper()
	n := 0
	b, err := NewBuilder(Options{
		Key:   kp,
		Now:   func() time.Time { return now },
		NewID: func() string { n++; return fmt.Sprintf("_00000000-0000-4000-8000-%012d", n) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func aliceClaims(mfa bool) Claims {
	return Claims{
		Subject:     Subject{ImmutableID: "8bJ5sEt4uUWZ2wOyxGXQqA==", UPN: "alice@corp.example.com"},
		AuthInstant: t0.Add(-10 * time.Minute),
		AMR:         []string{"pwd"},
		MFA:         mfa,
	}
}

// attrs maps "namespace/name" to the values of every saml:Attribute.
func attrs(t testing.TB, a *etree.Element) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	for _, at := range one(t, a, "saml:AttributeStatement").SelectElements("Attribute") {
		key := at.SelectAttrValue("AttributeNamespace", "") + "/" + at.SelectAttrValue("AttributeName", "")
		if _, dup := m[key]; dup {
			t.Errorf("attribute %s appears twice", key)
		}
		for _, v := range at.SelectElements("AttributeValue") {
			m[key] = append(m[key], v.Text())
		}
	}
	return m
}

func TestTheSAML11AssertionHasExactlyTheLayoutEntraExpects(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	for _, mfa := range []bool{false, true} {
		t.Run(fmt.Sprintf("mfa=%v", mfa), func(t *testing.T) {
			a, err := newBuilder(t, kp, t0).SAML11(context.Background(), Issue{Issuer: testIssuer, Audience: testAudience, Claims: aliceClaims(mfa)})
			if err != nil {
				t.Fatal(err)
			}
			name := "saml11_password"
			if mfa {
				name = "saml11_mfa"
			}
			golden(t, name, a.XML)

			if bytes.ContainsAny(a.XML, "\n\r\t") || bytes.HasPrefix(a.XML, []byte("<?xml")) {
				t.Error("the assertion must have no whitespace between elements and no XML declaration")
			}
			if !bytes.HasPrefix(a.XML, []byte(`<saml:Assertion MajorVersion="1" MinorVersion="1" AssertionID="_`)) ||
				!bytes.Contains(a.XML[:bytes.IndexByte(a.XML, '>')], []byte(` xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion"`)) {
				t.Errorf("the root must be saml:Assertion 1.1 declaring xmlns:saml itself (MSAL Go reads it): %.200s", a.XML)
			}
			root := parse(t, a.XML)
			if root.Space != "saml" || root.Tag != "Assertion" || root.NamespaceURI() != NSSAML11 {
				t.Fatalf("root is %s:%s in %s", root.Space, root.Tag, root.NamespaceURI())
			}
			for attr, want := range map[string]string{
				"MajorVersion": "1", "MinorVersion": "1", "AssertionID": "_00000000-0000-4000-8000-000000000001",
				"Issuer": testIssuer, "IssueInstant": "2026-03-01T10:00:00.000Z",
			} {
				if got := root.SelectAttrValue(attr, ""); got != want {
					t.Errorf("%s = %q, want %q", attr, got, want)
				}
			}
			cond := one(t, root, "saml:Conditions")
			if cond.SelectAttrValue("NotBefore", "") != "2026-03-01T10:00:00.000Z" || cond.SelectAttrValue("NotOnOrAfter", "") != "2026-03-01T11:00:00.000Z" {
				t.Errorf("Conditions %v, want a one-hour window from the issue instant", cond.Attr)
			}
			if got := one(t, cond, "saml:AudienceRestrictionCondition/saml:Audience").Text(); got != testAudience {
				t.Errorf("Audience = %q", got)
			}
			one(t, root, "saml:AttributeStatement")
			st := one(t, root, "saml:AuthenticationStatement")
			if n := len(root.ChildElements()); n != 4 {
				t.Errorf("the assertion has %d children, want Conditions, AttributeStatement, AuthenticationStatement, Signature", n)
			}
			for _, path := range []string{"saml:AttributeStatement/saml:Subject", "saml:AuthenticationStatement/saml:Subject"} {
				s := one(t, root, path)
				n := one(t, s, "saml:NameIdentifier")
				if n.Text() != "8bJ5sEt4uUWZ2wOyxGXQqA==" || n.SelectAttrValue("Format", "") != NameIDFormatUnspecified || n.SelectAttr("NameQualifier") != nil {
					t.Errorf("%s NameIdentifier = %q %v", path, n.Text(), n.Attr)
				}
				if got := one(t, s, "saml:SubjectConfirmation/saml:ConfirmationMethod").Text(); got != ConfirmationBearer {
					t.Errorf("%s ConfirmationMethod = %q", path, got)
				}
			}
			if st.FindElement("saml:SubjectLocality") != nil || st.FindElement("saml:AuthorityBinding") != nil {
				t.Error("no SubjectLocality or AuthorityBinding allowed")
			}
			if got := st.SelectAttrValue("AuthenticationInstant", ""); got != "2026-03-01T09:50:00.000Z" {
				t.Errorf("AuthenticationInstant = %q", got)
			}
			got := attrs(t, root)
			want := map[string][]string{
				NSClaims + "/UPN":                           {"alice@corp.example.com"},
				NSLiveIDFed + "/ImmutableID":                {"8bJ5sEt4uUWZ2wOyxGXQqA=="},
				NSIdentityClaims + "/authenticationinstant": {"2026-03-01T09:50:00.000Z"},
			}
			wantMethod := AuthMethodPassword
			if mfa {
				wantMethod = MultipleAuthN
				want[NSIdentityClaims+"/authenticationmethod"] = []string{MultipleAuthN}
				want[NSMSClaims+"/authnmethodsreferences"] = []string{MultipleAuthN}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("attributes\n got %v\nwant %v", got, want)
			}
			if m := st.SelectAttrValue("AuthenticationMethod", ""); m != wantMethod {
				t.Errorf("AuthenticationMethod = %q, want %q", m, wantMethod)
			}
			if !mfa && bytes.Contains(a.XML, []byte("multipleauthn")) {
				t.Error("multipleauthn appears in a token without MFA")
			}
			checkSignature(t, root, "AssertionID", kp)
		})
	}
}

// checkSignature asserts the algorithms, the reference and the certificate
// of el's enveloped signature, and that goxmldsig verifies it with kp.
func checkSignature(t *testing.T, el *etree.Element, idAttr string, kp *keys.KeyPair) {
	t.Helper()
	sig := one(t, el, "ds:Signature")
	if sig.SelectAttrValue("xmlns:ds", "") != NSXMLDSig {
		t.Error("ds:Signature must declare xmlns:ds")
	}
	for path, want := range map[string]string{
		"ds:SignedInfo/ds:CanonicalizationMethod":                           CanonicalizationExcC14N,
		"ds:SignedInfo/ds:SignatureMethod":                                  SignatureMethodRSASHA256,
		"ds:SignedInfo/ds:Reference/ds:DigestMethod":                        DigestMethodSHA256,
		"ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[1]":          TransformEnveloped,
		"ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[2]":          CanonicalizationExcC14N,
		"ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[3]":          "",
		"ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[2]/*[1]":     "",
		"ds:SignedInfo/ds:CanonicalizationMethod/ds:InclusiveNamespaces[1]": "",
	} {
		e := el.FindElement("ds:Signature/" + path)
		switch {
		case want == "" && e != nil:
			t.Errorf("unexpected %s", path)
		case want != "" && (e == nil || e.SelectAttrValue("Algorithm", "") != want):
			t.Errorf("%s Algorithm should be %s", path, want)
		}
	}
	if got, want := one(t, sig, "ds:SignedInfo/ds:Reference").SelectAttrValue("URI", ""), "#"+el.SelectAttrValue(idAttr, ""); got != want {
		t.Errorf("Reference URI = %q, want %q", got, want)
	}
	if got := one(t, sig, "ds:KeyInfo/ds:X509Data/ds:X509Certificate").Text(); got != base64.StdEncoding.EncodeToString(kp.Cert.Raw) {
		t.Error("KeyInfo does not carry the signing certificate")
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509Cert{kp.Cert}})
	vc.IdAttribute = idAttr
	vc.Clock = dsig.NewFakeClockAt(t0)
	if _, err := vc.Validate(el.Copy()); err != nil {
		t.Errorf("goxmldsig does not verify the signature: %v", err)
	}
}

func TestMFAClaimsAppearOnlyWhenMFAHappened(t *testing.T) {
	b := newBuilder(t, validators.FixedKey(t, "current"), t0)
	for _, c := range []struct {
		name string
		mfa  bool
		amr  []string
	}{
		{"password only", false, []string{"pwd"}},
		{"an amr that names mfa but no MFA flag", false, []string{"pwd", "mfa", "otp"}},
		{"MFA done", true, []string{"pwd", "otp", "mfa"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := aliceClaims(c.mfa)
			cl.AMR = c.amr
			a, err := b.SAML11(context.Background(), Issue{Issuer: testIssuer, Audience: testAudience, Claims: cl})
			if err != nil {
				t.Fatal(err)
			}
			n := bytes.Count(a.XML, []byte(MultipleAuthN))
			if c.mfa && n != 3 {
				t.Errorf("multipleauthn appears %d times, want 3 (AuthenticationMethod, authenticationmethod, authnmethodsreferences)", n)
			}
			if !c.mfa && n != 0 {
				t.Errorf("multipleauthn appears %d times without MFA", n)
			}
		})
	}
}

func TestOptionalClaimsAppearOnlyWhenGiven(t *testing.T) {
	b := newBuilder(t, validators.FixedKey(t, "current"), t0)
	inside, outside := true, false
	cases := []struct {
		name string
		edit func(*Claims)
		want map[string][]string
	}{
		{"none", func(*Claims) {}, map[string][]string{}},
		{"password expiry with change URL", func(c *Claims) {
			c.PasswordExpires = time.Date(2026, 3, 5, 8, 0, 0, 0, time.UTC)
			c.PasswordChangeURL = "https://sso.corp.example.com/password/change"
		}, map[string][]string{
			NSWS201201 + "/passwordexpirationtime": {"2026-03-05T08:00:00.000Z"},
			NSWS201201 + "/passwordchangeurl":      {"https://sso.corp.example.com/password/change"},
		}},
		{"password expiry without change URL", func(c *Claims) {
			c.PasswordExpires = time.Date(2026, 3, 5, 8, 0, 0, 0, time.UTC)
		}, map[string][]string{NSWS201201 + "/passwordexpirationtime": {"2026-03-05T08:00:00.000Z"}}},
		{"inside the corporate network", func(c *Claims) { c.InsideCorporateNetwork = &inside },
			map[string][]string{NSWS201201 + "/insidecorporatenetwork": {"true"}}},
		{"outside the corporate network", func(c *Claims) { c.InsideCorporateNetwork = &outside },
			map[string][]string{NSWS201201 + "/insidecorporatenetwork": {"false"}}},
		{"extra attributes", func(c *Claims) {
			c.Extra = []Attribute{{Namespace: "http://schemas.xmlsoap.org/claims", Name: "Group", Values: []string{"Engineers", "Staff-All"}}}
		}, map[string][]string{"http://schemas.xmlsoap.org/claims/Group": {"Engineers", "Staff-All"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := aliceClaims(false)
			c.edit(&cl)
			a, err := b.SAML11(context.Background(), Issue{Issuer: testIssuer, Audience: testAudience, Claims: cl})
			if err != nil {
				t.Fatal(err)
			}
			got := attrs(t, parse(t, a.XML))
			for _, k := range []string{NSClaims + "/UPN", NSLiveIDFed + "/ImmutableID", NSIdentityClaims + "/authenticationinstant"} {
				delete(got, k)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("optional attributes\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

func TestTheLifetimeIsConfigurable(t *testing.T) {
	b, err := NewBuilder(Options{Key: validators.FixedKey(t, "current"), Now: func() time.Time { return t0 }, Lifetime: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	a, err := b.SAML11(context.Background(), Issue{Issuer: testIssuer, Audience: testAudience, Claims: aliceClaims(false)})
	if err != nil {
		t.Fatal(err)
	}
	if !a.NotOnOrAfter.Equal(t0.Add(10*time.Minute)) || !strings.HasPrefix(a.ID, "_") || len(a.ID) != 33 {
		t.Errorf("NotOnOrAfter %v, id %q", a.NotOnOrAfter, a.ID)
	}
	if _, err := NewBuilder(Options{Key: validators.FixedKey(t, "current")}); err == nil {
		t.Error("a builder without a clock was accepted")
	}
}

func TestBadInputIsRefusedWithAReason(t *testing.T) {
	b := newBuilder(t, validators.FixedKey(t, "current"), t0)
	cases := []struct {
		name string
		edit func(*Issue)
		want string
	}{
		{"no issuer", func(i *Issue) { i.Issuer = "" }, "issuer is empty"},
		{"no audience", func(i *Issue) { i.Audience = " " }, "audience is empty"},
		{"no ImmutableID", func(i *Issue) { i.Claims.ImmutableID = "" }, "ImmutableID is empty"},
		{"no UPN", func(i *Issue) { i.Claims.UPN = "" }, "UPN is empty"},
		{"no authentication instant", func(i *Issue) { i.Claims.AuthInstant = time.Time{} }, "authentication instant"},
		{"a control character", func(i *Issue) { i.Claims.UPN = "alice\x00@corp.example.com" }, "U+0000"},
		{"a carriage return", func(i *Issue) {
			i.Claims.Extra = []Attribute{{Namespace: "urn:test", Name: "x", Values: []string{"a\r\nb"}}}
		}, "carriage return"},
		{"invalid UTF-8", func(i *Issue) { i.Claims.UPN = "alice\xff@corp.example.com" }, "not valid UTF-8"},
		{"an extra attribute that shadows UPN", func(i *Issue) {
			i.Claims.Extra = []Attribute{{Namespace: NSClaims, Name: "UPN", Values: []string{"mallory@corp.example.com"}}}
		}, "standard claim"},
		{"an extra attribute without a value", func(i *Issue) {
			i.Claims.Extra = []Attribute{{Namespace: NSClaims, Name: "Group"}}
		}, "no value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Issue{Issuer: testIssuer, Audience: testAudience, Claims: aliceClaims(false)}
			c.edit(&in)
			if _, err := b.SAML11(context.Background(), in); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
	bad, err := NewBuilder(Options{Key: validators.FixedKey(t, "current"), Now: func() time.Time { return t0 }, NewID: func() string { return "1abc" }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.SAML11(context.Background(), Issue{Issuer: testIssuer, Audience: testAudience, Claims: aliceClaims(false)}); err == nil {
		t.Error("an id starting with a digit was accepted")
	}
}

func TestIndependentValidatorsAcceptGoodAssertionsAndRejectBadOnes(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	certPEM := pemCert(kp)
	good := func(t *testing.T, cl Claims) *Assertion {
		a, err := newBuilder(t, kp, t0).SAML11(context.Background(), Issue{Issuer: testIssuer, Audience: testAudience, Claims: cl})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	plain := good(t, aliceClaims(false))
	mfa := good(t, aliceClaims(true))
	odd := aliceClaims(true)
	odd.UPN = "zoë.ñúñez@corp.example.com"
	odd.Extra = []Attribute{{Namespace: "urn:test", Name: "odd", Values: []string{"a&b<c>\"d'e", "tab\there\nline", "日本語 😀"}}}
	unusual := good(t, odd)
	if bytes.ContainsFunc(unusual.XML, func(r rune) bool { return r > 0x7f }) {
		t.Error("non-ASCII characters must be written as character references")
	}
	tampered := bytes.Replace(plain.XML, []byte("alice@corp.example.com"), []byte("mallory@corp.example.com"), 1)
	other, err := newBuilder(t, validators.FixedKey(t, "other"), t0).SAML11(context.Background(), Issue{Issuer: testIssuer, Audience: testAudience, Claims: aliceClaims(false)})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := newBuilder(t, kp, t0.Add(-2*time.Hour)).SAML11(context.Background(), Issue{Issuer: testIssuer, Audience: testAudience, Claims: aliceClaims(false)})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("xmlsec1", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			doc   []byte
			valid bool
		}{
			{"password-only assertion", plain.XML, true},
			{"MFA assertion", mfa.XML, true},
			{"non-ASCII and markup characters", unusual.XML, true},
			{"expired assertion (xmlsec1 checks only the signature)", expired.XML, true},
			{"UPN changed after signing", tampered, false},
			{"signed with another key", other.XML, false},
		} {
			err := validators.XMLSec1(t, c.doc, certPEM, validators.SAML11Assertion)
			if c.valid && err != nil {
				t.Errorf("%s: rejected: %v", c.name, err)
			}
			if !c.valid && !errors.Is(err, validators.ErrRejected) {
				t.Errorf("%s: accepted", c.name)
			}
		}
	})
	t.Run("passport-wsfed-saml2", func(t *testing.T) {
		in := validators.PassportInput{CertBase64: kp.CertificateBase64(), Realm: testAudience, Now: t0.Add(time.Minute)}
		want := []bool{true, true, true, false, false, false, false}
		for _, c := range []struct {
			name string
			doc  []byte
		}{
			{"password-only", plain.XML}, {"mfa", mfa.XML}, {"unusual characters", unusual.XML},
			{"expired", expired.XML}, {"tampered UPN", tampered}, {"re-signed with another key", other.XML},
			{"wrong audience", good(t, aliceClaims(false)).XML},
		} {
			in.Cases = append(in.Cases, validators.PassportCase{Name: c.name, Assertion: string(c.doc)})
		}
		// The last case is checked against another realm below.
		res := validators.Passport(t, in)
		for i, r := range res[:6] {
			if r.Valid != want[i] {
				t.Errorf("%s: valid=%v, want %v (%s)", r.Name, r.Valid, want[i], r.Error)
			}
		}
		for _, r := range res[:3] {
			if r.Issuer != testIssuer {
				t.Errorf("%s: issuer %q", r.Name, r.Issuer)
			}
		}
		if got := res[0].Profile[NSClaims+"/UPN"]; got != "alice@corp.example.com" {
			t.Errorf("UPN as the library reads it: %v", got)
		}
		if got := res[0].Profile["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"]; got != "8bJ5sEt4uUWZ2wOyxGXQqA==" {
			t.Errorf("NameIdentifier as the library reads it: %v", got)
		}
		if got := res[2].Profile[NSClaims+"/UPN"]; got != "zoë.ñúñez@corp.example.com" {
			t.Errorf("non-ASCII UPN as the library reads it: %q", got)
		}
		if got := fmt.Sprint(res[2].Profile["urn:test/odd"]); got != "[a&b<c>\"d'e tab\there\nline 日本語 😀]" {
			t.Errorf("odd values as the library reads them: %q", got)
		}
		if _, ok := res[0].Profile[NSMSClaims+"/authnmethodsreferences"]; ok {
			t.Error("authnmethodsreferences in a password-only token")
		}
		if got := res[1].Profile[NSMSClaims+"/authnmethodsreferences"]; got != MultipleAuthN {
			t.Errorf("authnmethodsreferences in the MFA token: %v", got)
		}
		in.Realm, in.Cases = "urn:another:realm", in.Cases[6:]
		if r := validators.Passport(t, in)[0]; r.Valid {
			t.Error("the library accepted a token for another audience")
		}
	})
}
