package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-sso/gatehouse/internal/abuse"
	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
	"github.com/gatehouse-sso/gatehouse/internal/secrets"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// The single-logout tests run the real sign-in engine and sessions on a
// real SQLite database, with a stand-in SSO endpoint that records the
// participants a SAML or WS-Fed sign-in would, and inbound parsers of
// their own (sloInbound) standing in for binding.go/logoutin.go: they
// verify the SPs' real signatures, made with outbound.go and the SPs'
// keys.

const sloPassword = "Tr1cky-Horse-Battery"

// The SPs of the tests: A signs and has both bindings (LogoutResponses to
// a ResponseLocation); B answers over HTTP-POST only; D over
// HTTP-Redirect; C has no SingleLogoutService.
const (
	spA = "https://a.example.com/sp"
	spB = "https://b.example.com/sp"
	spC = "https://c.example.com/sp"
	spD = "https://d.example.com/sp"
)

type sloEnv struct {
	t        *testing.T
	srv      *httptest.Server
	slo      *SLO
	sessions *signin.Sessions
	db       *sqlite.Store
	idp      *keys.KeyPair
	spKeys   map[string]*keys.KeyPair
	sps      map[string]*ServiceProvider
	rps      *wsfed.Registry
	inbound  *sloInbound

	mu  sync.Mutex
	now time.Time
}

func (e *sloEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func sloUser(t *testing.T, name string) file.UserFile {
	h, err := file.Hash(sloPassword)
	if err != nil {
		t.Fatal(err)
	}
	return file.UserFile{ID: fmt.Sprintf("%032x", name), Username: name, UPN: name + "@corp.example.test",
		PasswordHash: h, PasswordChangedAt: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
}

func newSLOEnv(t *testing.T) *sloEnv {
	t.Helper()
	e := &sloEnv{t: t, now: sloT0, spKeys: map[string]*keys.KeyPair{}, sps: map[string]*ServiceProvider{}}
	dir := t.TempDir()
	usersPath := filepath.Join(dir, "users.yaml")
	out, _ := yaml.Marshal(file.File{Users: []file.UserFile{sloUser(t, "alice"), sloUser(t, "bob")}})
	if err := os.WriteFile(usersPath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := file.Open(ctx, usersPath, file.Options{Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	if e.db, err = sqlite.Open(ctx, filepath.Join(dir, "g.db"), store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.db.Close() })
	cfg := config.Default()
	cfg.MFA.RequiredFor = "none"
	box, _ := secrets.New([]byte(strings.Repeat("k", 32)))
	r, err := web.NewRenderer(cfg.UI)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rec := audit.New(e.db, log, e.clock)
	e.sessions = signin.NewSessions(signin.SessionOptions{Config: cfg.Sessions, Store: e.db, Directory: d, Audit: rec, Logger: log,
		Now: e.clock, Secrets: box})
	guard, err := abuse.New(abuse.Options{Limits: abuse.FromConfig(cfg.Abuse), Store: e.db, Directory: d, Key: box.DeriveKey("abuse"),
		Audit: rec, Logger: log, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	engine := signin.New(signin.Options{Issuer: cfg.Issuer, FlowTimeout: cfg.Sessions.FlowTimeout, Policy: policy.FromConfig(cfg),
		Directory: d, Flows: e.db, Throttle: e.db, Sessions: e.sessions, Guard: guard, Secrets: box, Renderer: r,
		CSRF: web.NewCSRF(box.DeriveKey("csrf"), false), Audit: rec, Logger: log, Now: e.clock})

	e.idp = sloKeysCurrent(t)
	for _, id := range []string{spA, spB, spC, spD} {
		kp, err := keys.Generate("SP "+id, sloT0.Add(-time.Hour), 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.spKeys[id] = kp
	}
	e.sps[spA] = &ServiceProvider{Name: "App A", EntityID: spA, SigningCerts: []*x509.Certificate{e.spKeys[spA].Cert},
		SLO: []Endpoint{
			{Binding: BindingRedirect, Location: "https://a.example.com/slo", ResponseLocation: "https://a.example.com/slo/done"},
			{Binding: BindingPOST, Location: "https://a.example.com/slo-post"},
		}}
	e.sps[spB] = &ServiceProvider{Name: "App B", EntityID: spB, SigningCerts: []*x509.Certificate{e.spKeys[spB].Cert}, WantRequestsSigned: true,
		SLO: []Endpoint{{Binding: BindingPOST, Location: "https://b.example.com:8443/Shibboleth.sso/SLO/POST"}}}
	e.sps[spC] = &ServiceProvider{Name: "App C", EntityID: spC, SigningCerts: []*x509.Certificate{e.spKeys[spC].Cert}}
	e.sps[spD] = &ServiceProvider{Name: "App D", EntityID: spD, SigningCerts: []*x509.Certificate{e.spKeys[spD].Cert},
		SLO: []Endpoint{{Binding: BindingRedirect, Location: "https://d.example.com/saml/logout?tenant=1"}}}
	if e.rps, err = wsfed.NewRegistry(wsfed.RelyingParty{Name: "Portal", Realm: "https://portal.example.org/", Issuer: sloIssuer,
		ReplyURLs: []string{"https://portal.example.org/signin-wsfed", "https://portal.example.org/alt"}}); err != nil {
		t.Fatal(err)
	}
	e.inbound = &sloInbound{sps: e.sps}
	e.slo = &SLO{EntityID: sloIssuer, Outbound: Outbound{Signer: sloSigner(t, e.idp)},
		LookupSP:            func(id string) (*ServiceProvider, bool) { sp, ok := e.sps[id]; return sp, ok },
		LookupRP:            e.rps.ByRealm,
		ParseLogoutRequest:  e.inbound.LogoutRequest,
		ParseLogoutResponse: e.inbound.LogoutResponse,
		Sessions:            e.sessions, Renderer: r, Log: log, Now: e.clock}
	engine.SetLogoutFanOut(e.slo)

	builder, err := assertion.NewBuilder(assertion.Options{Key: e.idp, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	ws := &wsfed.Handler{Engine: engine, Sessions: e.sessions, Registry: e.rps, Builder: builder, Audit: rec, Renderer: r, Log: log,
		Now: e.clock, FanOut: e.slo}

	mux := http.NewServeMux()
	engine.Mount(mux)
	e.slo.Mount(mux)
	ws.Mount(mux)
	mux.Handle("GET /static/", r.StaticHandler())
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	// The stand-in SSO endpoint: signs the user in for ?sp= (a SAML SP,
	// NameID ?nameid= or the UPN) or ?realm= (a WS-Fed RP, reply ?reply=)
	// and records the participant, printing its SessionIndex.
	mux.HandleFunc("GET /test/sso", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		clean := url.Values{}
		for k, v := range q {
			if k != signin.ResumeParam {
				clean[k] = v
			}
		}
		app := q.Get("sp") + q.Get("realm")
		res, err := engine.Authenticate(w, r, signin.Request{App: app, ResumeURL: "/test/sso?" + clean.Encode()})
		if err != nil || res == nil {
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
			return
		}
		p := signin.Participant{Protocol: signin.ProtocolSAML, App: app, EntityID: q.Get("sp"), NameID: q.Get("nameid"), NameIDFormat: NameIDPersistent}
		if p.NameID == "" {
			p.NameID = res.User.UPN
		}
		if q.Has("realm") {
			p = signin.Participant{Protocol: signin.ProtocolWSFed, App: app, EntityID: q.Get("realm"), ReplyURL: q.Get("reply")}
		}
		got, err := e.sessions.AddParticipant(r.Context(), res.SessionID, p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "session-index="+got.SessionIndex)
	})
	e.srv = httptest.NewServer(web.Chain(mux, web.SecurityHeaders(false)))
	t.Cleanup(e.srv.Close)
	return e
}

func sloKeysCurrent(t *testing.T) *keys.KeyPair {
	cur, _, _ := sloKeys(t)
	return cur
}

// signIn signs a new browser in as user and SSOs it to each app (an SP's
// entity ID, or "wsfed:" + a realm + " " + reply), returning the browser
// and the SessionIndex each SP got.
func (e *sloEnv) signIn(user string, apps ...string) (*browse.Browser, map[string]string) {
	e.t.Helper()
	b := browse.New(e.t, e.srv.URL)
	idx := map[string]string{}
	for i, a := range apps {
		path := "/test/sso?sp=" + url.QueryEscape(a)
		if realm, ok := strings.CutPrefix(a, "wsfed:"); ok {
			realm, reply, _ := strings.Cut(realm, " ")
			path = "/test/sso?realm=" + url.QueryEscape(realm) + "&reply=" + url.QueryEscape(reply)
		}
		page := b.Get(path)
		if i == 0 {
			b.Submit(map[string]string{"login": user})
			page = b.Submit(map[string]string{"password": sloPassword})
		}
		got, ok := strings.CutPrefix(page, "session-index=")
		if !ok {
			e.t.Fatalf("SSO to %s: %s", a, page)
		}
		idx[a] = got
	}
	return b, idx
}

// signedIn reports whether b still has a live Gatehouse session: the
// stand-in endpoint answers without the sign-in page.
func (e *sloEnv) signedIn(b *browse.Browser) bool {
	e.t.Helper()
	return strings.HasPrefix(b.Get("/test/sso?sp="+url.QueryEscape(spA)), "session-index=")
}

// logoutRequest is a LogoutRequest from sp about nameID in the session
// indexes, sent over binding and signed with the SP's key unless unsigned.
func (e *sloEnv) logoutRequest(sp, nameID, binding, relay string, unsigned bool, indexes ...string) (id string, m Outgoing) {
	e.t.Helper()
	id = "_req-" + strings.ReplaceAll(strings.TrimPrefix(sp, "https://"), "/", "-")
	el, err := NewLogoutRequest(LogoutRequestParams{ID: id, IssueInstant: e.clock(), Issuer: sp, Destination: e.srv.URL + PathSLO,
		NameID: NameID{Format: NameIDPersistent, Value: nameID}, SessionIndexes: indexes, NotOnOrAfter: e.clock().Add(time.Minute)})
	if err != nil {
		e.t.Fatal(err)
	}
	return id, e.send(el, sp, binding, relay, unsigned)
}

func (e *sloEnv) send(el *etree.Element, sp, binding, relay string, unsigned bool) Outgoing {
	e.t.Helper()
	m, err := Outbound{Signer: sloSigner(e.t, e.spKeys[sp])}.Send(context.Background(), el, binding, e.srv.URL+PathSLO, relay)
	if err != nil {
		e.t.Fatal(err)
	}
	if unsigned {
		m = unsign(e.t, m, el, relay)
	}
	return m
}

// unsign drops the signature of a message: the query's SigAlg and
// Signature, or the POST form's message re-encoded without one.
func unsign(t *testing.T, m Outgoing, el *etree.Element, relay string) Outgoing {
	t.Helper()
	if m.Binding == BindingRedirect {
		u, _ := url.Parse(m.URL)
		q := u.Query()
		q.Del(ParamSigAlg)
		q.Del(ParamSignature)
		u.RawQuery = q.Encode()
		m.URL = u.String()
		return m
	}
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	raw, _ := doc.WriteToBytes()
	m.Fields[0].Value = base64.StdEncoding.EncodeToString(raw)
	return m
}

// sloResp is one response, redirects not followed (they lead to the
// SPs, which do not exist).
type sloResp struct {
	status int
	header http.Header
	body   string
}

// do sends m from browser b (nil: a client without cookies, as a
// cross-site form post arrives without the SameSite=Lax cookie). A
// relative URL is Gatehouse's.
func (e *sloEnv) do(b *browse.Browser, m Outgoing) sloResp {
	e.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if b != nil {
		c = b.C
	}
	u := m.URL
	if strings.HasPrefix(u, "/") {
		u = e.srv.URL + u
	}
	var resp *http.Response
	var err error
	if m.Binding == BindingRedirect {
		resp, err = c.Get(u)
	} else {
		resp, err = c.PostForm(u, m.Values())
	}
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return sloResp{resp.StatusCode, resp.Header, string(body)}
}

// sloPage is what a fan-out page holds.
type sloPage struct {
	// Frames are the GET frames' URLs and the POST frames' forms.
	Gets  []string
	Posts []Outgoing
	// Finish is the last step: a link (Binding Redirect) or a form.
	Finish *Outgoing
	Wait   string
}

var (
	dataSrcRe    = regexp.MustCompile(`<iframe class="logout-frame"[^>]* data-src="([^"]+)"`)
	frameFormRe  = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)" target="[^"]+" class="logout-frame-form">(.*?)</form>`)
	finishFormRe = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)" id="logout-finish">(.*?)</form>`)
	finishLinkRe = regexp.MustCompile(`<a id="logout-finish" class="button" href="([^"]+)"`)
	fieldRe      = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	waitRe       = regexp.MustCompile(`data-wait="([^"]+)"`)
)

func fields(s string) []Field {
	var fs []Field
	for _, m := range fieldRe.FindAllStringSubmatch(s, -1) {
		fs = append(fs, Field{html.UnescapeString(m[1]), html.UnescapeString(m[2])})
	}
	return fs
}

func readFanOut(t *testing.T, page string) sloPage {
	t.Helper()
	var p sloPage
	for _, m := range dataSrcRe.FindAllStringSubmatch(page, -1) {
		p.Gets = append(p.Gets, html.UnescapeString(m[1]))
	}
	for _, m := range frameFormRe.FindAllStringSubmatch(page, -1) {
		p.Posts = append(p.Posts, Outgoing{Binding: BindingPOST, URL: html.UnescapeString(m[1]), Fields: fields(m[2])})
	}
	if m := finishFormRe.FindStringSubmatch(page); m != nil {
		p.Finish = &Outgoing{Binding: BindingPOST, URL: html.UnescapeString(m[1]), Fields: fields(m[2])}
	} else if m := finishLinkRe.FindStringSubmatch(page); m != nil {
		p.Finish = &Outgoing{Binding: BindingRedirect, URL: html.UnescapeString(m[1])}
	}
	if m := waitRe.FindStringSubmatch(page); m != nil {
		p.Wait = m[1]
	}
	return p
}

// cspSources returns the sources of directive in the response's CSP.
func cspSources(h http.Header, directive string) []string {
	for _, d := range strings.Split(h.Get("Content-Security-Policy"), ";") {
		f := strings.Fields(d)
		if len(f) > 0 && f[0] == directive {
			return f[1:]
		}
	}
	return nil
}

// sloInbound stands in for the inbound parsers (binding.go, logoutin.go):
// the SP from the Issuer, its signature verified over the query octets
// (HTTP-Redirect) or the enveloped signature (HTTP-POST, goxmldsig, only
// the verified element read), unsigned messages refused from an SP that
// wants them signed.
type sloInbound struct {
	sps map[string]*ServiceProvider
}

type inboundMessage struct {
	root    *etree.Element
	sp      *ServiceProvider
	signed  bool
	binding string
	relay   string
}

func (f *sloInbound) read(r *http.Request, param string) (*inboundMessage, error) {
	in := &inboundMessage{}
	var raw []byte
	var err error
	var q url.Values
	if r.Method == http.MethodGet {
		in.binding, q = BindingRedirect, r.URL.Query()
		deflated, err := base64.StdEncoding.DecodeString(q.Get(param))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if raw, err = io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(deflated)), 1<<20)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	} else {
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		in.binding, q = BindingPOST, r.PostForm
		if raw, err = base64.StdEncoding.DecodeString(q.Get(param)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	in.relay = q.Get(ParamRelayState)
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if doc.Root() == nil {
		return nil, ErrMalformed
	}
	in.root = doc.Root()
	iss := in.root.FindElement("./Issuer")
	if iss == nil {
		return nil, ErrMalformed
	}
	sp, ok := f.sps[iss.Text()]
	if !ok {
		return nil, ErrUnknownSP
	}
	in.sp = sp
	switch {
	case in.binding == BindingRedirect && q.Get(ParamSignature) != "":
		if q.Get(ParamSigAlg) != SigAlgRSASHA256 {
			return nil, ErrSignature
		}
		var parts []string
		for _, p := range strings.Split(r.URL.RawQuery, "&") {
			name, _, _ := strings.Cut(p, "=")
			if name == param || name == ParamRelayState || name == ParamSigAlg {
				parts = append(parts, p)
			}
		}
		sig, err := base64.StdEncoding.DecodeString(q.Get(ParamSignature))
		if err != nil {
			return nil, ErrSignature
		}
		digest := sha256.Sum256([]byte(strings.Join(parts, "&")))
		if err := rsa.VerifyPKCS1v15(sp.SigningCerts[0].PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSignature, err)
		}
		in.signed = true
	case in.binding == BindingPOST && in.root.FindElement("./Signature") != nil:
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: sp.SigningCerts})
		vc.IdAttribute = "ID"
		vc.Clock = dsig.NewFakeClockAt(sloT0)
		verified, err := vc.Validate(in.root)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSignature, err)
		}
		in.root, in.signed = verified, true
	}
	if !in.signed && sp.WantRequestsSigned {
		return nil, ErrSignature
	}
	return in, nil
}

func (f *sloInbound) LogoutRequest(_ context.Context, r *http.Request) (*LogoutRequest, error) {
	in, err := f.read(r, ParamRequest)
	if err != nil {
		return nil, err
	}
	if in.root.Tag != "LogoutRequest" || in.root.NamespaceURI() != NSProtocol {
		return nil, ErrMalformed
	}
	nid := in.root.FindElement("./NameID")
	if nid == nil {
		return nil, ErrMalformed
	}
	lr := &LogoutRequest{ID: in.root.SelectAttrValue("ID", ""), SP: in.sp, Signed: in.signed, Binding: in.binding, RelayState: in.relay,
		NameID: NameID{Format: nid.SelectAttrValue("Format", ""), Value: nid.Text(), SPNameQualifier: nid.SelectAttrValue("SPNameQualifier", "")}}
	for _, s := range in.root.SelectElements("SessionIndex") {
		lr.SessionIndexes = append(lr.SessionIndexes, s.Text())
	}
	return lr, nil
}

func (f *sloInbound) LogoutResponse(_ context.Context, r *http.Request) (*LogoutResponse, error) {
	in, err := f.read(r, ParamResponse)
	if err != nil {
		return nil, err
	}
	code := in.root.FindElement("./Status/StatusCode")
	if in.root.Tag != "LogoutResponse" || code == nil {
		return nil, errors.New("saml: not a logout response")
	}
	return &LogoutResponse{ID: in.root.SelectAttrValue("ID", ""), InResponseTo: in.root.SelectAttrValue("InResponseTo", ""), SP: in.sp,
		Status: code.SelectAttrValue("Value", ""), Signed: in.signed, Binding: in.binding, RelayState: in.relay}, nil
}
