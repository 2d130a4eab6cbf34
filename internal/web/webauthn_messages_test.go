package web

import (
	"html"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

var (
	// jsMessagesRe finds webauthn.js's built-in (English) messages: the
	// keys of its MESSAGES object.
	jsMessagesRe = regexp.MustCompile(`(?s)var MESSAGES = \{(.*?)\};`)
	jsKeyRe      = regexp.MustCompile(`(?m)^\s*(\w+):`)
	passkeyForm  = regexp.MustCompile(`<form [^>]*id="webauthn-form"[^>]*>`)
	dataMsgRe    = regexp.MustCompile(`data-msg-(\w+)="([^"]*)"`)
)

// TestEveryPageWithAPasskeyCeremonyGivesItsMessagesInThePagesLanguage
// renders, in German, every page that loads webauthn.js, and checks that
// its passkey form carries every message the script can show (it falls
// back to English for an attribute that is missing), each the catalog's.
func TestEveryPageWithAPasskeyCeremonyGivesItsMessagesInThePagesLanguage(t *testing.T) {
	js, err := os.ReadFile("static/webauthn.js")
	if err != nil {
		t.Fatal(err)
	}
	m := jsMessagesRe.FindSubmatch(js)
	if m == nil {
		t.Fatal("webauthn.js has no MESSAGES object")
	}
	var keys []string
	for _, k := range jsKeyRe.FindAllSubmatch(m[1], -1) {
		keys = append(keys, string(k[1]))
	}
	if len(keys) < 5 {
		t.Fatalf("found only the messages %q in webauthn.js", keys)
	}

	pages := []struct {
		name string
		data map[string]any
	}{
		{"login_identify", map[string]any{"FlowID": "f1", "Passkey": `{"publicKey":{}}`}},
		{"login_mfa", map[string]any{"FlowID": "f1", "Step": "mfa", "Method": "webauthn", "Methods": []string{"webauthn", "totp"}, "Extra": `{"publicKey":{}}`}},
		{"login_enrol", map[string]any{"FlowID": "f1", "Step": "enrol", "Method": "webauthn", "Methods": []string{"webauthn", "totp"}, "Extra": `{"publicKey":{}}`}},
		{"password_reset", map[string]any{"FlowID": "f1", "Step": "verify", "Path": "/password/reset", "Methods": []string{"webauthn"}, "Method": "webauthn", "Offer": []string{},
			"Verified": []string{}, "Passkey": `{"publicKey":{}}`}},
	}
	// Every template that loads the script is in the table.
	for _, tmpl := range builtinTemplates(t) {
		name := strings.TrimSuffix(tmpl.file, ".html")
		if strings.Contains(string(tmpl.body), "/static/webauthn.js") && !slices.ContainsFunc(pages, func(p struct {
			name string
			data map[string]any
		}) bool {
			return p.name == name
		}) {
			t.Errorf("%s loads webauthn.js but is not checked here; add it to the table", tmpl.file)
		}
	}

	r, err := NewRenderer(config.Default().UI)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Accept-Language", "de")
			page := r.NewPage(req, "login.title", p.data)
			rec := httptest.NewRecorder()
			if err := r.Render(rec, p.name, 200, page); err != nil {
				t.Fatal(err)
			}
			tag := passkeyForm.FindString(rec.Body.String())
			if tag == "" {
				t.Fatalf("no passkey form:\n%s", rec.Body)
			}
			got := map[string]string{}
			for _, a := range dataMsgRe.FindAllStringSubmatch(tag, -1) {
				got[a[1]] = html.UnescapeString(a[2])
			}
			for _, k := range keys {
				if want := r.Catalog().T("de", "passkey."+k); got[k] != want {
					t.Errorf("data-msg-%s = %q, want the catalog's German %q", k, got[k], want)
				}
			}
		})
	}
}
