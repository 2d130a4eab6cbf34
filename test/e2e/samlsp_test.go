package e2e

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/saml"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// samlSP is a SAML 2.0 service provider for the browser tests, served on
// 127.0.0.1 — another site than Gatehouse on localhost, so the AuthnRequest
// its page auto-posts is a cross-site POST, which the SameSite=Lax session
// cookie does not travel with. /start sends the browser to Gatehouse with
// an AuthnRequest; the ACS and the SingleLogoutService record what arrives
// and show a page.
type samlSP struct {
	t        *testing.T
	name     string
	entityID string
	url      string // http://127.0.0.1:PORT
	// idp is Gatehouse's base URL (its entity ID), set once it runs.
	idp string
	// out signs the SP's requests with its key; nil: it sends them
	// unsigned and has no certificate.
	out      *saml.Outbound
	certFile string
	acs, slo chan spMessage
}

// spMessage is what arrived at an SP endpoint.
type spMessage struct {
	Method string
	// Form is the POSTed form, or the query of a GET.
	Form     url.Values
	RawQuery string
	// FetchDest is the request's Sec-Fetch-Dest: "iframe" when it came
	// from a frame (of Gatehouse's sign-out page), "document" at the top.
	FetchDest string
}

// newSAMLSP starts an SP; signed gives it a key (the fixed test key
// "other") to sign its requests with, and a certificate file for
// Gatehouse's configuration.
func newSAMLSP(t *testing.T, name, entityID string, signed bool) *samlSP {
	t.Helper()
	sp := &samlSP{t: t, name: name, entityID: entityID, acs: make(chan spMessage, 8), slo: make(chan spMessage, 8)}
	if signed {
		signer, err := assertion.NewSigner(validators.FixedKey(t, "other"))
		if err != nil {
			t.Fatal(err)
		}
		sp.out = &saml.Outbound{Signer: signer}
		_, certPEM := validators.FixedKeyPEM(t, "other")
		sp.certFile = filepath.Join(t.TempDir(), "sp.crt")
		if err := os.WriteFile(sp.certFile, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /start", sp.start)
	mux.HandleFunc("POST /acs", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sp.record(sp.acs, r, r.PostForm)
		spPage(w, sp.name, `<h1 id="acs">Signed in to `+template.HTMLEscapeString(sp.name)+`</h1>`)
	})
	mux.HandleFunc("GET /slo", func(w http.ResponseWriter, r *http.Request) {
		sp.record(sp.slo, r, r.URL.Query())
		spPage(w, sp.name, `<h1 id="slo">Signed out of `+template.HTMLEscapeString(sp.name)+`</h1>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	sp.url = srv.URL
	return sp
}

func (sp *samlSP) record(ch chan spMessage, r *http.Request, form url.Values) {
	select {
	case ch <- spMessage{Method: r.Method, Form: form, RawQuery: r.URL.RawQuery, FetchDest: r.Header.Get("Sec-Fetch-Dest")}:
	default:
		sp.t.Errorf("%s: more messages than the test reads", sp.name)
	}
}

// spPage writes a page of the SP's own (no favicon request, no CSP).
func spPage(w http.ResponseWriter, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>`+
		template.HTMLEscapeString(title)+`</title></head><body>`+body+`</body></html>`)
}

// app is the SP in Gatehouse's configuration: inline, MFA required, its
// signed requests required when it has a key.
func (sp *samlSP) app() config.App {
	return config.App{Name: sp.name, Type: "saml", EntityID: sp.entityID, ACSURLs: []string{sp.acsURL()}, SLOURL: sp.url + "/slo",
		CertFile: sp.certFile, RequireSignedRequests: sp.out != nil, MFA: "required"}
}

func (sp *samlSP) acsURL() string { return sp.url + "/acs" }

// startURL is the SP's page that sends the browser to Gatehouse with an
// AuthnRequest of this id (over binding "redirect" or "post"), asking for
// class when set, with the RelayState rs.
func (sp *samlSP) startURL(id, binding, class, rs string) string {
	return sp.url + "/start?" + url.Values{"id": {id}, "binding": {binding}, "class": {class}, "rs": {rs}}.Encode()
}

func (sp *samlSP) start(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := authnRequest{ID: q.Get("id"), Issuer: sp.entityID, Destination: sp.idp + saml.PathSSO, ACS: sp.acsURL(), Class: q.Get("class")}
	el := req.element()
	rs := q.Get("rs")
	if q.Get("binding") == "post" {
		var fields []saml.Field
		if sp.out != nil {
			m, err := sp.out.Send(r.Context(), el, saml.BindingPOST, req.Destination, rs)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fields = m.Fields
		} else {
			raw, err := assertion.Marshal(el, false)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fields = []saml.Field{{Name: saml.ParamRequest, Value: base64.StdEncoding.EncodeToString(raw)}, {Name: saml.ParamRelayState, Value: rs}}
		}
		var b strings.Builder
		if err := autoPostPage.Execute(&b, struct {
			Action string
			Fields []saml.Field
		}{req.Destination, fields}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		spPage(w, sp.name, b.String())
		return
	}
	target := redirectURL(sp.t, req.Destination, el, rs)
	if sp.out != nil {
		m, err := sp.out.Send(r.Context(), el, saml.BindingRedirect, req.Destination, rs)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		target = m.URL
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// autoPostPage is the SP's HTTP-POST binding: a form its own script
// submits as the page loads, from the SP's origin.
var autoPostPage = template.Must(template.New("post").Parse(`<form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}
<noscript><button type="submit">Continue</button></noscript></form>
<script>document.forms[0].submit();</script>`))

// logoutURL is a LogoutRequest from the SP, signed over HTTP-Redirect,
// for the subject and session its response named.
func (sp *samlSP) logoutURL(id string, r samlResponse, rs string) string {
	sp.t.Helper()
	el, err := saml.NewLogoutRequest(saml.LogoutRequestParams{ID: id, IssueInstant: time.Now(), Issuer: sp.entityID,
		Destination: sp.idp + saml.PathSLO, NameID: r.NameID, SessionIndexes: []string{r.SessionIndex}})
	if err != nil {
		sp.t.Fatal(err)
	}
	m, err := sp.out.Send(sp.t.Context(), el, saml.BindingRedirect, sp.idp+saml.PathSLO, rs)
	if err != nil {
		sp.t.Fatal(err)
	}
	return m.URL
}

// authnRequest is an AuthnRequest as an SP writes it.
type authnRequest struct {
	ID, Issuer, Destination, ACS string
	// Class, when set, is asked for with RequestedAuthnContext (exact).
	Class string
	// IssueInstant: zero for now.
	IssueInstant time.Time
}

func (a authnRequest) element() *etree.Element {
	if a.IssueInstant.IsZero() {
		a.IssueInstant = time.Now()
	}
	el := etree.NewElement("samlp:AuthnRequest")
	el.CreateAttr("xmlns:samlp", saml.NSProtocol)
	el.CreateAttr("xmlns:saml", saml.NSAssertion)
	el.CreateAttr("ID", a.ID)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", assertion.FormatTime(a.IssueInstant))
	el.CreateAttr("Destination", a.Destination)
	el.CreateAttr("AssertionConsumerServiceURL", a.ACS)
	el.CreateAttr("ProtocolBinding", saml.BindingPOST)
	el.CreateElement("saml:Issuer").SetText(a.Issuer)
	p := el.CreateElement("samlp:NameIDPolicy")
	p.CreateAttr("Format", saml.NameIDPersistent)
	p.CreateAttr("AllowCreate", "true")
	if a.Class != "" {
		rac := el.CreateElement("samlp:RequestedAuthnContext")
		rac.CreateAttr("Comparison", "exact")
		rac.CreateElement("saml:AuthnContextClassRef").SetText(a.Class)
	}
	return el
}

// redirectURL is an unsigned HTTP-Redirect message to dest: raw DEFLATE,
// base64, URL-encoded, then RelayState.
func redirectURL(t testing.TB, dest string, el *etree.Element, rs string) string {
	t.Helper()
	raw, err := assertion.Marshal(el, false)
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	_, _ = fw.Write(raw)
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	q := url.Values{saml.ParamRequest: {base64.StdEncoding.EncodeToString(z.Bytes())}}
	if rs != "" {
		q.Set(saml.ParamRelayState, rs)
	}
	return dest + "?" + q.Encode()
}

// receive returns the next message an SP endpoint got. The wait is a
// guard against a hung browser, not a timing assertion.
func receive(t *testing.T, ch <-chan spMessage, what string) spMessage {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(DefaultTimeout):
		t.Fatalf("no %s arrived", what)
		return spMessage{}
	}
}

// samlResponse is what a test reads from a Response it has checked.
type samlResponse struct {
	NameID       saml.NameID
	SessionIndex string
	AuthnInstant string
	Class        string
}

// checkResponse checks the Response the SP's ACS got, as an SP must: with
// node-saml (signatures, validity, audience, InResponseTo) and, for what
// node-saml does not look at, itself: Destination and Recipient are the
// ACS, both Issuers are Gatehouse, InResponseTo (on the Response and the
// SubjectConfirmationData) is inResponseTo ("" for an unsolicited
// response: absent), the class is class, every signature is RSA-SHA256
// over SHA-256 digests, and the RelayState came back unchanged.
func checkResponse(t *testing.T, sp *samlSP, m spMessage, idpCertPEM []byte, inResponseTo, class, rs string) samlResponse {
	t.Helper()
	if m.Method != http.MethodPost {
		t.Fatalf("the ACS got a %s", m.Method)
	}
	if got := m.Form.Get(saml.ParamRelayState); got != rs {
		t.Errorf("RelayState %q came back as %q", rs, got)
	}
	b64 := m.Form.Get(saml.ParamResponse)
	res := validators.NodeSAML(t, validators.NodeSAMLInput{CertPEM: string(idpCertPEM), Now: time.Now(), EntityID: sp.entityID, Audience: sp.entityID,
		ACS: sp.acsURL(), WantAssertionsSigned: true, WantResponseSigned: true, RequestID: inResponseTo,
		Cases: []validators.NodeSAMLCase{{Name: sp.name, SAMLResponse: b64}}})
	if !res[0].Valid {
		t.Fatalf("node-saml refuses the response to %s: %s", sp.name, res[0].Error)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	resp := doc.Root()
	if resp.Tag != "Response" || resp.NamespaceURI() != saml.NSProtocol {
		t.Fatalf("the ACS got a %s", resp.FullTag())
	}
	if got := child(t, child(t, resp, saml.NSProtocol, "Status"), saml.NSProtocol, "StatusCode").SelectAttrValue("Value", ""); got != saml.StatusSuccess {
		t.Fatalf("status %s", got)
	}
	a := child(t, resp, saml.NSAssertion, "Assertion")
	conf := child(t, child(t, child(t, a, saml.NSAssertion, "Subject"), saml.NSAssertion, "SubjectConfirmation"), saml.NSAssertion, "SubjectConfirmationData")
	authn := child(t, a, saml.NSAssertion, "AuthnStatement")
	got := samlResponse{SessionIndex: authn.SelectAttrValue("SessionIndex", ""), AuthnInstant: authn.SelectAttrValue("AuthnInstant", ""),
		Class: child(t, child(t, authn, saml.NSAssertion, "AuthnContext"), saml.NSAssertion, "AuthnContextClassRef").Text()}
	nid := child(t, child(t, a, saml.NSAssertion, "Subject"), saml.NSAssertion, "NameID")
	got.NameID = saml.NameID{Format: nid.SelectAttrValue("Format", ""), Value: nid.Text(), SPNameQualifier: nid.SelectAttrValue("SPNameQualifier", "")}
	for _, c := range []struct{ what, got, want string }{
		{"Response Destination", resp.SelectAttrValue("Destination", ""), sp.acsURL()},
		{"SubjectConfirmationData Recipient", conf.SelectAttrValue("Recipient", ""), sp.acsURL()},
		{"Response Issuer", child(t, resp, saml.NSAssertion, "Issuer").Text(), sp.idp},
		{"Assertion Issuer", child(t, a, saml.NSAssertion, "Issuer").Text(), sp.idp},
		{"Response InResponseTo", resp.SelectAttrValue("InResponseTo", ""), inResponseTo},
		{"SubjectConfirmationData InResponseTo", conf.SelectAttrValue("InResponseTo", ""), inResponseTo},
		{"AuthnContextClassRef", got.Class, class},
	} {
		if c.got != c.want {
			t.Errorf("%s is %q, want %q", c.what, c.got, c.want)
		}
	}
	if resp.SelectAttr("InResponseTo") != nil && inResponseTo == "" {
		t.Error("an unsolicited response has an InResponseTo")
	}
	sigs := 0
	for _, sig := range []*etree.Element{resp, a} {
		for _, s := range sig.ChildElements() {
			if s.Tag != "Signature" || s.NamespaceURI() != "http://www.w3.org/2000/09/xmldsig#" {
				continue
			}
			sigs++
			si := child(t, s, s.NamespaceURI(), "SignedInfo")
			if alg := child(t, si, s.NamespaceURI(), "SignatureMethod").SelectAttrValue("Algorithm", ""); alg != assertion.SignatureMethodRSASHA256 {
				t.Errorf("signature method %s", alg)
			}
			if alg := child(t, child(t, si, s.NamespaceURI(), "Reference"), s.NamespaceURI(), "DigestMethod").SelectAttrValue("Algorithm", ""); alg != assertion.DigestMethodSHA256 {
				t.Errorf("digest method %s", alg)
			}
		}
	}
	if sigs != 2 {
		t.Errorf("%d signatures, want the response's and the assertion's", sigs)
	}
	return got
}

// child is el's only child element ns:tag; it fails the test when there
// is none or more than one.
func child(t *testing.T, el *etree.Element, ns, tag string) *etree.Element {
	t.Helper()
	var found *etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			if found != nil {
				t.Fatalf("%s has more than one %s", el.Tag, tag)
			}
			found = c
		}
	}
	if found == nil {
		t.Fatalf("%s has no %s", el.Tag, tag)
	}
	return found
}

// redirectMessage checks the query signature of an HTTP-Redirect message
// Gatehouse sent (RSA-SHA256 with cert over the octets the binding
// fixes) and returns the inflated message and the query.
func redirectMessage(t *testing.T, rawQuery, param string, cert *x509.Certificate) (*etree.Element, url.Values) {
	t.Helper()
	raw := map[string]string{}
	for _, kv := range strings.Split(rawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		raw[k] = v
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	if q.Get(saml.ParamSigAlg) != saml.SigAlgRSASHA256 {
		t.Fatalf("SigAlg %q", q.Get(saml.ParamSigAlg))
	}
	octets := param + "=" + raw[param]
	if _, ok := raw[saml.ParamRelayState]; ok {
		octets += "&" + saml.ParamRelayState + "=" + raw[saml.ParamRelayState]
	}
	octets += "&" + saml.ParamSigAlg + "=" + raw[saml.ParamSigAlg]
	sig, err := base64.StdEncoding.DecodeString(q.Get(saml.ParamSignature))
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(octets))
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("the %s's signature does not verify: %v", param, err)
	}
	deflated, err := base64.StdEncoding.DecodeString(q.Get(param))
	if err != nil {
		t.Fatal(err)
	}
	xml, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(deflated)), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		t.Fatal(err)
	}
	return doc.Root(), q
}

// parseCert parses a PEM certificate.
func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("not a PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
