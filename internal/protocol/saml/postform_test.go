package saml

import (
	"encoding/base64"
	"html"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// respFields reads the hidden fields of a form page as a browser decodes
// them.
func respFields(page string) map[string]string {
	fields := map[string]string{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([A-Za-z]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		fields[m[1]] = html.UnescapeString(m[2])
	}
	return fields
}

func TestThePostFormCarriesTheResponseAndRelayStateUnchanged(t *testing.T) {
	msg := []byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1"><x a="&amp;&lt;"/>é</samlp:Response>`)
	relay := `https://wiki.corp.example.com/page?a=1&b="<script>alert(1)</script>"`
	rec := httptest.NewRecorder()
	if err := (PostForm{URL: respWikiACS, SAMLResponse: msg, RelayState: relay}).Write(rec); err != nil {
		t.Fatal(err)
	}
	page := rec.Body.String()
	fields := respFields(page)
	got, err := base64.StdEncoding.DecodeString(fields["SAMLResponse"])
	if err != nil || string(got) != string(msg) || fields["RelayState"] != relay || len(fields) != 2 {
		t.Errorf("fields as a browser decodes them: %q (SAMLResponse decodes to %q, %v)", fields, got, err)
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("RelayState was not escaped")
	}
	if !strings.Contains(page, `<form id="autopost" method="post" action="`+respWikiACS+`">`) {
		t.Errorf("form element missing:\n%s", page)
	}
	if !strings.Contains(page, `<script src="`+web.AutoPostScriptPath+`" defer></script>`) ||
		regexp.MustCompile(`<script>`).MatchString(strings.ReplaceAll(page, "&lt;script&gt;", "")) {
		t.Error("the page must load the same-origin script and have no inline script")
	}
	if !regexp.MustCompile(`(?s)<noscript>.*<button type="submit">Continue</button>.*</noscript>`).MatchString(page) {
		t.Error("no submit button for browsers without scripts")
	}
	if !strings.Contains(page, "<title>Signing in…</title>") {
		t.Error("a sign-in page must say so")
	}
	h := rec.Header()
	if got := h.Get("Content-Security-Policy"); got != "default-src 'none'; script-src 'self'; form-action https://wiki.corp.example.com; base-uri 'none'; frame-ancestors 'none'" {
		t.Errorf("CSP = %q", got)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", h)
	}
}

func TestThePostFormCarriesALogoutRequestAsASignOut(t *testing.T) {
	var b strings.Builder
	f := PostForm{URL: "https://wiki.corp.example.com:8443/saml/slo", SAMLRequest: []byte("<samlp:LogoutRequest/>"), SignOut: true}
	if err := f.Render(&b); err != nil {
		t.Fatal(err)
	}
	fields := respFields(b.String())
	if _, ok := fields["SAMLRequest"]; !ok || len(fields) != 1 {
		t.Errorf("fields %q: want SAMLRequest alone (no empty RelayState)", fields)
	}
	if !strings.Contains(b.String(), "<title>Signing out…</title>") {
		t.Error("a sign-out page must say so")
	}
	if got := f.CSP(); !strings.Contains(got, "form-action https://wiki.corp.example.com:8443;") {
		t.Errorf("CSP for a URL with a port: %q", got)
	}
}

func TestThePostFormSpeaksTheUsersLanguage(t *testing.T) {
	cat, err := web.LoadCatalog("en")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/saml/sso", nil)
	r.Header.Set("Accept-Language", "de-DE,de;q=0.9")
	for _, c := range []struct {
		signOut bool
		title   string
	}{{false, "Anmeldung …"}, {true, "Abmeldung …"}} {
		var b strings.Builder
		f := PostForm{URL: respWikiACS, SAMLResponse: []byte("<r/>"), SignOut: c.signOut}.Localize(cat, r)
		if err := f.Render(&b); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		if !strings.Contains(page, `<html lang="de">`) || !strings.Contains(page, "<title>"+c.title+"</title>") ||
			!strings.Contains(page, `<button type="submit">Weiter</button>`) {
			t.Errorf("sign-out %v: the page is not in German:\n%s", c.signOut, page)
		}
	}
}

func TestThePostFormRefusesWhatItCannotSendSafely(t *testing.T) {
	for name, f := range map[string]PostForm{
		"no message":                  {URL: respWikiACS},
		"a response and a request":    {URL: respWikiACS, SAMLResponse: []byte("<r/>"), SAMLRequest: []byte("<q/>")},
		"a javascript: URL":           {URL: "javascript:alert(1)", SAMLResponse: []byte("<r/>")},
		"a relative URL":              {URL: "/acs", SAMLResponse: []byte("<r/>")},
		"a script from another site":  {URL: respWikiACS, SAMLResponse: []byte("<r/>"), ScriptURL: "https://cdn.example/autopost.js"},
		"a protocol-relative script":  {URL: respWikiACS, SAMLResponse: []byte("<r/>"), ScriptURL: "//cdn.example/autopost.js"},
		"a backslash-relative script": {URL: respWikiACS, SAMLResponse: []byte("<r/>"), ScriptURL: `/\cdn.example/autopost.js`},
	} {
		if err := f.Render(&strings.Builder{}); err == nil {
			t.Errorf("%s: rendered", name)
		}
		if err := f.Write(httptest.NewRecorder()); err == nil {
			t.Errorf("%s: written", name)
		}
	}
}
