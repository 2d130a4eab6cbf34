package wsfed

import (
	"io"
	"net/http"

	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// DefaultScriptPath is where the /wsfed handler should serve AutoPostScript.
const DefaultScriptPath = "/wsfed/autopost.js"

// AutoPostScript serves the small script that submits the form (the one
// every auto-POST page shares, web.AutoPostScript). Mount it at
// DefaultScriptPath (or wherever PostForm.ScriptURL says) on the same
// origin as the form page.
func AutoPostScript() http.Handler { return web.AutoPostScript() }

// PostForm is the page that carries a WS-Federation message to the relying
// party: an HTML form POSTed to URL by AutoPostScript, or by the user with
// the Continue button when scripts are off (a web.AutoPost).
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

func (f PostForm) page() web.AutoPost {
	if f.WA == "" {
		f.WA = ActionSignIn
	}
	if f.ScriptURL == "" {
		f.ScriptURL = DefaultScriptPath
	}
	return web.AutoPost{URL: f.URL, ScriptURL: f.ScriptURL, Lang: f.Lang, Title: f.Title, Message: f.Message, Button: f.Button,
		Fields: []web.Field{{Name: "wa", Value: string(f.WA)}, {Name: "wresult", Value: f.WResult}, {Name: "wctx", Value: f.WCtx}}}
}

// Render writes the page.
func (f PostForm) Render(w io.Writer) error { return f.page().Render(w) }

// CSP returns the Content-Security-Policy the page needs and nothing more:
// the script from our own origin, no other content, the form may go only
// to the reply URL's origin, no framing.
func (f PostForm) CSP() string { return f.page().CSP() }

// Write sends the page with its headers: the CSP, no caching (the token is
// single-use and must not sit in a cache), no referrer, no framing.
func (f PostForm) Write(w http.ResponseWriter) error { return f.page().Write(w) }
