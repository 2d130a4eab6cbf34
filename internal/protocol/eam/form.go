package eam

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
)

// postForm is the page that carries the answer to Entra: a form POSTed to
// the redirect URI by the same-origin auto-post script (the one WS-Fed
// uses: it submits the form with id "wsfed-post"), or by the user's
// Continue button when scripts are off.
type postForm struct {
	URL       string
	IDToken   string
	State     string
	ScriptURL string
}

var formTmpl = template.Must(template.New("eam-post").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Signing in…</title>
<script src="{{.ScriptURL}}" defer></script>
</head>
<body>
<form id="wsfed-post" method="post" action="{{.URL}}">
<input type="hidden" name="id_token" value="{{.IDToken}}">
<input type="hidden" name="state" value="{{.State}}">
<noscript>
<p>Scripts are off in this browser. Press Continue to finish signing in.</p>
<button type="submit">Continue</button>
</noscript>
</form>
</body>
</html>
`))

// Write sends the page: a CSP that lets the form go only to the redirect
// URI's origin, no caching (the token is single-use), no referrer, no
// framing.
func (f postForm) Write(w http.ResponseWriter) error {
	u, err := url.Parse(f.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("eam: post form: %q is not an absolute http(s) URL", f.URL)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; form-action "+u.Scheme+"://"+u.Host+"; base-uri 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(http.StatusOK)
	return formTmpl.Execute(w, f)
}
