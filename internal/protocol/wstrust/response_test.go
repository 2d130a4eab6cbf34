package wstrust

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func respond(t *testing.T, f *fixture, r rst) (*assertion.Assertion, []byte) {
	t.Helper()
	req, err := ParseRequest(r.xml(), opts(r.version))
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.issue(context.Background(), req, alice)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := BuildResponse(req, a, t0)
	if err != nil {
		t.Fatal(err)
	}
	return a, resp
}

func TestTheRSTRHasTheShapeEveryMSALReads(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	for _, c := range []struct {
		name string
		r    rst
		// rstr is the path of the RequestSecurityTokenResponse.
		rstr, tokenType, keyType, requestType, action string
	}{
		{"rstr13", msalNET13(), "s:Body/trust:RequestSecurityTokenResponseCollection/trust:RequestSecurityTokenResponse",
			"trust:TokenType", KeyTypeBearer13, RequestTypeIssue13, ActionResponse13},
		{"rstr2005", msalNET2005(), "s:Body/t:RequestSecurityTokenResponse", "t:TokenType", KeyTypeNoProofKey, RequestTypeIssue05, ActionResponse2005},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, resp := respond(t, newFixture(t, kp, t0), c.r)
			golden(t, c.name, resp)
			env := parse(t, resp)
			if env.NamespaceURI() != NSSOAP12 || env.Tag != "Envelope" {
				t.Fatalf("root %s", env.FullTag())
			}
			if got := one(t, env, "s:Header/a:Action").Text(); got != c.action {
				t.Errorf("Action %q", got)
			}
			if got := one(t, env, "s:Header/a:RelatesTo").Text(); got != c.r.messageID {
				t.Errorf("RelatesTo %q", got)
			}
			one(t, env, "s:Header/o:Security/u:Timestamp/u:Created")
			r := one(t, env, c.rstr)
			prefix := strings.Split(c.tokenType, ":")[0] + ":"
			for path, want := range map[string]string{
				c.tokenType:            TokenTypeSAML11,
				prefix + "KeyType":     c.keyType,
				prefix + "RequestType": c.requestType,
				"wsp:AppliesTo/wsa:EndpointReference/wsa:Address": "urn:federation:MicrosoftOnline",
			} {
				if got := one(t, r, path).Text(); got != want {
					t.Errorf("%s = %q, want %q", path, got, want)
				}
			}
			tok := one(t, r, prefix+"RequestedSecurityToken")
			if len(tok.Child) != 1 || !bytes.Contains(resp, []byte("<"+prefix+"RequestedSecurityToken>"+string(a.XML)+"</"+prefix+"RequestedSecurityToken>")) {
				t.Error("RequestedSecurityToken must hold only the assertion, byte for byte (MSAL Go posts its raw content)")
			}
			if !bytes.HasPrefix(a.XML, []byte(`<saml:Assertion `)) || !bytes.Contains(a.XML, []byte(`xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion"`)) {
				t.Error("the assertion must use the saml prefix declared on itself")
			}
			as := one(t, tok, "saml:Assertion")
			if as.SelectAttrValue("Issuer", "") != "https://sso.corp.example.com/corp.example.com" {
				t.Errorf("Issuer %q", as.SelectAttrValue("Issuer", ""))
			}
			if got := one(t, as, "saml:AuthenticationStatement").SelectAttrValue("AuthenticationMethod", ""); got != assertion.AuthMethodPassword {
				t.Errorf("AuthenticationMethod %q: WS-Trust proves only the password", got)
			}
			if bytes.Contains(resp, []byte("multipleauthn")) {
				t.Error("a WS-Trust token claims MFA")
			}
			sig := one(t, as, "ds:Signature/ds:SignedInfo")
			if one(t, sig, "ds:SignatureMethod").SelectAttrValue("Algorithm", "") != assertion.SignatureMethodRSASHA256 ||
				one(t, sig, "ds:Reference/ds:DigestMethod").SelectAttrValue("Algorithm", "") != assertion.DigestMethodSHA256 ||
				one(t, sig, "ds:CanonicalizationMethod").SelectAttrValue("Algorithm", "") != assertion.CanonicalizationExcC14N {
				t.Error("signature algorithms are not RSA-SHA256 / SHA-256 / exclusive C14N")
			}
		})
	}
}

func TestIndependentValidatorsAcceptTheWSTrustTokens(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	f := newFixture(t, kp, t0)
	a13, r13 := respond(t, f, msalNET13())
	_, r2005 := respond(t, f, msalNET2005())
	tampered := bytes.Replace(r13, []byte(">alice@corp.example.com<"), []byte(">mallory@corp.example.com<"), 1)
	_, other := respond(t, newFixture(t, validators.FixedKey(t, "other"), t0), msalNET13())
	_, expired := respond(t, newFixture(t, kp, t0.Add(-2*time.Hour)), msalNET2005())
	t.Run("xmlsec1", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			doc   []byte
			valid bool
		}{
			{"1.3 response", r13, true}, {"2005 response", r2005, true}, {"the assertion MSAL posts", a13.XML, true},
			{"UPN changed after signing", tampered, false}, {"signed with another key", other, false},
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
			{"1.3 response", r13, true}, {"2005 response", r2005, true}, {"UPN changed after signing", tampered, false},
			{"signed with another key", other, false}, {"expired", expired, false},
		}
		in := validators.PassportInput{CertBase64: kp.CertificateBase64(), Realm: "urn:federation:MicrosoftOnline", Now: t0}
		for _, c := range cases {
			in.Cases = append(in.Cases, validators.PassportCase{Name: c.name, WResult: string(c.doc)})
		}
		for i, r := range validators.Passport(t, in) {
			if r.Valid != cases[i].valid {
				t.Errorf("%s: valid=%v, want %v (%s)", r.Name, r.Valid, cases[i].valid, r.Error)
			}
			if r.Valid && r.Profile[assertion.NSClaims+"/UPN"] != "alice@corp.example.com" {
				t.Errorf("%s: UPN %v", r.Name, r.Profile[assertion.NSClaims+"/UPN"])
			}
		}
	})
}

func TestFaultsCarryWhatEachMSALParses(t *testing.T) {
	cases := []struct {
		name           string
		soap           SOAPVersion
		v              Version
		kind           FaultKind
		code, sub, txt string
	}{
		{"fault_failedauthentication_soap12", SOAP12, Trust13, FaultFailedAuthentication, "s:Sender", "a:FailedAuthentication", ReasonFailedAuthentication},
		{"fault_invalidrequest_soap12", SOAP12, Trust2005, FaultInvalidRequest, "s:Sender", "a:InvalidRequest", ReasonInvalidRequest},
		{"fault_requestfailed_soap12", SOAP12, Trust13, FaultRequestFailed, "s:Receiver", "a:RequestFailed", ReasonRequestFailed},
		{"fault_failedauthentication_soap11", SOAP11, Trust2005, FaultFailedAuthentication, "", "a:FailedAuthentication", ReasonFailedAuthentication},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := BuildFault(c.soap, c.v, c.kind, "urn:uuid:6cbd3a3c-5b1b-4f5d-9f3a-6a0f0b1e2c3d")
			golden(t, c.name, raw)
			env := parse(t, raw)
			if got := one(t, env, "s:Header/a:RelatesTo").Text(); got != "urn:uuid:6cbd3a3c-5b1b-4f5d-9f3a-6a0f0b1e2c3d" {
				t.Errorf("RelatesTo %q", got)
			}
			f := one(t, env, "s:Body/s:Fault")
			if c.soap == SOAP11 {
				fc := one(t, f, "faultcode")
				if fc.Text() != c.sub || fc.SelectAttrValue("xmlns:a", "") != c.v.trustNS() {
					t.Errorf("faultcode %q (xmlns:a %q)", fc.Text(), fc.SelectAttrValue("xmlns:a", ""))
				}
				if got := one(t, f, "faultstring").Text(); got != c.txt {
					t.Errorf("faultstring %q", got)
				}
				return
			}
			if got := one(t, f, "s:Code/s:Value").Text(); got != c.code {
				t.Errorf("Code %q", got)
			}
			sv := one(t, f, "s:Code/s:Subcode/s:Value")
			if sv.Text() != c.sub || sv.SelectAttrValue("xmlns:a", "") != c.v.trustNS() || len(strings.Split(sv.Text(), ":")) != 2 {
				t.Errorf("Subcode %q with a bound to %q; Java splits on ':' and takes [1]", sv.Text(), sv.SelectAttrValue("xmlns:a", ""))
			}
			txt := one(t, f, "s:Reason/s:Text")
			if txt.Text() != c.txt || txt.SelectAttrValue("xml:lang", "") != "en-US" {
				t.Errorf("Reason %q lang %q", txt.Text(), txt.SelectAttrValue("xml:lang", ""))
			}
		})
	}
}
