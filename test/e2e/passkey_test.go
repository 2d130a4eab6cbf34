package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/webauthn"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// passkeyServer serves Gatehouse's real enrolment and MFA pages
// (internal/web's renderer and templates, its CSP and CSRF protection)
// around webauthn.Service with a real SQLite store, for one user. It is a
// stand-in for the sign-in engine, which is not wired to the factor yet.
type passkeyServer struct {
	t      *testing.T
	url    string // http://localhost:PORT
	svc    *webauthn.Service
	store  store.Store
	render *web.Renderer
	user   *directory.User

	mu       sync.Mutex
	sessions map[string][]byte // flow ID → ceremony session, used once
	posts    int
	refused  []string // reasons of the verification failures
}

// loginData is the Page.Data that login_enrol.html and login_mfa.html
// read (the sign-in engine's loginData). A map, so a field the templates
// gain later reads as empty here instead of failing the render.
type loginData map[string]any

// discoverPage is a sign-in page with a passwordless button, as the
// identify page will have one: a data-webauthn="discover" form and a
// username field that offers passkeys in autofill.
var discoverPage = template.Must(template.New("discover").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title>
<link rel="stylesheet" href="/static/gatehouse.css"><script src="/static/webauthn.js" defer></script></head>
<body><main id="main" class="card"><h1>Sign in</h1>
<form method="post" action="/login?flow={{.FlowID}}" novalidate>
  <label for="login">Username</label>
  <input id="login" name="login" type="text" autocomplete="{{.Autocomplete}}">
</form>
<form method="post" action="/login?flow={{.FlowID}}" id="webauthn-form" data-webauthn="discover" data-options="{{.Options}}">
  <input type="hidden" name="csrf_token" value="{{.CSRF}}">
  <input type="hidden" name="step" value="discover">
  <input type="hidden" name="credential" value="">
  <button type="button" id="webauthn-start">Sign in with a passkey</button>
</form></main></body></html>`))

var resultPage = template.Must(template.New("result").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Result</title></head>
<body><main><p id="result" data-outcome="{{.Outcome}}" data-user="{{.User}}" data-amr="{{.AMR}}" data-reason="{{.Reason}}">{{.Outcome}}</p></main></body></html>`))

type result struct{ Outcome, User, AMR, Reason string }

func newPasskeyServer(t *testing.T) *passkeyServer {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"), store.Options{})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	render, err := web.NewRenderer(config.Default().UI)
	if err != nil {
		t.Fatal(err)
	}
	s := &passkeyServer{t: t, store: st, render: render, sessions: map[string][]byte{},
		user: &directory.User{ID: "6f2d0c1e9a8b47c3b1d2e3f405162738", UPN: "alice@corp.example.test",
			SAMAccountName: "alice", DisplayName: "Alice Smith"}}

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	csrf := web.NewCSRF(key, false)
	mux := http.NewServeMux()
	mux.Handle("GET /static/", render.StaticHandler())
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("GET /enrol", csrf.Protect(http.HandlerFunc(s.enrol)))
	mux.Handle("GET /mfa", csrf.Protect(http.HandlerFunc(s.mfa)))
	mux.Handle("GET /passkey", csrf.Protect(http.HandlerFunc(s.discover)))
	mux.Handle("POST /login", csrf.Protect(http.HandlerFunc(s.finish)))

	// httptest listens on 127.0.0.1; the browser comes by the name
	// localhost, the RP ID.
	srv := httptest.NewServer(web.Chain(mux, web.SecurityHeaders(false), web.LimitBody(1<<20)))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	s.url = "http://localhost:" + port

	rp, err := webauthn.RelyingPartyFromIssuer(s.url, "Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	if s.svc, err = webauthn.New(webauthn.Options{RP: rp, Store: st}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *passkeyServer) keep(sess []byte) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[id] = sess
	return id
}

func (s *passkeyServer) take(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	delete(s.sessions, id)
	s.posts++
	return sess
}

// renderFactor renders a factor page; fieldError is the message key of
// an error to show, as the engine shows a refused factor.
func (s *passkeyServer) renderFactor(w http.ResponseWriter, r *http.Request, name, title, step string, opts, sess []byte, fieldError string) {
	d := loginData{"FlowID": s.keep(sess), "Step": step, "Login": s.user.UPN, "Method": mfa.MethodWebAuthn,
		"Methods": []string{mfa.MethodWebAuthn}, "Extra": string(opts)}
	p := s.render.NewPage(r, title, d)
	if fieldError != "" {
		p.Errors["code"] = p.T(fieldError)
	}
	if err := s.render.Render(w, name, http.StatusOK, p); err != nil {
		s.t.Errorf("render %s: %v", name, err)
	}
}

func (s *passkeyServer) enrol(w http.ResponseWriter, r *http.Request) {
	opts, sess, err := s.svc.BeginRegistration(r.Context(), s.user)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.renderFactor(w, r, "login_enrol", "enrol.title", "enrol", opts, sess, "")
}

func (s *passkeyServer) mfa(w http.ResponseWriter, r *http.Request) { s.mfaPage(w, r, "") }

func (s *passkeyServer) mfaPage(w http.ResponseWriter, r *http.Request, fieldError string) {
	opts, sess, err := s.svc.BeginLogin(r.Context(), s.user)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.renderFactor(w, r, "login_mfa", "mfa.title", "mfa", opts, sess, fieldError)
}

func (s *passkeyServer) discover(w http.ResponseWriter, r *http.Request) {
	opts, sess, err := s.svc.BeginDiscoverableLogin(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	ac := "username webauthn" // offer passkeys in autofill
	if r.URL.Query().Get("autofill") == "off" {
		ac = "username"
	}
	_ = discoverPage.Execute(w, map[string]string{"FlowID": s.keep(sess), "Options": string(opts), "CSRF": web.CSRFToken(r), "Autocomplete": ac})
}

func (s *passkeyServer) finish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := s.take(r.URL.Query().Get("flow"))
	cred := []byte(r.PostFormValue("credential"))
	var res result
	var err error
	switch step := r.PostFormValue("step"); step {
	case "enrol":
		_, err = s.svc.FinishRegistration(ctx, s.user, sess, cred, "Test passkey")
		res = result{Outcome: "enrolled", User: s.user.ID}
	case "mfa":
		res.AMR, err = s.svc.FinishLogin(ctx, s.user, sess, cred)
		res.Outcome, res.User = "signed-in", s.user.ID
	case "discover":
		res.User, res.AMR, err = s.svc.FinishDiscoverableLogin(ctx, sess, cred)
		res.Outcome = "signed-in"
	default:
		http.Error(w, "unknown step", http.StatusBadRequest)
		s.t.Errorf("posted step %q", step)
		return
	}
	if errors.Is(err, webauthn.ErrVerification) {
		s.t.Logf("verification failed: %v", err)
		s.mu.Lock()
		s.refused = append(s.refused, mfa.Reason(err))
		s.mu.Unlock()
		if r.PostFormValue("step") == "mfa" { // show the MFA page again, with the error
			s.mfaPage(w, r, "mfa.invalid")
			return
		}
		res = result{Outcome: "refused", Reason: mfa.Reason(err)}
	} else if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = resultPage.Execute(w, res)
}

func (s *passkeyServer) fail(w http.ResponseWriter, err error) {
	s.t.Errorf("server: %v", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func (s *passkeyServer) refusals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

func (s *passkeyServer) postCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posts
}

// storedRecord returns the user's only WebAuthn credential and its data.
func (s *passkeyServer) storedRecord(t *testing.T) (store.Credential, map[string]any) {
	t.Helper()
	all, err := s.store.ListCredentials(t.Context(), s.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Type != "webauthn" {
		t.Fatalf("stored credentials = %+v, want one webauthn credential", all)
	}
	var d map[string]any
	if err := json.Unmarshal(all[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	return all[0], d
}

func (b *Browser) waitResult(t *testing.T) result {
	t.Helper()
	b.Do(chromedp.WaitVisible(chromedp.ID("result")))
	return result{Outcome: b.Attr("#result", "data-outcome"), User: b.Attr("#result", "data-user"),
		AMR: b.Attr("#result", "data-amr"), Reason: b.Attr("#result", "data-reason")}
}

// TestPasskeyRegistrationThenSignInInChromium registers a passkey in
// Chromium's virtual authenticator on the real enrolment page, uses it as
// a second factor on the real MFA page and for passwordless sign-in, and
// checks what the browser refuses: registering the same authenticator
// twice, and a passwordless sign-in without user verification.
func TestPasskeyRegistrationThenSignInInChromium(t *testing.T) {
	srv := newPasskeyServer(t)
	b := NewBrowser(t)
	auth := b.AddVirtualAuthenticator(nil)

	t.Log("register a passkey on the enrolment page")
	b.Do(chromedp.Navigate(srv.url+"/enrol"), chromedp.Click(chromedp.ID("webauthn-start")))
	if got := b.waitResult(t); got.Outcome != "enrolled" {
		t.Fatalf("registration: %+v", got)
	}
	c, data := srv.storedRecord(t)
	vcs := b.VirtualCredentials(auth)
	if len(vcs) != 1 {
		t.Fatalf("the virtual authenticator holds %d credentials, want 1", len(vcs))
	}
	vc := vcs[0]
	if c.LookupKey != base64.RawURLEncoding.EncodeToString(vc.CredentialID) {
		t.Errorf("stored LookupKey %q is not the authenticator's credential ID", c.LookupKey)
	}
	if !vc.IsResidentCredential || string(vc.UserHandle) != srv.user.ID || vc.RpID != "localhost" {
		t.Errorf("virtual credential: resident %v, user handle %q, RP ID %q", vc.IsResidentCredential, vc.UserHandle, vc.RpID)
	}
	if data["discoverable"] != true || data["backup_eligible"] != false || data["rp_id"] != "localhost" {
		t.Errorf("stored data = %v", data)
	}
	if tr, _ := data["transports"].([]any); len(tr) != 1 || tr[0] != "internal" {
		t.Errorf("stored transports = %v, want the browser's [internal]", data["transports"])
	}
	b.CheckProblems()

	t.Log("registering the same authenticator again is refused by the browser")
	posts := srv.postCount()
	b.Do(chromedp.Navigate(srv.url+"/enrol"), chromedp.Click(chromedp.ID("webauthn-start")),
		chromedp.WaitVisible(chromedp.CSS(`#webauthn-form[data-webauthn-state="error"]`)))
	if msg := b.Text("#webauthn-error"); !strings.Contains(msg, "already registered") {
		t.Errorf("error shown = %q", msg)
	}
	if b.Attr("#webauthn-error", "role") != "alert" || b.Attr("#webauthn-error", "aria-live") != "assertive" {
		t.Errorf("the error is not in a live region")
	}
	if srv.postCount() != posts {
		t.Errorf("the form was submitted after the browser refused")
	}
	if n := len(b.VirtualCredentials(auth)); n != 1 {
		t.Errorf("the authenticator holds %d credentials after the refusal", n)
	}
	b.CheckProblems()

	t.Log("the MFA page asks for the passkey as soon as it loads")
	b.Do(chromedp.Navigate(srv.url + "/mfa"))
	if got := b.waitResult(t); got != (result{Outcome: "signed-in", User: srv.user.ID, AMR: "hwk"}) {
		t.Fatalf("second factor: %+v", got)
	}
	c2, data := srv.storedRecord(t)
	vc = b.VirtualCredentials(auth)[0]
	if c2.LastUsedAt.IsZero() || data["sign_count"] != float64(vc.SignCount) || vc.SignCount < 1 {
		t.Errorf("after the second factor: LastUsedAt %v, stored sign count %v, authenticator's %v", c2.LastUsedAt, data["sign_count"], vc.SignCount)
	}
	b.CheckProblems()

	t.Log("a bad signature is refused; the page says so and does not start again by itself")
	bogus := func(on bool) {
		if _, err := chromedp.Call(b.Context(), cdpwebauthn.SetResponseOverrideBits, cdpwebauthn.SetResponseOverrideBitsParams{
			AuthenticatorID: auth, IsBogusSignature: new(on)}); err != nil {
			t.Fatalf("WebAuthn.setResponseOverrideBits: %v", err)
		}
	}
	bogus(true)
	posts = srv.postCount()
	b.Do(chromedp.Navigate(srv.url+"/mfa"), chromedp.WaitVisible(chromedp.CSS(`#webauthn-form .field-error:not(#webauthn-error)`)))
	if got := srv.refusals(); len(got) != 1 || got[0] != "wrong" {
		t.Fatalf("refusals = %q, want one for a wrong signature", got)
	}
	if msg := b.Text(`#webauthn-form .field-error:not(#webauthn-error)`); msg == "" {
		t.Errorf("no error message after the refusal")
	}
	// Announced: the focused button is described by the error.
	if by := b.Attr("#webauthn-start", "aria-describedby"); by != "code-error" {
		t.Errorf("the passkey button is described by %q, want the error (code-error)", by)
	}
	if state := b.Attr("#webauthn-form", "data-webauthn-state"); state != "idle" || srv.postCount() != posts+1 {
		t.Errorf("after a refusal the page is %q with %d posts, want idle with 1 (no automatic retry)", state, srv.postCount()-posts)
	}
	bogus(false)
	b.Do(chromedp.Click(chromedp.ID("webauthn-start")))
	if got := b.waitResult(t); got != (result{Outcome: "signed-in", User: srv.user.ID, AMR: "hwk"}) {
		t.Fatalf("second factor after a refusal: %+v", got)
	}
	b.CheckProblems()

	t.Log("passwordless sign-in with the passkey button")
	b.Do(chromedp.Navigate(srv.url+"/passkey?autofill=off"), chromedp.Click(chromedp.ID("webauthn-start")))
	if got := b.waitResult(t); got != (result{Outcome: "signed-in", User: srv.user.ID, AMR: "hwk"}) {
		t.Fatalf("passwordless: %+v", got)
	}
	b.CheckProblems()

	// Chromium's virtual authenticator answers a conditional (autofill)
	// request at once, as if the user had picked the passkey from the
	// username field's suggestions.
	t.Log("passwordless sign-in from the username field's autofill")
	b.Do(chromedp.Navigate(srv.url + "/passkey"))
	if got := b.waitResult(t); got != (result{Outcome: "signed-in", User: srv.user.ID, AMR: "hwk"}) {
		t.Fatalf("passwordless from autofill: %+v", got)
	}
	b.CheckProblems()

	t.Log("passwordless sign-in needs user verification")
	b.SetUserVerified(auth, false)
	posts = srv.postCount()
	b.Do(chromedp.Navigate(srv.url+"/passkey?autofill=off"), chromedp.Click(chromedp.ID("webauthn-start")),
		chromedp.WaitVisible(chromedp.CSS(`#webauthn-form[data-webauthn-state="error"]`)))
	if msg := b.Text("#webauthn-error"); !strings.Contains(msg, "cancelled") {
		t.Errorf("error shown = %q", msg)
	}
	if srv.postCount() != posts {
		t.Errorf("the form was submitted without user verification")
	}
	if Run(b, chromedp.Evaluate[bool](`document.getElementById('webauthn-start').disabled`)) {
		t.Errorf("the button stays disabled after a failure")
	}
}
