package assertion

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func saml20Issue() SAML20Issue {
	return SAML20Issue{
		Issuer: "https://sso.corp.example.com/saml/metadata", NameID: "alice@corp.example.com",
		NameIDFormat:    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		SPNameQualifier: "https://wiki.corp.example.com/saml/metadata",
		Recipient:       "https://wiki.corp.example.com/saml/acs", InResponseTo: "_request-1",
		Audience:    "https://wiki.corp.example.com/saml/metadata",
		AuthInstant: t0.Add(-10 * time.Minute), SessionIndex: "_session-1",
		AuthnContextClassRef: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
		Attributes: []SAML20Attribute{
			{Name: "urn:oid:0.9.2342.19200300.100.1.3", NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", FriendlyName: "mail", Values: []string{"alice@corp.example.com"}},
			{Name: "groups", Values: []string{"Engineers", "Staff-All"}},
		},
		Sign: true,
	}
}

func TestTheSAML20AssertionHasTheSchemasOrder(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	a, err := newBuilder(t, kp, t0).SAML20(context.Background(), saml20Issue())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "saml20", a.XML)
	root := parse(t, a.XML)
	if root.NamespaceURI() != NSSAML20 || root.Tag != "Assertion" || root.SelectAttrValue("Version", "") != "2.0" {
		t.Fatalf("root {%s}%s %v", root.NamespaceURI(), root.Tag, root.Attr)
	}
	var order []string
	for _, c := range root.ChildElements() {
		order = append(order, c.Tag)
	}
	// saml-core 2.3.3: Issuer, Signature, Subject, Conditions, statements.
	if got := strings.Join(order, " "); got != "Issuer Signature Subject Conditions AuthnStatement AttributeStatement" {
		t.Errorf("children %q", got)
	}
	checkSignature(t, root, "ID", kp)
	if !a.NotBefore.Equal(t0.Add(-NotBeforeSkew)) || !a.NotOnOrAfter.Equal(t0.Add(DefaultLifetime)) || !a.IssueInstant.Equal(t0) {
		t.Errorf("window %v – %v, issued %v", a.NotBefore, a.NotOnOrAfter, a.IssueInstant)
	}
	scd := one(t, root, "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData")
	if got := scd.SelectAttrValue("NotOnOrAfter", ""); got != FormatTime(t0.Add(SubjectConfirmationLifetime)) {
		t.Errorf("the bearer confirmation ends %s", got)
	}
	for _, v := range root.FindElements("saml:AttributeStatement/saml:Attribute/saml:AttributeValue") {
		if v.SelectAttrValue("xsi:type", "") != "xs:string" {
			t.Errorf("value %q typed %q", v.Text(), v.SelectAttrValue("xsi:type", ""))
		}
	}
	if err := validators.XMLSec1(t, a.XML, pemCert(kp), validators.SAML2Assertion); err != nil {
		t.Errorf("xmlsec1: %v", err)
	}
	tampered := bytes.Replace(a.XML, []byte(">Engineers<"), []byte(">Admins<"), 1)
	if err := validators.XMLSec1(t, tampered, pemCert(kp), validators.SAML2Assertion); !errors.Is(err, validators.ErrRejected) {
		t.Errorf("xmlsec1 accepted a changed group: %v", err)
	}
}

func TestAnUnsignedSAML20AssertionIsLeftForTheResponseToSign(t *testing.T) {
	in := saml20Issue()
	in.Sign, in.Attributes, in.SPNameQualifier, in.SessionIndex, in.InResponseTo = false, nil, "", "", ""
	a, err := newBuilder(t, validators.FixedKey(t, "current"), t0).SAML20(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	root := parse(t, a.XML)
	var order []string
	for _, c := range root.ChildElements() {
		order = append(order, c.Tag)
	}
	if got := strings.Join(order, " "); got != "Issuer Subject Conditions AuthnStatement" {
		t.Errorf("children %q", got)
	}
	if bytes.Contains(a.XML, []byte("xmlns:xs")) || bytes.Contains(a.XML, []byte("SPNameQualifier")) ||
		bytes.Contains(a.XML, []byte("SessionIndex")) || bytes.Contains(a.XML, []byte("InResponseTo")) {
		t.Errorf("optional parts written though not given: %s", a.XML)
	}
}

func TestAShortLifetimeAlsoShortensTheBearerConfirmation(t *testing.T) {
	b, err := NewBuilder(Options{Key: validators.FixedKey(t, "current"), Now: func() time.Time { return t0 }, Lifetime: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	a, err := b.SAML20(context.Background(), saml20Issue())
	if err != nil {
		t.Fatal(err)
	}
	scd := one(t, parse(t, a.XML), "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData")
	if got := scd.SelectAttrValue("NotOnOrAfter", ""); got != FormatTime(t0.Add(2*time.Minute)) {
		t.Errorf("the confirmation outlives the assertion: %s", got)
	}
}

func TestTheSAML20BuilderRefusesBadInputWithAReason(t *testing.T) {
	b := newBuilder(t, validators.FixedKey(t, "current"), t0)
	for _, c := range []struct {
		name string
		edit func(*SAML20Issue)
		want string
	}{
		{"no issuer", func(i *SAML20Issue) { i.Issuer = "" }, "issuer is empty"},
		{"no audience", func(i *SAML20Issue) { i.Audience = " " }, "audience is empty"},
		{"no recipient", func(i *SAML20Issue) { i.Recipient = "" }, "recipient is empty"},
		{"no NameID", func(i *SAML20Issue) { i.NameID = " " }, "NameID is empty"},
		{"no NameID format", func(i *SAML20Issue) { i.NameIDFormat = "" }, "NameID format is empty"},
		{"no class", func(i *SAML20Issue) { i.AuthnContextClassRef = "" }, "class is empty"},
		{"no sign-in time", func(i *SAML20Issue) { i.AuthInstant = time.Time{} }, "authentication instant"},
		{"a repeated attribute", func(i *SAML20Issue) {
			i.Attributes = []SAML20Attribute{{Name: "a", Values: []string{"1"}}, {Name: "a", Values: []string{"2"}}}
		}, "given twice"},
		{"an attribute without a value", func(i *SAML20Issue) { i.Attributes = []SAML20Attribute{{Name: "a"}} }, "no value"},
		{"an attribute without a name", func(i *SAML20Issue) { i.Attributes = []SAML20Attribute{{Values: []string{"x"}}} }, "no name"},
		{"invalid UTF-8 in InResponseTo", func(i *SAML20Issue) { i.InResponseTo = "\xff" }, "not valid UTF-8"},
		{"a carriage return in a value", func(i *SAML20Issue) {
			i.Attributes = []SAML20Attribute{{Name: "a", Values: []string{"x\ry"}}}
		}, "carriage return"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := saml20Issue()
			c.edit(&in)
			if _, err := b.SAML20(context.Background(), in); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}
