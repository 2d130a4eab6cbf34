package signin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/secrets"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

const (
	alicePW = "Tr1cky-Horse-Battery"
	newPW   = "Qu4ntum-Lemon-Stapler"
)

// fakeFactors is a second factor whose code is "123456": enough to test
// the engine's logic; the real factors have their own tests.
type fakeFactors struct {
	mu       sync.Mutex
	enrolled map[string][]string
	sent     int
}

func (f *fakeFactors) Enrolled(_ context.Context, userID string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enrolled[userID], nil
}
func (f *fakeFactors) Enrollable() []string { return []string{"totp"} }
func (f *fakeFactors) Challenge(_ context.Context, _ *http.Request, _ *directory.User, _ string, prev []byte, _ *web.Page) ([]byte, error) {
	if prev == nil {
		f.mu.Lock()
		f.sent++
		f.mu.Unlock()
	}
	return []byte("challenge"), nil
}
func (f *fakeFactors) Verify(_ context.Context, r *http.Request, _ *directory.User, _ string, pending []byte) (string, error) {
	if string(pending) != "challenge" || r.PostFormValue("code") != "123456" {
		return "", UserError{Reason: "invalid_code", MessageKey: "mfa.invalid", Status: http.StatusUnauthorized}
	}
	return "otp", nil
}
func (f *fakeFactors) BeginEnrol(_ context.Context, _ *http.Request, _ *directory.User, _ string, prev []byte, p *web.Page) ([]byte, error) {
	p.Data.(*loginData).Extra = struct{ QR, Secret string }{"data:image/png;base64,AA==", "ABCD EFGH"}
	if prev != nil {
		return prev, nil
	}
	return []byte("enrol"), nil
}
func (f *fakeFactors) FinishEnrol(_ context.Context, r *http.Request, u *directory.User, method string, pending []byte) (string, []string, error) {
	if string(pending) != "enrol" || r.PostFormValue("code") != "123456" {
		return "", nil, UserError{Reason: "invalid_code", MessageKey: "mfa.invalid", Status: http.StatusUnauthorized}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enrolled[u.ID] = append(f.enrolled[u.ID], method)
	return "otp", []string{"aaaaa-bbbbb", "ccccc-ddddd"}, nil
}

type env struct {
	t       *testing.T
	srv     *httptest.Server
	engine  *Engine
	store   store.Store
	factors *fakeFactors
	users   string
	now     time.Time
	mu      sync.Mutex
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func newEnv(t *testing.T, mfa string, users ...file.UserFile) *env {
	return newEnvWith(t, mfa, nil, users...)
}

func newEnvWith(t *testing.T, mfa string, mod func(*config.Config), users ...file.UserFile) *env {
	t.Helper()
	dir := t.TempDir()
	usersPath := filepath.Join(dir, "users.yaml")
	out, _ := yaml.Marshal(file.File{Policy: file.PolicyFile{MinLength: 12, Complexity: true, HistoryLength: 3}, Users: users})
	if err := os.WriteFile(usersPath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	ev := &env{t: t, users: usersPath, now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), factors: &fakeFactors{enrolled: map[string][]string{}}}
	d, err := file.Open(context.Background(), usersPath, file.Options{Now: ev.clock})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ev.store = s
	cfg := config.Default()
	cfg.MFA.RequiredFor = mfa
	cfg.Apps = []config.App{{Name: "Strict", Type: "entra", Domains: []string{"x.test"}, MFA: "required"}}
	if mod != nil {
		mod(&cfg)
	}
	box, _ := secrets.New([]byte(strings.Repeat("k", 32)))
	r, err := web.NewRenderer(cfg.UI)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ev.engine = New(Options{Config: cfg, Directory: d, Store: s, Secrets: box, Renderer: r, CSRF: web.NewCSRF(box.DeriveKey("csrf"), false),
		Audit: audit.New(s, log, ev.clock), Logger: log, Now: ev.clock, Factors: ev.factors})
	ev.engine.delay = &delayer{} // no padding in unit tests
	mux := http.NewServeMux()
	ev.engine.Mount(mux)
	// A stand-in protocol endpoint: asks the engine for a user for app
	// ?app= with ?mfa=1 / ?fresh=1, and prints who it got.
	mux.HandleFunc("GET /proto", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		res, err := ev.engine.Authenticate(w, r, Request{App: q.Get("app"), RequireMFA: q.Get("mfa") == "1", ForceAuthn: q.Get("fresh") == "1",
			ResumeURL: "/proto?" + stripParam(q, ResumeParam), LoginHint: q.Get("hint"), State: []byte("saved:" + q.Get("app"))})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if res == nil {
			return
		}
		_, _ = io.WriteString(w, "user="+res.User.SAMAccountName+" amr="+strings.Join(res.Methods, ",")+" mfa="+boolStr(res.MFA())+" state="+string(res.State))
	})
	ev.srv = httptest.NewServer(mux)
	t.Cleanup(ev.srv.Close)
	return ev
}

func stripParam(q url.Values, name string) string {
	c := url.Values{}
	for k, v := range q {
		if k != name {
			c[k] = v
		}
	}
	return c.Encode()
}

func boolStr(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func user(t *testing.T, name, password string, mod func(*file.UserFile)) file.UserFile {
	h, err := file.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	u := file.UserFile{ID: fmt.Sprintf("%032x", name), Username: name, UPN: name + "@corp.example.test", DisplayName: "Test " + name,
		PasswordHash: h, PasswordChangedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	if mod != nil {
		mod(&u)
	}
	return u
}

// browser is a cookie-keeping client that does not follow redirects by
// itself, so each hop can be checked.
type browser struct {
	t      *testing.T
	c      *http.Client
	base   string
	last   string // body of the last page
	status int
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get follows redirects and returns the final body.
func (b *browser) get(path string) string {
	b.t.Helper()
	u := b.base + path
	for range 10 {
		resp, err := b.c.Get(u)
		if err != nil {
			b.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound {
			u = resp.Request.URL.ResolveReference(mustURL(b.t, loc)).String()
			continue
		}
		b.last, b.status = string(body), resp.StatusCode
		return b.last
	}
	b.t.Fatal("too many redirects")
	return ""
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var formRe = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
var stepRe = regexp.MustCompile(`name="step" value="([^"]+)"`)
var methodRe = regexp.MustCompile(`name="method" value="([^"]+)"`)

// submit posts the first form of the last page with fields, follows
// redirects, and returns the final body.
func (b *browser) submit(fields map[string]string) string {
	b.t.Helper()
	action := formRe.FindStringSubmatch(b.last)
	if action == nil {
		b.t.Fatalf("no form on the page:\n%s", b.last)
	}
	form := url.Values{}
	for _, m := range []struct {
		re   *regexp.Regexp
		name string
	}{{csrfRe, "csrf_token"}, {stepRe, "step"}, {methodRe, "method"}} {
		if v := m.re.FindStringSubmatch(b.last); v != nil {
			form.Set(m.name, v[1])
		}
	}
	for k, v := range fields {
		form.Set(k, v)
	}
	resp, err := b.c.PostForm(b.base+strings.ReplaceAll(action[1], "&amp;", "&"), form)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "" {
		return b.get(loc)
	}
	b.last, b.status = string(body), resp.StatusCode
	return b.last
}

func TestPasswordOnlySignInReturnsToTheProtocol(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	page := b.get("/proto?app=Wiki")
	if !strings.Contains(page, `name="login"`) {
		t.Fatalf("no identify page:\n%s", page)
	}
	b.submit(map[string]string{"login": "ALICE@corp.example.test"})
	got := b.submit(map[string]string{"password": alicePW})
	if got != "user=alice amr=pwd mfa=no state=saved:Wiki" {
		t.Fatalf("protocol got %q", got)
	}
	// Single sign-on: the session serves the next request with no pages.
	if got := b.get("/proto?app=Wiki"); got != "user=alice amr=pwd mfa=no state=" {
		t.Errorf("SSO got %q", got)
	}
	evs, _ := e.store.QueryAudit(context.Background(), store.AuditQuery{Type: audit.SignInSuccess})
	if len(evs) != 1 {
		t.Errorf("want one success audit event, got %d", len(evs))
	}
}

func TestAWrongPasswordAndAnUnknownUserLookTheSame(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	pages := map[string]string{}
	for _, login := range []string{"alice", "nobody"} {
		b := e.browser()
		b.get("/proto?app=Wiki&hint=" + login)
		page := b.submit(map[string]string{"password": "Wrong-Password-1"})
		if b.status != http.StatusUnauthorized || !strings.Contains(page, "The user name or password is incorrect.") {
			t.Fatalf("%s: status %d\n%s", login, b.status, page)
		}
		pages[login] = csrfRe.ReplaceAllString(regexp.MustCompile(`flow(=|%3d)[A-Za-z0-9_-]+`).ReplaceAllString(strings.ReplaceAll(page, login, "X"), ""), "")
	}
	if pages["alice"] != pages["nobody"] {
		t.Errorf("the pages differ:\n%s\n----\n%s", pages["alice"], pages["nobody"])
	}
}

func TestPasswordAttemptsAreThrottledPerLogin(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	b.get("/proto?hint=alice")
	for range e.engine.limits.perLogin {
		b.submit(map[string]string{"password": "Wrong-Password-1"})
	}
	b.submit(map[string]string{"password": alicePW})
	if b.status != http.StatusTooManyRequests || !strings.Contains(b.last, "Too many attempts") {
		t.Fatalf("the right password after the limit: status %d", b.status)
	}
	e.advance(16 * time.Minute) // the window has passed (and so has this flow)
	b.get("/proto?hint=alice")
	if got := b.submit(map[string]string{"password": alicePW}); !strings.HasPrefix(got, "user=alice") {
		t.Errorf("after the window the right password is refused: %s", got)
	}
}

func TestMFAIsEnforcedAndEnrolmentForcedWhenRequired(t *testing.T) {
	e := newEnv(t, "all", user(t, "alice", alicePW, nil))
	b := e.browser()
	b.get("/proto?app=Wiki&hint=alice")
	page := b.submit(map[string]string{"password": alicePW})
	if !strings.Contains(page, "Set up a second sign-in method") || !strings.Contains(page, "ABCD EFGH") {
		t.Fatalf("no forced enrolment:\n%s", page)
	}
	page = b.submit(map[string]string{"code": "000000"})
	if b.status != http.StatusUnauthorized || !strings.Contains(page, "That code didn&#39;t work") || !strings.Contains(page, "ABCD EFGH") {
		t.Fatalf("a wrong enrolment code: status %d\n%s", b.status, page)
	}
	page = b.submit(map[string]string{"code": "123456"})
	if !strings.Contains(page, "aaaaa-bbbbb") {
		t.Fatalf("recovery codes not shown once:\n%s", page)
	}
	if got := b.submit(nil); got != "user=alice amr=pwd,otp,mfa mfa=yes state=saved:Wiki" {
		t.Fatalf("protocol got %q", got)
	}
	// A new browser: the enrolled factor is asked for, not enrolment.
	b2 := e.browser()
	b2.get("/proto?app=Wiki&hint=alice")
	page = b2.submit(map[string]string{"password": alicePW})
	if !strings.Contains(page, "Verify it") {
		t.Fatalf("no MFA challenge:\n%s", page)
	}
	if got := b2.submit(map[string]string{"code": "123456"}); !strings.Contains(got, "mfa=yes") {
		t.Fatalf("got %q", got)
	}
}

func TestAnAppRequiringMFAStepsUpAPasswordSession(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	e.factors.enrolled[fmt.Sprintf("%032x", "alice")] = []string{"totp"}
	b := e.browser()
	b.get("/proto?app=Wiki&hint=alice")
	if got := b.submit(map[string]string{"password": alicePW}); !strings.Contains(got, "mfa=no") {
		t.Fatalf("got %q", got)
	}
	page := b.get("/proto?app=Strict")
	if !strings.Contains(page, "Verify it") || strings.Contains(page, `name="password"`) {
		t.Fatalf("step-up should ask only for the second factor:\n%s", page)
	}
	if got := b.submit(map[string]string{"code": "123456"}); got != "user=alice amr=pwd,otp,mfa mfa=yes state=saved:Strict" {
		t.Fatalf("got %q", got)
	}
	if got := b.get("/proto?fresh=1"); !strings.Contains(got, `name="login"`) && !strings.Contains(got, `name="password"`) {
		t.Errorf("a forced re-authentication did not ask for the password:\n%s", got)
	}
}

func TestAMustChangeUserChangesThePasswordAndContinues(t *testing.T) {
	e := newEnv(t, "none", user(t, "carol", alicePW, func(u *file.UserFile) { u.MustChange = true }))
	b := e.browser()
	b.get("/proto?app=Wiki&hint=carol")
	page := b.submit(map[string]string{"password": alicePW})
	if !strings.Contains(page, "You must choose a new password") || !strings.Contains(page, "At least 12 characters.") {
		t.Fatalf("no change page with the policy:\n%s", page)
	}
	page = b.submit(map[string]string{"new_password": "short", "confirm_password": "short"})
	if b.status != http.StatusUnprocessableEntity || !strings.Contains(page, "Use at least 12 characters.") {
		t.Fatalf("a short password: %d\n%s", b.status, page)
	}
	page = b.submit(map[string]string{"new_password": alicePW, "confirm_password": alicePW})
	if !strings.Contains(page, "Choose a password you have not used before") {
		t.Fatalf("a reused password was not refused by history:\n%s", page)
	}
	if got := b.submit(map[string]string{"new_password": newPW, "confirm_password": newPW}); got != "user=carol amr=pwd mfa=no state=saved:Wiki" {
		t.Fatalf("protocol got %q", got)
	}
	b2 := e.browser()
	b2.get("/proto?hint=carol")
	if got := b2.submit(map[string]string{"password": newPW}); !strings.HasPrefix(got, "user=carol") {
		t.Errorf("the new password does not sign in: %q", got)
	}
}

func TestAFinishedFlowResumesOnceAndOnlyInItsBrowser(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	b.get("/proto?app=Wiki&hint=alice")
	action := formRe.FindStringSubmatch(b.last)[1]
	flowID := strings.TrimPrefix(action, "/login?flow=")
	b.submit(map[string]string{"password": alicePW})
	// Another browser presenting the flow id gets a sign-in page, not the user.
	other := e.browser()
	if got := other.get("/proto?app=Wiki&" + ResumeParam + "=" + flowID); strings.HasPrefix(got, "user=") {
		t.Fatalf("a foreign browser resumed the flow: %q", got)
	}
	// The flow was consumed by its own browser: resuming again is a plain
	// session answer without the saved state.
	if got := b.get("/proto?app=Wiki&" + ResumeParam + "=" + flowID); got != "user=alice amr=pwd mfa=no state=" {
		t.Errorf("second resume: %q", got)
	}
}

func TestAFormWithoutCSRFTokenIsRefused(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	b.get("/proto?hint=alice")
	action := formRe.FindStringSubmatch(b.last)[1]
	resp, err := b.c.PostForm(b.base+action, url.Values{"step": {"password"}, "password": {alicePW}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

func TestSessionsEndAtIdleAndAbsoluteTimeoutsAndSignOut(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	b.get("/proto?hint=alice")
	b.submit(map[string]string{"password": alicePW})
	e.advance(7 * time.Hour)
	if got := b.get("/proto"); !strings.HasPrefix(got, "user=alice") {
		t.Fatalf("session ended before its idle timeout: %q", got)
	}
	e.advance(8*time.Hour + time.Minute)
	if got := b.get("/proto"); strings.HasPrefix(got, "user=") {
		t.Fatalf("session outlived its idle timeout")
	}
	b.get("/proto?hint=alice")
	b.submit(map[string]string{"password": alicePW})
	for range 4 {
		e.advance(6 * time.Hour)
		b.get("/proto")
	}
	if got := b.get("/proto"); strings.HasPrefix(got, "user=") {
		t.Fatalf("session outlived its absolute timeout")
	}
	b.get("/proto?hint=alice")
	b.submit(map[string]string{"password": alicePW})
	b.get("/logout")
	b.submit(nil)
	if got := b.get("/proto"); strings.HasPrefix(got, "user=") {
		t.Fatalf("session survived sign-out")
	}
}

func TestLockedDisabledAndExpiredAccountsGetTheirOwnMessage(t *testing.T) {
	e := newEnv(t, "none",
		user(t, "dave", alicePW, func(u *file.UserFile) { u.Disabled = true }),
		user(t, "frank", alicePW, func(u *file.UserFile) { u.Expires = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }),
		user(t, "lock", alicePW, func(u *file.UserFile) { u.LockedUntil = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }))
	for login, want := range map[string]string{"dave": "disabled", "frank": "expired", "lock": "locked"} {
		b := e.browser()
		b.get("/proto?hint=" + login)
		if page := b.submit(map[string]string{"password": alicePW}); b.status != http.StatusForbidden || !strings.Contains(page, want) {
			t.Errorf("%s: status %d, page lacks %q", login, b.status, want)
		}
	}
}

func TestEveryPageRendersInGerman(t *testing.T) {
	e := newEnv(t, "all", user(t, "alice", alicePW, nil))
	b := e.browser()
	req, _ := http.NewRequest("GET", b.base+"/proto?hint=alice", nil)
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("GET", b.base+resp.Header.Get("Location"), nil)
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9")
	resp, err = b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `lang="de"`) || !strings.Contains(string(body), "Kennwort") {
		t.Fatalf("not German:\n%s", body)
	}
}

func TestARememberedBrowserSkipsTheSecondFactorButNotAnExplicitDemand(t *testing.T) {
	e := newEnvWith(t, "all", func(c *config.Config) { c.Sessions.RememberDevice = 30 * 24 * time.Hour }, user(t, "alice", alicePW, nil))
	id := fmt.Sprintf("%032x", "alice")
	e.factors.enrolled[id] = []string{"totp"}
	b := e.browser()
	b.get("/proto?hint=alice")
	page := b.submit(map[string]string{"password": alicePW})
	if !strings.Contains(page, `name="remember"`) {
		t.Fatalf("no remember option:\n%s", page)
	}
	if got := b.submit(map[string]string{"code": "123456", "remember": "1"}); !strings.Contains(got, "mfa=yes") {
		t.Fatalf("got %q", got)
	}
	b.get("/logout")
	b.submit(nil)
	e.advance(time.Hour)

	b.get("/proto?hint=alice")
	if got := b.submit(map[string]string{"password": alicePW}); got != "user=alice amr=pwd,otp,mfa mfa=yes state=saved:" {
		t.Fatalf("a remembered browser was asked again or claimed wrongly: %q", got)
	}
	if got := b.get("/proto?mfa=1&fresh=1&hint=alice"); !strings.Contains(got, `name="password"`) {
		t.Fatalf("no password page:\n%s", got)
	}
	if page := b.submit(map[string]string{"password": alicePW}); !strings.Contains(page, "Verify it") {
		t.Fatalf("an explicit MFA demand was answered by the remembered device:\n%s", page)
	}
	other := e.browser()
	other.get("/proto?hint=alice")
	if page := other.submit(map[string]string{"password": alicePW}); !strings.Contains(page, "Verify it") {
		t.Fatalf("another browser skipped MFA")
	}
	if err := e.engine.ForgetDevices(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	b.get("/logout")
	b.submit(nil)
	b.get("/proto?hint=alice")
	if page := b.submit(map[string]string{"password": alicePW}); !strings.Contains(page, "Verify it") {
		t.Fatalf("a forgotten device still skips MFA")
	}
}
