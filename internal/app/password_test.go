package app

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t *testing.T, b *browse.Browser) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(b.Last)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", b.Last)
	}
	return m[1]
}

// strength asks POST /password/strength as the page's script does.
func strength(t *testing.T, b *browse.Browser, csrf, pw string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.Base+"/password/strength", strings.NewReader(url.Values{"password": {pw}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Base)
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := b.C.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var ans map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	return resp.StatusCode, ans
}

func TestTheStrengthCheckAnswersThePageAsTheUserTypes(t *testing.T) {
	_, srv := newDemo(t)
	b := browse.New(t, srv.URL)
	b.Get("/password/reset")
	csrf := csrfOf(t, b)
	for _, tc := range []struct {
		name, pw string
		ok       bool
		msg      string
	}{
		{"a breached password", "g00dPa$$w0rD", false, "leaked in data breaches"},
		{"an easily guessed one", "Password2026!", false, "too easy to guess"},
		{"a strong one", "copper kettle wanders north", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ans := strength(t, b, csrf, tc.pw)
			msg, _ := ans["message"].(string)
			if status != 200 || ans["ok"] != tc.ok || !strings.Contains(msg, tc.msg) {
				t.Fatalf("status %d, answer %v; want ok=%v %q", status, ans, tc.ok, tc.msg)
			}
		})
	}
	t.Run("without the CSRF token it is refused", func(t *testing.T) {
		if status, _ := strength(t, b, "", "Password2026!"); status != http.StatusForbidden {
			t.Fatalf("status %d, want 403", status)
		}
	})
	t.Run("it is rate-limited per client address", func(t *testing.T) {
		last := 0
		for range 310 {
			if last, _ = strength(t, b, csrf, "x"); last == http.StatusTooManyRequests {
				break
			}
		}
		if last != http.StatusTooManyRequests {
			t.Fatalf("310 checks from one address, last status %d; want 429", last)
		}
	})
}

func TestTheStrengthChecksCanBeTurnedOff(t *testing.T) {
	_, srv := newDemoAt(t, nil, func(c *config.Config) { c.Passwords = config.Passwords{} })
	b := browse.New(t, srv.URL)
	b.Get("/password/reset")
	if status, ans := strength(t, b, csrfOf(t, b), "g00dPa$$w0rD"); status != 200 || ans["ok"] != true {
		t.Fatalf("status %d, answer %v; want ok with the checks off", status, ans)
	}
}
