package web

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

func TestClientIPBelievesOnlyTrustedProxies(t *testing.T) {
	tp, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote, xff, want string
	}{
		{"a direct client is its TCP peer", "203.0.113.9:5555", "", "203.0.113.9"},
		{"a direct client cannot forge X-Forwarded-For", "203.0.113.9:5555", "1.2.3.4", "203.0.113.9"},
		{"a trusted proxy's forwarded address is the client", "10.1.2.3:443", "198.51.100.4", "198.51.100.4"},
		{"a chain of trusted proxies is walked from the right", "10.1.2.3:443", "198.51.100.4, 192.0.2.7, 10.9.9.9", "198.51.100.4"},
		{"a spoofed left-most entry is ignored", "10.1.2.3:443", "6.6.6.6, 198.51.100.4", "198.51.100.4"},
		{"garbage stops the walk at the last good hop", "10.1.2.3:443", "198.51.100.4, junk", "10.1.2.3"},
		{"an IPv4-mapped peer is unmapped", "[::ffff:10.1.2.3]:443", "198.51.100.4", "198.51.100.4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := tp.ClientIP(r); got != tc.want {
				t.Errorf("ClientIP = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSecurityHeadersAreOnEveryResponse(t *testing.T) {
	h := Chain(http.NotFoundHandler(), SecurityHeaders(true))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	for k, want := range map[string]string{
		"Content-Security-Policy":   "frame-ancestors 'none'",
		"X-Frame-Options":           "DENY",
		"X-Content-Type-Options":    "nosniff",
		"Strict-Transport-Security": "max-age=",
		"Referrer-Policy":           "no-referrer",
	} {
		if !strings.Contains(rec.Header().Get(k), want) {
			t.Errorf("%s = %q, want it to contain %q", k, rec.Header().Get(k), want)
		}
	}
	rec = httptest.NewRecorder()
	Chain(http.NotFoundHandler(), SecurityHeaders(false)).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}
}

func TestAPanicBecomesA500WithAReference(t *testing.T) {
	var logs bytes.Buffer
	log := observe.NewLogger(&logs, "text", slog.LevelInfo)
	h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), RequestID(), Recover(log))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	id := rec.Header().Get("X-Request-Id")
	if rec.Code != 500 || id == "" || !strings.Contains(rec.Body.String(), id) {
		t.Errorf("code %d, id %q, body %s", rec.Code, id, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "request_id="+id) {
		t.Errorf("panic not logged with the request id: %s", logs.String())
	}
}

func TestAnOversizedBodyIsRefused(t *testing.T) {
	h := Chain(Handle(slog.New(slog.DiscardHandler), func(w http.ResponseWriter, r *http.Request) error {
		_, err := io.ReadAll(r.Body)
		return err
	}), LimitBody(10))
	for _, declared := range []bool{true, false} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 100)))
		if !declared {
			r.ContentLength = -1
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("declared length %v: code %d, want 413", declared, rec.Code)
		}
	}
}

func TestHandlerErrorsShowOnlyTheirMessage(t *testing.T) {
	var logs bytes.Buffer
	log := observe.NewLogger(&logs, "text", slog.LevelInfo)
	h := Handle(log, func(http.ResponseWriter, *http.Request) error {
		return Errorf(http.StatusBadRequest, "error.wsfed_unknown_app", io.ErrUnexpectedEOF)
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "This application is not registered with this sign-in service.") || strings.Contains(rec.Body.String(), "EOF") {
		t.Errorf("code %d body %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "unexpected EOF") {
		t.Errorf("internal error not logged: %s", logs.String())
	}
}

func TestCSRFRefusesFormsWithoutAValidToken(t *testing.T) {
	c := NewCSRF([]byte(strings.Repeat("k", 32)), false)
	var reached int
	h := c.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		_, _ = io.WriteString(w, CSRFToken(r))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	cookies := rec.Result().Cookies()
	token := rec.Body.String()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode || token == "" {
		t.Fatalf("GET did not set a CSRF cookie and token: %v %q", cookies, token)
	}
	post := func(form url.Values, withCookie bool, headers map[string]string) int {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if withCookie {
			r.AddCookie(cookies[0])
		}
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	before := reached
	for _, tc := range []struct {
		name    string
		form    url.Values
		cookie  bool
		headers map[string]string
		want    int
	}{
		{"a form with the token and cookie passes", url.Values{CSRFField: {token}}, true, nil, 200},
		{"a form without a token is refused", url.Values{"password": {"x"}}, true, nil, 403},
		{"a form with another browser's token is refused", url.Values{CSRFField: {c.token(strings.Repeat("z", 43))}}, true, nil, 403},
		{"a token without its cookie is refused", url.Values{CSRFField: {token}}, false, nil, 403},
		{"a cross-site post is refused even with the token", url.Values{CSRFField: {token}}, true, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.form, tc.cookie, tc.headers); got != tc.want {
				t.Errorf("code %d, want %d", got, tc.want)
			}
		})
	}
	if reached-before != 1 {
		t.Errorf("the handler ran %d times for refused posts, want only the good one", reached-before)
	}
}
