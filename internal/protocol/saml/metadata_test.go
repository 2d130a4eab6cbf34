package saml

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func mdConfig(set *keys.Set) MetadataConfig {
	return MetadataConfig{
		EntityID: sloIssuer,
		SSOURL:   sloIssuer + PathSSO,
		SLOURL:   sloIssuer + PathSLO,
		Keys:     set,
		Now:      func() time.Time { return sloT0 },
		NewID:    func() string { return "_00000000-0000-4000-8000-000000000042" },
	}
}

func TestTheMetadataIsSignedAndListsEndpointsCertificatesAndFormats(t *testing.T) {
	cur, next, set := sloKeys(t)
	md, err := BuildMetadata(mdConfig(set))
	if err != nil {
		t.Fatal(err)
	}
	sloGolden(t, "idp-metadata", md)
	if !bytes.HasPrefix(md, []byte(`<?xml version="1.0" encoding="utf-8"?><md:EntityDescriptor `)) || bytes.Contains(md, []byte("<!DOCTYPE")) {
		t.Errorf("metadata must start with the XML declaration and the EntityDescriptor, no DTD: %.120s", md)
	}
	root := xmltest.Parse(t, md)
	if root.Tag != "EntityDescriptor" || root.NamespaceURI() != NSMetadata || root.SelectAttrValue("entityID", "") != sloIssuer {
		t.Fatalf("root %s in %s, entityID %q", root.Tag, root.NamespaceURI(), root.SelectAttrValue("entityID", ""))
	}
	if got := root.SelectAttrValue("validUntil", ""); got != "2026-03-08T10:00:00.000Z" {
		t.Errorf("validUntil %q, want a week after the clock", got)
	}
	if got := root.SelectAttrValue("cacheDuration", ""); got != "PT1H" {
		t.Errorf("cacheDuration %q", got)
	}
	if first := root.ChildElements()[0]; first.FullTag() != "ds:Signature" {
		t.Errorf("the signature must be the first child, found %s", first.FullTag())
	}
	sloCheckSignature(t, root, cur.Cert, false)

	idp := xmltest.One(t, root, "md:IDPSSODescriptor")
	if idp.NamespaceURI() != NSMetadata || idp.SelectAttrValue("WantAuthnRequestsSigned", "") != "false" ||
		idp.SelectAttrValue("protocolSupportEnumeration", "") != NSProtocol {
		t.Errorf("IDPSSODescriptor %v", idp.Attr)
	}
	// The schema's order: KeyDescriptor, SingleLogoutService,
	// NameIDFormat, SingleSignOnService.
	var order []string
	for _, c := range idp.ChildElements() {
		if len(order) == 0 || order[len(order)-1] != c.Tag {
			order = append(order, c.Tag)
		}
	}
	if got := strings.Join(order, " "); got != "KeyDescriptor SingleLogoutService NameIDFormat SingleSignOnService" {
		t.Errorf("children in the order %s", got)
	}
	var certs []string
	for _, kd := range idp.SelectElements("KeyDescriptor") {
		if kd.SelectAttrValue("use", "") != "signing" {
			t.Errorf("KeyDescriptor use=%q", kd.SelectAttrValue("use", ""))
		}
		certs = append(certs, xmltest.One(t, kd, "ds:KeyInfo/ds:X509Data/ds:X509Certificate").Text())
	}
	if len(certs) != 2 || certs[0] != cur.CertificateBase64() || certs[1] != next.CertificateBase64() {
		t.Error("want the current then the next signing certificate")
	}
	for tag, url := range map[string]string{"SingleLogoutService": sloIssuer + PathSLO, "SingleSignOnService": sloIssuer + PathSSO} {
		var bindings []string
		for _, s := range idp.SelectElements(tag) {
			if s.SelectAttrValue("Location", "") != url {
				t.Errorf("%s Location %q", tag, s.SelectAttrValue("Location", ""))
			}
			bindings = append(bindings, s.SelectAttrValue("Binding", ""))
		}
		if strings.Join(bindings, " ") != BindingRedirect+" "+BindingPOST {
			t.Errorf("%s bindings %v", tag, bindings)
		}
	}
	var formats []string
	for _, f := range idp.SelectElements("NameIDFormat") {
		formats = append(formats, f.Text())
	}
	if strings.Join(formats, " ") != strings.Join([]string{NameIDPersistent, NameIDTransient, NameIDEmail, NameIDUnspecified}, " ") {
		t.Errorf("NameID formats %v", formats)
	}

	alone, err := keys.NewSet(cur, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := mdConfig(alone)
	one, err := BuildMetadata(c)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(xmltest.Parse(t, one).FindElements("md:IDPSSODescriptor/md:KeyDescriptor")); n != 1 {
		t.Errorf("without a next key: %d certificates, want 1", n)
	}

	t.Run("xmlsec1", func(t *testing.T) {
		id := validators.SAML2Metadata
		if err := validators.XMLSec1(t, md, sloPEM(cur.Cert), id); err != nil {
			t.Errorf("rejected: %v", err)
		}
		for name, forged := range map[string][]byte{
			"a swapped next certificate": bytes.Replace(md, []byte(next.CertificateBase64()), []byte(validators.FixedKey(t, "other").CertificateBase64()), 1),
			"a moved SLO endpoint":       bytes.Replace(md, []byte(`Location="`+sloIssuer+PathSLO), []byte(`Location="https://evil.example/slo`), 1),
			"a later validUntil":         bytes.Replace(md, []byte(`validUntil="2026-03-08`), []byte(`validUntil="2036-03-08`), 1),
		} {
			if bytes.Equal(forged, md) {
				t.Fatalf("%s: the forgery changed nothing", name)
			}
			if err := validators.XMLSec1(t, forged, sloPEM(cur.Cert), id); !errors.Is(err, validators.ErrRejected) {
				t.Errorf("metadata with %s was accepted: %v", name, err)
			}
		}
		if err := validators.XMLSec1(t, md, sloPEM(next.Cert), id); !errors.Is(err, validators.ErrRejected) {
			t.Errorf("verified with the next key, which did not sign it: %v", err)
		}
	})
}

func TestTheMetadataIsSignedByTheSignerGiven(t *testing.T) {
	cur, next, set := sloKeys(t)
	c := mdConfig(set)
	c.Signer = sloSigner(t, next)
	md, err := BuildMetadata(c)
	if err != nil {
		t.Fatal(err)
	}
	root := xmltest.Parse(t, md)
	sloCheckSignature(t, root, next.Cert, false)
	if got := xmltest.One(t, root, "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate").Text(); got == cur.CertificateBase64() {
		t.Error("the signature carries the current certificate though the next key signed")
	}
}

func TestMetadataNeedsItsParts(t *testing.T) {
	_, _, set := sloKeys(t)
	for name, mod := range map[string]func(*MetadataConfig){
		"no entity ID":               func(c *MetadataConfig) { c.EntityID = "" },
		"no SSO URL":                 func(c *MetadataConfig) { c.SSOURL = "" },
		"no SLO URL":                 func(c *MetadataConfig) { c.SLOURL = "" },
		"no keys":                    func(c *MetadataConfig) { c.Keys = nil },
		"a control character":        func(c *MetadataConfig) { c.EntityID = "https://x\x01" },
		"a carriage return in a URL": func(c *MetadataConfig) { c.SLOURL = "https://x/\r" },
	} {
		t.Run(name, func(t *testing.T) {
			c := mdConfig(set)
			mod(&c)
			if _, err := BuildMetadata(c); err == nil {
				t.Error("built")
			}
		})
	}
}

func TestTheMetadataEndpointRebuildsTheDocumentOnceItsCacheDurationHasPassed(t *testing.T) {
	_, _, set := sloKeys(t)
	var mu sync.Mutex
	now, ids := sloT0, 0
	c := mdConfig(set)
	c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c.NewID = func() string { mu.Lock(); defer mu.Unlock(); ids++; return "_md" + strings.Repeat("x", ids) }
	h := &MetadataHandler{Config: c}
	get := func() string {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathMetadata, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/samlmetadata+xml" {
			t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		body, _ := io.ReadAll(rec.Body)
		return xmltest.Parse(t, body).SelectAttrValue("validUntil", "")
	}
	first := get()
	mu.Lock()
	now = now.Add(59 * time.Minute)
	mu.Unlock()
	if got := get(); got != first || ids != 1 {
		t.Errorf("within the hour: validUntil %s (was %s), %d documents built", got, first, ids)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if got := get(); got == first || ids != 2 {
		t.Errorf("after the hour: validUntil %s (was %s), %d documents built", got, first, ids)
	}
}

func TestDurationsAreWrittenAsXSDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour:        "PT1H",
		90 * time.Minute: "PT90M",
		90 * time.Second: "PT90S",
		48 * time.Hour:   "PT48H",
	} {
		if got := xsDuration(d); got != want {
			t.Errorf("xsDuration(%v) = %s, want %s", d, got, want)
		}
	}
}
