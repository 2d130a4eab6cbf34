package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Page is what every template receives.
type Page struct {
	Brand   Brand
	Lang    string
	CSRF    string
	Title   string // message key of the page title
	Data    any
	Errors  map[string]string // field name (or "" for the form) → message
	Notice  string
	Path    string // this page's path and query, for the language switcher
	catalog *Catalog
}

// Languages lists the languages the switcher offers.
func (p Page) Languages() []string { return p.catalog.Languages() }

// LanguageName names a language in itself ("English", "Deutsch"), as a
// language switcher should: a reader looks for their own language's name.
func (p Page) LanguageName(code string) string {
	tag, err := language.Parse(code)
	if err != nil {
		return code
	}
	if n := display.Self.Name(tag); n != "" {
		return n
	}
	return code
}

// T translates key into the page's language.
func (p Page) T(key string, args ...any) string { return p.catalog.T(p.Lang, key, args...) }

// With returns the page with data as its Data, for a partial template
// that shows part of a page ({{template "recovery_codes" ($.With .Codes)}}).
func (p Page) With(data any) Page {
	p.Data = data
	return p
}

// DocumentTitle is the page's <title>: "<page title> – <brand>", or the
// brand alone when the page's title is the brand's name, so that no
// title says it twice.
func (p Page) DocumentTitle() string {
	t := strings.TrimSpace(p.T(p.Title))
	if t == "" || strings.EqualFold(t, strings.TrimSpace(p.Brand.Name)) {
		return p.Brand.Name
	}
	return t + " – " + p.Brand.Name
}

// FieldError returns the error message for a field, or "".
func (p Page) FieldError(field string) string { return p.Errors[field] }

// Brand is what the organisation configured about its look.
type Brand struct {
	Name    string
	HasLogo bool
	// UsernameExample is the example sign-in name under the user name
	// field; empty: none is shown.
	UsernameExample string
}

// Renderer renders the pages: built-in templates, or an override
// directory's of the same name.
type Renderer struct {
	pages    map[string]*template.Template
	catalog  *Catalog
	brand    Brand
	ui       config.UI
	static   http.Handler
	branding Branding
}

// NewRenderer parses every page template with the layout.
func NewRenderer(ui config.UI) (*Renderer, error) {
	cat, err := LoadCatalog(ui.DefaultLanguage)
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}, catalog: cat, ui: ui,
		brand: Brand{Name: ui.Name, HasLogo: ui.LogoFile != "", UsernameExample: ui.UsernameExample}}
	var problems []string
	read := func(name string) ([]byte, error) {
		if ui.OverrideDir != "" {
			if b, err := os.ReadFile(filepath.Join(ui.OverrideDir, "templates", name)); err == nil { // #nosec G304 -- operator's directory.
				problems = append(problems, cat.checkTemplate(filepath.Join(ui.OverrideDir, "templates", name), b)...)
				return b, nil
			}
		}
		return templateFS.ReadFile("templates/" + name)
	}
	layout, err := read("layout.html")
	if err != nil {
		return nil, err
	}
	entries, err := templateFS.ReadDir("templates")
	if err != nil {
		return nil, err
	}
	// Files named _*.html are partials: parsed with every page, not pages.
	var partials []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "_") {
			body, err := read(e.Name())
			if err != nil {
				return nil, err
			}
			partials = append(partials, string(body))
		}
	}
	for _, e := range entries {
		if e.Name() == "layout.html" || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		body, err := read(e.Name())
		if err != nil {
			return nil, err
		}
		t, err := template.New("layout").Parse(string(layout))
		for _, part := range partials {
			if err == nil {
				_, err = t.Parse(part)
			}
		}
		if err == nil {
			_, err = t.Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", e.Name(), err)
		}
		r.pages[strings.TrimSuffix(e.Name(), ".html")] = t
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("override templates: %s", strings.Join(problems, "; "))
	}
	sub, _ := fs.Sub(staticFS, "static")
	r.static = http.FileServerFS(sub)
	if r.branding, err = NewBranding(ui); err != nil {
		return nil, err
	}
	return r, nil
}

// Branding returns brand.css and the colour adjustments behind it, which
// the caller should tell the operator about.
func (r *Renderer) Branding() Branding { return r.branding }

// Catalog returns the message catalogs.
func (r *Renderer) Catalog() *Catalog { return r.catalog }

// NewPage starts the data for one page in the request's language.
func (r *Renderer) NewPage(req *http.Request, title string, data any) Page {
	return Page{Brand: r.brand, Lang: r.catalog.Language(req), CSRF: CSRFToken(req), Title: title, Data: data,
		Errors: map[string]string{}, Path: req.URL.RequestURI(), catalog: r.catalog}
}

// Render writes page name with status. Pages are never cached.
func (r *Renderer) Render(w http.ResponseWriter, name string, status int, p Page) error {
	body, err := r.execute(name, p)
	if err != nil {
		return err
	}
	return writeHTML(w, status, p.Lang, body)
}

// execute renders page name in full before anything is written, so a
// failing template leaves the response untouched.
func (r *Renderer) execute(name string, p Page) ([]byte, error) {
	t, ok := r.pages[name]
	if !ok {
		return nil, fmt.Errorf("no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

func writeHTML(w http.ResponseWriter, status int, lang string, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", lang)
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}

// StaticHandler serves /static/: the override directory's file when it
// has one, else the built-in; /static/brand.css carries the configured
// colour (see NewBranding) and /static/logo the configured logo.
func (r *Renderer) StaticHandler() http.Handler {
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		name := req.URL.Path
		switch {
		case name == "" || strings.HasSuffix(name, "/"):
			// No directory listings: the files are named by the pages.
			http.NotFound(w, req)
			return
		case name == "brand.css":
			w.Header().Set("Content-Type", "text/css; charset=utf-8")
			_, _ = w.Write(r.branding.CSS)
			return
		case name == "logo" && r.ui.LogoFile != "":
			http.ServeFile(w, req, r.ui.LogoFile)
			return
		case r.ui.OverrideDir != "" && fs.ValidPath(name) && !strings.Contains(name, `\`):
			// fs.ValidPath refuses "..", absolute and empty elements.
			p := filepath.Join(r.ui.OverrideDir, "static", filepath.FromSlash(name))
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() { // #nosec G703 -- validated above.
				http.ServeFile(w, req, p) // #nosec G703 -- validated above.
				return
			}
		}
		r.static.ServeHTTP(w, req)
	}))
}

// SetLanguage is the handler behind the language switcher: it remembers
// the choice in a cookie and returns to the page.
func (r *Renderer) SetLanguage(w http.ResponseWriter, req *http.Request) {
	lang := req.URL.Query().Get("lang")
	for _, l := range r.catalog.Languages() {
		if l == lang {
			// A language preference, not a secret.
			http.SetCookie(w, &http.Cookie{Name: "gh_lang", Value: lang, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()), // #nosec G124 -- not a secret.
				HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: req.TLS != nil})
		}
	}
	back := req.URL.Query().Get("back")
	if !IsLocalPath(back) {
		back = "/"
	}
	http.Redirect(w, req, back, http.StatusSeeOther) // #nosec G710 -- back is a local path, checked above.
}
