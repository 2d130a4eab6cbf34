package saml

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func TestRealWorldSPMetadataIsRead(t *testing.T) {
	post := func(loc string, index int, def bool) Endpoint {
		return Endpoint{Binding: BindingPOST, Location: loc, Index: index, IsDefault: def}
	}
	cur, next := spFixedCert(t, "current"), spFixedCert(t, "next")
	for _, c := range []struct {
		name, file, entityID string
		want                 ServiceProvider
		until                time.Time
	}{
		{"Nextcloud's user_saml (php-saml) with a Redirect SLO and one key for both uses", "nextcloud.xml", "", ServiceProvider{
			EntityID: "https://cloud.corp.example.com/index.php/apps/user_saml/saml/metadata?idp=1",
			ACS:      []Endpoint{post("https://cloud.corp.example.com/index.php/apps/user_saml/saml/acs?idp=1", 1, true)},
			SLO: []Endpoint{{Binding: BindingRedirect,
				Location: "https://cloud.corp.example.com/index.php/apps/user_saml/saml/sls?idp=1"}},
			SigningCerts: []*x509.Certificate{cur}, EncryptionCert: cur,
		}, time.Date(2027, 3, 3, 10, 15, 42, 0, time.UTC)},
		{"GitLab's omniauth-saml (ruby-saml) with single quotes and no keys", "gitlab.xml", "https://gitlab.corp.example.com", ServiceProvider{
			EntityID: "https://gitlab.corp.example.com",
			ACS:      []Endpoint{post("https://gitlab.corp.example.com/users/auth/saml/callback", 0, true)},
		}, time.Time{}},
		{"Grafana's (crewjam/saml) with signed requests, both SLO bindings and an Artifact ACS left out", "grafana.xml", "", ServiceProvider{
			EntityID: "https://grafana.corp.example.com/saml/metadata",
			ACS:      []Endpoint{post("https://grafana.corp.example.com/saml/acs", 1, true)},
			SLO: []Endpoint{
				{Binding: BindingPOST, Location: "https://grafana.corp.example.com/saml/slo", ResponseLocation: "https://grafana.corp.example.com/saml/slo"},
				{Binding: BindingRedirect, Location: "https://grafana.corp.example.com/saml/slo", ResponseLocation: "https://grafana.corp.example.com/saml/slo"},
			},
			SigningCerts: []*x509.Certificate{cur}, EncryptionCert: next, WantRequestsSigned: true, SignAssertion: true,
		}, time.Date(2027, 3, 3, 10, 15, 42, 123e6, time.UTC)},
		{"node-saml's with wrapped certificates and a POST SLO", "node-saml.xml", "", ServiceProvider{
			EntityID:     "https://wiki.corp.example.com/saml",
			ACS:          []Endpoint{post("https://wiki.corp.example.com/login/callback", 1, true)},
			SLO:          []Endpoint{{Binding: BindingPOST, Location: "https://wiki.corp.example.com/logout/callback"}},
			SigningCerts: []*x509.Certificate{cur}, EncryptionCert: next, WantRequestsSigned: true, SignAssertion: true,
		}, time.Time{}},
		{"Shibboleth's with comments, five ACS bindings out of order and a SOAP SLO left out", "shibboleth.xml", "", ServiceProvider{
			EntityID: "https://hr.corp.example.com/shibboleth",
			ACS: []Endpoint{post("https://hr.corp.example.com/Shibboleth.sso/SAML2/POST", 1, true),
				post("https://hr.corp.example.com/Shibboleth.sso/SAML2/POST/alt", 6, false)},
			SLO: []Endpoint{{Binding: BindingRedirect, Location: "https://hr.corp.example.com/Shibboleth.sso/SLO/Redirect"},
				{Binding: BindingPOST, Location: "https://hr.corp.example.com/Shibboleth.sso/SLO/POST"}},
			SigningCerts: []*x509.Certificate{cur}, EncryptionCert: cur,
		}, time.Time{}},
		{"an aggregate's service provider picked by entity ID", "aggregate.xml", "https://vpn.corp.example.com/saml", ServiceProvider{
			EntityID: "https://vpn.corp.example.com/saml",
			ACS:      []Endpoint{post("https://vpn.corp.example.com/saml/acs", 0, true)},
		}, time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)},
		{"an aggregate's nested service provider, valid until its inner EntitiesDescriptor says", "aggregate.xml", "https://payroll.corp.example.com/sp", ServiceProvider{
			EntityID:     "https://payroll.corp.example.com/sp",
			ACS:          []Endpoint{post("https://payroll.corp.example.com/sp/acs", 0, true)},
			SigningCerts: []*x509.Certificate{cur}, WantRequestsSigned: true,
		}, time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp, until, err := parseSPMetadata(spMetadata(t, c.file), c.entityID, MetadataOptions{Now: spNow})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := describeSP(sp), describeSP(&c.want); got != want {
				t.Errorf("read\n%s\nwant\n%s", got, want)
			}
			if !until.Equal(c.until) {
				t.Errorf("valid until %v, want %v", until, c.until)
			}
		})
	}
}

// describeSP writes what the parser fills in, certificates by subject,
// so two SPs compare as text.
func describeSP(sp *ServiceProvider) string {
	var b strings.Builder
	fmt.Fprintf(&b, "entity %s\n", sp.EntityID)
	for _, e := range sp.ACS {
		fmt.Fprintf(&b, "acs %+v\n", e)
	}
	for _, e := range sp.SLO {
		fmt.Fprintf(&b, "slo %+v\n", e)
	}
	for _, c := range sp.SigningCerts {
		fmt.Fprintf(&b, "signing %s\n", c.Subject.CommonName)
	}
	if sp.EncryptionCert != nil {
		fmt.Fprintf(&b, "encryption %s\n", sp.EncryptionCert.Subject.CommonName)
	}
	fmt.Fprintf(&b, "requests signed %v, assertions signed %v\n", sp.WantRequestsSigned, sp.SignAssertion)
	return b.String()
}

func TestSPMetadataIsRefused(t *testing.T) {
	gitlab := string(spMetadata(t, "gitlab.xml"))
	nodeSAML := string(spMetadata(t, "node-saml.xml"))
	const acs = `<md:AssertionConsumerService Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST' Location='https://gitlab.corp.example.com/users/auth/saml/callback' index='0' isDefault='true'/>`
	withACS := func(repl string) string {
		if !strings.Contains(gitlab, acs) {
			t.Fatal("gitlab.xml changed")
		}
		return strings.Replace(gitlab, acs, repl, 1)
	}
	minimal := func(attrs, inner string) string {
		return `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.com" ` + attrs + `>` +
			`<SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + inner +
			`<AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/acs" index="0"/>` +
			`</SPSSODescriptor></EntityDescriptor>`
	}
	for _, c := range []struct {
		name, doc, entityID string
		is                  error
		msg                 string
	}{
		{"a DOCTYPE with an entity expansion (billion laughs)", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>` +
			minimal("", "") + `<!-- &lol2; -->`, "", ErrMalformed, "DTD"},
		{"an external entity", `<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + minimal("", "<Extensions>&xxe;</Extensions>"), "", ErrMalformed, "DTD"},
		{"a DOCTYPE written in lower case", `<!doctype EntityDescriptor>` + minimal("", ""), "", ErrMalformed, "DTD"},
		{"metadata larger than 1 MiB", minimal("", "<!--"+strings.Repeat("x", MaxMetadataSize)+"-->"), "", ErrTooLarge, "larger"},
		{"an expired EntityDescriptor", minimal(`validUntil="2026-12-10T08:59:59Z"`, ""), "", ErrMetadataExpired, "2026-12-10T08:59:59"},
		{"metadata expiring right now", minimal(`validUntil="2026-12-10T09:00:00Z"`, ""), "", ErrMetadataExpired, "expired at 2026-12-10T09:00:00.000Z"},
		{"an expired SPSSODescriptor", strings.Replace(minimal("", ""), `<SPSSODescriptor `, `<SPSSODescriptor validUntil="2020-01-01T00:00:00Z" `, 1), "", ErrMetadataExpired, "2020"},
		{"an aggregate that has expired", strings.Replace(string(spMetadata(t, "aggregate.xml")), "2027-06-01T00:00:00Z", "2026-06-01T00:00:00Z", 1),
			"https://vpn.corp.example.com/saml", ErrMetadataExpired, "vpn"},
		{"an unreadable validUntil", minimal(`validUntil="next tuesday"`, ""), "", ErrMalformed, "validUntil"},
		{"metadata elements in another namespace under the usual prefix",
			strings.ReplaceAll(gitlab, `xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata'`, `xmlns:md='urn:oasis:names:tc:SAML:1.0:metadata'`), "", ErrMalformed, "not SAML 2.0 metadata"},
		{"an SPSSODescriptor in another namespace", strings.Replace(minimal("", ""), `<SPSSODescriptor `, `<SPSSODescriptor xmlns="urn:example:other" `, 1), "", ErrMalformed, "no SPSSODescriptor"},
		{"an SP for SAML 1.1 only", strings.Replace(minimal("", ""), `urn:oasis:names:tc:SAML:2.0:protocol`, `urn:oasis:names:tc:SAML:1.1:protocol`, 1), "", ErrMalformed, "no SPSSODescriptor"},
		{"no HTTP-POST ACS", withACS(`<md:AssertionConsumerService Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact' Location='https://gitlab.corp.example.com/a' index='0'/>`), "", ErrMalformed, "HTTP-POST"},
		{"a plain-http ACS", withACS(`<md:AssertionConsumerService Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST' Location='http://gitlab.corp.example.com/cb' index='0'/>`), "", ErrMalformed, "https"},
		{"a plain-http ACS to a name that starts like a loopback address", withACS(`<md:AssertionConsumerService Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST' Location='http://127.0.0.1.evil.example/cb' index='0'/>`), "", ErrMalformed, "https"},
		{"an ACS with a fragment", withACS(`<md:AssertionConsumerService Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST' Location='https://gitlab.corp.example.com/cb#x' index='0'/>`), "", ErrMalformed, "fragment"},
		{"an ACS with user information", withACS(`<md:AssertionConsumerService Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST' Location='https://gitlab.corp.example.com@evil.example/cb' index='0'/>`), "", ErrMalformed, "user information"},
		{"a relative ACS", withACS(`<md:AssertionConsumerService Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST' Location='/cb' index='0'/>`), "", ErrMalformed, "absolute"},
		{"an ACS without index", withACS(`<md:AssertionConsumerService Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST' Location='https://gitlab.corp.example.com/cb'/>`), "", ErrMalformed, "index"},
		{"two ACS with one index", withACS(acs + `<md:AssertionConsumerService Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact' Location='https://gitlab.corp.example.com/a' index='0'/>`), "", ErrMalformed, "index 0"},
		{"an ACS index beyond an unsigned short", withACS(`<md:AssertionConsumerService Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST' Location='https://gitlab.corp.example.com/cb' index='65536'/>`), "", ErrMalformed, "65535"},
		{"an isDefault that is not a boolean", withACS(`<md:AssertionConsumerService Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST' Location='https://gitlab.corp.example.com/cb' index='0' isDefault='yes'/>`), "", ErrMalformed, "true or false"},
		{"a plain-http SLO", minimal("", `<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="http://sp.example.com/slo"/>`), "", ErrMalformed, "https"},
		{"an SLO ResponseLocation with a fragment", minimal("", `<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/slo" ResponseLocation="https://sp.example.com/slo#r"/>`), "", ErrMalformed, "ResponseLocation"},
		{"a KeyDescriptor of unknown use", minimal("", `<KeyDescriptor use="both"/>`), "", ErrMalformed, "use"},
		{"a certificate that is not base64", strings.Replace(nodeSAML, "<ds:X509Certificate>MII", "<ds:X509Certificate>!!MII", 1), "", ErrMalformed, "base64"},
		{"a certificate that is not DER", minimal("", `<KeyDescriptor><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>aGVsbG8=</X509Certificate></X509Data></KeyInfo></KeyDescriptor>`), "", ErrMalformed, "X509Certificate"},
		{"another entity than configured", gitlab, "https://other.example.com", ErrMalformed, "not \"https://other.example.com\""},
		{"an aggregate with two service providers and no entity ID", string(spMetadata(t, "aggregate.xml")), "", ErrMalformed, "set entity_id"},
		{"an aggregate without the entity asked for", string(spMetadata(t, "aggregate.xml")), "https://nobody.example.com", ErrMalformed, "no entity"},
		{"an aggregate holding one entity twice", strings.Replace(string(spMetadata(t, "aggregate.xml")), "https://payroll.corp.example.com/sp\"", "https://vpn.corp.example.com/saml\"", 1),
			"https://vpn.corp.example.com/saml", ErrMalformed, "2 times"},
		{"an aggregate with no service provider", `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"></EntitiesDescriptor>`, "", ErrMalformed, "no SAML 2.0 service provider"},
		{"an entity without entityID", strings.Replace(minimal("", ""), `entityID="https://sp.example.com"`, ``, 1), "", ErrMalformed, "entityID"},
		{"two root elements", minimal("", "") + minimal("", ""), "", ErrMalformed, "root"},
		{"text around the root", "hello" + minimal("", ""), "", ErrMalformed, ""},
		{"not XML", "{\"entityID\": \"x\"}", "", ErrMalformed, ""},
		{"nothing", "", "", ErrMalformed, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp, err := ParseSPMetadataWith([]byte(c.doc), c.entityID, MetadataOptions{Now: spNow})
			if err == nil {
				t.Fatalf("accepted: %+v", sp)
			}
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("err = %v, want %v mentioning %q", err, c.is, c.msg)
			}
		})
	}
}

func TestTheDefaultACSFollowsTheMetadataRules(t *testing.T) {
	acs := func(index int, isDefault string) string {
		d := ""
		if isDefault != "" {
			d = ` isDefault="` + isDefault + `"`
		}
		return fmt.Sprintf(`<AssertionConsumerService Binding="%s" Location="https://sp.example.com/acs/%d" index="%d"%s/>`, BindingPOST, index, index, d)
	}
	for _, c := range []struct {
		name    string
		acs     string
		order   []int
		wantDef int
	}{
		{"isDefault true wins wherever it stands", acs(2, "") + acs(0, "") + acs(1, "true"), []int{0, 1, 2}, 1},
		{"without isDefault the lowest index", acs(5, "") + acs(3, ""), []int{3, 5}, 3},
		{"isDefault false passes to the next", acs(0, "false") + acs(1, "") + acs(2, ""), []int{0, 1, 2}, 1},
		{"all isDefault false: the first", acs(1, "false") + acs(0, "false"), []int{0, 1}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.com">` +
				`<SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + c.acs + `</SPSSODescriptor></EntityDescriptor>`
			sp, err := ParseSPMetadataWith([]byte(doc), "", MetadataOptions{Now: spNow})
			if err != nil {
				t.Fatal(err)
			}
			var order []int
			defs := 0
			for _, e := range sp.ACS {
				order = append(order, e.Index)
				if e.Location != fmt.Sprintf("https://sp.example.com/acs/%d", e.Index) {
					t.Errorf("index %d has location %s", e.Index, e.Location)
				}
				if e.IsDefault {
					defs++
					if e.Index != c.wantDef {
						t.Errorf("default is index %d, want %d", e.Index, c.wantDef)
					}
				}
			}
			if fmt.Sprint(order) != fmt.Sprint(c.order) || defs != 1 {
				t.Errorf("order %v with %d defaults, want %v with one", order, defs, c.order)
			}
		})
	}
}

// xmlsec1Metadata signs node-saml.xml (which has an ID) with xmlsec1 and
// the fixed key name, using sigAlg and digestAlg.
func xmlsec1Metadata(t *testing.T, name, sigAlg, digestAlg string) []byte {
	t.Helper()
	doc := spMetadata(t, "node-saml.xml")
	tmpl := validators.SignatureTemplate(sigAlg, digestAlg, "#https___wiki_corp_example_com_saml")
	keyPEM, certPEM := validators.FixedKeyPEM(t, name)
	return validators.XMLSec1Sign(t, spWithTemplate(t, doc, tmpl), keyPEM, certPEM, validators.SAML2Metadata)
}

func TestSignedSPMetadata(t *testing.T) {
	cur, other := spFixedCert(t, "current"), spFixedCert(t, "other")
	ours := spSignMetadata(t, spMetadata(t, "node-saml.xml"), "current")
	const acs = "https://wiki.corp.example.com/login/callback"
	tampered := spReplaceOnce(t, ours, acs, "https://evil.example/login/callback")
	// The signature moved into an Extensions element, still referencing
	// the root: goxmldsig would find and check it, but it is no longer
	// where an enveloped signature of the metadata belongs.
	sigStart, sigEnd := bytes.Index(ours, []byte("<ds:Signature")), bytes.Index(ours, []byte("</ds:Signature>"))+len("</ds:Signature>")
	sig := string(ours[sigStart:sigEnd])
	moved := spReplaceOnce(t, append(append([]byte{}, ours[:sigStart]...), ours[sigEnd:]...),
		`<SPSSODescriptor `, `<Extensions>`+sig+`</Extensions><SPSSODescriptor `)
	// A second, unsigned entity wrapped around the signed one's content.
	wrapped := spReplaceOnce(t, ours, `</EntityDescriptor>`,
		`<EntityDescriptor entityID="https://evil.example"><SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">`+
			`<AssertionConsumerService Binding="`+BindingPOST+`" Location="https://evil.example/acs" index="0"/></SPSSODescriptor></EntityDescriptor></EntityDescriptor>`)
	sha1Alg := spReplaceOnce(t, ours, dsig.RSASHA256SignatureMethod, dsig.RSASHA1SignatureMethod)
	for _, c := range []struct {
		name    string
		doc     []byte
		trusted []*x509.Certificate
		ok      bool
		msg     string
	}{
		{"signed by Gatehouse's signer and checked with the configured certificate", ours, []*x509.Certificate{cur}, true, ""},
		{"signed, checked with one of several configured certificates", ours, []*x509.Certificate{other, cur}, true, ""},
		{"signed, checked against the certificate it carries when none is configured", ours, nil, true, ""},
		{"signed by another key than the configured one", ours, []*x509.Certificate{other}, false, "metadata_cert_file"},
		{"altered after signing, with a configured certificate", tampered, []*x509.Certificate{cur}, false, "does not verify"},
		{"altered after signing, with none configured", tampered, nil, false, "altered after signing"},
		{"unsigned where a signature is configured", spMetadata(t, "node-saml.xml"), []*x509.Certificate{cur}, false, "not signed"},
		{"its signature moved out of the root", moved, []*x509.Certificate{cur}, false, "child of its root"},
		{"an entity wrapped into the signed one", wrapped, []*x509.Certificate{cur}, false, "does not verify"},
		{"signed with RSA-SHA1", sha1Alg, []*x509.Certificate{cur}, false, "SHA-256 or stronger"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp, err := ParseSPMetadataWith(c.doc, "", MetadataOptions{TrustedCerts: c.trusted, Now: spNow})
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				if len(sp.ACS) != 1 || sp.ACS[0].Location != acs {
					t.Errorf("ACS %+v", sp.ACS)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", sp.ACS)
			}
			if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("err = %v, want ErrSignature mentioning %q", err, c.msg)
			}
		})
	}

	t.Run("an expired certificate", func(t *testing.T) {
		old, err := keys.Generate("expired SP metadata signer", spTestNow.AddDate(-2, 0, 0), 365*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		signed := spSignMetadataWith(t, spMetadata(t, "node-saml.xml"), old)
		// Carried in the document, it only shows the document intact:
		// its dates do not matter.
		if _, err := ParseSPMetadataWith(signed, "", MetadataOptions{Now: spNow}); err != nil {
			t.Errorf("refused for the expired certificate it carries: %v", err)
		}
		// Configured, it is trust, which ends when it expires.
		_, err = ParseSPMetadataWith(signed, "", MetadataOptions{TrustedCerts: []*x509.Certificate{old.Cert}, Now: spNow})
		if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "not valid at this time") {
			t.Errorf("err = %v, want ErrSignature for the expired configured certificate", err)
		}
	})

	t.Run("a comment inside signed text is not part of it", func(t *testing.T) {
		// Exclusive C14N signs text without comments, and the verified
		// element goxmldsig returns has none: the certificate reads whole.
		doc := spReplaceOnce(t, spMetadata(t, "node-saml.xml"), "<ds:X509Certificate>MII", "<ds:X509Certificate>MII<!-- x -->")
		signed := spSignMetadata(t, doc, "current")
		sp, err := ParseSPMetadataWith(signed, "", MetadataOptions{TrustedCerts: []*x509.Certificate{cur}, Now: spNow})
		if err != nil {
			t.Fatal(err)
		}
		if len(sp.SigningCerts) != 1 || !sp.SigningCerts[0].Equal(cur) {
			t.Errorf("signing certificates %v", sp.SigningCerts)
		}
	})
}

func TestMetadataSignedByXMLSec1Verifies(t *testing.T) {
	cur := spFixedCert(t, "current")
	signed := xmlsec1Metadata(t, "current", dsig.RSASHA256SignatureMethod, "http://www.w3.org/2001/04/xmlenc#sha256")
	if err := validators.XMLSec1(t, signed, spFixedCertPEM(t, "current"), validators.SAML2Metadata); err != nil {
		t.Fatalf("xmlsec1 does not verify its own signature: %v", err)
	}
	sp, err := ParseSPMetadataWith(signed, "", MetadataOptions{TrustedCerts: []*x509.Certificate{cur}, Now: spNow})
	if err != nil {
		t.Fatalf("an RSA-SHA256 signature made by xmlsec1 was refused: %v", err)
	}
	if sp.EntityID != "https://wiki.corp.example.com/saml" || len(sp.ACS) != 1 {
		t.Errorf("read %+v", sp)
	}
	t.Run("and with SHA-512", func(t *testing.T) {
		signed := xmlsec1Metadata(t, "current", dsig.RSASHA512SignatureMethod, "http://www.w3.org/2001/04/xmlenc#sha512")
		if _, err := ParseSPMetadataWith(signed, "", MetadataOptions{TrustedCerts: []*x509.Certificate{cur}, Now: spNow}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("but not with a key other than the configured one", func(t *testing.T) {
		signed := xmlsec1Metadata(t, "other", dsig.RSASHA256SignatureMethod, "http://www.w3.org/2001/04/xmlenc#sha256")
		if _, err := ParseSPMetadataWith(signed, "", MetadataOptions{TrustedCerts: []*x509.Certificate{cur}, Now: spNow}); !errors.Is(err, ErrSignature) {
			t.Fatalf("err = %v, want ErrSignature", err)
		}
	})
	t.Run("but not a valid RSA-SHA1 signature", func(t *testing.T) {
		signed := xmlsec1Metadata(t, "current", dsig.RSASHA1SignatureMethod, "http://www.w3.org/2000/09/xmldsig#sha1")
		if err := validators.XMLSec1(t, signed, spFixedCertPEM(t, "current"), validators.SAML2Metadata); err != nil {
			t.Fatalf("the SHA-1 signature itself is broken, so the test proves nothing: %v", err)
		}
		_, err := ParseSPMetadataWith(signed, "", MetadataOptions{TrustedCerts: []*x509.Certificate{cur}, Now: spNow})
		if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "rsa-sha1") {
			t.Fatalf("err = %v, want ErrSignature naming rsa-sha1", err)
		}
	})
}

func FuzzParseSPMetadata(f *testing.F) {
	for _, name := range []string{"nextcloud.xml", "gitlab.xml", "grafana.xml", "node-saml.xml", "shibboleth.xml", "aggregate.xml"} {
		f.Add(spMetadata(f, name), "")
	}
	f.Add(spMetadata(f, "aggregate.xml"), "https://payroll.corp.example.com/sp")
	f.Add(spSignMetadata(f, spMetadata(f, "node-saml.xml"), "current"), "")
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`), "")
	cur := spFixedCert(f, "current")
	f.Fuzz(func(t *testing.T, data []byte, entityID string) {
		for _, trusted := range [][]*x509.Certificate{nil, {cur}} {
			sp, err := ParseSPMetadataWith(data, entityID, MetadataOptions{TrustedCerts: trusted, Now: spNow})
			if err != nil {
				continue
			}
			if sp.EntityID == "" || (entityID != "" && sp.EntityID != entityID) {
				t.Fatalf("entity %q for %q", sp.EntityID, entityID)
			}
			defs := 0
			for i, e := range sp.ACS {
				if e.Binding != BindingPOST || checkEndpoint("ACS", e.Location) != nil {
					t.Fatalf("ACS %+v accepted", e)
				}
				if i > 0 && sp.ACS[i-1].Index >= e.Index {
					t.Fatalf("ACS out of order: %+v", sp.ACS)
				}
				if e.IsDefault {
					defs++
				}
			}
			if len(sp.ACS) == 0 || defs != 1 {
				t.Fatalf("%d ACS, %d defaults", len(sp.ACS), defs)
			}
			for _, e := range sp.SLO {
				if (e.Binding != BindingPOST && e.Binding != BindingRedirect) || checkEndpoint("SLO", e.Location) != nil {
					t.Fatalf("SLO %+v accepted", e)
				}
			}
		}
	})
}
