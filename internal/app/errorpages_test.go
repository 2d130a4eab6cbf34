package app

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// newLoggedDemo is the demo app serving, with its log kept.
func newLoggedDemo(t *testing.T) (*App, *httptest.Server, *testenv.Buffer) {
	t.Helper()
	cfg, err := DemoConfig(filepath.Join(t.TempDir(), "demo"), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PrepareDemo(cfg, time.Now()); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	a, err := New(context.Background(), cfg, Options{Logger: observe.NewLogger(logs, "text", slog.LevelInfo)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return a, srv, logs
}

// fetch sends method to srv's path in lang and returns the response's
// status, header and body.
func fetch(t *testing.T, srv *httptest.Server, method, path, lang string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", lang)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// checkPage checks an error page of the real app: status, language,
// headers, layout, heading, next step, and the reference that the access
// log carries too.
func checkPage(t *testing.T, status int, header http.Header, page string, logs *testenv.Buffer, code int, lang, heading, nextLink string) {
	t.Helper()
	if status != code {
		t.Errorf("status %d, want %d", status, code)
	}
	for k, want := range map[string]string{
		"Content-Type": "text/html; charset=utf-8", "Content-Language": lang, "Content-Security-Policy": web.DefaultCSP,
		"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "X-Frame-Options": "DENY",
	} {
		if got := header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	id := header.Get("X-Request-Id")
	ref := map[string]string{"en": "Reference for your helpdesk: ", "de": "Referenz für Ihren Helpdesk: "}[lang] + id
	text := html.UnescapeString(page)
	for what, want := range map[string]string{
		"the stylesheet": `<link rel="stylesheet" href="/static/gatehouse.css">`,
		"the heading":    "<h1>" + heading + "</h1>",
		"the next step":  nextLink,
		"the reference":  ref,
	} {
		if id == "" || !strings.Contains(text, want) {
			t.Errorf("the page lacks %s %q:\n%s", what, want, page)
		}
	}
	if logs != nil && !regexp.MustCompile(`msg="http request".*request_id=`+id).MatchString(logs.String()) {
		t.Errorf("no access log line carries the reference %s", id)
	}
}

func TestAnUnknownAddressIsA404PageOfTheLayoutInTheRequestsLanguage(t *testing.T) {
	_, srv, logs := newLoggedDemo(t)
	for _, tc := range []struct {
		name, method, path, lang string
		code                     int
		heading, next            string
	}{
		{"an unknown address in German", "GET", "/no/such/page", "de", 404, "Seite nicht gefunden", `<a class="button" href="/">Zur Startseite</a>`},
		{"an unknown address in English", "GET", "/no/such/page", "en", 404, "Page not found", `<a class="button" href="/">Go to the start page</a>`},
		{"ADFS's passive address, which a person's browser follows from an old link", "GET", "/adfs/ls/?wa=wsignin1.0", "de", 404, "Seite nicht gefunden", `href="/"`},
		{"a post to the start page", "POST", "/", "de", 405, "Hier nicht möglich", `<a class="button" href="/">Zur Startseite</a>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, header, page := fetch(t, srv, tc.method, tc.path, tc.lang)
			checkPage(t, status, header, page, logs, tc.code, tc.lang, tc.heading, tc.next)
		})
	}
}

func TestMachineEndpointsKeepTheirPlainAnswers(t *testing.T) {
	_, srv, _ := newLoggedDemo(t)
	for _, tc := range []struct {
		name, method, path string
		code               int
		contentType        string
	}{
		{"an unknown ADFS service address", "POST", "/adfs/services/trust/13/usernamemixed", 404, "text/plain; charset=utf-8"},
		{"a GET of the WS-Trust endpoint", "GET", "/wstrust/13/usernamemixed", 405, "text/plain; charset=utf-8"},
		{"an unknown OpenID address", "GET", "/.well-known/nothing", 404, "text/plain; charset=utf-8"},
		{"the federation metadata", "GET", "/FederationMetadata/2007-06/FederationMetadata.xml", 200, "application/samlmetadata+xml"},
		{"liveness", "GET", "/healthz", 200, "text/plain; charset=utf-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, header, body := fetch(t, srv, tc.method, tc.path, "de")
			if status != tc.code || !strings.HasPrefix(header.Get("Content-Type"), strings.Split(tc.contentType, ";")[0]) || strings.Contains(body, "<html") {
				t.Errorf("status %d, Content-Type %q:\n%.300s", status, header.Get("Content-Type"), body)
			}
		})
	}
}

// TestAStaleFormIsAGermanPageThatStartsAgainWhereTheFormWas posts the
// sign-in page's real form with a token that is not the browser's.
func TestAStaleFormIsAGermanPageThatStartsAgainWhereTheFormWas(t *testing.T) {
	_, srv, logs := newLoggedDemo(t)
	b := browse.New(t, srv.URL)
	b.Get("/lang?lang=de&back=/login")
	action := b.Action()
	if !strings.HasPrefix(action, "/login?flow=") {
		t.Fatalf("the sign-in form posts to %q", action)
	}
	page := b.Submit(map[string]string{web.CSRFField: "stale", "login": DemoUsers()[0].Username})
	checkPage(t, b.Status, b.Header, page, logs, http.StatusForbidden, "de", "Dieses Formular ist abgelaufen",
		`<a class="button" href="`+action+`">Neu beginnen</a>`)
	// The way forward works: the form is there again, fresh.
	b.Get(action)
	if b.Status != http.StatusOK || b.Action() != action {
		t.Fatalf("Start again: status %d, form posting to %q", b.Status, b.Action())
	}
}

// TestAStoreThatIsDownIsA503Page closes the store under an enrolment:
// the step that writes to it is answered with a page that says so.
func TestAStoreThatIsDownIsA503Page(t *testing.T) {
	a, srv, logs := newLoggedDemo(t)
	alice := DemoUsers()[0]
	b := browse.New(t, srv.URL)
	b.Get("/login")
	b.Submit(map[string]string{"login": alice.Username})
	page := chooseTOTP(t, b, b.Submit(map[string]string{"password": alice.Password}))
	m := secretRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no authenticator app enrolment:\n%s", page)
	}
	code, err := totp.GenerateCode(strings.ReplaceAll(m[1], " ", ""), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.Close(); err != nil {
		t.Fatal(err)
	}
	page = b.Submit(map[string]string{"code": code})
	checkPage(t, b.Status, b.Header, page, logs, http.StatusServiceUnavailable, "en", "Temporarily unavailable", `>Try again</a>`)
	if !strings.Contains(page, "The sign-in service cannot reach its database right now.") {
		t.Errorf("the page does not say the database is unreachable:\n%s", page)
	}
}
