package web

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AutoPostScriptPath is where the static handler serves the script that
// submits an AutoPost page (static/autopost.js).
const AutoPostScriptPath = "/static/autopost.js"

// AutoPostScript serves static/autopost.js on its own, for a protocol that
// mounts it under its own path (WS-Federation's /wsfed/autopost.js).
func AutoPostScript() http.Handler {
	js, err := staticFS.ReadFile("static/autopost.js")
	if err != nil {
		panic("web: the embedded autopost.js is missing: " + err.Error())
	}
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
		http.ServeContent(w, r, "autopost.js", mod, strings.NewReader(string(js)))
	})
}

// Field is one hidden field of an AutoPost page.
type Field struct{ Name, Value string }

// AutoPost is the page that carries a protocol message to another site
// (a WS-Federation wresult, a SAML Response or Request): an HTML form
// POSTed to URL by the same-origin script, or by the user with the Continue
// button when scripts are off. It works under the strict CSP it sends.
type AutoPost struct {
	// URL is where the form goes: an absolute http(s) URL that the caller
	// took from configuration.
	URL string
	// Fields are the hidden fields in order; one with an empty value is
	// left out (an absent wctx or RelayState).
	Fields []Field
	// ScriptURL is the same-origin path of the script. Empty:
	// AutoPostScriptPath.
	ScriptURL string
	// SignOut: the message ends a sign-out (a SAML logout message), so
	// the page speaks of signing out.
	SignOut bool
	// Lang, Title, Message and Button are the page's words. Empty: English
	// (Localize fills them in the user's language).
	Lang, Title, Message, Button string
}

var autoPostTmpl = template.Must(template.New("autopost").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<script src="{{.ScriptURL}}" defer></script>
</head>
<body>
<form id="autopost" method="post" action="{{.URL}}">
{{- range .Fields}}{{if .Value}}
<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{- end}}{{end}}
<noscript>
<p>{{.Message}}</p>
<button type="submit">{{.Button}}</button>
</noscript>
</form>
</body>
</html>
`))

// Localize fills the words the page still lacks in the language of r.
func (p AutoPost) Localize(c *Catalog, r *http.Request) AutoPost {
	lang := c.Language(r)
	if p.Lang == "" {
		p.Lang = lang
	}
	title, message := "autopost.title", "autopost.message"
	if p.SignOut {
		title, message = "autopost.signout_title", "autopost.signout_message"
	}
	for _, w := range []struct {
		s   *string
		key string
	}{{&p.Title, title}, {&p.Message, message}, {&p.Button, "autopost.button"}} {
		if *w.s == "" {
			*w.s = c.T(lang, w.key)
		}
	}
	return p
}

// autoPostWords are the English title and message of a sign-in page
// (false) and a sign-out page (true).
var autoPostWords = map[bool][2]string{
	false: {"Signing in…", "JavaScript is off in this browser. Press Continue to finish signing in."},
	true:  {"Signing out…", "JavaScript is off in this browser. Press Continue to finish signing out."},
}

func (p AutoPost) withDefaults() AutoPost {
	if p.ScriptURL == "" {
		p.ScriptURL = AutoPostScriptPath
	}
	if p.Lang == "" {
		p.Lang = "en"
	}
	words := autoPostWords[p.SignOut]
	if p.Title == "" {
		p.Title = words[0]
	}
	if p.Message == "" {
		p.Message = words[1]
	}
	if p.Button == "" {
		p.Button = "Continue"
	}
	return p
}

func (p AutoPost) check() error {
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("web: auto-post form: %q is not an absolute http(s) URL", p.URL)
	}
	if !strings.HasPrefix(p.ScriptURL, "/") || strings.HasPrefix(p.ScriptURL, "//") || strings.HasPrefix(p.ScriptURL, `/\`) {
		return errors.New("web: auto-post form: the script URL must be a same-origin path")
	}
	return nil
}

// Render writes the page.
func (p AutoPost) Render(w io.Writer) error {
	p = p.withDefaults()
	if err := p.check(); err != nil {
		return err
	}
	return autoPostTmpl.Execute(w, p)
}

// CSP returns the Content-Security-Policy the page needs and nothing more:
// the script from our own origin, no other content, the form may go only
// to the target URL's origin, no framing.
func (p AutoPost) CSP() string {
	target := "'none'"
	if u, err := url.Parse(p.URL); err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http") {
		target = u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; script-src 'self'; form-action " + target + "; base-uri 'none'; frame-ancestors 'none'"
}

// Write sends the page with its headers: the CSP, no caching (the message
// is single-use and must not sit in a cache), no referrer, no framing.
func (p AutoPost) Write(w http.ResponseWriter) error {
	p = p.withDefaults()
	if err := p.check(); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", p.CSP())
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	return autoPostTmpl.Execute(w, p)
}
