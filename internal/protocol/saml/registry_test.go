package saml

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

const testIssuer = "https://sso.corp.example.com"

// writeTestFile writes data to a file in dir and returns its path.
func writeTestFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func boolPtr(b bool) *bool { return &b }

func TestSAMLAppsBecomeServiceProviders(t *testing.T) {
	dir := t.TempDir()
	cur, next := spFixedCert(t, "current"), spFixedCert(t, "next")
	signing := writeTestFile(t, dir, "hr-signing.pem", append(spFixedCertPEM(t, "current"), spFixedCertPEM(t, "next")...))
	encryption := writeTestFile(t, dir, "hr-encryption.pem", spFixedCertPEM(t, "next"))
	entraCert := writeTestFile(t, dir, "entra.pem", spFixedCertPEM(t, "other"))
	apps := []config.App{
		{Name: "Microsoft 365 (WS-Fed)", Type: "wsfed", EntityID: "urn:wsfed", ReplyURLs: []string{"https://wsfed.example.com/"}},
		{Name: "Cloud", Type: "saml", MetadataFile: filepath.Join("testdata", "spmetadata", "nextcloud.xml"),
			NameID: config.SAMLNameID{Format: "email"}, Sign: "response",
			Attributes: []config.SAMLAttribute{
				{Name: "email", Source: "mail"},
				{Name: "urn:oid:1.3.6.1.4.1.5923.1.5.1.1", FriendlyName: "isMemberOf", NameFormat: "uri", Source: "groups"},
				{Name: "department", Source: "ad:Department"},
				{Name: "tier", Values: []string{"gold", "staff"}, NameFormat: "urn:oas" + "is:names:tc:SAML:2.0:attrname-format:unspecified"},
			}},
		{Name: "HR", Type: "saml", EntityID: "https://hr.corp.example.com/sp",
			ACSURLs: []string{"https://hr.corp.example.com/acs", "https://hr.corp.example.com/acs2"},
			SLOURL:  "https://hr.corp.example.com/slo", CertFile: signing, EncryptionCertFile: encryption,
			RequireSignedRequests: true, IDPInitiated: boolPtr(false), NameID: config.SAMLNameID{Format: "transient"}},
		{Name: "Grafana", Type: "saml", MetadataFile: filepath.Join("testdata", "spmetadata", "grafana.xml"), Sign: "response"},
		{Name: "Microsoft 365", Type: "entra", Protocol: "saml", Domains: []string{"corp.example.com"},
			ReplyURLs: []string{"https://login.microsoftonline.us/login.srf"}, CertFile: entraCert, RequireSignedRequests: true},
	}
	reg, err := FromConfig(context.Background(), testIssuer, apps, Options{Now: spNow})
	if err != nil {
		t.Fatal(err)
	}
	post := func(loc string, index int, def bool) Endpoint {
		return Endpoint{Binding: BindingPOST, Location: loc, Index: index, IsDefault: def}
	}
	want := map[string]*ServiceProvider{
		"Cloud": {Name: "Cloud", EntityID: "https://cloud.corp.example.com/index.php/apps/user_saml/saml/metadata?idp=1",
			ACS:          []Endpoint{post("https://cloud.corp.example.com/index.php/apps/user_saml/saml/acs?idp=1", 1, true)},
			SLO:          []Endpoint{{Binding: BindingRedirect, Location: "https://cloud.corp.example.com/index.php/apps/user_saml/saml/sls?idp=1"}},
			SigningCerts: []*x509.Certificate{cur}, EncryptionCert: cur,
			NameID: NameIDRule{Format: NameIDEmail, Source: "mail"},
			Attributes: []AttributeRule{
				{Name: "email", Source: "mail"},
				{Name: "urn:oid:1.3.6.1.4.1.5923.1.5.1.1", FriendlyName: "isMemberOf", NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", Source: "groups"},
				{Name: "department", Source: "ad:department"},
				{Name: "tier", Values: []string{"gold", "staff"}, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"},
			},
			SignResponse: true, IDPInitiated: true},
		"HR": {Name: "HR", EntityID: "https://hr.corp.example.com/sp",
			ACS:          []Endpoint{post("https://hr.corp.example.com/acs", 0, true), post("https://hr.corp.example.com/acs2", 1, false)},
			SLO:          []Endpoint{{Binding: BindingRedirect, Location: "https://hr.corp.example.com/slo"}},
			SigningCerts: []*x509.Certificate{cur, next}, EncryptionCert: next, WantRequestsSigned: true,
			NameID: NameIDRule{Format: NameIDTransient}, SignResponse: true, SignAssertion: true},
		// Grafana's metadata asks for signed assertions and signs its
		// requests: both hold although sign: response.
		"Grafana": {Name: "Grafana", EntityID: "https://grafana.corp.example.com/saml/metadata",
			ACS: []Endpoint{post("https://grafana.corp.example.com/saml/acs", 1, true)},
			SLO: []Endpoint{
				{Binding: BindingPOST, Location: "https://grafana.corp.example.com/saml/slo", ResponseLocation: "https://grafana.corp.example.com/saml/slo"},
				{Binding: BindingRedirect, Location: "https://grafana.corp.example.com/saml/slo", ResponseLocation: "https://grafana.corp.example.com/saml/slo"},
			},
			SigningCerts: []*x509.Certificate{cur}, EncryptionCert: next, WantRequestsSigned: true,
			NameID: NameIDRule{Format: NameIDPersistent, Source: "objectguid"}, SignResponse: true, SignAssertion: true, IDPInitiated: true},
		"Microsoft 365": {Name: "Microsoft 365", EntityID: EntraEntityID,
			ACS:          []Endpoint{post(EntraACS, 0, true), post("https://login.microsoftonline.us/login.srf", 1, false)},
			SLO:          []Endpoint{{Binding: BindingRedirect, Location: EntraACS}},
			SigningCerts: []*x509.Certificate{spFixedCert(t, "other")}, WantRequestsSigned: true,
			NameID: NameIDRule{Format: NameIDPersistent, Source: "immutable_id"}, SignAssertion: true, Entra: true},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			got, ok := reg.ByName(name)
			if !ok {
				t.Fatal("not found by name")
			}
			if g, w := spString(got), spString(w); g != w {
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
			if byID, ok := reg.ByEntityID(w.EntityID); !ok || byID != got {
				t.Errorf("by entity ID %q: %v, %v", w.EntityID, byID, ok)
			}
		})
	}
	var names []string
	for _, sp := range reg.All() {
		names = append(names, sp.Name)
	}
	if got := strings.Join(names, ", "); got != "Cloud, HR, Grafana, Microsoft 365" {
		t.Errorf("All() = %s, want the SAML apps in configuration order", got)
	}
	for _, unknown := range []string{"urn:wsfed", "https://gitlab.corp.example.com", "", strings.ToUpper(EntraEntityID)} {
		if sp, ok := reg.ByEntityID(unknown); ok {
			t.Errorf("ByEntityID(%q) = %s", unknown, sp.Name)
		}
	}
	if _, ok := reg.ByName("Microsoft 365 (WS-Fed)"); ok {
		t.Error("a wsfed app became a SAML SP")
	}
	if errs := reg.Unavailable(); len(errs) != 0 {
		t.Errorf("unavailable: %v", errs)
	}
}

// spString writes every field of sp, certificates by subject.
func spString(sp *ServiceProvider) string {
	c := *sp
	certs := c.SigningCerts
	enc := c.EncryptionCert
	c.SigningCerts, c.EncryptionCert = nil, nil
	var b strings.Builder
	fmt.Fprintf(&b, "%+v\n", c)
	for _, x := range certs {
		fmt.Fprintf(&b, "signing %s\n", x.Subject.CommonName)
	}
	if enc != nil {
		fmt.Fprintf(&b, "encryption %s\n", enc.Subject.CommonName)
	}
	return b.String()
}

// ecCertPEM returns a self-signed ECDSA certificate, which cannot take
// RSA-OAEP encryption.
func ecCertPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ec"},
		NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTheRegistryRefusesServiceProvidersNamingTheApp(t *testing.T) {
	dir := t.TempDir()
	md := func(name string) string { return filepath.Join("testdata", "spmetadata", name) }
	missing := filepath.Join(dir, "missing.xml")
	dtd := writeTestFile(t, dir, "dtd.xml", append([]byte(`<!DOCTYPE x [<!ENTITY a "b">]>`), spMetadata(t, "gitlab.xml")...))
	expired := writeTestFile(t, dir, "expired.xml", []byte(strings.Replace(string(spMetadata(t, "nextcloud.xml")), "2027-03-03", "2026-03-03", 1)))
	signsNoKey := writeTestFile(t, dir, "signs.xml", []byte(strings.Replace(string(spMetadata(t, "gitlab.xml")), "AuthnRequestsSigned='false'", "AuthnRequestsSigned='true'", 1)))
	ec := writeTestFile(t, dir, "ec.pem", ecCertPEM(t))
	notPEM := writeTestFile(t, dir, "not.pem", []byte("hello"))
	cur := writeTestFile(t, dir, "current.pem", spFixedCertPEM(t, "current"))
	inline := func(name, entityID string) config.App {
		return config.App{Name: name, Type: "saml", EntityID: entityID, ACSURLs: []string{"https://" + strings.ToLower(name) + ".example.com/acs"}}
	}
	for _, c := range []struct {
		name string
		apps []config.App
		want []string
	}{
		{"a metadata file that is missing", []config.App{{Name: "Wiki", Type: "saml", MetadataFile: missing}},
			[]string{`app "Wiki" (apps[0]): metadata_file ` + missing, "no such file"}},
		{"a metadata file with a DTD", []config.App{{Name: "Wiki", Type: "saml", MetadataFile: dtd}},
			[]string{`app "Wiki" (apps[0]): metadata_file ` + dtd, "DTD"}},
		{"a metadata file that has expired", []config.App{{Name: "Cloud", Type: "saml", MetadataFile: expired}},
			[]string{`app "Cloud" (apps[0]): metadata_file ` + expired, "expired at 2026-03-03T10:15:42.000Z"}},
		{"metadata for another entity than entity_id", []config.App{{Name: "Git", Type: "saml", MetadataFile: md("gitlab.xml"), EntityID: "https://git.example.com"}},
			[]string{`app "Git"`, `not "https://git.example.com"`}},
		{"an unsigned metadata file where metadata_cert_file is set", []config.App{{Name: "Git", Type: "saml", MetadataFile: md("gitlab.xml"), MetadataCertFile: cur}},
			[]string{`app "Git"`, "not signed"}},
		{"a metadata_cert_file without a certificate", []config.App{{Name: "Git", Type: "saml", MetadataFile: md("gitlab.xml"), MetadataCertFile: notPEM}},
			[]string{`app "Git" (apps[0]): metadata_cert_file ` + notPEM, "no PEM certificate"}},
		{"metadata that signs requests but has no key", []config.App{{Name: "Git", Type: "saml", MetadataFile: signsNoKey}},
			[]string{`app "Git"`, "no signing certificate"}},
		{"signed requests required of an inline SP without cert_file", []config.App{func() config.App {
			a := inline("HR", "https://hr.example.com")
			a.RequireSignedRequests = true
			return a
		}()}, []string{`app "HR"`, "no signing certificate"}},
		{"an encryption certificate without an RSA key", []config.App{func() config.App {
			a := inline("HR", "https://hr.example.com")
			a.EncryptionCertFile = ec
			return a
		}()}, []string{`app "HR" (apps[0]): encryption_cert_file ` + ec, "RSA"}},
		{"a plain-http ACS", []config.App{{Name: "HR", Type: "saml", EntityID: "https://hr.example.com", ACSURLs: []string{"http://hr.example.com/acs"}}},
			[]string{`app "HR"`, "https"}},
		{"two SPs with one entity ID", []config.App{inline("A", "https://same.example.com"), inline("B", "https://same.example.com")},
			[]string{`app "B" (apps[1]): entity ID "https://same.example.com" is also app "A" (apps[0])'s`}},
		{"an SP claiming Gatehouse's own entity ID", []config.App{inline("A", testIssuer+"/")},
			[]string{`app "A"`, "Gatehouse's own"}},
		{"Entra requiring signed requests without its certificate", []config.App{{Name: "M365", Type: "entra", Protocol: "saml", Domains: []string{"corp.example.com"}, RequireSignedRequests: true}},
			[]string{`app "M365"`, "cert_file"}},
		{"every broken app, not only the first", []config.App{{Name: "One", Type: "saml", MetadataFile: missing}, inline("Fine", "https://fine.example.com"), {Name: "Two", Type: "saml", MetadataFile: dtd}},
			[]string{`app "One" (apps[0])`, `app "Two" (apps[2])`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromConfig(context.Background(), testIssuer, c.apps, Options{Now: spNow})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// metadataServer serves SP metadata over TLS on 127.0.0.1, as the test
// sets it.
type metadataServer struct {
	*httptest.Server
	mu       sync.Mutex
	status   int
	body     []byte
	location string
	hits     int
}

func newMetadataServer(t *testing.T, body []byte) *metadataServer {
	t.Helper()
	ms := &metadataServer{status: http.StatusOK, body: body}
	ms.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ms.mu.Lock()
		defer ms.mu.Unlock()
		ms.hits++
		if ms.location != "" {
			http.Redirect(w, r, ms.location, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.WriteHeader(ms.status)
		_, _ = w.Write(ms.body)
	}))
	t.Cleanup(ms.Close)
	return ms
}

func (ms *metadataServer) serve(status int, body []byte, location string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.status, ms.body, ms.location = status, body, location
}

// manualClock drives Registry.Run: every wait Run starts is sent on waits
// (the refresh before it is then complete), and it ends when the test
// sends on tick.
type manualClock struct {
	waits chan time.Duration
	tick  chan time.Time
}

func newManualClock() *manualClock {
	return &manualClock{waits: make(chan time.Duration), tick: make(chan time.Time)}
}

func (m *manualClock) After(d time.Duration) <-chan time.Time {
	m.waits <- d
	return m.tick
}

// step ends the current wait and returns the next one, when the refresh
// in between is done.
func (m *manualClock) step(t *testing.T) time.Duration {
	t.Helper()
	m.tick <- spTestNow
	return <-m.waits
}

func acsOf(t *testing.T, reg *Registry, entityID string) string {
	t.Helper()
	sp, ok := reg.ByEntityID(entityID)
	if !ok {
		return "(not served)"
	}
	return sp.ACS[0].Location
}

func TestMetadataURLIsFetchedRefreshedAndKeptWhenARefreshFails(t *testing.T) {
	v1 := spMetadata(t, "node-saml.xml")
	const id = "https://wiki.corp.example.com/saml"
	const acs1, acs2 = "https://wiki.corp.example.com/login/callback", "https://wiki.corp.example.com/login/callback2"
	v2 := spReplaceOnce(t, v1, acs1, acs2)
	ms := newMetadataServer(t, v1)
	var logs testenv.Buffer
	clock := newManualClock()
	app := config.App{Name: "Wiki", Type: "saml", MetadataURL: ms.URL + "/saml/metadata", MetadataRefresh: 2 * time.Hour}
	reg, err := FromConfig(context.Background(), testIssuer, []config.App{app}, Options{HTTPClient: ms.Client(), Now: spNow,
		After: clock.After, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if got := acsOf(t, reg, id); got != acs1 {
		t.Fatalf("after the first fetch: %s", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { reg.Run(ctx); close(done) }()
	if d := <-clock.waits; d != 2*time.Hour {
		t.Errorf("first refresh after %s, want metadata_refresh", d)
	}

	// Readers keep reading while the refreshes below replace the SP (the
	// race detector watches).
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
					if sp, ok := reg.ByEntityID(id); ok && len(sp.ACS) != 1 {
						t.Error("an SP half replaced")
					}
					_ = reg.All()
				}
			}
		}()
	}

	steps := []struct {
		name     string
		status   int
		body     []byte
		location string
		acs      string
		log      string
	}{
		{"new metadata is served after a refresh", 200, v2, "", acs2, ""},
		{"an HTTP error keeps the last good copy", 503, []byte("down"), "", acs2, "503"},
		{"a tampered document keeps the last good copy", 200, []byte(`<!DOCTYPE x>` + string(v1)), "", acs2, "DTD"},
		{"metadata for another entity keeps the last good copy", 200, []byte(strings.Replace(string(v1), id, "https://evil.example", 1)), "", acs2, "not \\\"" + id},
		{"a redirect to plain http keeps the last good copy", 200, nil, "http://metadata.example.com/wiki.xml", acs2, "redirect"},
		{"oversized metadata keeps the last good copy", 200, append(append([]byte{}, v1...), make([]byte, MaxMetadataSize)...), "", acs2, "larger"},
		{"good metadata again is served", 200, v1, "", acs1, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			ms.serve(s.status, s.body, s.location)
			before := len(logs.String())
			wait := clock.step(t)
			if got := acsOf(t, reg, id); got != s.acs {
				t.Errorf("serving %s, want %s", got, s.acs)
			}
			logged := logs.String()[before:]
			if s.log == "" {
				if wait != 2*time.Hour || logged != "" {
					t.Errorf("next refresh in %s, logged %q", wait, logged)
				}
				return
			}
			if !strings.Contains(logged, "keeping the last good copy") || !strings.Contains(logged, s.log) || !strings.Contains(logged, "rp=Wiki") {
				t.Errorf("logged %q, want a warning naming the app and %q", logged, s.log)
			}
			if wait != MetadataRetry {
				t.Errorf("retry after %s, want MetadataRetry", wait)
			}
		})
	}
	close(stop)
	readers.Wait()
	cancel()
	<-done
}

func TestAMetadataURLDownAtStartIsServedOnceFetched(t *testing.T) {
	ms := newMetadataServer(t, nil)
	ms.serve(http.StatusInternalServerError, nil, "")
	var logs testenv.Buffer
	clock := newManualClock()
	apps := []config.App{
		{Name: "Wiki", Type: "saml", MetadataURL: ms.URL + "/md"},
		{Name: "HR", Type: "saml", EntityID: "https://hr.example.com", ACSURLs: []string{"https://hr.example.com/acs"}},
	}
	reg, err := FromConfig(context.Background(), testIssuer, apps, Options{HTTPClient: ms.Client(), Now: spNow,
		After: clock.After, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("one SP's metadata server being down stopped the start: %v", err)
	}
	if _, ok := reg.ByName("Wiki"); ok {
		t.Error("served without metadata")
	}
	if _, ok := reg.ByName("HR"); !ok {
		t.Error("the other SP is not served")
	}
	un := reg.Unavailable()
	if len(un) != 1 || !strings.Contains(un[0].Error(), `app "Wiki" (apps[0]): metadata_url `+ms.URL+"/md: HTTP status 500") {
		t.Errorf("Unavailable() = %v", un)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "rp=Wiki") {
		t.Errorf("logs: %s", logs.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { reg.Run(ctx); close(done) }()
	if d := <-clock.waits; d != MetadataRetry {
		t.Errorf("first retry after %s, want MetadataRetry", d)
	}
	clock.step(t) // still down
	ms.serve(http.StatusOK, spMetadata(t, "node-saml.xml"), "")
	if d := clock.step(t); d != config.DefaultMetadataRefresh {
		t.Errorf("after success, next refresh in %s, want the default metadata_refresh", d)
	}
	if sp, ok := reg.ByEntityID("https://wiki.corp.example.com/saml"); !ok || sp.Name != "Wiki" {
		t.Errorf("not served once fetched: %v %v", sp, ok)
	}
	if len(reg.Unavailable()) != 0 || len(reg.All()) != 2 {
		t.Errorf("unavailable %v, all %d", reg.Unavailable(), len(reg.All()))
	}
	cancel()
	<-done
}

func TestExpiredMetadataIsNoLongerServed(t *testing.T) {
	now := spTestNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	reg, err := FromConfig(context.Background(), testIssuer, []config.App{
		{Name: "Cloud", Type: "saml", MetadataFile: filepath.Join("testdata", "spmetadata", "nextcloud.xml")}}, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.ByName("Cloud"); !ok {
		t.Fatal("not served before validUntil")
	}
	mu.Lock()
	now = time.Date(2027, 3, 3, 10, 15, 42, 0, time.UTC)
	mu.Unlock()
	if _, ok := reg.ByName("Cloud"); ok {
		t.Error("served at validUntil")
	}
	if un := reg.Unavailable(); len(un) != 1 || !errors.Is(un[0], ErrMetadataExpired) {
		t.Errorf("Unavailable() = %v", un)
	}
}
