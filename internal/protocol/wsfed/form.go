package wsfed

import (
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultScriptPath is where the /wsfed handler should serve AutoPostScript.
const DefaultScriptPath = "/wsfed/autopost.js"

//go:embed autopost.js
var autoPostJS []byte

// AutoPostScript serves the small script that submits the form. Mount it
// at DefaultScriptPath (or wherever PostForm.ScriptURL says) on the same
// origin as the form page.
func AutoPostScript() http.Handler {
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "autopost.js", mod, strings.NewReader(string(autoPostJS)))
	})
}

// PostForm is the page that carries a WS-Federation message to the relying
// party: an HTML form POSTed to URL by AutoPostScript, or by the user with
// the Continue button when scripts are off.
type PostForm struct {
	// URL is the reply URL (SignInRequest.Reply).
	URL string
	// WA is the action, normally ActionSignIn.
	WA Action
	// WResult is BuildRSTR's output.
	WResult string
	// WCtx is the request's wctx, returned unchanged; omitted when empty.
	WCtx string
	// ScriptURL is the same-origin path of AutoPostScript. Empty:
	// DefaultScriptPath.
	ScriptURL string
	// Lang, Title, Message and Button are the page's words. Empty: English.
	Lang, Title, Message, Button string
}

var formTmpl = template.Must(template.New("wsfed-post").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<script src="{{.ScriptURL}}" defer></script>
</head>
<body>
<form id="wsfed-post" method="post" action="{{.URL}}">
<input type="hidden" name="wa" value="{{.WA}}">
<input type="hidden" name="wresult" value="{{.WResult}}">
{{- if .WCtx}}
<input type="hidden" name="wctx" value="{{.WCtx}}">
{{- end}}
<noscript>
<p>{{.Message}}</p>
<button type="submit">{{.Button}}</button>
</noscript>
</form>
</body>
</html>
`))

func (f PostForm) withDefaults() PostForm {
	if f.WA == "" {
		f.WA = ActionSignIn
	}
	if f.ScriptURL == "" {
		f.ScriptURL = DefaultScriptPath
	}
	if f.Lang == "" {
		f.Lang = "en"
	}
	if f.Title == "" {
		f.Title = "Signing in…"
	}
	if f.Message == "" {
		f.Message = "Scripts are off in this browser. Press Continue to finish signing in."
	}
	if f.Button == "" {
		f.Button = "Continue"
	}
	return f
}

func (f PostForm) check() error {
	u, err := url.Parse(f.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("wsfed: post form: %q is not an absolute http(s) URL", f.URL)
	}
	if !strings.HasPrefix(f.ScriptURL, "/") || strings.HasPrefix(f.ScriptURL, "//") {
		return errors.New("wsfed: post form: the script URL must be a same-origin path")
	}
	return nil
}

// Render writes the page.
func (f PostForm) Render(w io.Writer) error {
	f = f.withDefaults()
	if err := f.check(); err != nil {
		return err
	}
	return formTmpl.Execute(w, f)
}

// CSP returns the Content-Security-Policy the page needs and nothing more:
// the script from our own origin, no other content, the form may go only
// to the reply URL's origin, no framing.
func (f PostForm) CSP() string {
	f = f.withDefaults()
	target := "'none'"
	if u, err := url.Parse(f.URL); err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http") {
		target = u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; script-src 'self'; form-action " + target + "; base-uri 'none'; frame-ancestors 'none'"
}

// Write sends the page with its headers: the CSP, no caching (the token is
// single-use and must not sit in a cache), no referrer, no framing.
func (f PostForm) Write(w http.ResponseWriter) error {
	f = f.withDefaults()
	if err := f.check(); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", f.CSP())
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	return formTmpl.Execute(w, f)
}
