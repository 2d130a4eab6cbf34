package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

func TestTheAutoPostScriptSubmitsTheFormThePageHas(t *testing.T) {
	r, err := NewRenderer(config.Default().UI)
	if err != nil {
		t.Fatal(err)
	}
	var page strings.Builder
	if err := (AutoPost{URL: "https://rp.example/acs", Fields: []Field{{"a", "1"}, {"empty", ""}, {"b", "2"}}}).Render(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), `<form id="autopost" method="post" action="https://rp.example/acs">
<input type="hidden" name="a" value="1">
<input type="hidden" name="b" value="2">
<noscript>`) {
		t.Errorf("the fields in order, the empty one left out:\n%s", page.String())
	}
	if !strings.Contains(page.String(), `<script src="/static/autopost.js" defer></script>`) {
		t.Errorf("the page does not load %s", AutoPostScriptPath)
	}
	for name, h := range map[string]http.Handler{"the static handler": r.StaticHandler(), "AutoPostScript": AutoPostScript()} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, AutoPostScriptPath, nil))
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") ||
			!strings.Contains(rec.Body.String(), "getElementById('autopost')") || !strings.Contains(rec.Body.String(), ".submit()") {
			t.Errorf("%s: %d %v\n%s", name, rec.Code, rec.Header(), rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	AutoPostScript().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, AutoPostScriptPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestAnAutoPostPageIsWordedForWhatItEnds(t *testing.T) {
	cat, err := LoadCatalog("en")
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: "gh_lang", Value: "de"})
	for _, c := range []struct {
		name string
		p    AutoPost
		want []string
	}{
		{"a sign-in in English by default", AutoPost{}, []string{`lang="en"`, "<title>Signing in…</title>", "finish signing in", ">Continue<"}},
		{"a sign-out in English by default", AutoPost{SignOut: true}, []string{"<title>Signing out…</title>", "finish signing out"}},
		{"a sign-in in the user's language", AutoPost{}.Localize(cat, req), []string{`lang="de"`, "<title>Anmeldung …</title>", "Anmeldung abzuschließen", ">Weiter<"}},
		{"a sign-out in the user's language", AutoPost{SignOut: true}.Localize(cat, req), []string{"<title>Abmeldung …</title>", "Abmeldung abzuschließen"}},
		{"words the caller gave are kept", AutoPost{Title: "Custom"}.Localize(cat, req), []string{"<title>Custom</title>", ">Weiter<"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.p.URL = "https://rp.example/acs"
			var b strings.Builder
			if err := c.p.Render(&b); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("no %q in\n%s", w, b.String())
				}
			}
		})
	}
}
