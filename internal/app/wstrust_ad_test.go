package app

import (
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// msalRST is a WS-Trust 1.3 usernamemixed request as MSAL.NET sends it.
func msalRST(endpoint, user, password string, now time.Time) string {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
	return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing" ` +
		`xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><s:Header>` +
		`<a:Action s:mustUnderstand="1">http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue</a:Action>` +
		`<a:MessageID>urn:uuid:0b0e2f7e-1b4a-4a52-9f8a-5d1c3e2b7a10</a:MessageID>` +
		`<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>` +
		`<a:To s:mustUnderstand="1">` + endpoint + `</a:To>` +
		`<o:Security s:mustUnderstand="1" xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">` +
		`<u:Timestamp u:Id="MSATimeStamp"><u:Created>` + now.UTC().Format("2006-01-02T15:04:05.000Z") + `</u:Created>` +
		`<u:Expires>` + now.Add(10*time.Minute).UTC().Format("2006-01-02T15:04:05.000Z") + `</u:Expires></u:Timestamp>` +
		`<o:UsernameToken u:Id="UnPwSecTok13-1"><o:Username>` + esc(user) + `</o:Username><o:Password>` + esc(password) + `</o:Password></o:UsernameToken>` +
		`</o:Security></s:Header><s:Body><trust:RequestSecurityToken xmlns:trust="http://docs.oasis-open.org/ws-sx/ws-trust/200512">` +
		`<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><a:EndpointReference><a:Address>urn:federation:MicrosoftOnline</a:Address></a:EndpointReference></wsp:AppliesTo>` +
		`<trust:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer</trust:KeyType>` +
		`<trust:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</trust:RequestType>` +
		`</trust:RequestSecurityToken></s:Body></s:Envelope>`
}

func TestAWSTrustUsernameMixedRequestForAnADUserGetsAValidToken(t *testing.T) {
	a, srv := newADAppWith(t, func(c *config.Config) {
		c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}}}
	})
	const pw = "Outlook!Passw0rd-1"
	name := newADUser(t, pw)
	upn := name + "@" + testenv.ADDNSDomain
	post := func(password string) (int, string) {
		t.Helper()
		endpoint := a.Config.Issuer + "/wstrust/13/usernamemixed"
		resp, err := http.Post(srv.URL+"/wstrust/13/usernamemixed", "application/soap+xml; charset=utf-8", strings.NewReader(msalRST(endpoint, upn, password, time.Now())))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := post(pw)
	if code != 200 || !strings.Contains(body, "RequestSecurityTokenResponse") {
		t.Fatalf("status %d:\n%s", code, body)
	}
	wantIssuer := `Issuer="` + a.Config.Issuer + "/" + testenv.ADDNSDomain + `"`
	for _, want := range []string{wantIssuer, "urn:oasis:names:tc:SAML:1.0:assertion", name + "@" + testenv.ADDNSDomain,
		`AuthenticationMethod="urn:oasis:names:tc:SAML:1.0:am:password"`} {
		if !strings.Contains(body, want) {
			t.Errorf("response lacks %s", want)
		}
	}
	if strings.Contains(body, "multipleauthn") {
		t.Error("a WS-Trust password token claims MFA")
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Signing.Cert.Raw})
	if err := validators.XMLSec1(t, []byte(body), certPEM, validators.SAML11Assertion); err != nil {
		t.Fatalf("xmlsec1: %v", err)
	}
	code, body = post("Wrong!Passw0rd-2")
	if code != 500 || !strings.Contains(body, "FailedAuthentication") || strings.Contains(body, name) {
		t.Fatalf("a wrong password: status %d:\n%s", code, body)
	}
}
