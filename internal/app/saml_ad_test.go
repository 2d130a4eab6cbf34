package app

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/saml"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// The service providers of these tests: a wiki that takes unsigned
// requests, and an HR system that signs its requests and requires it.
const (
	samlWikiID  = "https://wiki.example.test/saml/sp"
	samlWikiACS = "https://wiki.example.test/saml/acs"
	samlHRID    = "https://hr.example.test/sp"
	samlHRACS   = "https://hr.example.test/acs"
)

// samlSP is a service provider's key, the certificate file Gatehouse
// trusts it with, and its signer.
type samlSP struct {
	kp       *keys.KeyPair
	certFile string
	signer   *assertion.Signer
}

func newSAMLSP(t *testing.T, name string) samlSP {
	t.Helper()
	kp, err := keys.Generate(name, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile, certFile := filepath.Join(dir, "sp.key"), filepath.Join(dir, "sp.crt")
	if err := kp.Write(keyFile, certFile); err != nil {
		t.Fatal(err)
	}
	s, err := assertion.NewSigner(kp)
	if err != nil {
		t.Fatal(err)
	}
	return samlSP{kp: kp, certFile: certFile, signer: s}
}

// newSAMLApp is Gatehouse on the test DC with the wiki (MFA required) and
// the HR system (signed requests required, MFA as configured).
func newSAMLApp(t *testing.T, hr samlSP, mod func(*config.Config)) (*App, *httptest.Server) {
	t.Helper()
	return newADAppWith(t, func(c *config.Config) {
		c.MFA.RequiredFor = "apps"
		c.Apps = []config.App{
			{Name: "Wiki", Type: "saml", EntityID: samlWikiID, ACSURLs: []string{samlWikiACS}, MFA: "required",
				Attributes: []config.SAMLAttribute{{Name: "email", Source: "mail"}, {Name: "groups", Source: "groups"}}},
			{Name: "HR", Type: "saml", EntityID: samlHRID, ACSURLs: []string{samlHRACS}, CertFile: hr.certFile, RequireSignedRequests: true},
		}
		if mod != nil {
			mod(c)
		}
	})
}

// authnRequest is an AuthnRequest from issuer to a's /saml/sso; attrs and
// body are added to it.
func authnRequest(a *App, id, issuer, attrs, body string) *etree.Element {
	doc := etree.NewDocument()
	if err := doc.ReadFromString(fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s" Destination="%s"%s><saml:Issuer>%s</saml:Issuer>%s</samlp:AuthnRequest>`,
		id, assertion.FormatTime(time.Now()), strings.TrimRight(a.Config.Issuer, "/")+saml.PathSSO, attrs, issuer, body)); err != nil {
		panic(err)
	}
	return doc.Root()
}

// redirectRequest is the /saml/sso address of an unsigned HTTP-Redirect
// AuthnRequest.
func redirectRequest(t *testing.T, req *etree.Element, relayState string) string {
	t.Helper()
	raw, err := assertion.Marshal(req, false)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = fw.Write(raw)
	_ = fw.Close()
	q := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(buf.Bytes())}}
	if relayState != "" {
		q.Set("RelayState", relayState)
	}
	return saml.PathSSO + "?" + q.Encode()
}

// signedRedirectRequest is the address of req signed by sp over the
// HTTP-Redirect binding (RSA-SHA256 over the query's octets).
func signedRedirectRequest(t *testing.T, a *App, sp samlSP, req *etree.Element, relayState string) string {
	t.Helper()
	base := strings.TrimRight(a.Config.Issuer, "/")
	out, err := saml.Outbound{Signer: sp.signer}.Send(context.Background(), req, saml.BindingRedirect, base+saml.PathSSO, relayState)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(out.URL, base) // the test server's address is not the issuer's
}

var (
	samlResponseRe = regexp.MustCompile(`name="SAMLResponse" value="([^"]+)"`)
	relayStateRe   = regexp.MustCompile(`name="RelayState" value="([^"]*)"`)
)

// postedResponse is the Response on an auto-POST page, checked to go to
// acs; its RelayState is returned too.
func postedResponse(t *testing.T, page, acs string) (resp *etree.Element, b64, relayState string) {
	t.Helper()
	m := samlResponseRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no SAMLResponse on the page:\n%s", page)
	}
	if act := actionRe.FindStringSubmatch(page); act == nil || html.UnescapeString(act[1]) != acs {
		t.Fatalf("the Response is not posted to %s:\n%s", acs, page)
	}
	b64 = html.UnescapeString(m[1])
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	if rs := relayStateRe.FindStringSubmatch(page); rs != nil {
		relayState = html.UnescapeString(rs[1])
	}
	return doc.Root(), b64, relayState
}

// nodeSAMLAccepts has node-saml, an SP we did not write, check the
// Response and returns what it read.
func nodeSAMLAccepts(t *testing.T, a *App, entityID, acs, requestID, b64 string) map[string]any {
	t.Helper()
	res := validators.NodeSAML(t, validators.NodeSAMLInput{CertPEM: string(pemCert(a)), Now: time.Now(), EntityID: entityID, Audience: entityID,
		ACS: acs, WantAssertionsSigned: true, RequestID: requestID, Cases: []validators.NodeSAMLCase{{Name: "gatehouse", SAMLResponse: b64}}})
	if !res[0].Valid {
		t.Fatalf("node-saml refused the Response: %s", res[0].Error)
	}
	return res[0].Profile
}

func pemCert(a *App) []byte {
	return []byte("-----BEGIN CERTIFICATE-----\n" + a.Signing.CertificateBase64() + "\n-----END CERTIFICATE-----\n")
}

func text(t *testing.T, el *etree.Element, path string) string {
	t.Helper()
	e := el.FindElement(path)
	if e == nil {
		t.Fatalf("no %s", path)
	}
	return e.Text()
}

func attr(t *testing.T, el *etree.Element, path, name string) string {
	t.Helper()
	e := el.FindElement(path)
	if e == nil {
		t.Fatalf("no %s", path)
	}
	return e.SelectAttrValue(name, "")
}

func TestASAMLSignInWithTOTPGivesAResponseAnIndependentSPAccepts(t *testing.T) {
	a, srv := newSAMLApp(t, newSAMLSP(t, "hr"), nil)
	const pw = "Saml!Passw0rd-1"
	name := newADUser(t, pw)
	secret := enrolTOTP(t, a, lookup(t, a, name))
	b := browse.New(t, srv.URL)

	const relay = "/wiki/Start?x=<y>&z=1"
	first := redirectRequest(t, authnRequest(a, "_req1", samlWikiID, "", ""), relay)
	b.Get(first)
	b.Submit(map[string]string{"login": name})
	b.Submit(map[string]string{"password": pw})
	code := totpCode(t, secret, 30*time.Second) // the enrolment used the current one
	page := b.Submit(map[string]string{"code": code})

	resp, b64, rs := postedResponse(t, page, samlWikiACS)
	if rs != relay {
		t.Errorf("RelayState came back as %q", rs)
	}
	profile := nodeSAMLAccepts(t, a, samlWikiID, samlWikiACS, "_req1", b64)
	// node-saml does not check these; an SP must.
	u := lookup(t, a, name)
	guid, err := saml.GUIDString(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, got, want string }{
		{"Destination", resp.SelectAttrValue("Destination", ""), samlWikiACS},
		{"InResponseTo", resp.SelectAttrValue("InResponseTo", ""), "_req1"},
		{"Issuer", text(t, resp, "Issuer"), a.Config.Issuer},
		{"assertion Issuer", text(t, resp, "Assertion/Issuer"), a.Config.Issuer},
		{"Recipient", attr(t, resp, "Assertion/Subject/SubjectConfirmation/SubjectConfirmationData", "Recipient"), samlWikiACS},
		{"Audience", text(t, resp, "Assertion/Conditions/AudienceRestriction/Audience"), samlWikiID},
		{"class after MFA", text(t, resp, "Assertion/AuthnStatement/AuthnContext/AuthnContextClassRef"), saml.ClassREFEDSMFA},
		{"NameID format", attr(t, resp, "Assertion/Subject/NameID", "Format"), saml.NameIDPersistent},
		{"NameID (objectGUID)", text(t, resp, "Assertion/Subject/NameID"), guid},
		{"signature", attr(t, resp, "Assertion/Signature/SignedInfo/SignatureMethod", "Algorithm"), assertion.SignatureMethodRSASHA256},
		{"digest", attr(t, resp, "Assertion/Signature/SignedInfo/Reference/DigestMethod", "Algorithm"), assertion.DigestMethodSHA256},
		{"response signature", attr(t, resp, "Signature/SignedInfo/SignatureMethod", "Algorithm"), assertion.SignatureMethodRSASHA256},
		{"email as node-saml read it", fmt.Sprint(profile["email"]), u.Mail},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}

	evs, err := a.Store.QueryAudit(context.Background(), store.AuditQuery{Type: audit.TokenIssued, UserID: u.ID})
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Detail), `"response":"`+resp.SelectAttrValue("ID", "-")+`"`) ||
		!strings.Contains(string(evs[0].Detail), `"protocol":"saml"`) {
		t.Errorf("the token.issued event does not name the Response (%v): %d events", err, len(evs))
	}

	// Single sign-on: the next request is answered from the session.
	page = b.Get(redirectRequest(t, authnRequest(a, "_req2", samlWikiID, "", ""), ""))
	if _, b64, _ := postedResponse(t, page, samlWikiACS); b64 == "" {
		t.Fatal("no SSO")
	}
	// The first request again is a replay: no Response.
	if page := b.Get(first); b.Status != http.StatusBadRequest || samlResponseRe.MatchString(page) {
		t.Errorf("a replayed AuthnRequest got status %d:\n%s", b.Status, page)
	}
	// A request that forces authentication asks for the password again.
	if page := b.Get(redirectRequest(t, authnRequest(a, "_req3", samlWikiID, ` ForceAuthn="true"`, ""), "")); !strings.Contains(page, `name="password"`) {
		t.Errorf("ForceAuthn did not ask for the password:\n%s", page)
	}
}

func TestSAMLRequestsGatehouseMustNotAnswerGetAnErrorPageAndNoResponse(t *testing.T) {
	hr := newSAMLSP(t, "hr")
	a, srv := newSAMLApp(t, hr, nil)
	other := newSAMLSP(t, "not hr")
	b := browse.New(t, srv.URL)
	for _, tc := range []struct {
		name, path string
	}{
		{"an unknown SP", redirectRequest(t, authnRequest(a, "_u1", "https://evil.example.test/sp", "", ""), "")},
		{"an ACS URL not in the SP's list", redirectRequest(t, authnRequest(a, "_u2", samlWikiID, ` AssertionConsumerServiceURL="https://evil.example.test/acs"`, ""), "")},
		{"an ACS URL differing in case", redirectRequest(t, authnRequest(a, "_u3", samlWikiID, ` AssertionConsumerServiceURL="https://WIKI.example.test/saml/acs"`, ""), "")},
		{"an unsigned request to an SP that requires signatures", redirectRequest(t, authnRequest(a, "_u4", samlHRID, "", ""), "")},
		{"a request signed by another key", signedRedirectRequest(t, a, other, authnRequest(a, "_u5", samlHRID, "", ""), "")},
		{"a request for another Destination", redirectRequest(t, func() *etree.Element {
			r := authnRequest(a, "_u6", samlWikiID, "", "")
			r.CreateAttr("Destination", "https://other-idp.example.test/saml/sso")
			return r
		}(), "")},
		{"an old request", redirectRequest(t, func() *etree.Element {
			r := authnRequest(a, "_u7", samlWikiID, "", "")
			r.CreateAttr("IssueInstant", assertion.FormatTime(time.Now().Add(-time.Hour)))
			return r
		}(), "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := b.Get(tc.path)
			if b.Status != http.StatusBadRequest || samlResponseRe.MatchString(page) || strings.Contains(page, `name="password"`) {
				t.Errorf("status %d:\n%s", b.Status, page)
			}
		})
	}
	// The same request signed with the SP's own key is taken.
	if page := b.Get(signedRedirectRequest(t, a, hr, authnRequest(a, "_ok", samlHRID, "", ""), "back")); !strings.Contains(page, `name="login"`) {
		t.Errorf("a correctly signed request did not start a sign-in (status %d):\n%s", b.Status, page)
	}
}

func TestPassiveAndUnmeetableSAMLRequestsAreAnsweredWithAStatus(t *testing.T) {
	a, srv := newSAMLApp(t, newSAMLSP(t, "hr"), nil)
	b := browse.New(t, srv.URL)
	for _, tc := range []struct {
		name, attrs, body, status string
	}{
		{"a passive request without a session", ` IsPassive="true"`, "", saml.StatusNoPassive},
		{"a class Gatehouse cannot meet", "", `<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`, saml.StatusNoAuthnContext},
		{"a NameID format the SP is not set up for", "", `<samlp:NameIDPolicy Format="` + saml.NameIDEmail + `"/>`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := b.Get(redirectRequest(t, authnRequest(a, "_p"+fmt.Sprint(time.Now().UnixNano()), samlWikiID, tc.attrs, tc.body), "rs"))
			if tc.status == "" {
				// The NameID policy is only checked once the user is known.
				if !strings.Contains(page, `name="login"`) {
					t.Fatalf("status %d:\n%s", b.Status, page)
				}
				return
			}
			resp, _, rs := postedResponse(t, page, samlWikiACS)
			if got := attr(t, resp, "Status/StatusCode/StatusCode", "Value"); got != tc.status {
				t.Errorf("status %q, want %q", got, tc.status)
			}
			if resp.FindElement("Assertion") != nil || rs != "rs" {
				t.Errorf("a status answer carries an assertion, or lost its RelayState %q", rs)
			}
		})
	}
}

func TestAPOSTedSAMLRequestIsAnsweredAfterTheSameSiteRedirect(t *testing.T) {
	a, srv := newSAMLApp(t, newSAMLSP(t, "hr"), func(c *config.Config) { c.Apps[0].MFA = "optional" })
	const pw = "Saml!Passw0rd-2"
	name := newADUser(t, pw)
	b := browse.New(t, srv.URL)
	raw, err := assertion.Marshal(authnRequest(a, "_post1", samlWikiID, ` AssertionConsumerServiceIndex="0"`, ""), false)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.C.PostForm(srv.URL+saml.PathSSO, url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(raw)}, "RelayState": {"post-relay"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, saml.PathSSO+"?gh_req=") {
		t.Fatalf("the POST was answered %d %q, not with a redirect to a GET", resp.StatusCode, loc)
	}
	b.Get(loc)
	b.Submit(map[string]string{"login": name})
	page := b.Submit(map[string]string{"password": pw})
	r, b64, rs := postedResponse(t, page, samlWikiACS)
	nodeSAMLAccepts(t, a, samlWikiID, samlWikiACS, "_post1", b64)
	if rs != "post-relay" || text(t, r, "Assertion/AuthnStatement/AuthnContext/AuthnContextClassRef") != saml.ClassPasswordProtectedTransport {
		t.Errorf("RelayState %q, or a password sign-in claimed more", rs)
	}
	// The kept request is used up.
	if page := b.Get(loc); b.Status != http.StatusBadRequest || samlResponseRe.MatchString(page) {
		t.Errorf("the kept request answered twice (status %d)", b.Status)
	}
}

func TestTheAccountPageOpensAppsByIdPInitiatedSignIn(t *testing.T) {
	a, srv := newSAMLApp(t, newSAMLSP(t, "hr"), func(c *config.Config) {
		c.Apps[0].MFA = ""
		c.Apps = append(c.Apps, config.App{Name: "Payroll", Type: "saml", EntityID: "https://payroll.example.test/sp",
			ACSURLs: []string{"https://payroll.example.test/acs"}, Groups: []string{"No Such Group"}})
		off := false
		c.Apps[1].IDPInitiated = &off
	})
	const pw = "Saml!Passw0rd-3"
	name := newADUser(t, pw)
	b := browse.New(t, srv.URL)
	signInPasswordOnly(t, b, name, pw)
	page := b.Get("/account")
	if !strings.Contains(page, `href="/saml/sso?sp=`+url.QueryEscape(samlWikiID)+`"`) {
		t.Fatalf("no tile for the wiki:\n%s", page)
	}
	for _, hidden := range []string{"HR", "Payroll"} {
		if strings.Contains(page, ">"+hidden+"</a>") {
			t.Errorf("a tile for %s (IdP-initiated off, or not in its groups)", hidden)
		}
	}
	resp, b64, _ := postedResponse(t, b.Get("/saml/sso?sp="+url.QueryEscape(samlWikiID)+"&RelayState=%2Fhome"), samlWikiACS)
	if resp.SelectAttr("InResponseTo") != nil {
		t.Error("an unsolicited response names a request")
	}
	nodeSAMLAccepts(t, a, samlWikiID, samlWikiACS, "", b64)
	if page := b.Get("/saml/sso?sp=" + url.QueryEscape(samlHRID)); b.Status != http.StatusForbidden || samlResponseRe.MatchString(page) {
		t.Errorf("IdP-initiated sign-in to an SP that refuses it: status %d", b.Status)
	}
}

func TestEntraOverSAMLPGetsTheProfileENTRAmdDescribes(t *testing.T) {
	a, srv := newADAppWith(t, func(c *config.Config) {
		c.MFA.RequiredFor = "apps"
		c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Protocol: "saml", Domains: []string{testenv.ADDNSDomain}, MFA: "required"}}
	})
	const pw = "Saml!Passw0rd-4"
	name := newADUser(t, pw)
	u := lookup(t, a, name)
	secret := enrolTOTP(t, a, u)
	b := browse.New(t, srv.URL)
	// Entra's AuthnRequest: POSTed, its ACS by index 0, NameIDPolicy
	// persistent, asking for MFA (federatedIdpMfaBehavior).
	req := authnRequest(a, "_entra1", wsfed.EntraRealm, ` AssertionConsumerServiceIndex="0"`,
		`<samlp:NameIDPolicy Format="`+saml.NameIDPersistent+`"/><samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>`+saml.ClassMultipleAuthN+`</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`)
	b.Get(redirectRequest(t, req, "estsredirect=2"))
	b.Submit(map[string]string{"login": name})
	b.Submit(map[string]string{"password": pw})
	code := totpCode(t, secret, 30*time.Second) // the enrolment used the current one
	page := b.Submit(map[string]string{"code": code})
	resp, b64, rs := postedResponse(t, page, wsfed.EntraReplyURL)
	issuer := wsfed.DomainIssuer(a.Config.Issuer, testenv.ADDNSDomain)
	for _, c := range []struct{ what, got, want string }{
		{"Destination", resp.SelectAttrValue("Destination", ""), wsfed.EntraReplyURL},
		{"InResponseTo", resp.SelectAttrValue("InResponseTo", ""), "_entra1"},
		{"Recipient", attr(t, resp, "Assertion/Subject/SubjectConfirmation/SubjectConfirmationData", "Recipient"), wsfed.EntraReplyURL},
		{"confirmation InResponseTo", attr(t, resp, "Assertion/Subject/SubjectConfirmation/SubjectConfirmationData", "InResponseTo"), "_entra1"},
		{"Issuer (the domain's IssuerUri)", text(t, resp, "Assertion/Issuer"), issuer},
		{"Audience", text(t, resp, "Assertion/Conditions/AudienceRestriction/Audience"), wsfed.EntraRealm},
		{"NameID format", attr(t, resp, "Assertion/Subject/NameID", "Format"), saml.NameIDPersistent},
		{"NameID = ImmutableID", text(t, resp, "Assertion/Subject/NameID"), u.ImmutableID},
		{"IDPEmail = UPN", text(t, resp, "Assertion/AttributeStatement/Attribute[@Name='IDPEmail']/AttributeValue"), u.UPN},
		{"MFA class", text(t, resp, "Assertion/AuthnStatement/AuthnContext/AuthnContextClassRef"), saml.ClassMultipleAuthN},
		{"signature", attr(t, resp, "Assertion/Signature/SignedInfo/SignatureMethod", "Algorithm"), assertion.SignatureMethodRSASHA256},
		{"RelayState", rs, "estsredirect=2"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	res := validators.NodeSAML(t, validators.NodeSAMLInput{CertPEM: string(pemCert(a)), Now: time.Now(), EntityID: wsfed.EntraRealm, Audience: wsfed.EntraRealm,
		ACS: wsfed.EntraReplyURL, WantAssertionsSigned: true, RequestID: "_entra1", Cases: []validators.NodeSAMLCase{{Name: "entra", SAMLResponse: b64}}})
	if !res[0].Valid {
		t.Fatalf("node-saml refused Entra's Response: %s", res[0].Error)
	}

	// Entra's sign-out is unsigned and names no SessionIndex: only the
	// NameID it was given in this browser's session signs the browser out.
	signOut := func(nameID string) string {
		doc := etree.NewDocument()
		if err := doc.ReadFromString(fmt.Sprintf(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lo%d" Version="2.0" IssueInstant="%s" Destination="%s"><saml:Issuer>%s</saml:Issuer><saml:NameID Format="%s">%s</saml:NameID></samlp:LogoutRequest>`,
			time.Now().UnixNano(), assertion.FormatTime(time.Now()), strings.TrimRight(a.Config.Issuer, "/")+saml.PathSLO, wsfed.EntraRealm, saml.NameIDPersistent, nameID)); err != nil {
			t.Fatal(err)
		}
		// One hop only: the answer goes to Entra, off this machine.
		resp, err := b.C.Get(srv.URL + strings.Replace(redirectRequest(t, doc.Root(), ""), saml.PathSSO, saml.PathSLO, 1))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Location")
	}
	signOut("c29tZW9uZSBlbHNl")
	if page := b.Get("/account"); strings.Contains(page, `name="password"`) || strings.Contains(page, `name="login"`) {
		t.Fatal("a sign-out naming another user ended this browser's session")
	}
	// The same request POSTed — what another site's page can send unseen —
	// is not taken unsigned.
	lo := etree.NewDocument()
	if err := lo.ReadFromString(fmt.Sprintf(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lopost" Version="2.0" IssueInstant="%s" Destination="%s"><saml:Issuer>%s</saml:Issuer><saml:NameID Format="%s">%s</saml:NameID></samlp:LogoutRequest>`,
		assertion.FormatTime(time.Now()), strings.TrimRight(a.Config.Issuer, "/")+saml.PathSLO, wsfed.EntraRealm, saml.NameIDPersistent, u.ImmutableID)); err != nil {
		t.Fatal(err)
	}
	raw, err := assertion.Marshal(lo.Root(), false)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the cross-site POST is posted once more from Gatehouse's page: send it twice
		resp, err := b.C.PostForm(srv.URL+saml.PathSLO, url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(raw)}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if page := b.Get("/account"); strings.Contains(page, `name="password"`) || strings.Contains(page, `name="login"`) {
		t.Fatal("an unsigned POSTed sign-out from Entra's issuer ended the session")
	}
	if loc := signOut(u.ImmutableID); !strings.HasPrefix(loc, wsfed.EntraReplyURL+"?SAMLResponse=") {
		t.Errorf("Entra's LogoutResponse goes to %q", loc)
	}
	if page := b.Get("/account"); !strings.Contains(page, `name="password"`) && !strings.Contains(page, `name="login"`) {
		t.Errorf("Entra's sign-out did not end the session:\n%s", page)
	}
}

func TestASAMLRequestNamingItsSubjectIsAnsweredOnlyAboutThatSubject(t *testing.T) {
	a, srv := newSAMLApp(t, newSAMLSP(t, "hr"), func(c *config.Config) {
		c.Apps[0].MFA = ""
		c.Apps[0].NameID = config.SAMLNameID{Format: "unspecified", Source: "upn"}
		c.Apps = append(c.Apps, config.App{Name: "Payroll", Type: "saml", EntityID: "https://payroll.example.test/sp",
			ACSURLs: []string{"https://payroll.example.test/acs"}, Groups: []string{"No Such Group"}})
	})
	const pw = "Saml!Passw0rd-5"
	name := newADUser(t, pw)
	u := lookup(t, a, name)
	b := browse.New(t, srv.URL)
	subject := func(v string) string {
		return `<saml:Subject><saml:NameID Format="` + saml.NameIDUnspecified + `">` + v + `</saml:NameID></saml:Subject>`
	}
	// The subject is the sign-in page's user name: straight to the password.
	page := b.Get(redirectRequest(t, authnRequest(a, "_s1", samlWikiID, "", subject(u.UPN)), ""))
	if !strings.Contains(page, `name="password"`) || strings.Contains(page, `name="login"`) {
		t.Fatalf("the Subject was not taken as the user name:\n%s", page)
	}
	resp, _, _ := postedResponse(t, b.Submit(map[string]string{"password": pw}), samlWikiACS)
	if got := text(t, resp, "Assertion/Subject/NameID"); !strings.EqualFold(got, u.UPN) {
		t.Errorf("NameID %q, want %q", got, u.UPN)
	}
	// A request about someone else gets no assertion about this user.
	resp, _, _ = postedResponse(t, b.Get(redirectRequest(t, authnRequest(a, "_s2", samlWikiID, "", subject("someone.else@"+testenv.ADDNSDomain)), "")), samlWikiACS)
	if got := attr(t, resp, "Status/StatusCode/StatusCode", "Value"); got != saml.StatusUnknownPrincipal || resp.FindElement("Assertion") != nil {
		t.Errorf("a request about another subject got %q (assertion: %v)", got, resp.FindElement("Assertion") != nil)
	}
	// A passive request the policy refuses shows no page: a status.
	page = b.Get(redirectRequest(t, authnRequest(a, "_s3", "https://payroll.example.test/sp", ` IsPassive="true"`, ""), ""))
	resp, _, _ = postedResponse(t, page, "https://payroll.example.test/acs")
	if got := attr(t, resp, "Status/StatusCode/StatusCode", "Value"); got != saml.StatusRequestDenied {
		t.Errorf("a passive request outside the app's groups got %q", got)
	}
}
