package saml

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
)

const inNameID = `<saml:NameID Format="` + NameIDPersistent + `" SPNameQualifier="` + inWikiID + `">Zm9vYmFy</saml:NameID>` +
	`<samlp:SessionIndex>_s1</samlp:SessionIndex><samlp:SessionIndex> _s2 </samlp:SessionIndex>`

func logoutReq(issuer string, o inMsg) inMsg {
	o.Tag, o.Issuer = "LogoutRequest", issuer
	if o.Body == "" {
		o.Body = inNameID
	}
	return o
}

func TestLogoutRequests(t *testing.T) {
	relay := inRelayBody
	for _, c := range []struct {
		name  string
		req   func(t *testing.T, f *inFixture) *http.Request
		want  error
		check func(t *testing.T, r *LogoutRequest)
	}{{
		name: "a Redirect LogoutRequest signed by openssl is read",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamRequest, []byte(logoutReq(inWikiID, inMsg{ID: "_l1"}).xml("")), &relay, nil)
			return getReq(signQuery(q, SigAlgRSASHA256, opensslQuerySigner(t, f.sp.keyFile, "sha256")))
		},
		check: func(t *testing.T, r *LogoutRequest) {
			want := NameID{Format: NameIDPersistent, Value: "Zm9vYmFy", SPNameQualifier: inWikiID}
			if !r.Signed || r.ID != "_l1" || r.SP.EntityID != inWikiID || r.NameID != want || r.Binding != BindingRedirect ||
				r.RelayState != inRelayBody || !r.IssueInstant.Equal(inT0) || !slices.Equal(r.SessionIndexes, []string{"_s1", "_s2"}) {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "a POST LogoutRequest signed by xmlsec1 is read",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return postReq(ParamRequest, xmlsec1Sign(t, logoutReq(inHRID, inMsg{}), f.sp, "", "", ""), nil)
		},
		check: func(t *testing.T, r *LogoutRequest) {
			if !r.Signed || r.Binding != BindingPOST || r.NameID.Value != "Zm9vYmFy" {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "an unsigned LogoutRequest from an SP without a signing certificate is read as unsigned",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(logoutReq(inOpenID, inMsg{Body: `<saml:NameID>alice</saml:NameID>`}).xml("")), nil, nil))
		},
		check: func(t *testing.T, r *LogoutRequest) {
			if r.Signed || r.NameID != (NameID{Value: "alice"}) || r.SessionIndexes != nil {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "an unsigned LogoutRequest from Entra is read as unsigned",
		req: func(t *testing.T, f *inFixture) *http.Request {
			f.ms.WantRequestsSigned = false
			return getReq(redirectQuery(t, ParamRequest, []byte(logoutReq(inEntraID, inMsg{}).xml("")), nil, nil))
		},
		check: func(t *testing.T, r *LogoutRequest) {
			if r.Signed {
				t.Fatal("Signed")
			}
		},
	}, {
		name: "a LogoutRequest whose NotOnOrAfter is still ahead is read",
		req: func(t *testing.T, f *inFixture) *http.Request {
			m := logoutReq(inOpenID, inMsg{Attrs: ` NotOnOrAfter="` + assertion.FormatTime(inT0.Add(time.Second)) + `"`})
			return getReq(redirectQuery(t, ParamRequest, []byte(m.xml("")), nil, nil))
		},
	}, {
		name: "an unsigned LogoutRequest from an SP that can sign is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(logoutReq(inWikiID, inMsg{}).xml("")), nil, nil))
		},
		want: ErrSignature,
	}, {
		name: "a LogoutRequest signed by another key is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamRequest, []byte(logoutReq(inHRID, inMsg{}).xml("")), nil, nil)
			return getReq(signQuery(q, SigAlgRSASHA256, goQuerySigner(t, f.other.key, crypto.SHA256)))
		},
		want: ErrSignature,
	}, {
		name: "a LogoutRequest from an unknown SP is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(logoutReq("https://evil.example", inMsg{}).xml("")), nil, nil))
		},
		want: ErrUnknownSP,
	}, {
		name: "a LogoutRequest to the SSO endpoint is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(logoutReq(inOpenID, inMsg{Dest: inSSOURL}).xml("")), nil, nil))
		},
		want: ErrMalformed,
	}, {
		name: "a LogoutRequest whose NotOnOrAfter has passed is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			m := logoutReq(inOpenID, inMsg{Instant: inT0.Add(-2 * time.Minute), Attrs: ` NotOnOrAfter="` + assertion.FormatTime(inT0.Add(-DefaultSkew)) + `"`})
			return getReq(redirectQuery(t, ParamRequest, []byte(m.xml("")), nil, nil))
		},
		want: ErrStale,
	}, {
		name: "a stale LogoutRequest is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			m := logoutReq(inOpenID, inMsg{Instant: inT0.Add(-time.Hour)})
			return getReq(redirectQuery(t, ParamRequest, []byte(m.xml("")), nil, nil))
		},
		want: ErrStale,
	}, {
		name: "a LogoutRequest without a NameID is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			m := logoutReq(inOpenID, inMsg{Body: `<samlp:SessionIndex>_s1</samlp:SessionIndex>`})
			return getReq(redirectQuery(t, ParamRequest, []byte(m.xml("")), nil, nil))
		},
		want: ErrMalformed,
	}, {
		name: "a LogoutRequest with an EncryptedID is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			m := logoutReq(inOpenID, inMsg{Body: `<saml:EncryptedID/>`})
			return getReq(redirectQuery(t, ParamRequest, []byte(m.xml("")), nil, nil))
		},
		want: ErrMalformed,
	}, {
		name: "a LogoutRequest with two NameIDs is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			m := logoutReq(inOpenID, inMsg{Body: `<saml:NameID>a</saml:NameID><saml:NameID>b</saml:NameID>`})
			return getReq(redirectQuery(t, ParamRequest, []byte(m.xml("")), nil, nil))
		},
		want: ErrMalformed,
	}, {
		name: "an AuthnRequest sent as a LogoutRequest is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inOpenID, Dest: inSLOURL}.xml("")), nil, nil))
		},
		want: ErrMalformed,
	}} {
		t.Run(c.name, func(t *testing.T) {
			f := newInFixture(t)
			got, err := f.p.LogoutRequest(context.Background(), c.req(t, f))
			t.Logf("error: %v", err)
			if !errors.Is(err, c.want) || (err == nil) != (got != nil) {
				t.Fatalf("got %+v, %v; want %v", got, err, c.want)
			}
			if c.check != nil {
				c.check(t, got)
			}
		})
	}
}

func TestAReplayedLogoutRequestIsRefused(t *testing.T) {
	f := newInFixture(t)
	m := logoutReq(inHRID, inMsg{ID: "_lonce"})
	signed := xmlsec1Sign(t, m, f.sp, "", "", "")
	if _, err := f.p.LogoutRequest(context.Background(), postReq(ParamRequest, signed, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.LogoutRequest(context.Background(), postReq(ParamRequest, signed, nil)); !errors.Is(err, ErrReplay) {
		t.Fatalf("error %v, want ErrReplay", err)
	}
}

func logoutResp(issuer string, o inMsg) inMsg {
	o.Tag, o.Issuer = "LogoutResponse", issuer
	if o.Body == "" {
		o.Body = `<samlp:Status><samlp:StatusCode Value="` + StatusSuccess + `"/></samlp:Status>`
	}
	return o
}

func TestLogoutResponses(t *testing.T) {
	for _, c := range []struct {
		name  string
		req   func(t *testing.T, f *inFixture) *http.Request
		want  error
		check func(t *testing.T, r *LogoutResponse)
	}{{
		name: "a Redirect LogoutResponse signed by openssl is read",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamResponse, []byte(logoutResp(inWikiID, inMsg{ID: "_r1", Attrs: ` InResponseTo="_ours"`}).xml("")), inPtr("rs"), nil)
			return getReq(signQuery(q, SigAlgRSASHA256, opensslQuerySigner(t, f.sp.keyFile, "sha256")))
		},
		check: func(t *testing.T, r *LogoutResponse) {
			if !r.Signed || r.ID != "_r1" || r.InResponseTo != "_ours" || r.Status != StatusSuccess || r.SP.EntityID != inWikiID ||
				r.RelayState != "rs" || r.Binding != BindingRedirect {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "a POST LogoutResponse signed by xmlsec1 with a nested status is read",
		req: func(t *testing.T, f *inFixture) *http.Request {
			m := logoutResp(inHRID, inMsg{Attrs: ` InResponseTo="_ours"`, Body: `<samlp:Status><samlp:StatusCode Value="` + StatusResponder +
				`"><samlp:StatusCode Value="` + StatusPartialLogout + `"/></samlp:StatusCode></samlp:Status>`})
			return postReq(ParamResponse, xmlsec1Sign(t, m, f.sp, "", "", ""), nil)
		},
		check: func(t *testing.T, r *LogoutResponse) {
			if !r.Signed || r.Status != StatusResponder || r.Binding != BindingPOST {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "an unsigned LogoutResponse is read as unsigned from an SP that does not require signatures",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamResponse, []byte(logoutResp(inWikiID, inMsg{}).xml("")), nil, nil))
		},
		check: func(t *testing.T, r *LogoutResponse) {
			if r.Signed || r.InResponseTo != "" {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "an unsigned LogoutResponse from an SP that requires signatures is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamResponse, []byte(logoutResp(inHRID, inMsg{}).xml("")), nil, nil))
		},
		want: ErrSignature,
	}, {
		name: "a tampered LogoutResponse is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			signed := xmlsec1Sign(t, logoutResp(inHRID, inMsg{Attrs: ` InResponseTo="_ours"`}), f.sp, "", "", "")
			return postReq(ParamResponse, mustReplace(t, signed, "_ours", "_other"), nil)
		},
		want: ErrSignature,
	}, {
		name: "a LogoutResponse without a Status is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamResponse, []byte(logoutResp(inWikiID, inMsg{Body: "<samlp:Extensions/>"}).xml("")), nil, nil))
		},
		want: ErrMalformed,
	}, {
		name: "a LogoutResponse with an InResponseTo that is not an ID is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamResponse, []byte(logoutResp(inWikiID, inMsg{Attrs: ` InResponseTo="1 2"`}).xml("")), nil, nil))
		},
		want: ErrMalformed,
	}, {
		name: "a LogoutResponse sent as SAMLRequest is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(logoutResp(inWikiID, inMsg{}).xml("")), nil, nil))
		},
		want: ErrMalformed,
	}, {
		name: "a LogoutResponse to another IdP is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamResponse, []byte(logoutResp(inWikiID, inMsg{Dest: inOtherIDP}).xml("")), nil, nil))
		},
		want: ErrMalformed,
	}} {
		t.Run(c.name, func(t *testing.T) {
			f := newInFixture(t)
			got, err := f.p.LogoutResponse(context.Background(), c.req(t, f))
			t.Logf("error: %v", err)
			if !errors.Is(err, c.want) || (err == nil) != (got != nil) {
				t.Fatalf("got %+v, %v; want %v", got, err, c.want)
			}
			if c.check != nil {
				c.check(t, got)
			}
		})
	}
}
