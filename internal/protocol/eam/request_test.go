package eam

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/eam/entratest"
)

const redirect = "https://login.microsoftonline.com/common/federation/externalauthprovider"

func testApps() *Registry {
	return NewRegistry(&App{Name: "Entra MFA", ClientID: appID, TenantID: tenant, Audience: appID, RedirectURI: redirect})
}

// entraForm is the form Entra posts, with mod applied.
func entraForm(mod func(url.Values)) url.Values {
	f := url.Values{
		"client_id": {appID}, "response_type": {"id_token"}, "scope": {"openid"}, "response_mode": {"form_post"},
		"redirect_uri": {redirect}, "nonce": {"n-0S6_WzA2Mj"}, "state": {"AwABAAAA-opaque"}, "id_token_hint": {"eyJ.hint.sig"},
		"claims": {entratest.ClaimsParam}, "client-request-id": {"3d9c6c1c-0000-4000-8000-000000000001"},
	}
	if mod != nil {
		mod(f)
	}
	return f
}

func TestAnEAMRequestIsCheckedBeforeAnythingElse(t *testing.T) {
	req, err := ParseRequest(entraForm(nil), testApps())
	if err != nil {
		t.Fatal(err)
	}
	if req.App.ClientID != appID || req.Nonce != "n-0S6_WzA2Mj" || req.State != "AwABAAAA-opaque" || req.Hint != "eyJ.hint.sig" ||
		strings.Join(req.ACR, " ") != "possessionorinherence" || len(req.AMR) != 13 {
		t.Fatalf("request = %+v", req)
	}
	for _, tc := range []struct {
		name string
		mod  func(url.Values)
		want error
	}{
		{"an unknown client is refused", func(f url.Values) { f.Set("client_id", "someone") }, ErrUnknownClient},
		{"another redirect URI is refused", func(f url.Values) { f.Set("redirect_uri", redirect+"/") }, ErrRedirectURI},
		{"a redirect URI of another case is refused", func(f url.Values) { f.Set("redirect_uri", strings.ToUpper(redirect)) }, ErrRedirectURI},
		{"the code flow is refused", func(f url.Values) { f.Set("response_type", "code") }, ErrInvalidRequest},
		{"a fragment answer is refused", func(f url.Values) { f.Set("response_mode", "fragment") }, ErrInvalidRequest},
		{"a request without openid is refused", func(f url.Values) { f.Set("scope", "profile") }, ErrInvalidRequest},
		{"a request without nonce is refused", func(f url.Values) { f.Del("nonce") }, ErrInvalidRequest},
		{"a request without state is refused", func(f url.Values) { f.Del("state") }, ErrInvalidRequest},
		{"a request without hint is refused", func(f url.Values) { f.Del("id_token_hint") }, ErrInvalidRequest},
		{"a request without claims is refused", func(f url.Values) { f.Del("claims") }, ErrInvalidRequest},
		{"claims that are not JSON are refused", func(f url.Values) { f.Set("claims", "{") }, ErrInvalidRequest},
		{"claims without an acr are refused", func(f url.Values) { f.Set("claims", `{"id_token":{"amr":{"values":["otp"]}}}`) }, ErrInvalidRequest},
		{"a repeated parameter is refused", func(f url.Values) { f.Add("state", "other") }, ErrInvalidRequest},
		{"an oversized hint is refused", func(f url.Values) { f.Set("id_token_hint", strings.Repeat("a", 16<<10+1)) }, ErrInvalidRequest},
		{"an acr no possession factor satisfies is refused", func(f url.Values) {
			f.Set("claims", `{"id_token":{"acr":{"essential":true,"values":["knowledgeorinherence"]}}}`)
		}, ErrUnsatisfiable},
		{"an amr list without a method of Gatehouse is refused", func(f url.Values) {
			f.Set("claims", `{"id_token":{"acr":{"values":["possessionorinherence"]},"amr":{"values":["face","sms"]}}}`)
		}, ErrUnsatisfiable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseRequest(entraForm(tc.mod), testApps()); !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTheAnswerNamesOneMethodOfAnotherKindAndOneRequestedACR(t *testing.T) {
	for _, tc := range []struct {
		name             string
		methods, allowed []string
		acrs             []string
		amr, acr         string
	}{
		{"an authenticator app code is otp", []string{"otp", "mfa"}, nil, []string{"possessionorinherence"}, "otp", "possessionorinherence"},
		{"a hardware-bound passkey is hwk", []string{"hwk", "mfa"}, []string{"hwk", "swk", "fido"}, []string{"knowledgeorpossession", "possessionorinherence"}, "hwk", "knowledgeorpossession"},
		{"a passkey is fido where Entra allows only that", []string{"swk", "mfa"}, []string{"fido", "otp"}, []string{"possessionorinherence"}, "fido", "possessionorinherence"},
		{"a password is never the method", []string{"pwd", "mfa"}, nil, []string{"knowledgeorpossession"}, "", ""},
		{"an otp Entra does not allow is no answer", []string{"otp", "mfa"}, []string{"face"}, []string{"possessionorinherence"}, "", ""},
		{"no requested acr takes possession", []string{"otp"}, nil, []string{"knowledgeorinherence"}, "otp", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			amr, ok := ChooseAMR(tc.methods, tc.allowed)
			if amr != tc.amr || ok != (tc.amr != "") {
				t.Fatalf("ChooseAMR = %q, %v; want %q", amr, ok, tc.amr)
			}
			acr, ok := ChooseACR(tc.acrs, amr)
			if acr != tc.acr || ok != (tc.acr != "") {
				t.Fatalf("ChooseACR = %q, %v; want %q", acr, ok, tc.acr)
			}
		})
	}
}

func TestTheAnswerIsSignedRS256UnderTheJWKSKid(t *testing.T) {
	kp, err := keys.Generate("sso.corp.example.test", t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Answer{Issuer: "https://sso.corp.example.test", Audience: appID, Subject: alice.Sub, Nonce: "n", ACR: "possessionorinherence",
		AMR: "otp", AuthTime: t0, Now: t0, Lifetime: 5 * time.Minute}.Sign(kp)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Headers[0].KeyID != kp.ID || parsed.Headers[0].Algorithm != "RS256" {
		t.Fatalf("header = %+v", parsed.Headers[0])
	}
	var c map[string]any
	if err := parsed.Claims(&kp.Key.PublicKey, &c); err != nil {
		t.Fatal(err)
	}
	amr, _ := c["amr"].([]any)
	if c["aud"] != appID || c["sub"] != alice.Sub || c["iss"] != "https://sso.corp.example.test" || len(amr) != 1 || amr[0] != "otp" ||
		c["exp"].(float64)-c["iat"].(float64) != 300 {
		t.Errorf("claims = %v", c)
	}
	if _, err := (Answer{Issuer: "x", Audience: appID, Subject: "s", Nonce: "n", ACR: "a", Now: t0, Lifetime: time.Minute}).Sign(kp); err == nil {
		t.Error("an answer without amr was signed")
	}
}
