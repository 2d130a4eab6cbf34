package web

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// TestNoPageTitleRepeatsTheBrand renders every page title of every
// language with the default brand: "Gatehouse – Gatehouse" was the home
// page's.
func TestNoPageTitleRepeatsTheBrand(t *testing.T) {
	ui := config.Default().UI
	r, err := NewRenderer(ui)
	if err != nil {
		t.Fatal(err)
	}
	cat := r.Catalog()
	for _, lang := range cat.Languages() {
		for key := range cat.msgs[lang] {
			if !strings.HasSuffix(key, ".title") {
				continue
			}
			p := Page{Brand: Brand{Name: ui.Name}, Lang: lang, Title: key, catalog: cat}
			if got := p.DocumentTitle(); strings.Count(strings.ToLower(got), strings.ToLower(ui.Name)) != 1 {
				t.Errorf("%s %s: the title %q does not name the brand exactly once", lang, key, got)
			}
		}
	}

	t.Run("the home page's title element names the brand once", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		if err := r.Render(rec, "home", 200, r.NewPage(req, "home.title", nil)); err != nil {
			t.Fatal(err)
		}
		title := regexp.MustCompile(`<title>([^<]*)</title>`).FindStringSubmatch(rec.Body.String())
		if title == nil || strings.Count(title[1], ui.Name) != 1 {
			t.Errorf("home page title: %q", title)
		}
	})
	t.Run("a brand named like a page is that page's whole title", func(t *testing.T) {
		p := Page{Brand: Brand{Name: "Sign in"}, Lang: "en", Title: "login.title", catalog: cat}
		if got := p.DocumentTitle(); got != "Sign in" {
			t.Errorf("title %q, want %q", got, "Sign in")
		}
	})
}
