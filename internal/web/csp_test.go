package web

import (
	"net/http"
	"strings"
	"testing"
)

// directive returns the sources of name in policy, or nil.
func directive(policy, name string) []string {
	for _, d := range strings.Split(policy, ";") {
		f := strings.Fields(d)
		if len(f) > 0 && f[0] == name {
			return f[1:]
		}
	}
	return nil
}

func TestAResponsesCSPIsWidenedOnlyWhereAskedAndOnlyByOrigins(t *testing.T) {
	h := http.Header{}
	if err := WidenCSP(h, "frame-src", "'self'", "https://wiki.example.com", "https://hr.example.com:8443"); err != nil {
		t.Fatal(err)
	}
	if err := WidenCSP(h, "form-action", "https://wiki.example.com", "https://wiki.example.com"); err != nil {
		t.Fatal(err)
	}
	got := h.Get("Content-Security-Policy")
	if f := strings.Join(directive(got, "frame-src"), " "); f != "'self' https://wiki.example.com https://hr.example.com:8443" {
		t.Errorf("frame-src %q", f)
	}
	if f := strings.Join(directive(got, "form-action"), " "); f != "'self' https://wiki.example.com" {
		t.Errorf("form-action %q", f)
	}
	// Everything else is DefaultCSP's.
	for _, d := range strings.Split(DefaultCSP, ";") {
		name := strings.Fields(d)[0]
		if name == "form-action" {
			continue
		}
		if a, b := strings.Join(directive(got, name), " "), strings.Join(directive(DefaultCSP, name), " "); a != b {
			t.Errorf("%s changed from %q to %q", name, b, a)
		}
	}

	h = http.Header{}
	h.Set("Content-Security-Policy", DefaultCSP)
	if err := WidenCSP(h, "frame-ancestors", "'self'"); err != nil {
		t.Fatal(err)
	}
	if f := strings.Join(directive(h.Get("Content-Security-Policy"), "frame-ancestors"), " "); f != "'self'" {
		t.Errorf("frame-ancestors %q: 'none' must go when a source comes", f)
	}

	for _, tc := range []struct{ name, directive, source string }{
		{"a script source", "script-src", "https://cdn.example.com"},
		{"a connect source", "connect-src", "https://x.example.com"},
		{"a wildcard", "frame-src", "*"},
		{"a wildcard host", "frame-src", "https://*.example.com"},
		{"a scheme", "frame-src", "https:"},
		{"unsafe-inline", "form-action", "'unsafe-inline'"},
		{"a second directive smuggled in", "frame-src", "https://a.example; script-src *"},
		{"a path", "frame-src", "https://a.example/x"},
		{"javascript", "frame-src", "javascript:alert(1)"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			h := http.Header{}
			if err := WidenCSP(h, tc.directive, tc.source); err == nil {
				t.Errorf("widened to %q", h.Get("Content-Security-Policy"))
			}
		})
	}
}

func TestTheOriginOfAURLIsItsSchemeAndHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://Wiki.Example.com/saml/slo?x=1": "https://wiki.example.com",
		"http://127.0.0.1:8081/slo":             "http://127.0.0.1:8081",
		"https://[::1]:8443/":                   "https://[::1]:8443",
		"javascript:alert(1)":                   "",
		"/saml/slo":                             "",
		"https://user@wiki.example.com/":        "",
		"ftp://wiki.example.com/":               "",
	} {
		got, ok := Origin(in)
		if got != want || ok != (want != "") {
			t.Errorf("Origin(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
