package web

import (
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

func TestAnOverrideDirectoryReplacesTemplatesAndStaticFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"templates/home.html":  `{{define "content"}}<p id="custom">Welcome to {{.Brand.Name}}</p>{{end}}`,
		"static/gatehouse.css": `body{background:#000}`,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ui := config.Default().UI
	ui.Name, ui.PrimaryColor, ui.OverrideDir = "Contoso Sign-in", "#aa3300", dir
	r, err := NewRenderer(ui)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	if err := r.Render(rec, "home", 200, r.NewPage(req, "home.title", nil)); err != nil {
		t.Fatal(err)
	}
	if body := rec.Body.String(); !strings.Contains(body, `<p id="custom">Welcome to Contoso Sign-in</p>`) || !strings.Contains(body, "– Contoso Sign-in</title>") {
		t.Errorf("the override template was not used:\n%s", body)
	}
	get := func(path string) string {
		rec := httptest.NewRecorder()
		r.StaticHandler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	if got := get("/static/gatehouse.css"); got != `body{background:#000}` {
		t.Errorf("static override not served: %q", got)
	}
	if got := get("/static/brand.css"); !strings.Contains(got, "--primary:#aa3300") {
		t.Errorf("brand colour: %q", got)
	}
	if got := get("/static/webauthn.js"); !strings.Contains(got, "webauthn") {
		t.Errorf("a file the override does not have must come from the built-ins")
	}
	for _, dir := range []string{"/static/", "/static/nested/"} {
		if got := get(dir); strings.Contains(got, "gatehouse.css") || strings.Contains(got, "<a href") {
			t.Errorf("%s lists a directory: %q", dir, got)
		}
	}
	if got := get("/static/../templates/home.html"); strings.Contains(got, "custom") {
		t.Errorf("path traversal out of the static directory")
	}
}

func TestAnOverrideTemplateWrittenForOtherMessagesFailsAtStartWithItsLine(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"a message's argument passed without its name",
			"{{define \"content\"}}\n<p>{{$.T \"home.signed_in_as\" .Data.Name}}</p>{{end}}",
			`home.html:2: "home.signed_in_as" takes the arguments {name} as name, value pairs, e.g. {{$.T "home.signed_in_as" "name" .Name}}`},
		{"a message that does not exist",
			`{{define "content"}}<p>{{.T "home.welcome"}}</p>{{end}}`, `home.html:1: no message "home.welcome"`},
		{"a template that does not parse", `{{define "content"}}{{if}}{{end}}`, "home.html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "templates", "home.html"), []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			ui := config.Default().UI
			ui.OverrideDir = dir
			_, err := NewRenderer(ui)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewRenderer = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
