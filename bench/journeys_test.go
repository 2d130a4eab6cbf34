package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/totp"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// The set-up journey reads the authenticator-app key off the enrolment
// page as a user would: the page Gatehouse renders, not a copy of it.
func TestTheSetUpReadsTheKeyTheEnrolmentPageShows(t *testing.T) {
	r, err := web.NewRenderer(config.Default().UI)
	if err != nil {
		t.Fatal(err)
	}
	const key = "DVCVIWYNH4OYUXOXR3P44F3T5XTIQ6EX"
	page := r.NewPage(httptest.NewRequest("GET", "/login", nil), "enrol.title", map[string]any{
		"FlowID": "f1", "Step": "enrol", "Method": "totp", "Methods": []string{"totp"},
		"Extra": map[string]any{"Key": key, "Groups": totp.SecretGroups(key), "URL": "otpauth://totp/x?secret=" + key, "QR": "data:image/png;base64,"},
	})
	rec := httptest.NewRecorder()
	if err := r.Render(rec, "login_enrol", 200, page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Body.String(), `class="secret"`) {
		t.Fatalf("the page shows no key:\n%s", rec.Body)
	}
	if got := enrolmentKey(rec.Body.String()); got != key {
		t.Errorf("the set-up reads the key as %q, want %q", got, key)
	}
}
