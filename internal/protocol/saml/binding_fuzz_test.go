package saml

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// inSentinels are the errors the inbound parsers may return (wrapped).
var inSentinels = []error{ErrUnknownSP, ErrACSNotAllowed, ErrMalformed, ErrSignature, ErrReplay, ErrStale, ErrTooLarge,
	ErrUnsupportedBinding, ErrNoAuthnContext}

// checkInbound fails when a parser result breaks the rules every caller
// relies on: an error wraps a sentinel; an accepted message names a known
// SP, is signed when the SP requires it, carries RelayState unchanged and
// (for an AuthnRequest) goes to one of the SP's HTTP-POST ACS URLs.
func checkInbound(t *testing.T, f *inFixture, sp *ServiceProvider, signed bool, relay, wantRelay, binding, wantBinding string, err error) {
	t.Helper()
	if err != nil {
		if !slices.ContainsFunc(inSentinels, func(s error) bool { return errors.Is(err, s) }) {
			t.Fatalf("error without a sentinel: %v", err)
		}
		return
	}
	if sp == nil || f.sps[sp.EntityID] != sp {
		t.Fatalf("accepted a message from an unknown SP %v", sp)
	}
	if sp.WantRequestsSigned && !signed {
		t.Fatalf("accepted an unsigned message from %s", sp.Name)
	}
	if relay != wantRelay {
		t.Fatalf("RelayState %q, sent %q", relay, wantRelay)
	}
	if binding != wantBinding {
		t.Fatalf("binding %q, want %q", binding, wantBinding)
	}
}

func fuzzCheckACS(t *testing.T, r *AuthnRequest) {
	t.Helper()
	if r != nil && !slices.ContainsFunc(r.SP.ACS, func(e Endpoint) bool { return e.Location == r.ACS && e.Binding == BindingPOST }) {
		t.Fatalf("ACS %q is not an HTTP-POST ACS of %s", r.ACS, r.SP.Name)
	}
}

// parseAll runs every inbound parser on a copy of one request.
func parseAll(t *testing.T, f *inFixture, mk func() *http.Request, wantRelay, wantBinding string) {
	t.Helper()
	ctx := context.Background()
	if ar, err := f.p.AuthnRequest(ctx, mk()); ar != nil {
		checkInbound(t, f, ar.SP, ar.Signed, ar.RelayState, wantRelay, ar.Binding, wantBinding, nil)
		fuzzCheckACS(t, ar)
		if err != nil && !errors.Is(err, ErrUnsupportedBinding) && !errors.Is(err, ErrNoAuthnContext) {
			t.Fatalf("request returned with error %v", err)
		}
	} else {
		checkInbound(t, f, nil, false, "", "", "", "", err)
	}
	if lr, err := f.p.LogoutRequest(ctx, mk()); err == nil {
		checkInbound(t, f, lr.SP, lr.Signed || len(lr.SP.SigningCerts) == 0 || lr.SP.Entra, lr.RelayState, wantRelay, lr.Binding, wantBinding, nil)
		if lr.NameID.Value == "" {
			t.Fatal("a LogoutRequest without a NameID value")
		}
	} else {
		checkInbound(t, f, nil, false, "", "", "", "", err)
	}
	if lr, err := f.p.LogoutResponse(ctx, mk()); err == nil {
		checkInbound(t, f, lr.SP, lr.Signed, lr.RelayState, wantRelay, lr.Binding, wantBinding, nil)
		if lr.Status == "" {
			t.Fatal("a LogoutResponse without a status")
		}
	} else {
		checkInbound(t, f, nil, false, "", "", "", "", err)
	}
	if _, err := MessageParam(mk()); err != nil {
		checkInbound(t, f, nil, false, "", "", "", "", err)
	}
}

func FuzzRedirectBinding(f *testing.F) {
	fx := newInFixtureWith(f, &memReplay{})
	relay := "https://wiki.example.com/x?y=1"
	sign := goQuerySigner(f, fx.sp.key, crypto.SHA256)
	for _, m := range []inMsg{
		{Issuer: inWikiID},
		{Issuer: inWikiID, Attrs: ` AssertionConsumerServiceIndex="0" ForceAuthn="true"`},
		{Issuer: inWikiID, Attrs: ` AssertionConsumerServiceURL="` + inWikiACS0 + `" ProtocolBinding="` + BindingPOST + `"`,
			Body: `<samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>` + ClassREFEDSMFA + `</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`},
		{Issuer: inHRID},
		logoutReq(inOpenID, inMsg{}),
		logoutReq(inHRID, inMsg{}),
	} {
		q := redirectQuery(f, ParamRequest, []byte(m.xml("")), &relay, nil)
		f.Add(q)
		f.Add(signQuery(q, SigAlgRSASHA256, sign))
	}
	f.Add(redirectQuery(f, ParamResponse, []byte(logoutResp(inWikiID, inMsg{Attrs: ` InResponseTo="_x"`}).xml("")), nil, nil))
	f.Add(ParamRequest + "=%%&RelayState=&SigAlg=&Signature=")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		if strings.ContainsAny(rawQuery, " #\x7f") || strings.ContainsFunc(rawQuery, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			return // not a query a server hands over
		}
		wantRelay := ""
		if v, err := url.ParseQuery(rawQuery); err == nil {
			wantRelay = v.Get("RelayState")
		}
		parseAll(t, fx, func() *http.Request { return getReq(rawQuery) }, wantRelay, BindingRedirect)
	})
}

func FuzzPOSTBinding(f *testing.F) {
	fx := newInFixtureWith(f, &memReplay{})
	kp := fx.sp.keyPair(f)
	for _, m := range []inMsg{
		{Issuer: inWikiID},
		{Issuer: inHRID, Attrs: ` AssertionConsumerServiceURL="` + inHRACS + `"`, Body: `<samlp:NameIDPolicy Format="` + NameIDPersistent + `" AllowCreate="true"/>`},
		{Issuer: inEntraID, Dest: "-", Attrs: ` AssertionConsumerServiceIndex="0"`},
		logoutReq(inHRID, inMsg{}),
		logoutResp(inHRID, inMsg{Attrs: ` InResponseTo="_x"`}),
	} {
		f.Add(ParamRequest, []byte(m.xml("")), "relay")
		f.Add(ParamRequest, goSign(f, m, kp), "")
		f.Add(ParamResponse, goSign(f, m, kp), "r")
	}
	f.Add(ParamRequest, []byte(`<!DOCTYPE x><x/>`), "")
	f.Fuzz(func(t *testing.T, param string, doc []byte, relay string) {
		if param != ParamRequest && param != ParamResponse {
			return
		}
		parseAll(t, fx, func() *http.Request { return postReq(param, doc, &relay) }, relay, BindingPOST)
	})
}
