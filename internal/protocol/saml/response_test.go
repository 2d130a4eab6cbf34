package saml

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func TestAGenericSPsResponseHasTheWebSSOProfilesLayout(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	raw, nameID, err := respResponder(t, kp, respT0).Response(context.Background(), respWikiGrant(respWiki()))
	if err != nil {
		t.Fatal(err)
	}
	respGolden(t, "response_generic", raw)
	if bytes.ContainsAny(raw, "\n\r\t") || bytes.HasPrefix(raw, []byte("<?xml")) {
		t.Error("the response must have no whitespace between elements and no XML declaration")
	}
	if want := (NameID{Format: NameIDPersistent, Value: respAliceGUID, SPNameQualifier: respWiki().EntityID}); nameID != want {
		t.Errorf("returned NameID %+v, want %+v", nameID, want)
	}

	resp := xmltest.Parse(t, raw)
	if resp.Tag != "Response" || resp.NamespaceURI() != NSProtocol {
		t.Fatalf("root is {%s}%s", resp.NamespaceURI(), resp.Tag)
	}
	for attr, want := range map[string]string{
		"ID": "_00000000-0000-4000-8000-000000000002", "Version": "2.0", "IssueInstant": "2026-03-01T10:00:00.000Z",
		"Destination": respWikiACS, "InResponseTo": respRequestID,
	} {
		if got := resp.SelectAttrValue(attr, ""); got != want {
			t.Errorf("Response %s = %q, want %q", attr, got, want)
		}
	}
	if got := xmltest.One(t, resp, "saml:Issuer").Text(); got != respIDP {
		t.Errorf("Response Issuer = %q", got)
	}
	if got := xmltest.One(t, resp, "samlp:Status/samlp:StatusCode").SelectAttrValue("Value", ""); got != StatusSuccess {
		t.Errorf("status %q", got)
	}
	var order []string
	for _, c := range resp.ChildElements() {
		order = append(order, c.Tag)
	}
	if got := strings.Join(order, " "); got != "Issuer Signature Status Assertion" {
		t.Errorf("Response children %q, want Issuer Signature Status Assertion", got)
	}
	respCheckSignature(t, resp, kp)

	a := xmltest.One(t, resp, "saml:Assertion")
	if a.NamespaceURI() != NSAssertion || a.SelectAttrValue("Version", "") != "2.0" || a.SelectAttrValue("ID", "") != "_00000000-0000-4000-8000-000000000001" ||
		a.SelectAttrValue("IssueInstant", "") != "2026-03-01T10:00:00.000Z" {
		t.Errorf("Assertion %v", a.Attr)
	}
	order = nil
	for _, c := range a.ChildElements() {
		order = append(order, c.Tag)
	}
	if got := strings.Join(order, " "); got != "Issuer Signature Subject Conditions AuthnStatement AttributeStatement" {
		t.Errorf("Assertion children %q", got)
	}
	respCheckSignature(t, a, kp)
	if got := xmltest.One(t, a, "saml:Issuer").Text(); got != respIDP {
		t.Errorf("Assertion Issuer = %q", got)
	}
	n := xmltest.One(t, a, "saml:Subject/saml:NameID")
	if n.Text() != respAliceGUID || n.SelectAttrValue("Format", "") != NameIDPersistent || n.SelectAttrValue("SPNameQualifier", "") != respWiki().EntityID {
		t.Errorf("NameID %q %v", n.Text(), n.Attr)
	}
	sc := xmltest.One(t, a, "saml:Subject/saml:SubjectConfirmation")
	if sc.SelectAttrValue("Method", "") != "urn:oasis:names:tc:SAML:2.0:cm:bearer" {
		t.Errorf("SubjectConfirmation Method %q", sc.SelectAttrValue("Method", ""))
	}
	scd := xmltest.One(t, sc, "saml:SubjectConfirmationData")
	for attr, want := range map[string]string{
		"InResponseTo": respRequestID, "Recipient": respWikiACS, "NotOnOrAfter": "2026-03-01T10:05:00.000Z",
	} {
		if got := scd.SelectAttrValue(attr, ""); got != want {
			t.Errorf("SubjectConfirmationData %s = %q, want %q", attr, got, want)
		}
	}
	if scd.SelectAttr("NotBefore") != nil {
		t.Error("a bearer SubjectConfirmationData must not carry NotBefore (Web SSO profile 4.1.4.2)")
	}
	cond := xmltest.One(t, a, "saml:Conditions")
	if cond.SelectAttrValue("NotBefore", "") != "2026-03-01T09:59:00.000Z" || cond.SelectAttrValue("NotOnOrAfter", "") != "2026-03-01T11:00:00.000Z" {
		t.Errorf("Conditions %v, want a minute of skew before and the lifetime after", cond.Attr)
	}
	if got := xmltest.One(t, cond, "saml:AudienceRestriction/saml:Audience").Text(); got != respWiki().EntityID {
		t.Errorf("Audience %q", got)
	}
	st := xmltest.One(t, a, "saml:AuthnStatement")
	if st.SelectAttrValue("AuthnInstant", "") != "2026-03-01T09:50:00.000Z" || st.SelectAttrValue("SessionIndex", "") != "_session-1" {
		t.Errorf("AuthnStatement %v: AuthnInstant must be the sign-in, not the issue time", st.Attr)
	}
	if got := xmltest.One(t, st, "saml:AuthnContext/saml:AuthnContextClassRef").Text(); got != ClassPasswordProtectedTransport {
		t.Errorf("class %q", got)
	}
	got := respAttrs(t, a)
	want := map[string][]string{
		"urn:oid:0.9.2342.19200300.100.1.3": {"alice.smith@corp.example.com"},
		"displayName":                       {"Alice Smith"},
		"groups":                            {"Engineers", "Staff-All", "R,D + Test"},
		"department":                        {"Engineering"},
		"role":                              {"staff", "wiki-editor"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("attributes (an empty AD attribute left out)\n got %v\nwant %v", got, want)
	}
	mail := a.FindElement("saml:AttributeStatement/saml:Attribute[@FriendlyName='mail']")
	if mail == nil || mail.SelectAttrValue("NameFormat", "") != "urn:oasis:names:tc:SAML:2.0:attrname-format:uri" {
		t.Error("the mail attribute lost its NameFormat or FriendlyName")
	}
	if dn := a.FindElement("saml:AttributeStatement/saml:Attribute[@Name='displayName']"); dn == nil || dn.SelectAttrValue("NameFormat", "") != AttrNameFormatBasic {
		t.Error("an attribute without a NameFormat must be written as basic")
	}
}

func TestTheEntraResponseFollowsENTRAmd(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	for _, mfa := range []bool{false, true} {
		t.Run(fmt.Sprintf("mfa=%v", mfa), func(t *testing.T) {
			g := respEntraGrant(mfa)
			// Entra never asks for a class, but a request that names another
			// MFA class must not change Entra's one value.
			g.Demands = DemandsOf([]string{ClassREFEDSMFA}, "")
			raw, nameID, err := respResponder(t, kp, respT0).Response(context.Background(), g)
			if err != nil {
				t.Fatal(err)
			}
			name := "response_entra_password"
			if mfa {
				name = "response_entra_mfa"
			}
			respGolden(t, name, raw)
			resp := xmltest.Parse(t, raw)
			a := xmltest.One(t, resp, "saml:Assertion")
			checks := []struct {
				rule, got, want string
			}{
				{"Response Destination = login.srf", resp.SelectAttrValue("Destination", ""), respEntraACS},
				{"InResponseTo on the Response", resp.SelectAttrValue("InResponseTo", ""), respRequestID},
				{"InResponseTo on SubjectConfirmationData", xmltest.One(t, a, "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData").SelectAttrValue("InResponseTo", ""), respRequestID},
				{"Recipient = login.srf", xmltest.One(t, a, "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData").SelectAttrValue("Recipient", ""), respEntraACS},
				{"Audience urn:federation:MicrosoftOnline", xmltest.One(t, a, "saml:Conditions/saml:AudienceRestriction/saml:Audience").Text(), "urn:federation:MicrosoftOnline"},
				{"the Response's Issuer is the domain's IssuerUri exactly", xmltest.One(t, resp, "saml:Issuer").Text(), respEntraIssue},
				{"the Assertion's Issuer is the domain's IssuerUri exactly", xmltest.One(t, a, "saml:Issuer").Text(), respEntraIssue},
				{"NameID Format persistent", xmltest.One(t, a, "saml:Subject/saml:NameID").SelectAttrValue("Format", ""), NameIDPersistent},
				{"NameID = ImmutableID, unchanged", xmltest.One(t, a, "saml:Subject/saml:NameID").Text(), respAlice().ImmutableID},
				{"NameID without qualifiers", fmt.Sprint(len(xmltest.One(t, a, "saml:Subject/saml:NameID").Attr)), "1"},
				{"the bearer method", xmltest.One(t, a, "saml:Subject/saml:SubjectConfirmation").SelectAttrValue("Method", ""), "urn:oasis:names:tc:SAML:2.0:cm:bearer"},
				{"status Success", xmltest.One(t, resp, "samlp:Status/samlp:StatusCode").SelectAttrValue("Value", ""), StatusSuccess},
				{"one AuthnContextClassRef", fmt.Sprint(len(a.FindElements("saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef"))), "1"},
				{"AuthnInstant is the sign-in", xmltest.One(t, a, "saml:AuthnStatement").SelectAttrValue("AuthnInstant", ""), "2026-03-01T09:50:00.000Z"},
			}
			wantClass := ClassPasswordProtectedTransport
			if mfa {
				wantClass = ClassMultipleAuthN
			}
			checks = append(checks, struct{ rule, got, want string }{"AuthnContextClassRef multipleauthn only after MFA",
				xmltest.One(t, a, "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef").Text(), wantClass})
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s: got %q, want %q", c.rule, c.got, c.want)
				}
			}
			if got := fmt.Sprint(respAttrs(t, a)); got != fmt.Sprint(map[string][]string{AttrIDPEmail: {"alice@corp.example.com"}}) {
				t.Errorf("attributes %s, want IDPEmail = UPN only", got)
			}
			if !mfa && bytes.Contains(raw, []byte("multipleauthn")) {
				t.Error("multipleauthn in a response without MFA")
			}
			respCheckSignature(t, a, kp)
			if resp.FindElement("ds:Signature") != nil {
				t.Error("the Response is signed though the Entra SP asks only for the assertion")
			}
			if nameID.Value != respAlice().ImmutableID || nameID.SPNameQualifier != "" {
				t.Errorf("returned NameID %+v", nameID)
			}
		})
	}
}

func TestEntraAlwaysGetsASignedAssertionAndItsIssuer(t *testing.T) {
	r := respResponder(t, validators.FixedKey(t, "current"), respT0)
	g := respEntraGrant(false)
	g.SP.SignAssertion, g.SP.SignResponse = false, true
	raw := respBuild(t, r, g)
	a := xmltest.One(t, xmltest.Parse(t, raw), "saml:Assertion")
	if a.FindElement("ds:Signature") == nil {
		t.Error("Entra's assertion is unsigned")
	}
	g.Issuer = ""
	if _, _, err := r.Response(context.Background(), g); err == nil || !strings.Contains(err.Error(), "IssuerUri") {
		t.Errorf("an Entra response without the domain's issuer: %v", err)
	}
}

func TestWhatIsSignedFollowsTheSP(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	for _, c := range []struct {
		name                              string
		signResponse, signAssertion       bool
		wantResponseSig, wantAssertionSig bool
	}{
		{"the assertion only", false, true, false, true},
		{"the response only", true, false, true, false},
		{"both", true, true, true, true},
		{"neither configured: both, which every SP takes", false, false, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp := respWiki()
			sp.SignResponse, sp.SignAssertion = c.signResponse, c.signAssertion
			resp := xmltest.Parse(t, respBuild(t, respResponder(t, kp, respT0), respWikiGrant(sp)))
			a := xmltest.One(t, resp, "saml:Assertion")
			if got := resp.FindElement("ds:Signature") != nil; got != c.wantResponseSig {
				t.Errorf("response signed: %v", got)
			}
			if got := a.FindElement("ds:Signature") != nil; got != c.wantAssertionSig {
				t.Errorf("assertion signed: %v", got)
			}
			if c.wantResponseSig {
				respCheckSignature(t, resp, kp)
			}
			if c.wantAssertionSig {
				respCheckSignature(t, a, kp)
			}
		})
	}
}

func TestTheNameIDFollowsTheSPsRule(t *testing.T) {
	r := respResponder(t, validators.FixedKey(t, "current"), respT0)
	sp := func(format, source string) *ServiceProvider {
		s := respWiki()
		s.NameID = NameIDRule{Format: format, Source: source}
		return s
	}
	for _, c := range []struct {
		name   string
		sp     *ServiceProvider
		policy string
		want   NameID
	}{
		{"persistent from objectGUID, as Windows shows the GUID", sp(NameIDPersistent, "objectguid"), "",
			NameID{Format: NameIDPersistent, Value: respAliceGUID, SPNameQualifier: respWiki().EntityID}},
		{"persistent from the ImmutableID", sp(NameIDPersistent, "immutable_id"), "",
			NameID{Format: NameIDPersistent, Value: "qvI5QiLukEmcqqBpsEzE/A==", SPNameQualifier: respWiki().EntityID}},
		{"the e-mail address", sp(NameIDEmail, "mail"), NameIDEmail, NameID{Format: NameIDEmail, Value: "alice.smith@corp.example.com"}},
		{"the UPN, unspecified", sp(NameIDUnspecified, "upn"), NameIDUnspecified, NameID{Format: NameIDUnspecified, Value: "alice@corp.example.com"}},
		{"the sAMAccountName", sp(NameIDUnspecified, "samaccountname"), "", NameID{Format: NameIDUnspecified, Value: "alice"}},
		{"a format without a source: persistent from objectGUID", sp(NameIDPersistent, ""), "",
			NameID{Format: NameIDPersistent, Value: respAliceGUID, SPNameQualifier: respWiki().EntityID}},
		{"no rule at all: the UPN, unspecified", sp("", ""), "", NameID{Format: NameIDUnspecified, Value: "alice@corp.example.com"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := respWikiGrant(c.sp)
			g.NameIDFormat = c.policy
			raw, got, err := r.Response(context.Background(), g)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("NameID %+v, want %+v", got, c.want)
			}
			n := xmltest.One(t, xmltest.Parse(t, raw), "saml:Assertion/saml:Subject/saml:NameID")
			if n.Text() != c.want.Value || n.SelectAttrValue("Format", "") != c.want.Format || n.SelectAttrValue("SPNameQualifier", "") != c.want.SPNameQualifier {
				t.Errorf("NameID element %q %v", n.Text(), n.Attr)
			}
		})
	}

	t.Run("transient is fresh each time", func(t *testing.T) {
		g := respWikiGrant(sp(NameIDTransient, ""))
		g.NameIDFormat = NameIDTransient
		_, a, err := r.Response(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		_, b, err := r.Response(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		if a.Format != NameIDTransient || a.SPNameQualifier != "" || !strings.HasPrefix(a.Value, "_") || len(a.Value) != 33 || a.Value == b.Value {
			t.Errorf("transient NameIDs %+v and %+v", a, b)
		}
		if strings.Contains(a.Value, "alice") || strings.Contains(a.Value, respAliceID) {
			t.Error("a transient NameID must not reveal the user")
		}
	})

	t.Run("a NameIDPolicy the SP is not configured for", func(t *testing.T) {
		for _, f := range []string{NameIDTransient, NameIDEmail, "urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos"} {
			g := respWikiGrant(sp(NameIDPersistent, "objectguid"))
			g.NameIDFormat = f
			if _, _, err := r.Response(context.Background(), g); !errors.Is(err, ErrInvalidNameIDPolicy) {
				t.Errorf("policy %s: %v, want ErrInvalidNameIDPolicy", f, err)
			}
		}
	})

	t.Run("an empty source value is an error, never an empty NameID", func(t *testing.T) {
		for _, c := range []struct {
			source string
			edit   func(*Grant)
		}{
			{"mail", func(g *Grant) { g.User.Mail = "" }},
			{"upn", func(g *Grant) { g.User.UPN = " " }},
			{"immutable_id", func(g *Grant) { g.User.ImmutableID = "" }},
			{"objectguid", func(g *Grant) { g.User.ID = "not-a-guid" }},
			{"objectguid", func(g *Grant) { g.User.ID = "" }},
		} {
			g := respWikiGrant(sp(NameIDPersistent, c.source))
			c.edit(&g)
			if _, n, err := r.Response(context.Background(), g); !errors.Is(err, ErrNoSubjectValue) {
				t.Errorf("%s: NameID %+v, err %v; want ErrNoSubjectValue", c.source, n, err)
			}
		}
		g := respEntraGrant(false)
		g.User.ImmutableID = ""
		if _, _, err := r.Response(context.Background(), g); !errors.Is(err, ErrNoSubjectValue) {
			t.Errorf("Entra without an ImmutableID: %v", err)
		}
		g = respEntraGrant(false)
		g.User.UPN = ""
		if _, _, err := r.Response(context.Background(), g); !errors.Is(err, ErrNoSubjectValue) {
			t.Errorf("Entra without a UPN for IDPEmail: %v", err)
		}
	})
}

func TestGUIDStringReadsObjectGUIDsByteOrder(t *testing.T) {
	for _, c := range []struct{ id, want string }{
		// As Python's uuid.UUID(bytes_le=…) and Get-ADUser show them.
		{"00112233445566778899aabbccddeeff", "33221100-5544-7766-8899-aabbccddeeff"},
		{respAliceID, respAliceGUID},
		{"AAF2394222EE90499CAAA069B04CC4FC", respAliceGUID},
	} {
		if got, err := GUIDString(c.id); err != nil || got != c.want {
			t.Errorf("GUIDString(%s) = %q, %v; want %s", c.id, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "0011", "00112233445566778899aabbccddeeff00", "zz112233445566778899aabbccddeeff"} {
		if _, err := GUIDString(bad); err == nil {
			t.Errorf("GUIDString(%q) succeeded", bad)
		}
	}
}

func TestTheAuthnContextSaysWhatWasDone(t *testing.T) {
	r := respResponder(t, validators.FixedKey(t, "current"), respT0)
	for _, c := range []struct {
		name      string
		mfa       bool
		requested []string
		want      string
	}{
		{"password only", false, nil, ClassPasswordProtectedTransport},
		{"password only, though the request asked for MFA", false, []string{ClassREFEDSMFA}, ClassPasswordProtectedTransport},
		{"MFA, nothing asked", true, nil, ClassREFEDSMFA},
		{"MFA, the spec's two-factor class asked", true, []string{ClassPasswordProtectedTransport, ClassMobileTwoFactor}, ClassMobileTwoFactor},
		{"MFA, Entra's class asked by another SP", true, []string{ClassMultipleAuthN}, ClassMultipleAuthN},
		{"MFA, only a password class asked exactly: the class asked", true, []string{ClassPasswordProtectedTransport}, ClassPasswordProtectedTransport},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := respWikiGrant(respWiki())
			g.MFA, g.Demands = c.mfa, DemandsOf(c.requested, "")
			a := xmltest.One(t, xmltest.Parse(t, respBuild(t, r, g)), "saml:Assertion")
			if got := xmltest.One(t, a, "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef").Text(); got != c.want {
				t.Errorf("class %q, want %q", got, c.want)
			}
		})
	}
}

func TestAnUnsolicitedResponseNamesNoRequest(t *testing.T) {
	g := respWikiGrant(respWiki())
	g.InResponseTo = ""
	resp := xmltest.Parse(t, respBuild(t, respResponder(t, validators.FixedKey(t, "current"), respT0), g))
	if resp.SelectAttr("InResponseTo") != nil || resp.FindElement("saml:Assertion/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData[@InResponseTo]") != nil {
		t.Error("an IdP-initiated response carries an InResponseTo")
	}
}

func TestAResponseGoesOnlyToTheSPsOwnACS(t *testing.T) {
	r := respResponder(t, validators.FixedKey(t, "current"), respT0)
	for _, acs := range []string{"", "https://evil.example/acs", respWikiACS + "/", "https://WIKI.corp.example.com/saml/acs", respEntraACS} {
		g := respWikiGrant(respWiki())
		g.ACS = acs
		if _, _, err := r.Response(context.Background(), g); !errors.Is(err, ErrACSNotAllowed) {
			t.Errorf("Response to %q: %v", acs, err)
		}
		if _, err := r.ErrorResponse(context.Background(), respWiki(), acs, "", StatusResponder, "", ""); !errors.Is(err, ErrACSNotAllowed) {
			t.Errorf("ErrorResponse to %q: %v", acs, err)
		}
	}
	g := respWikiGrant(respWiki())
	g.ACS = "https://wiki.corp.example.com/saml/acs2"
	if _, _, err := r.Response(context.Background(), g); err != nil {
		t.Errorf("the SP's second ACS: %v", err)
	}
}

func TestBadValuesAreRefusedNotSent(t *testing.T) {
	r := respResponder(t, validators.FixedKey(t, "current"), respT0)
	for _, c := range []struct {
		name string
		edit func(*Grant)
		want string
	}{
		{"a control character in an attribute", func(g *Grant) { g.User.DisplayName = "Alice\x00" }, "U+0000"},
		{"a carriage return in a NameID", func(g *Grant) { g.SP.NameID.Source = "upn"; g.User.UPN = "a\rb" }, "carriage return"},
		{"no sign-in time", func(g *Grant) { g.AuthInstant = time.Time{} }, "authentication instant"},
		{"an unknown attribute source", func(g *Grant) { g.SP.Attributes = []AttributeRule{{Name: "x", Source: "password"}} }, "unknown value source"},
		{"no user", func(g *Grant) { g.User = nil }, "needs a service provider and a user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := respWikiGrant(respWiki())
			c.edit(&g)
			if _, _, err := r.Response(context.Background(), g); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestAnErrorResponseCarriesTheNestedStatusAndNoAssertion(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	raw, err := respResponder(t, kp, respT0).ErrorResponse(context.Background(), respWiki(), respWikiACS, respRequestID,
		StatusRequester, StatusInvalidNameIDPolicy, "NameID format not offered")
	if err != nil {
		t.Fatal(err)
	}
	respGolden(t, "response_error", raw)
	resp := xmltest.Parse(t, raw)
	respCheckSignature(t, resp, kp)
	if resp.FindElement("saml:Assertion") != nil || resp.FindElement("saml:EncryptedAssertion") != nil {
		t.Error("an error response carries an assertion")
	}
	top := xmltest.One(t, resp, "samlp:Status/samlp:StatusCode")
	if top.SelectAttrValue("Value", "") != StatusRequester || xmltest.One(t, top, "samlp:StatusCode").SelectAttrValue("Value", "") != StatusInvalidNameIDPolicy {
		t.Errorf("status codes %v", top)
	}
	if got := xmltest.One(t, resp, "samlp:Status/samlp:StatusMessage").Text(); got != "NameID format not offered" {
		t.Errorf("message %q", got)
	}
	if resp.SelectAttrValue("Destination", "") != respWikiACS || resp.SelectAttrValue("InResponseTo", "") != respRequestID ||
		xmltest.One(t, resp, "saml:Issuer").Text() != respIDP {
		t.Errorf("Response %v", resp.Attr)
	}

	r := respResponder(t, kp, respT0)
	plain, err := r.ErrorResponse(context.Background(), respWiki(), respWikiACS, "", StatusResponder, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if st := xmltest.One(t, xmltest.Parse(t, plain), "samlp:Status"); len(st.ChildElements()) != 1 || len(st.ChildElements()[0].ChildElements()) != 0 {
		t.Error("an error without a sub-status or message must carry only the top status code")
	}
	for _, bad := range []struct{ status, msg string }{{StatusSuccess, ""}, {"", ""}, {StatusResponder, "bad\x01"}} {
		if _, err := r.ErrorResponse(context.Background(), respWiki(), respWikiACS, "", bad.status, "", bad.msg); err == nil {
			t.Errorf("ErrorResponse(%q, %q) succeeded", bad.status, bad.msg)
		}
	}
}
