package web

import (
	"html"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

func newTestRenderer(t *testing.T) *Renderer {
	t.Helper()
	r, err := NewRenderer(config.Default().UI)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// langRedirect asks /lang to switch to German and go back to the raw
// (query-encoded) back value, and returns where it redirects.
func langRedirect(t *testing.T, r *Renderer, rawBack string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.SetLanguage(rec, httptest.NewRequest("GET", "/lang?lang=de&back="+rawBack, nil))
	if rec.Code != 303 {
		t.Fatalf("/lang answered %d", rec.Code)
	}
	return rec.Header().Get("Location")
}

func TestLangGoesBackOnlyToAPathOnThisSite(t *testing.T) {
	r := newTestRenderer(t)
	for _, tc := range []struct{ name, raw string }{
		{"another host after two slashes", "//evil.example"},
		{"two encoded slashes", "%2F%2Fevil.example"},
		{"three slashes", "///evil.example"},
		{"a backslash after the slash", "/%5Cevil.example"},
		{"two backslashes", "%5C%5Cevil.example"},
		{"a tab browsers drop between the slashes", "/%09/evil.example"},
		{"a newline browsers drop between the slashes", "/%0A/evil.example"},
		{"CR LF between the slashes", "/%0D%0A/evil.example"},
		{"a NUL", "/%00/evil.example"},
		{"an encoded slash a server decodes", "/%252F/evil.example"},
		{"an encoded slash decoded twice", "/%25252F/evil.example"},
		{"an encoded backslash a server decodes", "/%255C/evil.example"},
		{"an encoded tab a server decodes", "/%2509/evil.example"},
		{"dot segments that become two slashes", "/..%2F%2Fevil.example"},
		{"encoded dot segments", "/%252e%252e/%252F/evil.example"},
		{"an absolute URL", "https%3A%2F%2Fevil.example%2F"},
		{"a scheme without slashes", "https:evil.example"},
		{"javascript", "javascript:alert(1)"},
		{"a relative path", "evil.example"},
		{"an ideographic space", "/%E3%80%80/evil.example"},
		{"nothing", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := langRedirect(t, r, tc.raw); got != "/" {
				t.Fatalf("back=%s redirects to %q, want /", tc.raw, got)
			}
		})
	}
}

func TestLangGoesBackToThePageItWasChosenOn(t *testing.T) {
	r := newTestRenderer(t)
	for _, tc := range []struct{ name, raw, want string }{
		{"the home page", "/", "/"},
		{"a page", "%2Faccount", "/account"},
		{"a flow", "%2Flogin%3Fflow%3Dabc", "/login?flow=abc"},
		{"a protocol request with an encoded reply URL", "%2Fwsfed%3Fwa%3Dwsignin1.0%26wreply%3Dhttps%253A%252F%252Flogin.microsoftonline.com%252Flogin.srf",
			"/wsfed?wa=wsignin1.0&wreply=https%3A%2F%2Flogin.microsoftonline.com%2Flogin.srf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := langRedirect(t, r, tc.raw); got != tc.want {
				t.Fatalf("back=%s redirects to %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
	t.Run("the language links of a page lead back to it", func(t *testing.T) {
		page := "/wsfed?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wreply=https%3A%2F%2Flogin.microsoftonline.com%2Flogin.srf"
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", page, nil)
		if err := r.Render(rec, "home", 200, r.NewPage(req, "home.title", nil)); err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`href="/lang\?lang=de&amp;back=([^"]*)"`).FindStringSubmatch(rec.Body.String())
		if m == nil {
			t.Fatalf("no language link:\n%s", rec.Body.String())
		}
		if got := langRedirect(t, r, html.UnescapeString(m[1])); got != page {
			t.Fatalf("the link goes back to %q, want %q", got, page)
		}
	})
}
