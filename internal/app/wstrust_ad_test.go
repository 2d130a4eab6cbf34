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
		resp, err := http.Post(srv.URL+"/wstrust/13/usernamemixed", "application/soap+xml; charset=utf-8", strings.NewReader(testenv.UsernameMixedRST(endpoint, upn, password, time.Now())))
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
