package saml

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func sloTestLogoutRequest(t *testing.T) *etree.Element {
	t.Helper()
	el, err := NewLogoutRequest(LogoutRequestParams{
		ID: "_lr1", IssueInstant: sloT0, Issuer: sloIssuer, Destination: "https://wiki.example.com/saml/slo",
		NameID:         NameID{Format: NameIDPersistent, Value: "a1b2c3", SPNameQualifier: "https://wiki.example.com"},
		SessionIndexes: []string{"idx-1"}, NotOnOrAfter: sloT0.Add(5 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func sloTestLogoutResponse(t *testing.T, sub string) *etree.Element {
	t.Helper()
	el, err := NewLogoutResponse(LogoutResponseParams{
		ID: "_resp1", IssueInstant: sloT0, InResponseTo: "_req-from-sp", Issuer: sloIssuer,
		Destination: "https://wiki.example.com/saml/slo/response", SubStatus: sub,
	})
	if err != nil {
		t.Fatal(err)
	}
	return el
}

// opensslVerify checks signature over data with the public key of cert,
// with the openssl command-line tool (an implementation independent of
// Go's). It returns nil when the signature verifies.
func opensslVerify(t *testing.T, cert *x509.Certificate, data, signature []byte) error {
	t.Helper()
	bin := testenv.LookPath(t, "openssl", "the openssl package")
	dir := t.TempDir()
	pub, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"pub.pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), "data": data, "sig": signature,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(bin, "dgst", "-sha256", "-verify", filepath.Join(dir, "pub.pem"), // #nosec G204 -- test tool, fixed arguments.
		"-signature", filepath.Join(dir, "sig"), filepath.Join(dir, "data")).CombinedOutput()
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("openssl did not run: %v\n%s", err, out)
		}
		return errors.New(strings.TrimSpace(string(out)))
	}
	if !bytes.Contains(out, []byte("Verified OK")) {
		t.Fatalf("openssl exited 0 without Verified OK: %s", out)
	}
	return nil
}

// signedOctets splits a HTTP-Redirect URL's query as the binding says a
// receiver must: the signed octets are the raw (still URL-encoded)
// parameters before Signature, and Signature is base64 after URL-decoding.
func signedOctets(t *testing.T, rawURL string) (octets, sig []byte, q url.Values) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	raw := u.RawQuery
	i := strings.Index(raw, "&"+ParamSignature+"=")
	if i < 0 {
		t.Fatalf("no Signature in %s", raw)
	}
	q, err = url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	sig, err = base64.StdEncoding.DecodeString(q.Get(ParamSignature))
	if err != nil {
		t.Fatal(err)
	}
	// Only the binding's parameters are signed, in their fixed order.
	var parts []string
	for _, p := range strings.Split(raw[:i], "&") {
		name, _, _ := strings.Cut(p, "=")
		if name == ParamRequest || name == ParamResponse || name == ParamRelayState || name == ParamSigAlg {
			parts = append(parts, p)
		}
	}
	return []byte(strings.Join(parts, "&")), sig, q
}

// inflateParam decodes a HTTP-Redirect message parameter.
func inflateParam(t *testing.T, v string) *etree.Element {
	t.Helper()
	deflated, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := inflate(deflated, MaxMessageBytes)
	if err != nil {
		t.Fatal(err)
	}
	return xmltest.Parse(t, raw)
}

func TestTheLogoutMessagesSayWhatTheBindingsCarry(t *testing.T) {
	req := sloTestLogoutRequest(t)
	raw, _ := etreeString(req)
	sloGolden(t, "logout-request", []byte(raw))
	if req.NamespaceURI() != NSProtocol || req.Tag != "LogoutRequest" {
		t.Fatalf("root %s", req.FullTag())
	}
	for attr, want := range map[string]string{"ID": "_lr1", "Version": "2.0", "IssueInstant": "2026-03-01T10:00:00.000Z",
		"Destination": "https://wiki.example.com/saml/slo", "NotOnOrAfter": "2026-03-01T10:05:00.000Z", "Reason": LogoutReasonUser} {
		if got := req.SelectAttrValue(attr, ""); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	nid := xmltest.One(t, req, "saml:NameID")
	if nid.NamespaceURI() != NSAssertion || nid.Text() != "a1b2c3" || nid.SelectAttrValue("Format", "") != NameIDPersistent ||
		nid.SelectAttrValue("SPNameQualifier", "") != "https://wiki.example.com" {
		t.Errorf("NameID %s %v", nid.Text(), nid.Attr)
	}
	if got := xmltest.One(t, req, "samlp:SessionIndex").Text(); got != "idx-1" {
		t.Errorf("SessionIndex %q", got)
	}

	resp := sloTestLogoutResponse(t, StatusPartialLogout)
	raw, _ = etreeString(resp)
	sloGolden(t, "logout-response-partial", []byte(raw))
	if resp.SelectAttrValue("InResponseTo", "") != "_req-from-sp" {
		t.Errorf("InResponseTo %q", resp.SelectAttrValue("InResponseTo", ""))
	}
	top := xmltest.One(t, resp, "samlp:Status/samlp:StatusCode")
	if top.SelectAttrValue("Value", "") != StatusSuccess || xmltest.One(t, top, "samlp:StatusCode").SelectAttrValue("Value", "") != StatusPartialLogout {
		t.Errorf("status %v", top.Attr)
	}
	if n := len(sloTestLogoutResponse(t, "").FindElements("//StatusCode")); n != 1 {
		t.Errorf("a plain success has %d status codes", n)
	}
}

func etreeString(el *etree.Element) (string, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	return doc.WriteToString()
}

func TestAMessageSentOverHTTPRedirectIsSignedOverTheExactQueryOctets(t *testing.T) {
	cur, _, _ := sloKeys(t)
	out := Outbound{Signer: sloSigner(t, cur)}
	ctx := context.Background()
	for _, tc := range []struct {
		name, location, relay string
		msg                   *etree.Element
		param                 string
	}{
		{"a request with a RelayState", "https://wiki.example.com/saml/slo", "back to /home?x=1&y=ü", sloTestLogoutRequest(t), ParamRequest},
		{"a request without a RelayState", "https://wiki.example.com/saml/slo", "", sloTestLogoutRequest(t), ParamRequest},
		{"a response to a location with a query", "https://hr.example.com/Shibboleth.sso/SLO/Redirect?tenant=a%20b", "rs", sloTestLogoutResponse(t, ""), ParamResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := out.Send(ctx, tc.msg, BindingRedirect, tc.location, tc.relay)
			if err != nil {
				t.Fatal(err)
			}
			if m.Binding != BindingRedirect || len(m.Fields) != 0 || !strings.HasPrefix(m.URL, tc.location) {
				t.Fatalf("message %+v", m)
			}
			octets, sig, q := signedOctets(t, m.URL)
			if q.Get(ParamSigAlg) != SigAlgRSASHA256 || q.Get(ParamRelayState) != tc.relay {
				t.Errorf("SigAlg %q, RelayState %q", q.Get(ParamSigAlg), q.Get(ParamRelayState))
			}
			if strings.Contains(tc.location, "?") && q.Get("tenant") != "a b" {
				t.Errorf("the location's own query was lost: %s", m.URL)
			}
			if err := opensslVerify(t, cur.Cert, octets, sig); err != nil {
				t.Errorf("openssl does not verify the signature: %v", err)
			}
			// A changed RelayState (or any other signed octet) fails.
			forged := bytes.Replace(octets, []byte(ParamSigAlg+"="), []byte(ParamRelayState+"=evil&"+ParamSigAlg+"="), 1)
			if tc.relay != "" {
				forged = bytes.Replace(octets, []byte(url.QueryEscape(tc.relay)), []byte("evil"), 1)
			}
			if err := opensslVerify(t, cur.Cert, forged, sig); err == nil {
				t.Error("openssl verified the signature over changed octets")
			}
			if err := opensslVerify(t, validators.FixedKey(t, "next").Cert, octets, sig); err == nil {
				t.Error("openssl verified the signature with another key")
			}
			msg := inflateParam(t, q.Get(tc.param))
			if msg.Tag != tc.msg.Tag || msg.SelectAttrValue("ID", "") != tc.msg.SelectAttrValue("ID", "") {
				t.Errorf("the query carries %s %s", msg.Tag, msg.SelectAttrValue("ID", ""))
			}
			if msg.FindElement("//Signature") != nil {
				t.Error("a HTTP-Redirect message carries an XML signature")
			}
		})
	}
}

func TestAMessageSentOverHTTPPOSTCarriesAnEnvelopedSignatureXMLSec1Verifies(t *testing.T) {
	cur, next, _ := sloKeys(t)
	out := Outbound{Signer: sloSigner(t, cur)}
	for _, tc := range []struct {
		name  string
		msg   *etree.Element
		param string
		id    validators.IDAttr
		relay string
	}{
		{"a logout request", sloTestLogoutRequest(t), ParamRequest, sloLogoutRequestID, "rs-1"},
		{"a logout response", sloTestLogoutResponse(t, StatusPartialLogout), ParamResponse, sloLogoutResponseID, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := out.Send(context.Background(), tc.msg, BindingPOST, "https://wiki.example.com/saml/slo", tc.relay)
			if err != nil {
				t.Fatal(err)
			}
			if m.Binding != BindingPOST || m.URL != "https://wiki.example.com/saml/slo" || m.Fields[0].Name != tc.param {
				t.Fatalf("message %+v", m)
			}
			if v := m.Values(); v.Get(ParamRelayState) != tc.relay || (tc.relay == "" && len(m.Fields) != 1) {
				t.Errorf("fields %v", v)
			}
			doc, err := base64.StdEncoding.DecodeString(m.Fields[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			sloGolden(t, "post-"+strings.ReplaceAll(tc.name, " ", "-"), doc)
			root := xmltest.Parse(t, doc)
			sloCheckSignature(t, root, cur.Cert, true)
			if err := validators.XMLSec1(t, doc, sloPEM(cur.Cert), tc.id); err != nil {
				t.Errorf("xmlsec1 rejected it: %v", err)
			}
			if err := validators.XMLSec1(t, doc, sloPEM(next.Cert), tc.id); !errors.Is(err, validators.ErrRejected) {
				t.Errorf("xmlsec1 verified it with a key that did not sign: %v", err)
			}
			forged := bytes.Replace(doc, []byte("https://wiki.example.com/saml/slo"), []byte("https://evil.example.com/saml/slo"), 1)
			if bytes.Equal(forged, doc) {
				t.Fatal("the forgery changed nothing")
			}
			if err := validators.XMLSec1(t, forged, sloPEM(cur.Cert), tc.id); !errors.Is(err, validators.ErrRejected) {
				t.Errorf("xmlsec1 accepted a changed Destination: %v", err)
			}
			if tc.msg.FindElement("./Signature") != nil {
				t.Error("Send signed the caller's element instead of a copy")
			}
		})
	}
}

func TestOutboundMessagesRefuseWhatCannotTravel(t *testing.T) {
	cur, _, _ := sloKeys(t)
	out := Outbound{Signer: sloSigner(t, cur)}
	ctx := context.Background()
	for name, send := range map[string]func() error{
		"a relative location": func() error {
			_, err := out.Send(ctx, sloTestLogoutRequest(t), BindingRedirect, "/saml/slo", "")
			return err
		},
		"a location with fragment": func() error {
			_, err := out.Send(ctx, sloTestLogoutRequest(t), BindingPOST, "https://a.example/slo#x", "")
			return err
		},
		"a javascript: location": func() error {
			_, err := out.Send(ctx, sloTestLogoutRequest(t), BindingPOST, "javascript:alert(1)", "")
			return err
		},
		"an unknown binding": func() error {
			_, err := out.Send(ctx, sloTestLogoutRequest(t), "urn:x", "https://a.example/slo", "")
			return err
		},
		"no signer": func() error {
			_, err := Outbound{}.Send(ctx, sloTestLogoutRequest(t), BindingPOST, "https://a.example/slo", "")
			return err
		},
		"a signed message over HTTP-Redirect": func() error {
			m := sloTestLogoutRequest(t)
			if err := out.Signer.SignEnveloped(ctx, m, "ID", 1); err != nil {
				t.Fatal(err)
			}
			_, err := out.Send(ctx, m, BindingRedirect, "https://a.example/slo", "")
			return err
		},
		"a request without a NameID": func() error {
			_, err := NewLogoutRequest(LogoutRequestParams{IssueInstant: sloT0, Issuer: sloIssuer, Destination: "https://a.example/slo"})
			return err
		},
		"a NameID XML cannot carry": func() error {
			_, err := NewLogoutRequest(LogoutRequestParams{IssueInstant: sloT0, Issuer: sloIssuer, Destination: "https://a.example/slo",
				NameID: NameID{Value: "a\x00b"}})
			return err
		},
		"a response without a destination": func() error {
			_, err := NewLogoutResponse(LogoutResponseParams{IssueInstant: sloT0, Issuer: sloIssuer})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			if err := send(); err == nil {
				t.Error("no error")
			}
		})
	}
}
