package wsfed

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func testMetadata(t *testing.T, set *keys.Set) []byte {
	t.Helper()
	md, err := BuildMetadata(MetadataConfig{
		EntityID:        testBaseIssuer,
		PassiveEndpoint: testBaseIssuer + "/wsfed",
		STSEndpoints:    []string{testBaseIssuer + "/wstrust/13/usernamemixed", testBaseIssuer + "/wstrust/2005/usernamemixed"},
		Keys:            set,
		NewID:           func() string { return "_00000000-0000-4000-8000-000000000099" },
	})
	if err != nil {
		t.Fatal(err)
	}
	return md
}

func TestTheMetadataIsSignedAndListsTheCurrentAndNextCertificates(t *testing.T) {
	cur, next := validators.FixedKey(t, "current"), validators.FixedKey(t, "next")
	set, err := keys.NewSet(cur, next)
	if err != nil {
		t.Fatal(err)
	}
	md := testMetadata(t, set)
	golden(t, "federationmetadata", md)
	if !bytes.HasPrefix(md, []byte(`<?xml version="1.0" encoding="utf-8"?><EntityDescriptor `)) || bytes.Contains(md, []byte("<!DOCTYPE")) {
		t.Errorf("metadata must start with the XML declaration and the EntityDescriptor, no DTD: %.120s", md)
	}
	root := parse(t, md)
	if root.Tag != "EntityDescriptor" || root.NamespaceURI() != NSMetadata || root.SelectAttrValue("entityID", "") != testBaseIssuer {
		t.Fatalf("root %s in %s, entityID %q", root.Tag, root.NamespaceURI(), root.SelectAttrValue("entityID", ""))
	}
	if first := root.ChildElements()[0]; first.FullTag() != "ds:Signature" {
		t.Errorf("the signature must be the first child, found %s", first.FullTag())
	}
	checkSignature(t, root, "ID", cur)
	rd := one(t, root, "RoleDescriptor")
	if rd.SelectAttrValue("xsi:type", "") != "fed:SecurityTokenServiceType" || rd.SelectAttrValue("protocolSupportEnumeration", "") != NSFederation {
		t.Errorf("RoleDescriptor %v", rd.Attr)
	}
	var certs []string
	for _, kd := range rd.SelectElements("KeyDescriptor") {
		if kd.SelectAttrValue("use", "") != "signing" {
			t.Errorf("KeyDescriptor use=%q", kd.SelectAttrValue("use", ""))
		}
		certs = append(certs, one(t, kd, "KeyInfo/X509Data/X509Certificate").Text())
	}
	if len(certs) != 2 || certs[0] != cur.CertificateBase64() || certs[1] != next.CertificateBase64() {
		t.Error("want the current then the next signing certificate")
	}
	if got := one(t, rd, "fed:PassiveRequestorEndpoint/wsa:EndpointReference/wsa:Address").Text(); got != testBaseIssuer+"/wsfed" {
		t.Errorf("passive endpoint %q", got)
	}
	if n := len(rd.FindElements("fed:SecurityTokenServiceEndpoint")); n != 2 {
		t.Errorf("%d WS-Trust endpoints, want 2", n)
	}
	if got := one(t, rd, "fed:TokenTypesOffered/fed:TokenType").SelectAttrValue("Uri", ""); got != TokenTypeSAML11 {
		t.Errorf("token type %q", got)
	}

	alone, err := keys.NewSet(cur, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(parse(t, testMetadata(t, alone)).FindElements("RoleDescriptor/KeyDescriptor")); n != 1 {
		t.Errorf("without a next key: %d certificates, want 1", n)
	}

	t.Run("xmlsec1", func(t *testing.T) {
		if err := validators.XMLSec1(t, md, pemCert(cur), validators.SAML2Metadata); err != nil {
			t.Errorf("rejected: %v", err)
		}
		forged := bytes.Replace(md, []byte(next.CertificateBase64()), []byte(validators.FixedKey(t, "other").CertificateBase64()), 1)
		if err := validators.XMLSec1(t, forged, pemCert(cur), validators.SAML2Metadata); !errors.Is(err, validators.ErrRejected) {
			t.Errorf("a metadata document with a swapped next certificate was accepted: %v", err)
		}
		if err := validators.XMLSec1(t, md, pemCert(next), validators.SAML2Metadata); !errors.Is(err, validators.ErrRejected) {
			t.Errorf("verified with the next key, which did not sign it: %v", err)
		}
	})
}

func TestMetadataNeedsItsParts(t *testing.T) {
	set, _ := keys.NewSet(validators.FixedKey(t, "current"), nil)
	for _, c := range []MetadataConfig{
		{PassiveEndpoint: "https://x/wsfed", Keys: set},
		{EntityID: "https://x", Keys: set},
		{EntityID: "https://x", PassiveEndpoint: "https://x/wsfed"},
		{EntityID: "https://x\x01", PassiveEndpoint: "https://x/wsfed", Keys: set},
	} {
		if _, err := BuildMetadata(c); err == nil {
			t.Errorf("BuildMetadata(%+v) succeeded", c)
		}
	}
}
