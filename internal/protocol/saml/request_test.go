package saml

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// authnCase is one AuthnRequest sent to a fresh fixture.
type authnCase struct {
	name string
	req  func(t *testing.T, f *inFixture) *http.Request
	// setup changes the fixture first (e.g. the clock).
	setup func(f *inFixture)
	want  error
	check func(t *testing.T, r *AuthnRequest)
}

func runAuthnCases(t *testing.T, cases []authnCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newInFixture(t)
			r := c.req(t, f)
			if c.setup != nil {
				c.setup(f)
			}
			got, err := f.p.AuthnRequest(context.Background(), r)
			t.Logf("error: %v", err)
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			} else {
				if !errors.Is(err, c.want) {
					t.Fatalf("error %v, want %v", err, c.want)
				}
				answerable := errors.Is(err, ErrUnsupportedBinding) || errors.Is(err, ErrNoAuthnContext)
				if answerable != (got != nil) {
					t.Fatalf("request %v returned with error %v", got, err)
				}
			}
			if got != nil && !slices.ContainsFunc(got.SP.ACS, func(e Endpoint) bool { return e.Location == got.ACS && e.Binding == BindingPOST }) {
				t.Fatalf("ACS %q is not an HTTP-POST ACS of %s", got.ACS, got.SP.Name)
			}
			if c.check != nil {
				c.check(t, got)
			}
		})
	}
}

func TestAuthnRequestsThatAreAccepted(t *testing.T) {
	relay := inRelayBody
	runAuthnCases(t, []authnCase{{
		name: "an unsigned request over Redirect goes to the SP's default ACS with its RelayState unchanged",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(inMsg{ID: "_r1", Issuer: inWikiID}.xml("")), &relay, nil))
		},
		check: func(t *testing.T, r *AuthnRequest) {
			want := AuthnRequest{ID: "_r1", IssueInstant: inT0, ACS: inWikiACS1, Binding: BindingRedirect, RelayState: inRelayBody, Comparison: "exact"}
			if r.SP.EntityID != inWikiID || r.Signed || r.ID != want.ID || !r.IssueInstant.Equal(want.IssueInstant) || r.ACS != want.ACS ||
				r.Binding != want.Binding || r.RelayState != want.RelayState || r.Comparison != want.Comparison || r.ForceAuthn || r.IsPassive {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "an unsigned request over POST names an ACS URL from the list and reads its NameIDPolicy and RequestedAuthnContext",
		req: func(t *testing.T, f *inFixture) *http.Request {
			m := inMsg{Issuer: inWikiID, Attrs: ` AssertionConsumerServiceURL="` + inWikiACS0 + `" ProtocolBinding="` + BindingPOST + `" ForceAuthn="true" IsPassive="0"`,
				Body: `<samlp:NameIDPolicy Format="` + NameIDEmail + `" AllowCreate="1"/>` +
					`<samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>` + ClassREFEDSMFA + `</saml:AuthnContextClassRef>` +
					`<saml:AuthnContextClassRef> ` + ClassPasswordProtectedTransport + ` </saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`}
			return postReq(ParamRequest, []byte(m.xml("")), &relay)
		},
		check: func(t *testing.T, r *AuthnRequest) {
			if r.ACS != inWikiACS0 || r.Binding != BindingPOST || r.RelayState != inRelayBody || !r.ForceAuthn || r.IsPassive ||
				r.NameIDFormat != NameIDEmail || !r.AllowCreate || r.Comparison != "minimum" ||
				!slices.Equal(r.RequestedClasses, []string{ClassREFEDSMFA, ClassPasswordProtectedTransport}) {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "an ACS index picks its endpoint",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inWikiID, Attrs: ` AssertionConsumerServiceIndex="0"`}.xml("")), nil, nil))
		},
		check: func(t *testing.T, r *AuthnRequest) {
			if r.ACS != inWikiACS0 {
				t.Fatalf("ACS %q", r.ACS)
			}
		},
	}, {
		name: "a POST request signed by xmlsec1 is verified",
		req: func(t *testing.T, f *inFixture) *http.Request {
			m := inMsg{Issuer: inHRID, Attrs: ` AssertionConsumerServiceURL="` + inHRACS + `"`, Body: `<samlp:NameIDPolicy Format="` + NameIDPersistent + `"/>`}
			return postReq(ParamRequest, xmlsec1Sign(t, m, f.sp, "", "", ""), nil)
		},
		check: func(t *testing.T, r *AuthnRequest) {
			if !r.Signed || r.SP.EntityID != inHRID || r.ACS != inHRACS || r.NameIDFormat != NameIDPersistent {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "a POST request signed by the second of the SP's keys is verified",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return postReq(ParamRequest, xmlsec1Sign(t, inMsg{Issuer: inWikiID}, f.sp, "", "", ""), nil)
		},
		check: func(t *testing.T, r *AuthnRequest) {
			if !r.Signed {
				t.Fatal("not Signed")
			}
		},
	}, {
		name: "a POST signature is checked with the configured key whatever certificate KeyInfo holds",
		req: func(t *testing.T, f *inFixture) *http.Request {
			signed := xmlsec1Sign(t, inMsg{Issuer: inHRID}, f.sp, "", "", "")
			return postReq(ParamRequest, mustReplace(t, signed, certBase64(f.sp), certBase64(f.other)), nil)
		},
		check: func(t *testing.T, r *AuthnRequest) {
			if !r.Signed {
				t.Fatal("not Signed")
			}
		},
	}, {
		name: "a POST signature by an SP certificate past its validity dates is verified, as SAML metadata keys are",
		req: func(t *testing.T, f *inFixture) *http.Request {
			expired := expiredCert(t, f.sp)
			f.hr.SigningCerts = []*x509.Certificate{expired.cert}
			return postReq(ParamRequest, xmlsec1Sign(t, inMsg{Issuer: inHRID}, expired, "", "", ""), nil)
		},
		check: func(t *testing.T, r *AuthnRequest) {
			if !r.Signed {
				t.Fatal("not Signed")
			}
		},
	}, {
		name: "a Redirect request signed by openssl over the query as sent is verified",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inHRID}.xml("")), &relay, nil)
			return getReq(signQuery(q, SigAlgRSASHA256, opensslQuerySigner(t, f.sp.keyFile, "sha256")))
		},
		check: func(t *testing.T, r *AuthnRequest) {
			if !r.Signed || r.RelayState != inRelayBody || r.ACS != inHRACS {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "a Redirect signature over an unusual but valid encoding of the query is verified",
		req: func(t *testing.T, f *inFixture) *http.Request {
			// Every byte percent-encoded, lower-case hex: re-encoding the
			// parameters would give other octets.
			q := redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inHRID}.xml("")), &relay, escapeAll)
			return getReq(signQuery(q, SigAlgRSASHA256, opensslQuerySigner(t, f.sp.keyFile, "sha256")))
		},
		check: func(t *testing.T, r *AuthnRequest) {
			if !r.Signed || r.RelayState != inRelayBody {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "a Redirect signature that signed an empty RelayState is verified",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inHRID}.xml("")), inPtr(""), nil)
			return getReq(signQuery(q, SigAlgRSASHA256, goQuerySigner(t, f.sp.key, crypto.SHA256)))
		},
	}, {
		name: "Entra's POST request signed RSA-SHA1 with only X509SKI in KeyInfo is verified against the configured certificate",
		req: func(t *testing.T, f *inFixture) *http.Request {
			m := inMsg{Issuer: inEntraID, Dest: "-", Attrs: ` AssertionConsumerServiceIndex="0"`, Body: `<samlp:NameIDPolicy Format="` + NameIDPersistent + `"/>`}
			signed := xmlsec1Sign(t, m, f.entra, SigAlgRSASHA1, DigestSHA1, inKeyInfoSKI)
			if !bytes.Contains(signed, []byte("X509SKI>")) || bytes.Contains(signed, []byte("X509Certificate")) {
				t.Fatalf("xmlsec1 did not write the Entra shape:\n%s", signed)
			}
			return postReq(ParamRequest, signed, nil)
		},
		check: func(t *testing.T, r *AuthnRequest) {
			if !r.Signed || r.ACS != inEntraACS || r.NameIDFormat != NameIDPersistent {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "Entra's Redirect request signed RSA-SHA1 is verified",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inEntraID}.xml("")), nil, nil)
			return getReq(signQuery(q, SigAlgRSASHA1, opensslQuerySigner(t, f.entra.keyFile, "sha1")))
		},
	}, {
		name: "a request issued MaxAge plus Skew ago is still fresh",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inWikiID, Instant: inT0.Add(-DefaultMaxAge - DefaultSkew)}.xml("")), nil, nil))
		},
	}, {
		name: "a request issued Skew ahead of the clock is accepted",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inWikiID, Instant: inT0.Add(DefaultSkew)}.xml("")), nil, nil))
		},
	}, {
		name: "an unsigned request without Destination is accepted",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inWikiID, Dest: "-"}.xml("")), nil, nil))
		},
	}, {
		name: "a request from an SP without a signing certificate is accepted unsigned",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return postReq(ParamRequest, []byte(inMsg{Issuer: inOpenID}.xml("")), nil)
		},
		check: func(t *testing.T, r *AuthnRequest) {
			if r.Signed || r.ACS != inOpenACS {
				t.Fatalf("got %+v", r)
			}
		},
	}, {
		name: "a comment inside the Issuer does not hide part of it",
		req: func(t *testing.T, f *inFixture) *http.Request {
			x := strings.Replace(inMsg{Issuer: inWikiID}.xml(""), "wiki.example", "wiki<!-- x -->.example", 1)
			return postReq(ParamRequest, []byte(x), nil)
		},
		check: func(t *testing.T, r *AuthnRequest) {
			if r.SP.EntityID != inWikiID {
				t.Fatalf("SP %s", r.SP.EntityID)
			}
		},
	}})
}

// escapeAll percent-encodes every byte with lower-case hex digits.
func escapeAll(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte('%')
		b.WriteByte(hex[s[i]>>4])
		b.WriteByte(hex[s[i]&15])
	}
	return b.String()
}

func TestAuthnRequestsThatAreRefused(t *testing.T) {
	relay := inRelayBody
	wikiRedirect := func(m inMsg) func(t *testing.T, f *inFixture) *http.Request {
		return func(t *testing.T, f *inFixture) *http.Request {
			m.Issuer = inWikiID
			return getReq(redirectQuery(t, ParamRequest, []byte(m.xml("")), nil, nil))
		}
	}
	withACS := func(u string) func(t *testing.T, f *inFixture) *http.Request {
		return wikiRedirect(inMsg{Attrs: ` AssertionConsumerServiceURL="` + u + `"`})
	}
	cases := []authnCase{{
		name: "an unknown issuer is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: "https://evil.example/sp"}.xml("")), nil, nil))
		},
		want: ErrUnknownSP,
	}, {
		name: "a request without an Issuer is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			x := strings.Replace(inMsg{}.xml(""), "<saml:Issuer></saml:Issuer>", "", 1)
			return getReq(redirectQuery(t, ParamRequest, []byte(x), nil, nil))
		},
		want: ErrMalformed,
	}, {
		name: "an ACS URL not in the list is refused",
		req:  withACS("https://evil.example/acs"), want: ErrACSNotAllowed,
	}, {
		name: "an ACS URL with a trailing slash is refused",
		req:  withACS(inWikiACS0 + "/"), want: ErrACSNotAllowed,
	}, {
		name: "an ACS URL differing in case is refused",
		req:  withACS(strings.ToUpper(inWikiACS0)), want: ErrACSNotAllowed,
	}, {
		name: "an ACS URL on a look-alike host is refused",
		req:  withACS("https://wiki.example.com.evil.example/saml/acs"), want: ErrACSNotAllowed,
	}, {
		name: "an ACS URL with user info is refused",
		req:  withACS("https://wiki.example.com@evil.example/saml/acs"), want: ErrACSNotAllowed,
	}, {
		name: "an ACS URL of a non-POST endpoint is refused",
		req:  withACS("https://wiki.example.com/saml/artifact"), want: ErrACSNotAllowed,
	}, {
		name: "an ACS index the SP does not have is refused",
		req:  wikiRedirect(inMsg{Attrs: ` AssertionConsumerServiceIndex="7"`}), want: ErrACSNotAllowed,
	}, {
		name: "the index of a non-POST endpoint is refused",
		req:  wikiRedirect(inMsg{Attrs: ` AssertionConsumerServiceIndex="2"`}), want: ErrACSNotAllowed,
	}, {
		name: "an ACS index that is not a number is refused",
		req:  wikiRedirect(inMsg{Attrs: ` AssertionConsumerServiceIndex="-1"`}), want: ErrMalformed,
	}, {
		name: "both an ACS index and an ACS URL are refused",
		req:  wikiRedirect(inMsg{Attrs: ` AssertionConsumerServiceIndex="0" AssertionConsumerServiceURL="` + inWikiACS0 + `"`}), want: ErrMalformed,
	}, {
		name: "a response binding other than POST is answered UnsupportedBinding at a listed ACS",
		req:  wikiRedirect(inMsg{Attrs: ` ProtocolBinding="` + inArtifact + `"`}), want: ErrUnsupportedBinding,
		check: func(t *testing.T, r *AuthnRequest) {
			if r.ACS != inWikiACS1 {
				t.Fatalf("ACS %q", r.ACS)
			}
		},
	}, {
		name: "an AuthnContextDeclRef is answered NoAuthnContext",
		req:  wikiRedirect(inMsg{Body: `<samlp:RequestedAuthnContext><saml:AuthnContextDeclRef>urn:example:decl</saml:AuthnContextDeclRef></samlp:RequestedAuthnContext>`}),
		want: ErrNoAuthnContext,
	}, {
		name: "an unknown Comparison is refused",
		req:  wikiRedirect(inMsg{Body: `<samlp:RequestedAuthnContext Comparison="any"><saml:AuthnContextClassRef>x</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>`}),
		want: ErrMalformed,
	}, {
		name: "a ForceAuthn that is not a boolean is refused",
		req:  wikiRedirect(inMsg{Attrs: ` ForceAuthn="yes"`}), want: ErrMalformed,
	}, {
		name: "SAML 1.1 is refused",
		req:  wikiRedirect(inMsg{Version: "1.1"}), want: ErrMalformed,
	}, {
		name: "an ID starting with a digit is refused",
		req:  wikiRedirect(inMsg{ID: "1abc"}), want: ErrMalformed,
	}, {
		name: "an ID with a quote is refused",
		req:  wikiRedirect(inMsg{ID: "_a&quot;b"}), want: ErrMalformed,
	}, {
		name: "a LogoutRequest sent as an AuthnRequest is refused",
		req:  wikiRedirect(inMsg{Tag: "LogoutRequest", Dest: inSSOURL}), want: ErrMalformed,
	}, {
		name: "an AuthnRequest in another namespace is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			x := strings.Replace(inMsg{Issuer: inWikiID}.xml(""), `xmlns:samlp="`+NSProtocol, `xmlns:samlp="urn:example:not-saml`, 1)
			return getReq(redirectQuery(t, ParamRequest, []byte(x), nil, nil))
		},
		want: ErrMalformed,
	}, {
		name: "an Issuer in another namespace is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			x := strings.Replace(inMsg{Issuer: inWikiID}.xml(""), `<saml:Issuer>`, `<samlp:Issuer>`, 1)
			x = strings.Replace(x, `</saml:Issuer>`, `</samlp:Issuer>`, 1)
			return getReq(redirectQuery(t, ParamRequest, []byte(x), nil, nil))
		},
		want: ErrMalformed,
	}, {
		name: "a Destination of another IdP is refused",
		req:  wikiRedirect(inMsg{Dest: inOtherIDP}), want: ErrMalformed,
	}, {
		name: "a Destination of our SLO endpoint is refused",
		req:  wikiRedirect(inMsg{Dest: inSLOURL}), want: ErrMalformed,
	}, {
		name: "a signed request without Destination is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return postReq(ParamRequest, xmlsec1Sign(t, inMsg{Issuer: inHRID, Dest: "-"}, f.sp, "", "", ""), nil)
		},
		want: ErrMalformed,
	}, {
		name: "an IssueInstant older than MaxAge plus Skew is refused",
		req:  wikiRedirect(inMsg{Instant: inT0.Add(-DefaultMaxAge - DefaultSkew - time.Second)}), want: ErrStale,
	}, {
		name: "an IssueInstant further ahead than Skew is refused",
		req:  wikiRedirect(inMsg{Instant: inT0.Add(DefaultSkew + time.Second)}), want: ErrStale,
	}, {
		name: "an IssueInstant that is not a time is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			x := strings.Replace(inMsg{Issuer: inWikiID}.xml(""), assertion0(), "yesterday", 1)
			return getReq(redirectQuery(t, ParamRequest, []byte(x), nil, nil))
		},
		want: ErrMalformed,
	}, {
		name: "an unsigned Redirect request to an SP that requires signatures is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inHRID}.xml("")), nil, nil))
		},
		want: ErrSignature,
	}, {
		name: "an unsigned POST request to an SP that requires signatures is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return postReq(ParamRequest, []byte(inMsg{Issuer: inHRID}.xml("")), nil)
		},
		want: ErrSignature,
	}, {
		name: "an unsigned request to Entra, which requires signatures here, is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return postReq(ParamRequest, []byte(inMsg{Issuer: inEntraID}.xml("")), nil)
		},
		want: ErrSignature,
	}, {
		name: "a POST request signed by another key is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return postReq(ParamRequest, xmlsec1Sign(t, inMsg{Issuer: inHRID}, f.other, "", "", ""), nil)
		},
		want: ErrSignature,
	}, {
		name: "a Redirect request signed by another key is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inHRID}.xml("")), nil, nil)
			return getReq(signQuery(q, SigAlgRSASHA256, opensslQuerySigner(t, f.other.keyFile, "sha256")))
		},
		want: ErrSignature,
	}, {
		name: "a POST request signed by another key with the SP's certificate in KeyInfo is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			signed := xmlsec1Sign(t, inMsg{Issuer: inHRID}, f.other, "", "", "")
			return postReq(ParamRequest, mustReplace(t, signed, certBase64(f.other), certBase64(f.sp)), nil)
		},
		want: ErrSignature,
	}, {
		name: "an enveloped signature inside a Redirect message does not count as signed",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return getReq(redirectQuery(t, ParamRequest, xmlsec1Sign(t, inMsg{Issuer: inHRID}, f.sp, "", "", ""), nil, nil))
		},
		want: ErrSignature,
	}, {
		name: "a signed POST request whose ACS URL was changed after signing is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			signed := xmlsec1Sign(t, inMsg{Issuer: inWikiID, Attrs: ` AssertionConsumerServiceURL="` + inWikiACS0 + `"`}, f.sp, "", "", "")
			return postReq(ParamRequest, mustReplace(t, signed, inWikiACS0, inWikiACS1), nil)
		},
		want: ErrSignature,
	}, {
		name: "a signed POST request with ForceAuthn removed after signing is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			signed := xmlsec1Sign(t, inMsg{Issuer: inHRID, Attrs: ` ForceAuthn="true"`}, f.sp, "", "", "")
			return postReq(ParamRequest, mustReplace(t, signed, ` ForceAuthn="true"`, ``), nil)
		},
		want: ErrSignature,
	}, {
		name: "a signed POST request to a non-Entra SP in Entra's RSA-SHA1 X509SKI shape is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			f.hr.SigningCerts = append(f.hr.SigningCerts, f.entra.cert)
			return postReq(ParamRequest, xmlsec1Sign(t, inMsg{Issuer: inHRID}, f.entra, SigAlgRSASHA1, DigestSHA1, inKeyInfoSKI), nil)
		},
		want: ErrSignature,
	}, {
		name: "a POST request signed RSA-SHA256 over a SHA-1 digest is refused from a non-Entra SP",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return postReq(ParamRequest, xmlsec1Sign(t, inMsg{Issuer: inHRID}, f.sp, SigAlgRSASHA256, DigestSHA1, ""), nil)
		},
		want: ErrSignature,
	}, {
		name: "a POST request signed RSA-SHA512 is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return postReq(ParamRequest, xmlsec1Sign(t, inMsg{Issuer: inHRID}, f.sp, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", DigestSHA256, ""), nil)
		},
		want: ErrSignature,
	}, {
		name: "a Redirect request signed RSA-SHA1 is refused from a non-Entra SP",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inHRID}.xml("")), nil, nil)
			return getReq(signQuery(q, SigAlgRSASHA1, opensslQuerySigner(t, f.sp.keyFile, "sha1")))
		},
		want: ErrSignature,
	}, {
		name: "a Redirect request with an unknown SigAlg is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inWikiID}.xml("")), nil, nil)
			return getReq(signQuery(q, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", goQuerySigner(t, f.sp.key, crypto.SHA256)))
		},
		want: ErrSignature,
	}, {
		name: "a signed Redirect request whose RelayState was changed after signing is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inWikiID}.xml("")), inPtr("a"), nil)
			q = signQuery(q, SigAlgRSASHA256, goQuerySigner(t, f.sp.key, crypto.SHA256))
			return getReq(strings.Replace(q, "RelayState=a", "RelayState=b", 1))
		},
		want: ErrSignature,
	}, {
		name: "a signed Redirect request whose RelayState was added after signing is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inWikiID}.xml("")), nil, nil)
			return getReq(signQuery(q, SigAlgRSASHA256, goQuerySigner(t, f.sp.key, crypto.SHA256)) + "&RelayState=b")
		},
		want: ErrSignature,
	}, {
		name: "a Redirect signature over the re-encoded query is refused when the query was sent encoded otherwise",
		req: func(t *testing.T, f *inFixture) *http.Request {
			sent := redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inHRID}.xml("")), &relay, escapeAll)
			v, err := url.ParseQuery(sent)
			if err != nil {
				t.Fatal(err)
			}
			reencoded := ParamRequest + "=" + url.QueryEscape(v.Get(ParamRequest)) + "&RelayState=" + url.QueryEscape(v.Get("RelayState"))
			signedQ := signQuery(reencoded, SigAlgRSASHA256, goQuerySigner(t, f.sp.key, crypto.SHA256))
			return getReq(sent + signedQ[len(reencoded):])
		},
		want: ErrSignature,
	}, {
		name: "a Redirect request with a Signature but no SigAlg is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			q := redirectQuery(t, ParamRequest, []byte(inMsg{Issuer: inWikiID}.xml("")), nil, nil)
			return getReq(q + "&Signature=AAAA")
		},
		want: ErrSignature,
	}, {
		name: "a signed request from an SP without a signing certificate is refused",
		req: func(t *testing.T, f *inFixture) *http.Request {
			return postReq(ParamRequest, xmlsec1Sign(t, inMsg{Issuer: inOpenID}, f.sp, "", "", ""), nil)
		},
		want: ErrSignature,
	}}
	runAuthnCases(t, cases)
}

// certBase64 is k's certificate as KeyInfo carries it (xmlsec1 wraps
// it at 64 columns).
func certBase64(k inKey) string {
	b := base64.StdEncoding.EncodeToString(k.cert.Raw)
	var out strings.Builder
	for i := 0; i < len(b); i += 64 {
		if i > 0 {
			out.WriteByte('\n')
		}
		out.WriteString(b[i:min(i+64, len(b))])
	}
	return out.String()
}

// expiredCert is a certificate for k's key valid only in 2000.
func expiredCert(t *testing.T, k inKey) inKey {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "expired SP key"},
		NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.key.PublicKey, k.key)
	if err != nil {
		t.Fatal(err)
	}
	k.cert, _ = x509.ParseCertificate(der)
	k.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return k
}

// assertion0 is how inMsg writes inT0.
func assertion0() string { return "2026-03-01T12:00:00.000Z" }

func mustReplace(t *testing.T, b []byte, old, repl string) []byte {
	t.Helper()
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%q not in\n%s", old, b)
	}
	return bytes.Replace(b, []byte(old), []byte(repl), 1)
}

// TestSignatureWrappingIsRefused moves or adds elements around a request
// xmlsec1 signed. Whatever passes must have been read from the signed
// element only.
func TestSignatureWrappingIsRefused(t *testing.T) {
	f := newInFixture(t)
	signed := xmlsec1Sign(t, inMsg{ID: "_signed", Issuer: inHRID, Attrs: ` AssertionConsumerServiceURL="` + inHRACS + `"`}, f.sp, "", "", "")
	signedEl := string(signed[bytes.Index(signed, []byte("<samlp:AuthnRequest")):])
	signedEl = strings.TrimSpace(signedEl)
	sigStart, sigEnd := strings.Index(signedEl, "<ds:Signature"), strings.Index(signedEl, "</ds:Signature>")+len("</ds:Signature>")
	sig := signedEl[sigStart:sigEnd]
	evil := func(id, inner string) string {
		return inMsg{ID: id, Issuer: inHRID, Attrs: ` ForceAuthn="false" IsPassive="true"`, Body: inner}.xml("")
	}
	for _, c := range []struct{ name, doc string }{
		{"an unsigned request wrapping the signed one in Extensions", evil("_evil", `<samlp:Extensions>`+signedEl+`</samlp:Extensions>`)},
		{"an unsigned request with the signed one's ID and a copy of its Signature", evil("_signed", sig+`<samlp:Extensions>`+strings.Replace(signedEl, sig, "", 1)+`</samlp:Extensions>`)},
		{"an unsigned request with a copy of the Signature referring to another ID", evil("_evil", sig)},
		{"the signed request with an unsigned request added inside it", strings.Replace(signedEl, "</samlp:AuthnRequest>", `<samlp:Extensions>`+evil("_evil", "")+`</samlp:Extensions></samlp:AuthnRequest>`, 1)},
		{"the signed request with a second Signature", strings.Replace(signedEl, sig, sig+sig, 1)},
		{"the signed request with its Signature moved into Extensions", strings.Replace(strings.Replace(signedEl, sig, "", 1), "</samlp:AuthnRequest>", `<samlp:Extensions>`+sig+`</samlp:Extensions></samlp:AuthnRequest>`, 1)},
		{"the signed request with a second ID attribute in another namespace", strings.Replace(signedEl, `ID="_signed"`, `ID="_signed" xmlns:x="urn:x" x:ID="_evil"`, 1)},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			got, err := f.p.AuthnRequest(context.Background(), postReq(ParamRequest, []byte(c.doc), nil))
			t.Logf("error: %v", err)
			if err == nil {
				t.Fatalf("accepted %+v", got)
			}
			if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v", err)
			}
		})
	}
	t.Run("the untouched signed request is accepted", func(t *testing.T) {
		got, err := f.p.AuthnRequest(context.Background(), postReq(ParamRequest, []byte(signedEl), nil))
		if err != nil || !got.Signed || got.ID != "_signed" || got.IsPassive {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
}

func TestAReplayedAuthnRequestIsRefused(t *testing.T) {
	f := newInFixture(t)
	for _, c := range []struct {
		name string
		req  func() *http.Request
	}{
		{"over Redirect", func() *http.Request {
			return getReq(redirectQuery(t, ParamRequest, []byte(inMsg{ID: "_once", Issuer: inWikiID}.xml("")), nil, nil))
		}},
		{"over POST, signed", func() *http.Request {
			return postReq(ParamRequest, xmlsec1Sign(t, inMsg{ID: "_twice", Issuer: inHRID}, f.sp, "", "", ""), nil)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r1, r2 := c.req(), c.req()
			if _, err := f.p.AuthnRequest(context.Background(), r1); err != nil {
				t.Fatalf("first use refused: %v", err)
			}
			f.now = f.now.Add(time.Minute)
			if _, err := f.p.AuthnRequest(context.Background(), r2); !errors.Is(err, ErrReplay) {
				t.Fatalf("second use: %v, want ErrReplay", err)
			}
		})
	}
	t.Run("the same ID from another SP is not a replay", func(t *testing.T) {
		r := getReq(redirectQuery(t, ParamRequest, []byte(inMsg{ID: "_once", Issuer: inOpenID, Instant: f.now}.xml("")), nil, nil))
		if _, err := f.p.AuthnRequest(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a request refused for another reason does not use up its ID", func(t *testing.T) {
		bad := getReq(redirectQuery(t, ParamRequest, []byte(inMsg{ID: "_later", Issuer: inWikiID, Instant: f.now, Dest: inOtherIDP}.xml("")), nil, nil))
		if _, err := f.p.AuthnRequest(context.Background(), bad); !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
		good := getReq(redirectQuery(t, ParamRequest, []byte(inMsg{ID: "_later", Issuer: inWikiID, Instant: f.now}.xml("")), nil, nil))
		if _, err := f.p.AuthnRequest(context.Background(), good); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTheDefaultACSIsTheMarkedOneElseTheLowestIndexElseTheFirst(t *testing.T) {
	for _, c := range []struct {
		name string
		acs  []Endpoint
		want string
	}{
		{"the one marked default", []Endpoint{{Location: "a", Index: 0}, {Location: "b", Index: 1, IsDefault: true}}, "b"},
		{"the lowest index", []Endpoint{{Location: "a", Index: 5}, {Location: "b", Index: 2}, {Location: "c", Index: 3}}, "b"},
		{"the first of equal indexes", []Endpoint{{Location: "a"}, {Location: "b"}}, "a"},
		{"never a non-POST one", []Endpoint{{Binding: inArtifact, Location: "a", IsDefault: true}, {Binding: BindingPOST, Location: "b", Index: 9}}, "b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			el, err := parseMessageXML([]byte(inMsg{Issuer: "x"}.xml("")))
			if err != nil {
				t.Fatal(err)
			}
			got, err := resolveACS(el, &ServiceProvider{Name: "x", ACS: c.acs})
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
	t.Run("an SP without an HTTP-POST ACS gets nothing", func(t *testing.T) {
		el, _ := parseMessageXML([]byte(inMsg{Issuer: "x"}.xml("")))
		if _, err := resolveACS(el, &ServiceProvider{Name: "x", ACS: []Endpoint{{Binding: inArtifact, Location: "a"}}}); !errors.Is(err, ErrACSNotAllowed) {
			t.Fatal(err)
		}
	})
}
