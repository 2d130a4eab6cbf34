package saml

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// The independent service providers every Response must satisfy:
// @node-saml/node-saml (signatures, decryption, validity windows, audience,
// InResponseTo) and xmlsec1 (signatures, decryption). Neither checks
// Destination, Recipient or Issuer; respCheckRouting does.

// xpaths for xmlsec1's --node-xpath: the assertion's own signature.
const respAssertionSigXPath = "//*[local-name()='Assertion' and namespace-uri()='" + NSAssertion + "']" +
	"/*[local-name()='Signature' and namespace-uri()='http://www.w3.org/2000/09/xmldsig#']"

// respVariant is one kind of SP and sign-in.
type respVariant struct {
	name  string
	sp    func() *ServiceProvider
	grant func(*ServiceProvider) Grant
}

// respEncTo returns respWiki with what is signed set and, when enc, the
// "next" fixed certificate as its encryption certificate.
func respEncTo(t testing.TB, signResponse, signAssertion, enc bool) func() *ServiceProvider {
	return func() *ServiceProvider {
		sp := respWiki()
		sp.SignResponse, sp.SignAssertion = signResponse, signAssertion
		if enc {
			sp.EncryptionCert = validators.FixedKey(t, "next").Cert
		}
		return sp
	}
}

func respVariants(t testing.TB) []respVariant {
	unsolicited := func(sp *ServiceProvider) Grant { g := respWikiGrant(sp); g.InResponseTo = ""; return g }
	unusual := func(sp *ServiceProvider) Grant {
		g := respWikiGrant(sp)
		g.User.DisplayName = `Zoë "Ñúñez" <&> 日本語 😀`
		sp.Attributes = append(sp.Attributes, AttributeRule{Name: "note", Values: []string{"tab\there\nline", "a&b<c>'d"}})
		return g
	}
	return []respVariant{
		{"assertion and response signed", respEncTo(t, true, true, false), respWikiGrant},
		{"assertion signed only", respEncTo(t, false, true, false), respWikiGrant},
		{"response signed only", respEncTo(t, true, false, false), respWikiGrant},
		{"encrypted, the assertion signed inside", respEncTo(t, false, true, true), respWikiGrant},
		{"encrypted, the response signed", respEncTo(t, true, false, true), respWikiGrant},
		{"encrypted, both signed", respEncTo(t, true, true, true), respWikiGrant},
		{"unsolicited (IdP-initiated)", respEncTo(t, false, true, false), unsolicited},
		{"markup and non-ASCII characters", respEncTo(t, true, true, false), unusual},
		{"Entra after MFA", respEntra, func(*ServiceProvider) Grant { return respEntraGrant(true) }},
	}
}

// respNodeInput is node-saml configured as sp, at respT0 plus a minute.
func respNodeInput(t testing.TB, sp *ServiceProvider, g Grant, certPEM []byte) validators.NodeSAMLInput {
	signA, signR := signing(sp)
	in := validators.NodeSAMLInput{CertPEM: string(certPEM), Now: respT0.Add(time.Minute), EntityID: sp.EntityID,
		Audience: sp.EntityID, ACS: g.ACS, WantAssertionsSigned: signA, WantResponseSigned: signR, RequestID: g.InResponseTo}
	if sp.EncryptionCert != nil {
		key, _ := validators.FixedKeyPEM(t, "next")
		in.DecryptionKeyPEM = string(key)
	}
	return in
}

func respB64(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }

// respCheckRouting asserts what the validators do not: Destination,
// Recipient and both Issuers.
func respCheckRouting(t *testing.T, resp, a *etree.Element, g Grant, issuer string) {
	t.Helper()
	if got := resp.SelectAttrValue("Destination", ""); got != g.ACS {
		t.Errorf("Destination %q, want %q", got, g.ACS)
	}
	if got := xmltest.One(t, a, "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData").SelectAttrValue("Recipient", ""); got != g.ACS {
		t.Errorf("Recipient %q, want %q", got, g.ACS)
	}
	if r, as := xmltest.One(t, resp, "saml:Issuer").Text(), xmltest.One(t, a, "saml:Issuer").Text(); r != issuer || as != issuer {
		t.Errorf("Issuers %q and %q, want %q", r, as, issuer)
	}
}

func TestEveryResponseIsAcceptedByTwoIndependentSPs(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	certPEM := respPEM(kp)
	spKey, _ := validators.FixedKeyPEM(t, "next")
	for _, v := range respVariants(t) {
		t.Run(v.name, func(t *testing.T) {
			sp := v.sp()
			g := v.grant(sp)
			raw, nameID, err := respResponder(t, kp, respT0).Response(t.Context(), g)
			if err != nil {
				t.Fatal(err)
			}
			signA, signR := signing(sp)
			issuer := respIDP
			if sp.Entra {
				issuer = respEntraIssue
			}
			if bytes.ContainsFunc(raw, func(r rune) bool { return r > 0x7f }) {
				t.Error("non-ASCII characters must be written as character references")
			}

			t.Run("node-saml", func(t *testing.T) {
				res := validators.NodeSAML(t, func() validators.NodeSAMLInput {
					in := respNodeInput(t, sp, g, certPEM)
					in.Cases = []validators.NodeSAMLCase{{Name: "response", SAMLResponse: respB64(raw)}}
					return in
				}())[0]
				if !res.Valid {
					t.Fatalf("refused: %s", res.Error)
				}
				p := res.Profile
				for key, want := range map[string]string{
					"nameID": nameID.Value, "nameIDFormat": nameID.Format, "issuer": issuer, "sessionIndex": g.SessionIndex,
				} {
					if got, _ := p[key].(string); got != want {
						t.Errorf("profile %s = %q, want %q", key, got, want)
					}
				}
				if got, _ := p["inResponseTo"].(string); got != g.InResponseTo {
					t.Errorf("profile inResponseTo = %q, want %q", got, g.InResponseTo)
				}
				attrs, _ := p["attributes"].(map[string]any)
				if sp.Entra {
					if got := fmt.Sprint(attrs); got != "map[IDPEmail:alice@corp.example.com]" {
						t.Errorf("attributes as the library reads them: %s", got)
					}
				} else {
					if got := fmt.Sprint(attrs["displayName"]); got != g.User.DisplayName {
						t.Errorf("displayName as the library reads it: %q, want %q", got, g.User.DisplayName)
					}
					if got := fmt.Sprint(attrs["groups"]); got != "[Engineers Staff-All R,D + Test]" {
						t.Errorf("groups as the library reads them: %s", got)
					}
					if note, ok := attrs["note"]; ok && fmt.Sprint(note) != "[tab\there\nline a&b<c>'d]" {
						t.Errorf("note as the library reads it: %q", fmt.Sprint(note))
					}
				}
				// The assertion the library read, decrypted when it was
				// encrypted: routing is ours to check.
				a := xmltest.Parse(t, []byte(res.Assertion))
				respCheckRouting(t, xmltest.Parse(t, raw), a, g, issuer)
			})

			t.Run("xmlsec1", func(t *testing.T) {
				if signR {
					if err := validators.XMLSec1At(t, raw, certPEM, "", validators.SAML2Response, validators.SAML2Assertion); err != nil {
						t.Errorf("the response signature: %v", err)
					}
				}
				doc := raw
				if sp.EncryptionCert != nil {
					if doc, err = validators.XMLSec1Decrypt(t, raw, spKey); err != nil {
						t.Fatalf("decrypt: %v", err)
					}
					if !bytes.Contains(doc, []byte("<saml:Assertion ")) {
						t.Fatalf("xmlsec1's plaintext has no assertion:\n%s", doc)
					}
				}
				if signA {
					if err := validators.XMLSec1At(t, doc, certPEM, respAssertionSigXPath, validators.SAML2Response, validators.SAML2Assertion); err != nil {
						t.Errorf("the assertion signature: %v", err)
					}
				}
				resp := xmltest.Parse(t, doc)
				a := resp.FindElement("saml:Assertion")
				if a == nil {
					a = xmltest.One(t, resp, "saml:EncryptedAssertion/saml:Assertion")
				}
				respCheckRouting(t, resp, a, g, issuer)
			})
		})
	}
}

func TestIndependentSPsRefuseForgedExpiredAndMisdirectedResponses(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	certPEM := respPEM(kp)
	build := func(t *testing.T, signResponse, signAssertion, enc bool) (*ServiceProvider, Grant, []byte) {
		sp := respEncTo(t, signResponse, signAssertion, enc)()
		g := respWikiGrant(sp)
		return sp, g, respBuild(t, respResponder(t, kp, respT0), g)
	}
	type refusal struct {
		name string
		doc  []byte
		edit func(*validators.NodeSAMLInput)
		// why is what node-saml's refusal must say, so it is refused for
		// the reason the case is about.
		why string
		// xmlsec1: the signature to verify ("" none, "response",
		// "assertion"), or "decrypt" with the SP's key.
		xmlsec1 string
	}
	run := func(t *testing.T, sp *ServiceProvider, g Grant, cases []refusal) {
		t.Helper()
		// The cases that keep the SP as it is go to one node-saml run.
		plain := respNodeInput(t, sp, g, certPEM)
		var plainCases []refusal
		for _, c := range cases {
			if c.edit == nil {
				plain.Cases = append(plain.Cases, validators.NodeSAMLCase{Name: c.name, SAMLResponse: respB64(c.doc)})
				plainCases = append(plainCases, c)
				continue
			}
			in := respNodeInput(t, sp, g, certPEM)
			c.edit(&in)
			in.Cases = []validators.NodeSAMLCase{{Name: c.name, SAMLResponse: respB64(c.doc)}}
			respRefused(t, c.why, validators.NodeSAML(t, in)[0])
		}
		if len(plain.Cases) > 0 {
			for i, r := range validators.NodeSAML(t, plain) {
				respRefused(t, plainCases[i].why, r)
			}
		}
		for _, c := range cases {
			var err error
			switch c.xmlsec1 {
			case "response":
				err = validators.XMLSec1At(t, c.doc, certPEM, "", validators.SAML2Response, validators.SAML2Assertion)
			case "assertion":
				err = validators.XMLSec1At(t, c.doc, certPEM, respAssertionSigXPath, validators.SAML2Response, validators.SAML2Assertion)
			case "decrypt":
				key, _ := validators.FixedKeyPEM(t, "next")
				_, err = validators.XMLSec1Decrypt(t, c.doc, key)
			case "":
				continue
			}
			if !errors.Is(err, validators.ErrRejected) {
				t.Errorf("xmlsec1 accepted %s (%v)", c.name, err)
			}
		}
	}

	t.Run("a signed assertion", func(t *testing.T) {
		sp, g, raw := build(t, false, true, false)
		other := respBuild(t, respResponder(t, validators.FixedKey(t, "other"), respT0), g)
		run(t, sp, g, []refusal{
			{"an attribute changed after signing", bytes.Replace(raw, []byte(">Engineering<"), []byte(">Finance<"), 1), nil, "Invalid signature", "assertion"},
			{"the NameID changed after signing", bytes.Replace(raw, []byte(">"+respAliceGUID+"<"), []byte(">00000000-0000-0000-0000-000000000001<"), 1), nil, "Invalid signature", "assertion"},
			{"signed with another key", other, nil, "Invalid signature", "assertion"},
			// Without a request to match, node-saml reads only the Conditions.
			{"presented after the assertion expired", raw, func(in *validators.NodeSAMLInput) { in.Now, in.RequestID = respT0.Add(time.Hour), "" }, "SAML assertion expired", ""},
			{"presented after the bearer confirmation expired", raw, func(in *validators.NodeSAMLInput) { in.Now = respT0.Add(5 * time.Minute) }, "No valid subject confirmation", ""},
			{"presented before it is valid", raw, func(in *validators.NodeSAMLInput) { in.Now = respT0.Add(-time.Minute - time.Millisecond) }, "not yet valid", ""},
			{"presented to another SP (wrong audience)", raw, func(in *validators.NodeSAMLInput) { in.Audience = "https://other.corp.example.com/saml" }, "audience mismatch", ""},
			{"in response to another request", raw, func(in *validators.NodeSAMLInput) { in.RequestID = "_another-request" }, "InResponseTo is not valid", ""},
		})
	})
	t.Run("a signed response", func(t *testing.T) {
		sp, g, raw := build(t, true, false, false)
		other := respBuild(t, respResponder(t, validators.FixedKey(t, "other"), respT0), g)
		run(t, sp, g, []refusal{
			{"an attribute changed after signing", bytes.Replace(raw, []byte(">Engineering<"), []byte(">Finance<"), 1), nil, "Invalid document signature", "response"},
			{"the Destination changed after signing", bytes.Replace(raw, []byte(`Destination="`+respWikiACS), []byte(`Destination="https://evil.example/acs`), 1), nil, "Invalid document signature", "response"},
			{"signed with another key", other, nil, "Invalid document signature", "response"},
		})
	})
	t.Run("an encrypted assertion", func(t *testing.T) {
		sp, g, raw := build(t, false, true, true)
		resp := xmltest.Parse(t, raw)
		cv := xmltest.One(t, resp, "saml:EncryptedAssertion/xenc:EncryptedData/xenc:CipherData/xenc:CipherValue")
		sealed, err := base64.StdEncoding.DecodeString(cv.Text())
		if err != nil {
			t.Fatal(err)
		}
		sealed[len(sealed)/2] ^= 1
		tampered := bytes.Replace(raw, []byte(cv.Text()), []byte(base64.StdEncoding.EncodeToString(sealed)), 1)
		run(t, sp, g, []refusal{
			{"a ciphertext byte flipped", tampered, nil, "unable to authenticate data", "decrypt"},
			{"decrypted with another SP's key", raw, func(in *validators.NodeSAMLInput) {
				key, _ := validators.FixedKeyPEM(t, "other")
				in.DecryptionKeyPEM = string(key)
			}, "oaep decoding error", ""},
		})
		key, _ := validators.FixedKeyPEM(t, "other")
		if _, err := validators.XMLSec1Decrypt(t, raw, key); !errors.Is(err, validators.ErrRejected) {
			t.Errorf("xmlsec1 decrypted with another key (%v)", err)
		}
	})
}

// respRefused fails unless node-saml refused r with an error saying why.
func respRefused(t *testing.T, why string, r validators.NodeSAMLResult) {
	t.Helper()
	switch {
	case r.Valid:
		t.Errorf("node-saml accepted %s", r.Name)
	case !strings.Contains(r.Error, why):
		t.Errorf("node-saml refused %s with %q, want a refusal for %q", r.Name, r.Error, why)
	}
}

func TestAnErrorResponseIsReadAsTheStatusItCarries(t *testing.T) {
	kp := validators.FixedKey(t, "current")
	raw, err := respResponder(t, kp, respT0).ErrorResponse(t.Context(), respWiki(), respWikiACS, respRequestID,
		StatusResponder, StatusNoPassive, "")
	if err != nil {
		t.Fatal(err)
	}
	denied, err := respResponder(t, kp, respT0).ErrorResponse(t.Context(), respWiki(), respWikiACS, respRequestID,
		StatusRequester, StatusRequestDenied, "Access to this application is not allowed")
	if err != nil {
		t.Fatal(err)
	}
	in := respNodeInput(t, respWiki(), respWikiGrant(respWiki()), respPEM(kp))
	in.WantAssertionsSigned = false
	in.Cases = []validators.NodeSAMLCase{{Name: "no passive", SAMLResponse: respB64(raw)}, {Name: "denied", SAMLResponse: respB64(denied)}}
	res := validators.NodeSAML(t, in)
	// node-saml answers a signed NoPassive with "no profile" and any other
	// status with its code and message.
	if res[0].Valid || !strings.Contains(res[0].Error, "no profile") {
		t.Errorf("NoPassive as the library reads it: %+v", res[0])
	}
	if res[1].Valid || !strings.Contains(res[1].Error, "Requester error: Access to this application is not allowed") {
		t.Errorf("RequestDenied as the library reads it: %+v", res[1])
	}
	for _, doc := range [][]byte{raw, denied} {
		if err := validators.XMLSec1(t, doc, respPEM(kp), validators.SAML2Response); err != nil {
			t.Errorf("xmlsec1: %v", err)
		}
	}
}
