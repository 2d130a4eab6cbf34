package saml

// Helpers of the inbound tests (binding, request, logoutin, replay): the
// SPs, their keys, and messages built the way an SP builds them, signed by
// independent tools (openssl for query signatures, xmlsec1 for enveloped
// ones) where a test is about interoperability.

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- Entra's RSA-SHA1 request signatures.
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

const (
	inIDP       = "https://idp.example.com"
	inSSOURL    = inIDP + PathSSO
	inSLOURL    = inIDP + PathSLO
	inWikiID    = "https://wiki.example.com/saml/metadata"
	inWikiACS0  = "https://wiki.example.com/saml/acs"
	inWikiACS1  = "https://wiki.example.com/saml/acs/alternative"
	inHRID      = "https://hr.example.com/sp"
	inHRACS     = "https://hr.example.com/sp/acs"
	inOpenID    = "https://open.example.com/sp"
	inOpenACS   = "https://open.example.com/sp/acs"
	inEntraACS  = "https://login.microsoftonline.com/login.srf"
	inEntraID   = "urn:federation:MicrosoftOnline"
	inArtifact  = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"
	inOtherIDP  = "https://other-idp.example.com/sso"
	inRelayBody = "https://wiki.example.com/page?a=1&b=%2F+x ü"
)

// inT0 is the tests' "now".
var inT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// inKey is a key pair with its PEM files, for the tools that sign with it.
type inKey struct {
	key               *rsa.PrivateKey
	cert              *x509.Certificate
	keyPEM, certPEM   []byte
	keyFile, certFile string
}

// inKeys: "current" signs for the SPs, "other" is a key nobody trusts,
// "entra" (with a SubjectKeyIdentifier, for X509SKI) signs for Entra.
func inKeys(tb testing.TB) (sp, other, entra inKey) {
	tb.Helper()
	load := func(dir, name string) inKey {
		k := inKey{keyFile: filepath.Join(dir, name+".key"), certFile: filepath.Join(dir, name+".crt")}
		var err error
		if k.keyPEM, err = os.ReadFile(k.keyFile); err != nil {
			tb.Fatal(err)
		}
		if k.certPEM, err = os.ReadFile(k.certFile); err != nil {
			tb.Fatal(err)
		}
		kb, _ := pem.Decode(k.keyPEM)
		cb, _ := pem.Decode(k.certPEM)
		if kb == nil || cb == nil {
			tb.Fatalf("%s: not PEM", name)
		}
		pk, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err != nil {
			if pk, err = x509.ParsePKCS1PrivateKey(kb.Bytes); err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
		}
		k.key = pk.(*rsa.PrivateKey)
		if k.cert, err = x509.ParseCertificate(cb.Bytes); err != nil {
			tb.Fatal(err)
		}
		return k
	}
	fixed := filepath.Join(validators.Dir(), "testdata")
	return load(fixed, "current"), load(fixed, "other"), load(filepath.Join("testdata", "inbound"), "entra")
}

// keyPair turns k into the project's KeyPair (for goxmldsig signing).
func (k inKey) keyPair(tb testing.TB) *keys.KeyPair {
	tb.Helper()
	kp, err := keys.Parse(k.keyPEM, k.certPEM, inT0)
	if err != nil {
		tb.Fatal(err)
	}
	return kp
}

// inFixture is a Parser over four SPs and a real SQLite replay cache:
// wiki (two ACS, signs when it likes), hr (requires signed requests), open
// (no signing certificate) and entra.
type inFixture struct {
	now                time.Time
	sp, other, entra   inKey
	wiki, hr, open, ms *ServiceProvider
	sps                map[string]*ServiceProvider
	store              *sqlite.Store
	p                  *Parser
}

func newInFixture(tb testing.TB) *inFixture {
	tb.Helper()
	return newInFixtureWith(tb, nil)
}

// newInFixtureWith uses replay instead (nil: SQLite's).
func newInFixtureWith(tb testing.TB, replay ReplayCache) *inFixture {
	tb.Helper()
	f := &inFixture{now: inT0}
	f.sp, f.other, f.entra = inKeys(tb)
	f.wiki = &ServiceProvider{
		Name: "Wiki", EntityID: inWikiID,
		ACS: []Endpoint{
			{Binding: BindingPOST, Location: inWikiACS0, Index: 0},
			{Binding: BindingPOST, Location: inWikiACS1, Index: 1, IsDefault: true},
			{Binding: inArtifact, Location: "https://wiki.example.com/saml/artifact", Index: 2},
		},
		SigningCerts: []*x509.Certificate{f.other.cert, f.sp.cert}, // a rollover: the old key first
	}
	f.hr = &ServiceProvider{
		Name: "HR", EntityID: inHRID, WantRequestsSigned: true,
		ACS:          []Endpoint{{Binding: BindingPOST, Location: inHRACS, Index: 3}},
		SigningCerts: []*x509.Certificate{f.sp.cert},
	}
	f.open = &ServiceProvider{
		Name: "Open", EntityID: inOpenID,
		ACS: []Endpoint{{Binding: BindingPOST, Location: inOpenACS}},
	}
	f.ms = &ServiceProvider{
		Name: "Microsoft 365", EntityID: inEntraID, Entra: true, WantRequestsSigned: true,
		ACS:          []Endpoint{{Binding: BindingPOST, Location: inEntraACS, Index: 0}},
		SigningCerts: []*x509.Certificate{f.entra.cert},
	}
	f.sps = map[string]*ServiceProvider{}
	for _, sp := range []*ServiceProvider{f.wiki, f.hr, f.open, f.ms} {
		f.sps[sp.EntityID] = sp
	}
	clock := func() time.Time { return f.now }
	f.p = &Parser{
		Lookup: func(id string) (*ServiceProvider, bool) { sp, ok := f.sps[id]; return sp, ok },
		Replay: replay,
		Now:    clock, SSOURL: inSSOURL, SLOURL: inSLOURL,
	}
	if replay == nil {
		var err error
		if f.store, err = sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "g.db"), store.Options{}); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = f.store.Close() })
		f.p.Replay = TicketReplayCache{Tickets: f.store, Now: clock}
	}
	return f
}

// memReplay is an in-memory ReplayCache for the fuzz targets, whose
// coverage-instrumented runs of SQLite would be too slow to fuzz with;
// TicketReplayCache is tested against SQLite itself.
type memReplay struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *memReplay) Remember(_ context.Context, key string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[key] {
		return ErrReplay
	}
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	m.seen[key] = true
	return nil
}

var inSeq atomic.Int64

// inMsg is one message as an SP writes it.
type inMsg struct {
	Tag     string // AuthnRequest (default), LogoutRequest, LogoutResponse
	ID      string // default: a fresh one
	Version string // default 2.0
	Issuer  string
	Instant time.Time // default: inT0
	// Dest is the Destination; "" is the endpoint's URL, "-" leaves it out.
	Dest string
	// Attrs are more attributes of the root, written as is.
	Attrs string
	// Body comes after the Issuer (and the signature template).
	Body string
}

// xml writes m with sig (a signature template or "") after the Issuer.
func (m inMsg) xml(sig string) string {
	if m.Tag == "" {
		m.Tag = "AuthnRequest"
	}
	if m.ID == "" {
		m.ID = fmt.Sprintf("_req%d", inSeq.Add(1))
	}
	if m.Version == "" {
		m.Version = "2.0"
	}
	if m.Instant.IsZero() {
		m.Instant = inT0
	}
	dest := ""
	switch m.Dest {
	case "":
		dest = ` Destination="` + inSSOURL + `"`
		if m.Tag != "AuthnRequest" {
			dest = ` Destination="` + inSLOURL + `"`
		}
	case "-":
	default:
		dest = ` Destination="` + m.Dest + `"`
	}
	return fmt.Sprintf(`<samlp:%s xmlns:samlp="%s" xmlns:saml="%s" ID="%s" Version="%s" IssueInstant="%s"%s%s>`+
		`<saml:Issuer>%s</saml:Issuer>%s%s</samlp:%s>`,
		m.Tag, NSProtocol, NSAssertion, m.ID, m.Version, assertion.FormatTime(m.Instant), dest, m.Attrs,
		m.Issuer, sig, m.Body, m.Tag)
}

// withID gives m an ID when it has none, so that the caller knows it.
func (m inMsg) withID() inMsg {
	if m.ID == "" {
		m.ID = fmt.Sprintf("_req%d", inSeq.Add(1))
	}
	return m
}

// inKeyInfoCert is a KeyInfo xmlsec1 fills with the certificate;
// inKeyInfoSKI one with only the SubjectKeyIdentifier, as Entra sends.
const (
	inKeyInfoCert = `<ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>`
	inKeyInfoSKI  = `<ds:KeyInfo><ds:X509Data><ds:X509SKI/></ds:X509Data></ds:KeyInfo>`
)

// dsigTemplate is an xmlsec1 signature template for the element with id.
func dsigTemplate(id, sigAlg, digestAlg, keyInfo string) string {
	return `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>` +
		`<ds:SignatureMethod Algorithm="` + sigAlg + `"/>` +
		`<ds:Reference URI="#` + id + `"><ds:Transforms>` +
		`<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>` +
		`<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>` +
		`<ds:DigestMethod Algorithm="` + digestAlg + `"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>` +
		`<ds:SignatureValue/>` + keyInfo + `</ds:Signature>`
}

// xmlsec1Sign signs m with k using xmlsec1 (RSA-SHA256, SHA-256, the
// certificate in KeyInfo unless keyInfo says otherwise).
func xmlsec1Sign(tb testing.TB, m inMsg, k inKey, sigAlg, digestAlg, keyInfo string) []byte {
	tb.Helper()
	m = m.withID()
	if sigAlg == "" {
		sigAlg, digestAlg = SigAlgRSASHA256, DigestSHA256
	}
	if keyInfo == "" {
		keyInfo = inKeyInfoCert
	}
	tag := m.Tag
	if tag == "" {
		tag = "AuthnRequest"
	}
	id := validators.IDAttr{Attr: "ID", NodeNS: NSProtocol, NodeTag: tag}
	return validators.XMLSec1Sign(tb, []byte(m.xml(dsigTemplate(m.ID, sigAlg, digestAlg, keyInfo))), k.keyPEM, k.certPEM, id)
}

// goSign signs m with goxmldsig (through the project's Signer), for the
// fuzz seeds, which must not depend on xmlsec1.
func goSign(tb testing.TB, m inMsg, kp *keys.KeyPair) []byte {
	tb.Helper()
	m = m.withID()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(m.xml("")); err != nil {
		tb.Fatal(err)
	}
	s, err := assertion.NewSigner(kp)
	if err != nil {
		tb.Fatal(err)
	}
	el := doc.Root()
	if err := s.SignEnveloped(context.Background(), el, "ID", 1); err != nil {
		tb.Fatal(err)
	}
	out, err := assertion.Marshal(el, false)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// deflateB64 is the Redirect binding's encoding: base64 of raw DEFLATE.
func deflateB64(tb testing.TB, data []byte) string {
	tb.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// redirectQuery is the unsigned query of the Redirect binding, each value
// escaped by esc (url.QueryEscape when nil); relay nil leaves RelayState
// out.
func redirectQuery(tb testing.TB, param string, data []byte, relay *string, esc func(string) string) string {
	tb.Helper()
	if esc == nil {
		esc = url.QueryEscape
	}
	q := param + "=" + esc(deflateB64(tb, data))
	if relay != nil {
		q += "&RelayState=" + esc(*relay)
	}
	return q
}

// signQuery appends SigAlg and the Signature over the octets the spec
// names (the query so far plus SigAlg, as sent), signed by sign.
func signQuery(q, sigAlg string, sign func(octets []byte) []byte) string {
	q += "&SigAlg=" + url.QueryEscape(sigAlg)
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sign([]byte(q))))
}

// goQuerySigner signs query octets with Go's crypto (RSA PKCS#1 v1.5).
func goQuerySigner(tb testing.TB, k *rsa.PrivateKey, h crypto.Hash) func([]byte) []byte {
	return func(octets []byte) []byte {
		var sum []byte
		if h == crypto.SHA1 {
			s := sha1.Sum(octets) // #nosec G401 -- Entra's RSA-SHA1.
			sum = s[:]
		} else {
			s := sha256.Sum256(octets)
			sum = s[:]
		}
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, h, sum)
		if err != nil {
			tb.Fatal(err)
		}
		return sig
	}
}

// opensslQuerySigner signs query octets with `openssl dgst -sign`.
func opensslQuerySigner(tb testing.TB, keyFile, digest string) func([]byte) []byte {
	bin := testenv.LookPath(tb, "openssl", "the Debian package openssl")
	return func(octets []byte) []byte {
		cmd := exec.Command(bin, "dgst", "-"+digest, "-sign", keyFile) // #nosec G204 -- test tool.
		cmd.Stdin = bytes.NewReader(octets)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			tb.Fatalf("openssl dgst: %v\n%s", err, errb.String())
		}
		return out.Bytes()
	}
}

// getReq is a GET to the SSO endpoint with the raw query q.
func getReq(q string) *http.Request {
	return httptest.NewRequest(http.MethodGet, inSSOURL+"?"+q, nil)
}

// postReq is a form POST of data in param (base64), with RelayState when
// relay is set.
func postReq(param string, data []byte, relay *string) *http.Request {
	form := url.Values{param: {base64.StdEncoding.EncodeToString(data)}}
	if relay != nil {
		form.Set("RelayState", *relay)
	}
	r := httptest.NewRequest(http.MethodPost, inSSOURL, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func inPtr[T any](v T) *T { return &v }
