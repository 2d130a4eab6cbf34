package signin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-sso/gatehouse/internal/abuse"
	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/secrets"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
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
	// enrollable is what Enrollable returns; nil means only "totp".
	enrollable []string
	begun      []string // the methods BeginEnrol was called for
	sent       int
	// gate, when set, runs in every Verify: a test can hold requests there
	// until all of them have loaded the flow.
	gate func()
}

// fakeKeyShown is how an enrolment page shows the fake's TOTP key: in
// groups, each kept whole.
const fakeKeyShown = "<span>ABCD</span> <span>EFGH</span>"

func (f *fakeFactors) Enrolled(_ context.Context, u *directory.User) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enrolled[u.ID], nil
}
func (f *fakeFactors) Enrollable() []string {
	if f.enrollable != nil {
		return f.enrollable
	}
	return []string{"totp"}
}
func (f *fakeFactors) Challenge(_ context.Context, _ *http.Request, _ *directory.User, _ string, prev []byte, _ *web.Page) ([]byte, error) {
	if prev == nil {
		f.mu.Lock()
		f.sent++
		f.mu.Unlock()
	}
	return []byte("challenge"), nil
}
func (f *fakeFactors) Verify(_ context.Context, r *http.Request, _ *directory.User, _ string, pending []byte) (string, error) {
	if f.gate != nil {
		f.gate()
	}
	if string(pending) != "challenge" || r.PostFormValue("code") != "123456" {
		return "", UserError{Reason: "invalid_code", MessageKey: "mfa.invalid", Status: http.StatusUnauthorized}
	}
	return "otp", nil
}
func (f *fakeFactors) BeginEnrol(_ context.Context, _ *http.Request, _ *directory.User, method string, prev []byte, p *web.Page) ([]byte, error) {
	f.mu.Lock()
	f.begun = append(f.begun, method)
	f.mu.Unlock()
	if method == "webauthn" {
		p.Data.(*loginData).Extra = `{"publicKey":{}}`
		return []byte("enrol-passkey"), nil
	}
	p.Data.(*loginData).Extra = totpPage{QR: "data:image/png;base64,AA==", URL: "otpauth://totp/X:alice?secret=ABCDEFGH",
		Key: "ABCDEFGH", Groups: []string{"ABCD", "EFGH"}}
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
	rec := audit.New(s, log, ev.clock)
	sessions := NewSessions(SessionOptions{Config: cfg.Sessions, Store: s, Directory: d, Audit: rec, Logger: log, Now: ev.clock})
	guard, err := abuse.New(abuse.Options{Limits: abuse.FromConfig(cfg.Abuse), Store: s, Directory: d, Key: box.DeriveKey("abuse"),
		Audit: rec, Logger: log, Now: ev.clock})
	if err != nil {
		t.Fatal(err)
	}
	ev.engine = New(Options{Issuer: cfg.Issuer, FlowTimeout: cfg.Sessions.FlowTimeout, Passwordless: cfg.MFA.Passwordless,
		Policy: policy.FromConfig(cfg), Directory: d, Flows: s, Throttle: s, Sessions: sessions,
		Guard: guard, Secrets: box, Renderer: r,
		CSRF: web.NewCSRF(box.DeriveKey("csrf"), false), Audit: rec, Logger: log, Now: ev.clock, Factors: ev.factors})
	ev.engine.delay = &delayer{} // no padding in unit tests
	mux := http.NewServeMux()
	ev.engine.Mount(mux)
	// A stand-in protocol endpoint: asks the engine for a user for app
	// ?app= with ?mfa=1 / ?fresh=1, and prints who it got.
	mux.HandleFunc("GET /proto", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mfaMaxAge, _ := time.ParseDuration(q.Get("mfamaxage"))
		res, err := ev.engine.Authenticate(w, r, Request{App: q.Get("app"), RequireMFA: q.Get("mfa") == "1", ForceAuthn: q.Get("fresh") == "1", MFAMaxAge: mfaMaxAge,
			ResumeURL: "/proto?" + stripParam(q, ResumeParam), LoginHint: q.Get("hint"), State: []byte("saved:" + q.Get("app")),
			InPlace: q.Get("inplace") == "1", Passive: q.Get("passive") == "1"})
		if errors.Is(err, ErrInteractionRequired) {
			http.Error(w, "passive: interaction required", http.StatusConflict)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if res == nil {
			return
		}
		_, _ = io.WriteString(w, "user="+res.User.SAMAccountName+" amr="+strings.Join(res.Methods, ",")+" mfa="+boolStr(res.MFA())+" state="+string(res.State))
	})
	// A stand-in for an app that checked the first factor itself
	// (Entra's external authentication method): ?user= names the user,
	// found through the engine, and starts a second-factor-only flow; the
	// resumed request names no user.
	mux.HandleFunc("GET /second", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		back := url.Values{"inplace": {q.Get("inplace")}}
		req := Request{App: "Entra MFA", RequireMFA: true, SecondFactorOnly: true, ResumeURL: "/second?" + back.Encode(),
			State: []byte("second:" + q.Get("user")), InPlace: q.Get("inplace") == "1"}
		if login := q.Get("user"); login != "" {
			u, err := ev.engine.FindUser(r.Context(), login)
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			req.KnownUser = u
		}
		res, err := ev.engine.Authenticate(w, r, req)
		if err != nil {
			web.Handle(log, func(http.ResponseWriter, *http.Request) error { return err }).ServeHTTP(w, r)
			return
		}
		if res != nil {
			_, _ = io.WriteString(w, "user="+res.User.SAMAccountName+" amr="+strings.Join(res.Methods, ",")+" mfa="+boolStr(res.MFA())+
				" password="+boolStr(!res.AuthTime.IsZero())+" state="+string(res.State))
		}
	})
	ev.engine.SetResumeHandler(mux)
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

func (e *env) browser() *browse.Browser { return browse.New(e.t, e.srv.URL) }

var formRe = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func TestPasswordOnlySignInReturnsToTheProtocol(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	page := b.Get("/proto?app=Wiki")
	if !strings.Contains(page, `name="login"`) {
		t.Fatalf("no identify page:\n%s", page)
	}
	b.Submit(map[string]string{"login": "ALICE@corp.example.test"})
	got := b.Submit(map[string]string{"password": alicePW})
	if got != "user=alice amr=pwd mfa=no state=saved:Wiki" {
		t.Fatalf("protocol got %q", got)
	}
	// Single sign-on: the session serves the next request with no pages.
	if got := b.Get("/proto?app=Wiki"); got != "user=alice amr=pwd mfa=no state=" {
		t.Errorf("SSO got %q", got)
	}
	evs, _ := e.store.QueryAudit(context.Background(), store.AuditQuery{Type: audit.SignInSuccess})
	if len(evs) != 1 {
		t.Errorf("want one success audit event, got %d", len(evs))
	}
}

func TestAPassiveRequestIsAnsweredOnlyFromTheSessionAndStartsNoFlow(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	if got := b.Get("/proto?app=Wiki&passive=1"); !strings.Contains(got, "passive: interaction required") {
		t.Fatalf("a passive request without a session got %q", got)
	}
	b.Get("/proto?app=Wiki&hint=alice")
	b.Submit(map[string]string{"password": alicePW})
	if got := b.Get("/proto?app=Wiki&passive=1"); got != "user=alice amr=pwd mfa=no state=" {
		t.Errorf("a passive request with a session got %q", got)
	}
	// A session that does not meet the request is no answer either: the
	// second factor would need a page.
	if got := b.Get("/proto?app=Strict&passive=1"); !strings.Contains(got, "passive: interaction required") {
		t.Errorf("a passive step-up got %q", got)
	}
}

func TestAWrongPasswordAndAnUnknownUserLookTheSame(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	pages := map[string]string{}
	for _, login := range []string{"alice", "nobody"} {
		b := e.browser()
		b.Get("/proto?app=Wiki&hint=" + login)
		page := b.Submit(map[string]string{"password": "Wrong-Password-1"})
		if b.Status != http.StatusUnauthorized || !strings.Contains(page, "The user name or password is incorrect.") {
			t.Fatalf("%s: status %d\n%s", login, b.Status, page)
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
	b.Get("/proto?hint=alice")
	for i := range abuse.Defaults().PerAccount {
		// Different wrong passwords: a repeat is answered from memory and
		// spends no budget.
		b.Submit(map[string]string{"password": fmt.Sprintf("Wrong-Password-%d", i)})
	}
	b.Submit(map[string]string{"password": alicePW})
	if b.Status != http.StatusTooManyRequests || !strings.Contains(b.Last, "Too many attempts") {
		t.Fatalf("the right password after the limit: status %d", b.Status)
	}
	e.advance(16 * time.Minute) // the window has passed (and so has this flow)
	b.Get("/proto?hint=alice")
	if got := b.Submit(map[string]string{"password": alicePW}); !strings.HasPrefix(got, "user=alice") {
		t.Errorf("after the window the right password is refused: %s", got)
	}
}

func TestMFAIsEnforcedAndEnrolmentForcedWhenRequired(t *testing.T) {
	e := newEnv(t, "all", user(t, "alice", alicePW, nil))
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=alice")
	page := b.Submit(map[string]string{"password": alicePW})
	if !strings.Contains(page, "Set up a second sign-in method") || !strings.Contains(page, fakeKeyShown) {
		t.Fatalf("no forced enrolment:\n%s", page)
	}
	page = b.Submit(map[string]string{"code": "000000"})
	if b.Status != http.StatusUnauthorized || !strings.Contains(page, "That code didn&#39;t work") || !strings.Contains(page, fakeKeyShown) {
		t.Fatalf("a wrong enrolment code: status %d\n%s", b.Status, page)
	}
	page = b.Submit(map[string]string{"code": "123456"})
	if !strings.Contains(page, "aaaaa-bbbbb") {
		t.Fatalf("recovery codes not shown once:\n%s", page)
	}
	if got := b.Submit(nil); got != "user=alice amr=pwd,otp,mfa mfa=yes state=saved:Wiki" {
		t.Fatalf("protocol got %q", got)
	}
	// A new browser: the enrolled factor is asked for, not enrolment.
	b2 := e.browser()
	b2.Get("/proto?app=Wiki&hint=alice")
	page = b2.Submit(map[string]string{"password": alicePW})
	if !strings.Contains(page, "Verify it") {
		t.Fatalf("no MFA challenge:\n%s", page)
	}
	if got := b2.Submit(map[string]string{"code": "123456"}); !strings.Contains(got, "mfa=yes") {
		t.Fatalf("got %q", got)
	}
}

func TestEnrolmentOffersEveryMethodAsEqualsAndBeginsNoneUntilOneIsChosen(t *testing.T) {
	e := newEnv(t, "all", user(t, "alice", alicePW, nil))
	e.factors.enrollable = []string{"webauthn", "totp"}
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=alice")
	page := b.Submit(map[string]string{"password": alicePW})
	flow := strings.TrimPrefix(b.URL, b.Base)
	begun := func() []string {
		e.factors.mu.Lock()
		defer e.factors.mu.Unlock()
		return slices.Clone(e.factors.begun)
	}
	chooser := func(t *testing.T, page string) {
		t.Helper()
		for _, want := range []string{
			"Set up a second sign-in method",
			`href="` + flow + `&amp;method=webauthn">Passkey or security key</a>`, "nothing to type",
			`href="` + flow + `&amp;method=totp">Authenticator app</a>`, "shows a 6-digit code",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("the chooser lacks %q:\n%s", want, page)
			}
		}
		if strings.Contains(page, "<form") || strings.Contains(page, "data-webauthn") {
			t.Errorf("the chooser already shows a method:\n%s", page)
		}
	}

	t.Run("the first page names both methods and begins neither", func(t *testing.T) {
		chooser(t, page)
		if got := begun(); len(got) != 0 {
			t.Errorf("methods begun before a choice: %q", got)
		}
	})
	t.Run("a chosen method's page links back to the choice", func(t *testing.T) {
		page := b.Get(flow + "&method=webauthn")
		if !strings.Contains(page, `data-webauthn="create"`) || !strings.Contains(page, `href="`+flow+`&amp;choose=1">Choose another method</a>`) {
			t.Fatalf("no passkey page with a way back:\n%s", page)
		}
		chooser(t, b.Get(flow+"&choose=1"))
	})
	t.Run("the other method, chosen after going back, is set up", func(t *testing.T) {
		page := b.Get(flow + "&method=totp")
		if !strings.Contains(page, fakeKeyShown) || !strings.Contains(page, "&amp;choose=1") {
			t.Fatalf("no authenticator-app page with a way back:\n%s", page)
		}
		// A wrong code keeps the method's page, not the chooser.
		if page = b.Submit(map[string]string{"code": "000000"}); b.Status != http.StatusUnauthorized || !strings.Contains(page, fakeKeyShown) {
			t.Fatalf("a wrong code: status %d\n%s", b.Status, page)
		}
		if page = b.Submit(map[string]string{"code": "123456"}); !strings.Contains(page, "aaaaa-bbbbb") {
			t.Fatalf("no recovery codes after enrolment:\n%s", page)
		}
		if got := begun(); !slices.Equal(got, []string{"webauthn", "totp", "totp"}) {
			t.Errorf("methods begun: %q, want the passkey, then the app (and again for the wrong code's page)", got)
		}
	})
}

func TestTheEnrolmentChooserShowsUntilAnOfferedMethodIsChosenOrBegun(t *testing.T) {
	both := []string{"webauthn", "totp"}
	for _, tc := range []struct {
		name    string
		offered []string
		query   string
		pending string
		want    bool
	}{
		{"two methods, none chosen", both, "", "", true},
		{"two methods, the identify page's passkey offer pending", both, "", "passkey", true},
		{"two methods, one asked for", both, "method=totp", "", false},
		{"two methods, one begun earlier", both, "", "webauthn", false},
		{"two methods, one begun and the user asks to choose again", both, "choose=1", "webauthn", true},
		{"two methods, a method that is not offered asked for", both, "method=email", "", true},
		{"one method", []string{"totp"}, "", "", false},
		{"one method, even when asked to choose", []string{"totp"}, "choose=1", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			if got := showsChooser(tc.offered, q, tc.pending); got != tc.want {
				t.Errorf("showsChooser(%q, %q, %q) = %v, want %v", tc.offered, tc.query, tc.pending, got, tc.want)
			}
		})
	}
}

func TestEnrolmentWithOneMethodGoesStraightToIt(t *testing.T) {
	e := newEnv(t, "all", user(t, "alice", alicePW, nil))
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=alice")
	page := b.Submit(map[string]string{"password": alicePW})
	if !strings.Contains(page, fakeKeyShown) || strings.Contains(page, "choose=1") || strings.Contains(page, `class="choices"`) {
		t.Fatalf("one method: not straight to it, or a choice offered:\n%s", page)
	}
	if !strings.Contains(page, "Your organisation requires a second step") {
		t.Errorf("the single method's page does not say why:\n%s", page)
	}
}

// passwordSession is a browser whose session has alice's password only;
// she has an authenticator app.
func passwordSession(t *testing.T) *browse.Browser {
	t.Helper()
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	e.factors.enrolled[fmt.Sprintf("%032x", "alice")] = []string{"totp"}
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=alice")
	if got := b.Submit(map[string]string{"password": alicePW}); !strings.Contains(got, "mfa=no") {
		t.Fatalf("got %q", got)
	}
	return b
}

func TestAnAppRequiringMFAStepsUpAPasswordSession(t *testing.T) {
	b := passwordSession(t)
	page := b.Get("/proto?app=Strict")
	if !strings.Contains(page, "Verify it") || strings.Contains(page, `name="password"`) {
		t.Fatalf("step-up should ask only for the second factor:\n%s", page)
	}
	if got := b.Submit(map[string]string{"code": "123456"}); got != "user=alice amr=pwd,otp,mfa mfa=yes state=saved:Strict" {
		t.Fatalf("got %q", got)
	}
	if got := b.Get("/proto?fresh=1"); !strings.Contains(got, `name="login"`) && !strings.Contains(got, `name="password"`) {
		t.Errorf("a forced re-authentication did not ask for the password:\n%s", got)
	}
}

func TestAnMFAMaxAgeAsksAPasswordSessionForASecondFactor(t *testing.T) {
	b := passwordSession(t)
	// An app that does not require MFA, asking how fresh it must be: the
	// session has none, so the answer is the code page (it was a 500 when
	// the request was answered in place).
	for _, inPlace := range []string{"0", "1"} {
		page := b.Get("/proto?app=Wiki&mfamaxage=5m&inplace=" + inPlace)
		if b.Status != http.StatusOK || !strings.Contains(page, `name="code"`) {
			t.Fatalf("inplace=%s: status %d, not the code page:\n%s", inPlace, b.Status, page)
		}
	}
	if got := b.Submit(map[string]string{"code": "123456"}); got != "user=alice amr=pwd,otp,mfa mfa=yes state=saved:Wiki" {
		t.Fatalf("got %q", got)
	}
	// Now fresh enough: the session answers at once.
	if got := b.Get("/proto?app=Wiki&mfamaxage=5m&inplace=1"); got != "user=alice amr=pwd,otp,mfa mfa=yes state=" {
		t.Errorf("with a fresh MFA: %q", got)
	}
}

func TestAMustChangeUserChangesThePasswordAndContinues(t *testing.T) {
	e := newEnv(t, "none", user(t, "carol", alicePW, func(u *file.UserFile) { u.MustChange = true }))
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=carol")
	page := b.Submit(map[string]string{"password": alicePW})
	if !strings.Contains(page, "You must choose a new password") || !strings.Contains(page, "At least 12 characters.") {
		t.Fatalf("no change page with the policy:\n%s", page)
	}
	page = b.Submit(map[string]string{"new_password": "short", "confirm_password": "short"})
	if b.Status != http.StatusUnprocessableEntity || !strings.Contains(page, "Use at least 12 characters.") {
		t.Fatalf("a short password: %d\n%s", b.Status, page)
	}
	page = b.Submit(map[string]string{"new_password": alicePW, "confirm_password": alicePW})
	if !strings.Contains(page, "Choose a password you have not used before") {
		t.Fatalf("a reused password was not refused by history:\n%s", page)
	}
	if got := b.Submit(map[string]string{"new_password": newPW, "confirm_password": newPW}); got != "user=carol amr=pwd mfa=no state=saved:Wiki" {
		t.Fatalf("protocol got %q", got)
	}
	b2 := e.browser()
	b2.Get("/proto?hint=carol")
	if got := b2.Submit(map[string]string{"password": newPW}); !strings.HasPrefix(got, "user=carol") {
		t.Errorf("the new password does not sign in: %q", got)
	}
}

func TestPolicyRefusalsAreWordedInThePagesLanguage(t *testing.T) {
	e := newEnv(t, "none", user(t, "carol", alicePW, func(u *file.UserFile) { u.MustChange = true }))
	b := e.browser()
	base, _ := url.Parse(b.Base)
	b.C.Jar.SetCookies(base, []*http.Cookie{{Name: "gh_lang", Value: "de", Path: "/"}}) // as GET /lang sets it
	b.Get("/proto?app=Wiki&hint=carol")
	page := b.Submit(map[string]string{"password": alicePW})
	if !strings.Contains(page, `lang="de"`) || !strings.Contains(page, "12 Zeichen") {
		t.Fatalf("no German change page:\n%s", page)
	}
	for _, tc := range []struct{ pw, want string }{
		{"short", "Verwenden Sie mindestens 12 Zeichen."},
		{alicePW, "Die letzten 3 dürfen nicht wiederverwendet werden."},
	} {
		page = b.Submit(map[string]string{"new_password": tc.pw, "confirm_password": tc.pw})
		if b.Status != http.StatusUnprocessableEntity || !strings.Contains(page, tc.want) {
			t.Fatalf("%q: %d, want %q:\n%s", tc.pw, b.Status, tc.want, page)
		}
	}
}

func TestAMustChangeUserWhoFirstEnrolsASecondFactorStillChangesThePassword(t *testing.T) {
	e := newEnv(t, "all", user(t, "carol", alicePW, func(u *file.UserFile) { u.MustChange = true }))
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=carol")
	page := b.Submit(map[string]string{"password": alicePW})
	if !strings.Contains(page, "Set up a second sign-in method") {
		t.Fatalf("no enrolment before the change:\n%s", page)
	}
	b.Submit(map[string]string{"code": "123456"})
	page = b.Submit(nil) // recovery codes seen
	if !strings.Contains(page, "You must choose a new password") {
		t.Fatalf("the change step was skipped after enrolment:\n%s", page)
	}
	if got := b.Submit(map[string]string{"new_password": newPW, "confirm_password": newPW}); got != "user=carol amr=pwd,otp,mfa mfa=yes state=saved:Wiki" {
		t.Fatalf("protocol got %q", got)
	}
}

func TestAFinishedFlowResumesOnceAndOnlyInItsBrowser(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=alice")
	action := formRe.FindStringSubmatch(b.Last)[1]
	flowID := strings.TrimPrefix(action, "/login?flow=")
	b.Submit(map[string]string{"password": alicePW})
	// Another browser presenting the flow id gets a sign-in page, not the user.
	other := e.browser()
	if got := other.Get("/proto?app=Wiki&" + ResumeParam + "=" + flowID); strings.HasPrefix(got, "user=") {
		t.Fatalf("a foreign browser resumed the flow: %q", got)
	}
	// The flow was consumed by its own browser: resuming again is a plain
	// session answer without the saved state.
	if got := b.Get("/proto?app=Wiki&" + ResumeParam + "=" + flowID); got != "user=alice amr=pwd mfa=no state=" {
		t.Errorf("second resume: %q", got)
	}
}

func TestAnInPlaceFlowIsThreeRequestsAndItsLastStepCountsOnce(t *testing.T) {
	e := newEnv(t, "all", user(t, "alice", alicePW, nil))
	e.factors.enrolled[fmt.Sprintf("%032x", "alice")] = []string{"totp"}
	b := e.browser()
	// The protocol's request is answered with the password page: no
	// redirect, and the language switcher leads back to the flow.
	page := b.Get("/proto?app=Wiki&inplace=1&hint=alice")
	if b.Status != http.StatusOK || !strings.HasPrefix(b.URL, e.srv.URL+"/proto?") || !strings.Contains(page, `name="password"`) {
		t.Fatalf("status %d at %s:\n%s", b.Status, b.URL, page)
	}
	flowID := strings.TrimPrefix(formRe.FindStringSubmatch(page)[1], "/login?flow=")
	if want := "back=" + url.QueryEscape("/login?flow="+flowID); !strings.Contains(strings.ToLower(page), strings.ToLower(want)) {
		t.Errorf("the language switcher does not lead back to the flow (%s):\n%s", want, page)
	}
	// The password's answer is the code page, the code's the protocol's.
	if page := b.Submit(map[string]string{"password": alicePW}); b.Status != http.StatusOK || !strings.Contains(page, `name="code"`) ||
		b.URL != e.srv.URL+"/login?flow="+flowID {
		t.Fatalf("status %d at %s, not the code page:\n%s", b.Status, b.URL, page)
	}
	codePage, codeURL := b.Last, b.URL
	if got := b.Submit(map[string]string{"code": "123456"}); got != "user=alice amr=pwd,otp,mfa mfa=yes state=saved:Wiki" || b.URL != codeURL {
		t.Fatalf("at %s the protocol got %q", b.URL, got)
	}
	if _, err := e.store.GetFlow(context.Background(), flowID, e.clock()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the finished flow is still stored: %v", err)
	}
	// The same form again (a double submit, or a replay of the request):
	// the flow is used up; no second answer, no second session.
	b.Last, b.URL = codePage, codeURL
	if got := b.Submit(map[string]string{"code": "123456"}); strings.HasPrefix(got, "user=") {
		t.Fatalf("the last step counted twice: %q", got)
	}
	if evs, _ := e.store.QueryAudit(context.Background(), store.AuditQuery{Type: audit.SignInSuccess}); len(evs) != 1 {
		t.Errorf("%d sign-in successes, want 1", len(evs))
	}
	// The resume parameter of an in-place flow leads nowhere either.
	if got := b.Get("/proto?app=Wiki&" + ResumeParam + "=" + flowID); got != "user=alice amr=pwd,otp,mfa mfa=yes state=" {
		t.Errorf("resume of an in-place flow: %q", got)
	}
}

func TestConcurrentSubmitsOfTheLastStepEndTheFlowOnce(t *testing.T) {
	for _, inPlace := range []bool{true, false} {
		t.Run(fmt.Sprintf("in place %v", inPlace), func(t *testing.T) { concurrentLastSteps(t, inPlace) })
	}
}

func concurrentLastSteps(t *testing.T, inPlace bool) {
	e := newEnvWith(t, "all", func(c *config.Config) { c.Sessions.RememberDevice = 30 * 24 * time.Hour }, user(t, "alice", alicePW, nil))
	aliceID := fmt.Sprintf("%032x", "alice")
	e.factors.enrolled[aliceID] = []string{"totp"}
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=alice&inplace=" + map[bool]string{true: "1", false: "0"}[inPlace])
	page := b.Submit(map[string]string{"password": alicePW})
	action := e.srv.URL + formRe.FindStringSubmatch(page)[1]
	form := url.Values{"code": {"123456"}, "remember": {"1"}, "step": {StepMFA}, "method": {"totp"},
		web.CSRFField: {csrfRe.FindStringSubmatch(page)[1]}}
	const n = 8
	// Every request verifies its code before any ends the flow: the race
	// is on the claim, not decided by who loads the flow first. A request
	// that never arrives lets the others go after 10 s, and fails below.
	var arrived sync.WaitGroup
	arrived.Add(n)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	e.factors.gate = func() {
		arrived.Done()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
		}
	}
	type answer struct {
		status   int
		location string
		body     string
	}
	answers := make(chan answer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			resp, err := b.C.PostForm(action, form)
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers <- answer{resp.StatusCode, resp.Header.Get("Location"), string(body)}
		})
	}
	close(start)
	wg.Wait()
	close(answers)
	won := 0
	for a := range answers {
		switch {
		case inPlace && strings.HasPrefix(a.body, "user=alice"), !inPlace && strings.Contains(a.location, ResumeParam+"="):
			won++
		case a.status >= 500:
			t.Errorf("a losing request got %d: %.200s", a.status, a.body)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent last steps ended the flow, want 1", won, n)
	}
	if evs, _ := e.store.QueryAudit(context.Background(), store.AuditQuery{Type: audit.SignInSuccess}); len(evs) != 1 {
		t.Errorf("%d sign-in successes, want 1", len(evs))
	}
	creds, _ := e.store.ListCredentials(context.Background(), aliceID)
	byType := map[string]int{}
	for _, c := range creds {
		byType[c.Type]++
	}
	if byType[DeviceType] != 1 || byType["familiar"] != 1 || len(creds) != 2 {
		t.Errorf("credentials after the race by type %v, want exactly one remembered and one familiar browser", byType)
	}
	if ss, _ := e.store.ListUserSessions(context.Background(), aliceID, e.clock()); len(ss) != 1 {
		t.Errorf("%d sessions after the race, want 1", len(ss))
	}
}

func TestTheExpiredPageStartsASignInAgain(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	page := b.Get("/proto?app=Wiki&inplace=1&hint=alice")
	flowID := strings.TrimPrefix(formRe.FindStringSubmatch(page)[1], "/login?flow=")
	// The flow is gone (a restart, or it expired) before the password.
	if err := e.store.DeleteFlow(context.Background(), flowID); err != nil {
		t.Fatal(err)
	}
	if page := b.Submit(map[string]string{"password": alicePW}); !strings.Contains(page, "has expired") {
		t.Fatalf("no expired page:\n%s", page)
	}
	// Its form is a new sign-in, to Gatehouse itself.
	if page := b.Submit(map[string]string{"login": "alice"}); !strings.Contains(page, `name="password"`) {
		t.Fatalf("the expired page's form led to:\n%s", page)
	}
	home := b.Submit(map[string]string{"password": alicePW})
	if u, _ := url.Parse(b.URL); u.Path != "/" || b.Status != http.StatusOK || !strings.Contains(home, "Test alice") {
		t.Errorf("ended at %s (%d), want home, signed in:\n%s", b.URL, b.Status, home)
	}
	// The application's next request finds the session.
	if got := b.Get("/proto?app=Wiki"); got != "user=alice amr=pwd mfa=no state=" {
		t.Errorf("the application's next request got %q", got)
	}
}

func TestAFormWithoutCSRFTokenIsRefused(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	b.Get("/proto?hint=alice")
	action := formRe.FindStringSubmatch(b.Last)[1]
	resp, err := b.C.PostForm(b.Base+action, url.Values{"step": {"password"}, "password": {alicePW}})
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
	b.Get("/proto?hint=alice")
	b.Submit(map[string]string{"password": alicePW})
	e.advance(7 * time.Hour)
	if got := b.Get("/proto"); !strings.HasPrefix(got, "user=alice") {
		t.Fatalf("session ended before its idle timeout: %q", got)
	}
	e.advance(8*time.Hour + time.Minute)
	if got := b.Get("/proto"); strings.HasPrefix(got, "user=") {
		t.Fatalf("session outlived its idle timeout")
	}
	b.Get("/proto?hint=alice")
	b.Submit(map[string]string{"password": alicePW})
	for range 4 {
		e.advance(6 * time.Hour)
		b.Get("/proto")
	}
	if got := b.Get("/proto"); strings.HasPrefix(got, "user=") {
		t.Fatalf("session outlived its absolute timeout")
	}
	b.Get("/proto?hint=alice")
	b.Submit(map[string]string{"password": alicePW})
	b.Get("/logout")
	b.Submit(nil)
	if got := b.Get("/proto"); strings.HasPrefix(got, "user=") {
		t.Fatalf("session survived sign-out")
	}
}

func TestARecentlyUsedSessionIsReadWithoutAWrite(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	b.Get("/proto?hint=alice")
	b.Submit(map[string]string{"password": alicePW})
	u, err := e.engine.dir.LookupUser(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	lastSeen := func() time.Time {
		t.Helper()
		ss, err := e.store.ListUserSessions(t.Context(), u.ID, e.clock())
		if err != nil || len(ss) != 1 {
			t.Fatalf("sessions: %v %v", ss, err)
		}
		return ss[0].LastSeenAt
	}
	signedIn := lastSeen()
	e.advance(30 * time.Second)
	if got := b.Get("/proto"); !strings.HasPrefix(got, "user=alice") {
		t.Fatalf("not signed in: %q", got)
	}
	if !lastSeen().Equal(signedIn) {
		t.Error("a use within a minute of the last one wrote the session")
	}
	e.advance(time.Minute)
	b.Get("/proto")
	if got := lastSeen(); !got.Equal(e.clock()) {
		t.Errorf("a use after a minute did not touch the session: last seen %s, now %s", got, e.clock())
	}
}

// A locked account gets a wrong password's answer instead
// (TestALockedAccountIsAnsweredAndTimedLikeAWrongPasswordWhateverThePassword).
func TestDisabledAndExpiredAccountsGetTheirOwnMessage(t *testing.T) {
	e := newEnv(t, "none",
		user(t, "dave", alicePW, func(u *file.UserFile) { u.Disabled = true }),
		user(t, "frank", alicePW, func(u *file.UserFile) { u.Expires = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }))
	for login, want := range map[string]string{"dave": "disabled", "frank": "expired"} {
		b := e.browser()
		b.Get("/proto?hint=" + login)
		if page := b.Submit(map[string]string{"password": alicePW}); b.Status != http.StatusForbidden || !strings.Contains(page, want) {
			t.Errorf("%s: status %d, page lacks %q", login, b.Status, want)
		}
	}
}

func TestEveryPageRendersInGerman(t *testing.T) {
	e := newEnv(t, "all", user(t, "alice", alicePW, nil))
	b := e.browser()
	req, _ := http.NewRequest("GET", b.Base+"/proto?hint=alice", nil)
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
	resp, err := b.C.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The protocol's request is answered with the password page itself.
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `lang="de"`) || !strings.Contains(string(body), "Kennwort") {
		t.Fatalf("status %d, not German:\n%s", resp.StatusCode, body)
	}
}

func TestARememberedBrowserSkipsTheSecondFactorButNotAnExplicitDemand(t *testing.T) {
	e := newEnvWith(t, "all", func(c *config.Config) { c.Sessions.RememberDevice = 30 * 24 * time.Hour }, user(t, "alice", alicePW, nil))
	id := fmt.Sprintf("%032x", "alice")
	e.factors.enrolled[id] = []string{"totp"}
	b := e.browser()
	b.Get("/proto?hint=alice")
	page := b.Submit(map[string]string{"password": alicePW})
	if !strings.Contains(page, `name="remember"`) {
		t.Fatalf("no remember option:\n%s", page)
	}
	if got := b.Submit(map[string]string{"code": "123456", "remember": "1"}); !strings.Contains(got, "mfa=yes") {
		t.Fatalf("got %q", got)
	}
	b.Get("/logout")
	b.Submit(nil)
	e.advance(time.Hour)

	b.Get("/proto?hint=alice")
	// The remembered browser skips the code page, and the token says what
	// this session proved: a password, no second factor (issue 13, 12).
	if got := b.Submit(map[string]string{"password": alicePW}); got != "user=alice amr=pwd mfa=no state=saved:" {
		t.Fatalf("a remembered browser was asked again or claimed MFA it did not use now: %q", got)
	}
	if got := b.Get("/proto?mfa=1"); !strings.Contains(got, "Verify it") {
		t.Fatalf("wauth=multipleauthn was satisfied by the remembered browser's session:\n%s", got)
	}
	if got := b.Get("/proto?mfa=1&fresh=1&hint=alice"); !strings.Contains(got, `name="password"`) {
		t.Fatalf("no password page:\n%s", got)
	}
	if page := b.Submit(map[string]string{"password": alicePW}); !strings.Contains(page, "Verify it") {
		t.Fatalf("an explicit MFA demand was answered by the remembered device:\n%s", page)
	}
	other := e.browser()
	other.Get("/proto?hint=alice")
	if page := other.Submit(map[string]string{"password": alicePW}); !strings.Contains(page, "Verify it") {
		t.Fatalf("another browser skipped MFA")
	}
	if err := e.engine.sessions.ForgetDevices(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	b.Get("/logout")
	b.Submit(nil)
	b.Get("/proto?hint=alice")
	if page := b.Submit(map[string]string{"password": alicePW}); !strings.Contains(page, "Verify it") {
		t.Fatalf("a forgotten device still skips MFA")
	}
}

func TestTheStoreHoldsNoUsableSessionCookie(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	b := e.browser()
	b.Get("/proto?hint=alice")
	b.Submit(map[string]string{"password": alicePW})
	u, _ := url.Parse(e.srv.URL)
	var cookie string
	for _, c := range b.C.Jar.Cookies(u) {
		if c.Name == "gh_session" {
			cookie = c.Value
		}
	}
	sessions, err := e.store.ListUserSessions(context.Background(), fmt.Sprintf("%032x", "alice"), e.clock())
	if err != nil || len(sessions) != 1 || cookie == "" {
		t.Fatalf("sessions %v, cookie %q, %v", sessions, cookie, err)
	}
	if sessions[0].ID == cookie || strings.Contains(sessions[0].ID, cookie) {
		t.Fatal("the store keeps the session cookie itself")
	}
	// A stolen store row is not a cookie.
	other := e.browser()
	other.C.Jar.SetCookies(u, []*http.Cookie{{Name: "gh_session", Value: sessions[0].ID, Path: "/"}})
	if got := other.Get("/proto"); strings.HasPrefix(got, "user=") {
		t.Fatal("the stored session id works as a cookie")
	}
	if got := b.Get("/proto"); !strings.HasPrefix(got, "user=alice") {
		t.Fatalf("the real cookie stopped working: %q", got)
	}
}

// fullFlows is a store at its bound of flows in progress.
type fullFlows struct{ store.Store }

func (fullFlows) CreateFlow(context.Context, store.Flow) error { return store.ErrCapacity }

func TestAStoreFullOfFlowsAsksTheUserToComeBack(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	e.engine.flows = fullFlows{e.store}
	res, err := e.engine.Authenticate(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/proto", nil), Request{App: "Wiki"})
	var he web.HTTPError
	if res != nil || !errors.As(err, &he) || he.Code != http.StatusServiceUnavailable || he.Msg != "error.too_many_flows" {
		t.Fatalf("Authenticate = %v, %v; want a 503 asking to come back", res, err)
	}
}

func TestAnOversizedRequestStartsNoFlow(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	req := Request{App: "Wiki", ResumeURL: "/proto?x=" + strings.Repeat("x", 40<<10)}
	res, err := e.engine.Authenticate(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/proto", nil), req)
	var he web.HTTPError
	if res != nil || !errors.As(err, &he) || he.Code != http.StatusBadRequest {
		t.Fatalf("Authenticate = %v, %v; want a 400", res, err)
	}
}

// bindAccepts is a directory whose DC accepts the bind of a password that
// must change (as Samba does for some pwdLastSet=0 accounts): Authenticate
// succeeds, the account's state says otherwise.
type bindAccepts struct{ *file.Directory }

func (d bindAccepts) Authenticate(ctx context.Context, login, password string) (*directory.User, error) {
	u, err := d.Directory.Authenticate(ctx, login, password)
	if directory.PasswordAccepted(err) {
		return u, nil
	}
	return u, err
}

func TestAPasswordThatMustChangeIsRefusedEvenWhenTheDCAcceptsTheBind(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*file.UserFile)
	}{
		{"must change", func(u *file.UserFile) { u.MustChange = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "none", user(t, "carol", alicePW, tc.mod))
			e.engine.dir = bindAccepts{e.engine.dir.(*file.Directory)}
			// WS-Trust: no page to change it on, so refused.
			if _, err := e.engine.CheckPassword(t.Context(), "ws-trust", "carol", alicePW); !directory.PasswordAccepted(err) {
				t.Fatalf("CheckPassword = %v, want a must-change refusal", err)
			}
			// The browser: the change step, not a session.
			b := e.browser()
			b.Get("/proto?hint=carol")
			if page := b.Submit(map[string]string{"password": alicePW}); !strings.Contains(page, `name="new_password"`) {
				t.Fatalf("no change step:\n%s", page)
			}
		})
	}
}
