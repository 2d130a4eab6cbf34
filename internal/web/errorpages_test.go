package web

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

var errDirectoryDown = errors.New("test: the directory is down")

// errorSite is a small site with the middleware of the real one and a
// route for each way a request can fail; logs collects its log.
type errorSite struct {
	h    http.Handler
	logs *bytes.Buffer
}

func newErrorSite(t *testing.T, ui config.UI) *errorSite {
	t.Helper()
	s := &errorSite{logs: &bytes.Buffer{}}
	log := observe.NewLogger(s.logs, "text", slog.LevelInfo)
	r, err := NewRenderer(ui)
	if err != nil {
		t.Fatal(err)
	}
	csrf := NewCSRF([]byte(strings.Repeat("k", 32)), false)
	page := func(h ReturnHandler) http.Handler { return csrf.Protect(Handle(log, h)) }
	ok := func(w http.ResponseWriter, _ *http.Request) error { _, err := io.WriteString(w, "ok"); return err }
	fail := func(err error) ReturnHandler { return func(http.ResponseWriter, *http.Request) error { return err } }
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page(ok))
	mux.Handle("GET /login", page(ok))
	mux.Handle("POST /login", page(fail(Errorf(http.StatusBadRequest, "error.signin_broken", io.ErrUnexpectedEOF))))
	mux.Handle("GET /account", page(ok))
	mux.Handle("POST /account/factors/remove", page(func(_ http.ResponseWriter, r *http.Request) error {
		_, err := io.ReadAll(r.Body)
		return err
	}))
	mux.Handle("GET /account/method", page(fail(Errorf(http.StatusNotFound, "error.method_gone", nil).Then(NextAccount))))
	mux.Handle("GET /wait", Handle(log, func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Retry-After", "300")
		return Errorf(http.StatusTooManyRequests, "", nil)
	}))
	mux.Handle("GET /panic", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("the disk is on fire") }))
	mux.Handle("GET /broken", Handle(log, fail(errors.New("the disk is on fire"))))
	mux.Handle("GET /down", Handle(log, fail(errDirectoryDown)))
	mux.Handle("GET /conflict", Handle(log, fail(Errorf(http.StatusConflict, "error.password_changed_elsewhere", nil))))
	mux.Handle("GET /unsupported", Handle(log, fail(Errorf(http.StatusNotImplemented, "error.change_unsupported", nil))))
	mux.Handle("GET /FederationMetadata/doc.xml", Handle(log, fail(errors.New("signing failed"))))
	pages := NewErrorPages(r, mux, ErrorPagesOptions{
		Machine: func(p string) bool {
			return strings.HasPrefix(p, "/FederationMetadata/") || strings.HasPrefix(p, "/wstrust/")
		},
		Classify: func(_ context.Context, err error) (HTTPError, bool) {
			if errors.Is(err, errDirectoryDown) {
				return HTTPError{Code: http.StatusServiceUnavailable, Msg: "error.directory_unavailable"}, true
			}
			return HTTPError{}, false
		},
		Log: log,
	})
	s.h = Chain(pages.Handler(), RequestID(), pages.Middleware, Recover(log), SecurityHeaders(false), LimitBody(1024))
	return s
}

// do sends a request in lang (with the CSRF cookie of a GET of /login
// when csrf is set) and returns the response.
func (s *errorSite) do(t *testing.T, method, target, lang string, body io.Reader, header map[string]string, csrf bool) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept-Language", lang)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if csrf {
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
		for _, c := range rec.Result().Cookies() {
			req.AddCookie(c)
		}
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

type inLanguages struct{ en, de string }

func (l inLanguages) in(lang string) string {
	if lang == "de" {
		return l.de
	}
	return l.en
}

func TestEveryErrorIsAPageInTheLayoutInTheRequestsLanguage(t *testing.T) {
	s := newErrorSite(t, config.Default().UI)
	big := "csrf_token=x&pad=" + strings.Repeat("x", 2048)
	for _, tc := range []struct {
		name           string
		method, target string
		body           string
		header         map[string]string
		csrf           bool
		code           int
		heading        inLanguages
		says           inLanguages
		next           inLanguages
		href           string
		logged         bool
	}{
		{"a form from a browser that lost its cookie goes back to the page the form was on", "POST", "/login?flow=abc", "csrf_token=x", nil, false, 403,
			inLanguages{"This form has expired", "Dieses Formular ist abgelaufen"}, inLanguages{"nothing was changed", "nichts geändert"},
			inLanguages{"Start again", "Neu beginnen"}, "/login?flow=abc", false},
		{"a stale form (a wrong token) goes back to the page the form was on", "POST", "/login?flow=abc", "csrf_token=stale", nil, true, 403,
			inLanguages{"This form has expired", "Dieses Formular ist abgelaufen"}, inLanguages{"Open it again and send it once more.", "Öffnen Sie es erneut"},
			inLanguages{"Start again", "Neu beginnen"}, "/login?flow=abc", false},
		{"a form posted from another site is refused", "POST", "/account/factors/remove", "csrf_token=x", map[string]string{"Sec-Fetch-Site": "cross-site"}, true, 403,
			inLanguages{"This form was refused", "Dieses Formular wurde abgelehnt"}, inLanguages{"sent from another site", "von einer anderen Website"},
			inLanguages{"Start again", "Neu beginnen"}, "/account", false},
		{"an unknown address is a 404 page with the start page as the way on", "GET", "/no/such/page", "", nil, false, 404,
			inLanguages{"Page not found", "Seite nicht gefunden"}, inLanguages{"There is no page at this address.", "Unter dieser Adresse gibt es keine Seite."},
			inLanguages{"Go to the start page", "Zur Startseite"}, "/", false},
		{"a handler's 404 names its own sentence and next step", "GET", "/account/method", "", nil, false, 404,
			inLanguages{"Page not found", "Seite nicht gefunden"}, inLanguages{"That sign-in method no longer exists.", "Diese Anmeldemethode gibt es nicht mehr."},
			inLanguages{"Go to your account", "Zu Ihrem Konto"}, "/account", true},
		{"a method the address does not take is a 405 page", "PUT", "/login", "", nil, false, 405,
			inLanguages{"Not possible here", "Hier nicht möglich"}, inLanguages{"cannot be used this way", "kann so nicht verwendet werden"},
			inLanguages{"Go to the start page", "Zur Startseite"}, "/", false},
		{"a conflict asks to sign in again", "GET", "/conflict", "", nil, false, 409,
			inLanguages{"Something changed in the meantime", "Inzwischen hat sich etwas geändert"}, inLanguages{"Sign in again.", "Melden Sie sich erneut an."},
			inLanguages{"Back to sign-in", "Zurück zur Anmeldung"}, "/login", true},
		{"a body over the limit is a 413 page back to the form's page", "POST", "/account/factors/remove", big, nil, true, 413,
			inLanguages{"Too much data", "Zu viele Daten"}, inLanguages{"larger than this service accepts", "größer, als dieser Dienst annimmt"},
			inLanguages{"Start again", "Neu beginnen"}, "/account", false},
		{"too many attempts say how long to wait", "GET", "/wait?x=1", "", nil, false, 429,
			inLanguages{"Too many attempts", "Zu viele Versuche"}, inLanguages{"Wait 5 minutes, then try again.", "Warten Sie 5 Minuten und versuchen Sie es dann erneut."},
			inLanguages{"Try again", "Erneut versuchen"}, "/wait?x=1", true},
		{"a panic is a 500 page", "GET", "/panic", "", nil, false, 500,
			inLanguages{"Something went wrong", "Etwas ist schiefgelaufen"}, inLanguages{"It is not your fault.", "Es liegt nicht an Ihnen."},
			inLanguages{"Try again", "Erneut versuchen"}, "/panic", true},
		{"an unexpected error is a 500 page that shows nothing of it", "GET", "/broken", "", nil, false, 500,
			inLanguages{"Something went wrong", "Etwas ist schiefgelaufen"}, inLanguages{"It is not your fault.", "Es liegt nicht an Ihnen."},
			inLanguages{"Try again", "Erneut versuchen"}, "/broken", true},
		{"something this directory cannot do is a 501 page", "GET", "/unsupported", "", nil, false, 501,
			inLanguages{"Not available", "Nicht verfügbar"}, inLanguages{"cannot change passwords", "kann keine Kennwörter ändern"},
			inLanguages{"Go to the start page", "Zur Startseite"}, "/", true},
		{"a directory that is down is a 503 page", "GET", "/down", "", nil, false, 503,
			inLanguages{"Temporarily unavailable", "Vorübergehend nicht verfügbar"}, inLanguages{"The directory cannot be reached right now", "Der Verzeichnisdienst ist gerade nicht erreichbar"},
			inLanguages{"Try again", "Erneut versuchen"}, "/down", true},
	} {
		for _, lang := range []string{"en", "de"} {
			t.Run(tc.name+" ("+lang+")", func(t *testing.T) {
				var body io.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				s.logs.Reset()
				rec := s.do(t, tc.method, tc.target, lang, body, tc.header, tc.csrf)
				page := rec.Body.String()
				checkErrorPage(t, rec, tc.code, lang, tc.heading.in(lang), tc.says.in(lang), tc.next.in(lang), tc.href)
				if id := rec.Header().Get("X-Request-Id"); tc.logged && !strings.Contains(s.logs.String(), "request_id="+id) {
					t.Errorf("the log does not carry the page's reference %s:\n%s", id, s.logs.String())
				}
				if strings.Contains(page, "fire") || strings.Contains(page, "EOF") {
					t.Errorf("the page shows what only the log may hold:\n%s", page)
				}
			})
		}
	}
	t.Run("a handler's 400 offers to start afresh, without the broken flow", func(t *testing.T) {
		// The CSRF check comes first; pass it with the form's real token.
		get := httptest.NewRecorder()
		s.h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/login", nil))
		c := get.Result().Cookies()[0]
		token := NewCSRF([]byte(strings.Repeat("k", 32)), false).token(c.Value)
		req := httptest.NewRequest("POST", "/login?flow=abc", strings.NewReader(url.Values{CSRFField: {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", "de")
		req.AddCookie(c)
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, req)
		checkErrorPage(t, rec, 400, "de", "Hier geht es nicht weiter", "Diese Anmeldung kann nicht fortgesetzt werden.", "Neu beginnen", "/login")
	})
	t.Run("a 405 keeps the mux's Allow header", func(t *testing.T) {
		rec := s.do(t, "PUT", "/login", "en", nil, nil, false)
		if got := rec.Header().Get("Allow"); !strings.Contains(got, "GET") || !strings.Contains(got, "POST") {
			t.Errorf("Allow = %q", got)
		}
	})
}

// checkErrorPage checks an error page: its status, language, headers,
// layout, heading, sentence, next step and reference.
func checkErrorPage(t *testing.T, rec *httptest.ResponseRecorder, code int, lang, heading, says, next, href string) {
	t.Helper()
	page := rec.Body.String()
	if rec.Code != code {
		t.Errorf("status %d, want %d", rec.Code, code)
	}
	for k, want := range map[string]string{
		"Content-Type": "text/html; charset=utf-8", "Content-Language": lang, "Content-Security-Policy": DefaultCSP,
		"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	id := rec.Header().Get("X-Request-Id")
	ref := map[string]string{"en": "Reference for your helpdesk: ", "de": "Referenz für Ihren Helpdesk: "}[lang] + id
	text := html.UnescapeString(page)
	for what, want := range map[string]string{
		"the layout's stylesheet": `<link rel="stylesheet" href="/static/gatehouse.css">`,
		"the language":            `<html lang="` + lang + `">`,
		"the heading":             "<h1>" + heading + "</h1>",
		"what happened":           says,
		"the next step":           `<a class="button" href="` + href + `">` + next + `</a>`,
		"the reference":           ref,
	} {
		if id == "" || !strings.Contains(text, want) {
			t.Errorf("the page lacks %s %q:\n%s", what, want, page)
		}
	}
	if strings.Contains(page, "%!") || strings.Contains(page, "error.") {
		t.Errorf("the page shows a message key or a formatting error:\n%s", page)
	}
}

func TestMachineEndpointsAreAnsweredInPlainText(t *testing.T) {
	s := newErrorSite(t, config.Default().UI)
	for _, tc := range []struct {
		name, method, target string
		code                 int
	}{
		{"an unknown address under a machine path", "POST", "/wstrust/13/nothing", 404},
		{"a machine endpoint's failure", "GET", "/FederationMetadata/doc.xml", 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := s.do(t, tc.method, tc.target, "en", nil, nil, false)
			id, body := rec.Header().Get("X-Request-Id"), rec.Body.String()
			if rec.Code != tc.code || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" || strings.Contains(body, "<") ||
				!strings.Contains(body, "Reference for your helpdesk: "+id) || rec.Header().Get("Content-Security-Policy") != DefaultCSP {
				t.Errorf("status %d, %s, CSP %q:\n%s", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Security-Policy"), body)
			}
		})
	}
}

func TestAnErrorPageThatCannotRenderIsAnsweredInPlainTranslatedText(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o700); err != nil {
		t.Fatal(err)
	}
	// It parses, and fails only when run.
	broken := `{{define "content"}}{{template "missing" .}}{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "templates", "error.html"), []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	ui := config.Default().UI
	ui.OverrideDir = dir
	s := newErrorSite(t, ui)
	rec := s.do(t, "GET", "/no/such/page", "de", nil, nil, false)
	id, body := rec.Header().Get("X-Request-Id"), rec.Body.String()
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" || rec.Header().Get("Content-Language") != "de" {
		t.Errorf("status %d, %s, %s", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Language"))
	}
	for _, want := range []string{"Seite nicht gefunden", "Unter dieser Adresse gibt es keine Seite.", "Zur Startseite: /", "Referenz für Ihren Helpdesk: " + id} {
		if !strings.Contains(body, want) {
			t.Errorf("the plain answer lacks %q:\n%s", want, body)
		}
	}
	if !strings.Contains(s.logs.String(), "the error page failed to render") || !strings.Contains(s.logs.String(), "request_id="+id) {
		t.Errorf("the failing error page was not logged with the request id:\n%s", s.logs.String())
	}
}

func TestWithoutErrorPagesAnErrorIsPlainTextInTheRequestsLanguage(t *testing.T) {
	h := Chain(Handle(slog.New(slog.DiscardHandler), func(http.ResponseWriter, *http.Request) error {
		return Errorf(http.StatusBadRequest, "error.wsfed_unknown_app", io.ErrUnexpectedEOF)
	}), RequestID())
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/wsfed", nil)
	req.Header.Set("Accept-Language", "de")
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != 400 || !strings.Contains(body, "Diese Anwendung ist bei diesem Anmeldedienst nicht registriert.") ||
		!strings.Contains(body, rec.Header().Get("X-Request-Id")) || strings.Contains(body, "EOF") {
		t.Errorf("code %d:\n%s", rec.Code, body)
	}
}

func TestTheWaitIsSaidInWordsFromRetryAfter(t *testing.T) {
	c, err := LoadCatalog("en")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ retryAfter, want string }{
		{"", ""},
		{"soon", ""},
		{"-5", ""},
		{"1", "Wait a moment, then try again."},
		{"30", "Wait 30 seconds, then try again."},
		{"119", "Wait 119 seconds, then try again."},
		{"120", "Wait 2 minutes, then try again."},
		{"121", "Wait 3 minutes, then try again."},
		{"900", "Wait 15 minutes, then try again."},
	} {
		if got := waitSentence(c, "en", tc.retryAfter); got != tc.want {
			t.Errorf("Retry-After %q: %q, want %q", tc.retryAfter, got, tc.want)
		}
	}
}

func TestStartAgainGoesToTheNearestPageAbove(t *testing.T) {
	mux := http.NewServeMux()
	for _, p := range []string{"GET /{$}", "GET /login", "POST /login", "GET /account", "POST /account/factors/remove", "GET /account/unlock", "POST /wstrust/13/usernamemixed", "GET /wstrust/mex"} {
		mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	e := NewErrorPages(nil, mux, ErrorPagesOptions{Machine: func(p string) bool { return strings.HasPrefix(p, "/wstrust/") }})
	for _, tc := range []struct{ path, want string }{
		{"/login", "/login"},
		{"/account/factors/remove", "/account"},
		{"/account/unlock", "/account/unlock"},
		{"/password/strength", "/"},
		{"/wstrust/mex/x", "/"},
		{"//evil.example/x", "/"},
	} {
		if got := e.pageOf(tc.path); got != tc.want {
			t.Errorf("pageOf(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
