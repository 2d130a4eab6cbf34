package web

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// TestTheUserNameFieldDescribesOnlyWhatThePageShows: the example comes
// from the configuration, and without one the field points at no hint.
func TestTheUserNameFieldDescribesOnlyWhatThePageShows(t *testing.T) {
	describedBy := regexp.MustCompile(`id="login"[^>]*?aria-describedby="([^"]*)"`)
	for _, tc := range []struct {
		name, example, fieldError, formError string
		wantHint, wantDescribed              string
	}{
		{"an example is shown and describes the field", "j.doe@contoso.com", "", "", "For example j.doe@contoso.com", "login-hint"},
		{"an example and an error both describe the field, the error first", "j.doe@contoso.com", "Enter your user name.", "", "For example j.doe@contoso.com", "login-error login-hint"},
		{"without an example there is no hint", "", "", "", "", ""},
		{"without an example the error alone describes the field", "", "Enter your user name.", "", "", "login-error"},
		{"a form's error describes the field, before the example", "j.doe@contoso.com", "", "This sign-in took too long.", "For example j.doe@contoso.com", "form-error login-hint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ui := config.Default().UI
			ui.UsernameExample = tc.example
			r, err := NewRenderer(ui)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			p := r.NewPage(httptest.NewRequest("GET", "/login", nil), "login.title", map[string]any{"FlowID": "f", "Login": "", "Passkey": ""})
			if tc.fieldError != "" {
				p.Errors["login"] = tc.fieldError
			}
			if tc.formError != "" {
				p.Errors[""] = tc.formError
			}
			if err := r.Render(rec, "login_identify", 200, p); err != nil {
				t.Fatal(err)
			}
			body := rec.Body.String()
			if tc.wantHint != "" && !strings.Contains(body, `<p class="hint" id="login-hint">`+tc.wantHint+`</p>`) {
				t.Errorf("no hint %q:\n%s", tc.wantHint, body)
			}
			if tc.wantHint == "" && strings.Contains(body, `id="login-hint"`) {
				t.Errorf("a hint without an example:\n%s", body)
			}
			got := ""
			if m := describedBy.FindStringSubmatch(body); m != nil {
				got = m[1]
			}
			if got != tc.wantDescribed {
				t.Errorf("aria-describedby = %q, want %q", got, tc.wantDescribed)
			}
		})
	}
}
