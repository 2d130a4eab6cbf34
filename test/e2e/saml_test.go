package e2e

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/saml"
)

// postAnswered is the access log's line of an AuthnRequest POSTed to
// /saml/sso: a cross-site POST carries no session cookie, so Gatehouse
// keeps the request and sends the browser to a GET of it.
var postAnswered = regexp.MustCompile(`msg="http request" method=POST path=/saml/sso .*status=303 `)

// relayState is what the SPs send along; it must come back byte for byte.
const relayState = "https://sp.example/page?a=1&b=%2F x ü"

func TestInChromiumASAMLServiceProviderSignsAnADUserInWithMFAThenSSOIdPInitiatedAndSingleLogout(t *testing.T) {
	// Wiki signs its requests (and Gatehouse requires it); Travel does not.
	wiki := newSAMLSP(t, "Wiki", "https://wiki.e2e.example/saml", true)
	travel := newSAMLSP(t, "Travel", "https://travel.e2e.example/saml", false)
	var dataDir string
	s := serve(t, true, nil, func(c *config.Config) {
		c.Apps = []config.App{wiki.app(), travel.app()}
		dataDir = filepath.Dir(c.Signing.CertFile)
	})
	wiki.idp, travel.idp = s.base, s.base
	idpCertPEM, err := os.ReadFile(filepath.Join(dataDir, "signing.crt"))
	if err != nil {
		t.Fatal(err)
	}
	idpCert := parseCert(t, idpCertPEM)
	const pw = "E2e!Passw0rd-saml"
	name := adUser(t, pw)
	b := NewBrowser(t)

	t.Log("SP-initiated over HTTP-Redirect, signed: identify, password, the authenticator app set up, the response to the ACS")
	id := assertion.RandomID()
	b.Do(chromedp.Navigate(wiki.startURL(id, "redirect", "", relayState)),
		chromedp.WaitVisible(chromedp.ID("login")), chromedp.SendKeys(chromedp.ID("login"), name), chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("password")), chromedp.SendKeys(chromedp.ID("password"), pw), chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(chooseTOTP)), chromedp.Click(chromedp.CSS(chooseTOTP)),
		chromedp.WaitVisible(chromedp.CSS(`p.secret`)))
	code, _ := totp.GenerateCode(strings.ReplaceAll(b.Text("p.secret"), " ", ""), time.Now())
	b.Do(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.CSS(`ol.codes`)), chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	first := checkResponse(t, wiki, receive(t, wiki.acs, "response at Wiki's ACS"), idpCertPEM, id, saml.ClassREFEDSMFA, relayState)
	b.Do(chromedp.WaitVisible(chromedp.ID("acs")))
	if first.NameID.Format != saml.NameIDPersistent || first.NameID.Value == "" || first.SessionIndex == "" {
		t.Fatalf("the response names %+v", first)
	}

	t.Log("SP-initiated over HTTP-POST, signed, cross-site with a class asked for: single sign-on, no page")
	id = assertion.RandomID()
	b.Do(chromedp.Navigate(wiki.startURL(id, "post", saml.ClassMobileTwoFactor, relayState)))
	sso := checkResponse(t, wiki, receive(t, wiki.acs, "SSO response at Wiki's ACS"), idpCertPEM, id, saml.ClassMobileTwoFactor, relayState)
	b.Do(chromedp.WaitVisible(chromedp.ID("acs")))
	if sso.AuthnInstant != first.AuthnInstant || sso.SessionIndex != first.SessionIndex || sso.NameID != first.NameID {
		t.Errorf("the SSO response is another sign-in: %+v, first %+v", sso, first)
	}
	if !postAnswered.MatchString(s.logs.String()) {
		t.Error("the log shows no POST to /saml/sso answered with a redirect to its GET")
	}

	t.Log("a second SP, unsigned over HTTP-Redirect: single sign-on too")
	id = assertion.RandomID()
	b.Do(chromedp.Navigate(travel.startURL(id, "redirect", "", "")))
	other := checkResponse(t, travel, receive(t, travel.acs, "response at Travel's ACS"), idpCertPEM, id, saml.ClassREFEDSMFA, "")
	if other.AuthnInstant != first.AuthnInstant || other.NameID.Value == first.NameID.Value && other.NameID.SPNameQualifier == first.NameID.SPNameQualifier {
		t.Errorf("Travel's response %+v, Wiki's %+v: not the same sign-in, or the same subject for two SPs", other, first)
	}

	t.Log("IdP-initiated: the Wiki tile on /account posts an unsolicited response")
	b.Do(chromedp.Navigate(s.base+"/account"), chromedp.WaitVisible(chromedp.CSS(`ul.tiles`)))
	if got := b.Text(`ul.tiles`); !strings.Contains(got, "Wiki") || !strings.Contains(got, "Travel") {
		t.Fatalf("the tiles read %q", got)
	}
	b.Do(chromedp.Click(chromedp.CSS(`a.tile[href$="` + url.QueryEscape(wiki.entityID) + `"]`)))
	unsolicited := checkResponse(t, wiki, receive(t, wiki.acs, "unsolicited response at Wiki's ACS"), idpCertPEM, "", saml.ClassREFEDSMFA, "")
	b.Do(chromedp.WaitVisible(chromedp.ID("acs")))
	if unsolicited.SessionIndex != first.SessionIndex {
		t.Errorf("the unsolicited response's SessionIndex %q is not the session's %q", unsolicited.SessionIndex, first.SessionIndex)
	}

	t.Log("single logout from Wiki: Travel is told in a frame of the sign-out page, Wiki gets its LogoutResponse")
	logoutID := assertion.RandomID()
	b.Do(chromedp.Navigate(wiki.logoutURL(logoutID, first, relayState)))
	told := receive(t, travel.slo, "LogoutRequest at Travel")
	if told.FetchDest != "iframe" {
		t.Errorf("Travel's LogoutRequest came from a %q, not a frame of the sign-out page", told.FetchDest)
	}
	lr, _ := redirectMessage(t, told.RawQuery, saml.ParamRequest, idpCert)
	if lr.Tag != "LogoutRequest" || child(t, lr, saml.NSAssertion, "Issuer").Text() != s.base ||
		child(t, lr, saml.NSAssertion, "NameID").Text() != other.NameID.Value || child(t, lr, saml.NSProtocol, "SessionIndex").Text() != other.SessionIndex {
		t.Errorf("Travel's LogoutRequest does not name its subject and session: %v", lr.Attr)
	}
	answer := receive(t, wiki.slo, "LogoutResponse at Wiki")
	if answer.FetchDest != "document" {
		t.Errorf("Wiki's LogoutResponse came from a %q, not the page", answer.FetchDest)
	}
	lresp, q := redirectMessage(t, answer.RawQuery, saml.ParamResponse, idpCert)
	status := child(t, child(t, lresp, saml.NSProtocol, "Status"), saml.NSProtocol, "StatusCode")
	if lresp.Tag != "LogoutResponse" || lresp.SelectAttrValue("InResponseTo", "") != logoutID || status.SelectAttrValue("Value", "") != saml.StatusSuccess ||
		len(status.ChildElements()) != 0 || q.Get(saml.ParamRelayState) != relayState {
		t.Errorf("Wiki's LogoutResponse: %v, status %v, RelayState %q", lresp.Attr, status.Attr, q.Get(saml.ParamRelayState))
	}
	b.Do(chromedp.WaitVisible(chromedp.ID("slo")))

	t.Log("the Gatehouse session has ended: the next sign-in at Wiki asks who it is")
	b.Do(chromedp.Navigate(wiki.startURL(assertion.RandomID(), "redirect", "", "")), chromedp.WaitVisible(chromedp.ID("login")))
	select {
	case m := <-wiki.acs:
		t.Errorf("Wiki got a response after single logout: %v", m.Form)
	default:
	}
	b.CheckProblems()
}
