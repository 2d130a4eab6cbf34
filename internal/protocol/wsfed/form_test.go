package wsfed

import (
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestThePostFormCarriesTheMessageUnchangedAndWorksWithoutScript(t *testing.T) {
	wctx := `LoginOptions=3&estsredirect=2&estsrequest=rQ"<script>alert(1)</script>'&x=é`
	wresult := `<t:RequestSecurityTokenResponse xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust"><x a="&amp;&lt;"/></t:RequestSecurityTokenResponse>`
	f := PostForm{URL: EntraReplyURL, WResult: wresult, WCtx: wctx}
	rec := httptest.NewRecorder()
	if err := f.Write(rec); err != nil {
		t.Fatal(err)
	}
	page := rec.Body.String()
	fields := map[string]string{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		fields[m[1]] = html.UnescapeString(m[2])
	}
	if fields["wa"] != "wsignin1.0" || fields["wresult"] != wresult || fields["wctx"] != wctx || len(fields) != 3 {
		t.Errorf("hidden fields as a browser decodes them: %q", fields)
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("wctx was not escaped")
	}
	if !strings.Contains(page, `<form id="autopost" method="post" action="https://login.microsoftonline.com/login.srf">`) {
		t.Errorf("form element missing:\n%s", page)
	}
	if !regexp.MustCompile(`(?s)<noscript>.*<button type="submit">Continue</button>.*</noscript>`).MatchString(page) {
		t.Error("no submit button for browsers without scripts")
	}
	if !strings.Contains(page, `<script src="/wsfed/autopost.js" defer></script>`) || regexp.MustCompile(`<script>`).MatchString(strings.ReplaceAll(page, "&lt;script&gt;", "")) {
		t.Error("the page must load the same-origin script file and have no inline script")
	}
	h := rec.Header()
	if got := h.Get("Content-Security-Policy"); got != "default-src 'none'; script-src 'self'; form-action https://login.microsoftonline.com; base-uri 'none'; frame-ancestors 'none'" {
		t.Errorf("CSP = %q", got)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", h)
	}

	noCtx := PostForm{URL: "https://wiki.corp.example.com:8443/signin-wsfed?x=1", WResult: "<r/>"}
	var b strings.Builder
	if err := noCtx.Render(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `name="wctx"`) {
		t.Error("an empty wctx must not be sent")
	}
	if got := noCtx.CSP(); !strings.Contains(got, "form-action https://wiki.corp.example.com:8443;") {
		t.Errorf("CSP for a reply URL with a port: %q", got)
	}
}

func TestThePostFormRefusesUnsafeTargets(t *testing.T) {
	for _, f := range []PostForm{
		{URL: "javascript:alert(1)", WResult: "<r/>"},
		{URL: "/relative", WResult: "<r/>"},
		{URL: EntraReplyURL, WResult: "<r/>", ScriptURL: "https://cdn.example/autopost.js"},
		{URL: EntraReplyURL, WResult: "<r/>", ScriptURL: "//cdn.example/autopost.js"},
	} {
		if err := f.Render(&strings.Builder{}); err == nil {
			t.Errorf("Render(%+v) succeeded", f)
		}
	}
}

func TestTheAutoPostScriptIsServedAsJavaScript(t *testing.T) {
	rec := httptest.NewRecorder()
	AutoPostScript().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, DefaultScriptPath, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" ||
		!strings.Contains(rec.Body.String(), "getElementById('autopost')") || !strings.Contains(rec.Body.String(), ".submit()") {
		t.Errorf("%d %v\n%s", rec.Code, rec.Header(), rec.Body)
	}
	rec = httptest.NewRecorder()
	AutoPostScript().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, DefaultScriptPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}
