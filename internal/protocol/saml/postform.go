package saml

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"

	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// PostForm is the HTTP-POST binding's page (SAML bindings 3.5): a form
// that carries a base64 SAMLResponse (or, for single logout, a
// SAMLRequest) and the RelayState to URL, submitted by the shared
// same-origin script (web.AutoPostScriptPath), or by the user with the
// Continue button when scripts are off, under a CSP that lets the form go
// to URL's origin only.
type PostForm struct {
	// URL is the SP's endpoint from its metadata (the ACS, or an SLO
	// endpoint).
	URL string
	// SAMLResponse or SAMLRequest is the message's XML; exactly one is
	// set.
	SAMLResponse []byte
	SAMLRequest  []byte
	// RelayState is returned unchanged; omitted when empty.
	RelayState string
	// SignOut: the message is part of a sign-out (the page says so).
	SignOut bool
	// ScriptURL is the same-origin path of the script. Empty:
	// web.AutoPostScriptPath.
	ScriptURL string
	// Lang, Title, Message and Button are the page's words. Empty: English
	// (Localize fills them in the user's language).
	Lang, Title, Message, Button string
}

func (f PostForm) page() (web.AutoPost, error) {
	name, msg := "SAMLResponse", f.SAMLResponse
	switch {
	case len(f.SAMLResponse) > 0 && len(f.SAMLRequest) > 0:
		return web.AutoPost{}, errors.New("saml: post form: a SAMLResponse and a SAMLRequest at once")
	case len(f.SAMLRequest) > 0:
		name, msg = "SAMLRequest", f.SAMLRequest
	case len(f.SAMLResponse) == 0:
		return web.AutoPost{}, errors.New("saml: post form: no message")
	}
	return web.AutoPost{URL: f.URL, ScriptURL: f.ScriptURL, SignOut: f.SignOut,
		Lang: f.Lang, Title: f.Title, Message: f.Message, Button: f.Button,
		Fields: []web.Field{{Name: name, Value: base64.StdEncoding.EncodeToString(msg)}, {Name: "RelayState", Value: f.RelayState}}}, nil
}

// Localize fills the words the page still lacks in the language of r.
func (f PostForm) Localize(c *web.Catalog, r *http.Request) PostForm {
	p := web.AutoPost{SignOut: f.SignOut, Lang: f.Lang, Title: f.Title, Message: f.Message, Button: f.Button}.Localize(c, r)
	f.Lang, f.Title, f.Message, f.Button = p.Lang, p.Title, p.Message, p.Button
	return f
}

// Render writes the page.
func (f PostForm) Render(w io.Writer) error {
	p, err := f.page()
	if err != nil {
		return err
	}
	return p.Render(w)
}

// CSP returns the Content-Security-Policy the page sends.
func (f PostForm) CSP() string { return web.AutoPost{URL: f.URL}.CSP() }

// Write sends the page with its headers: the CSP, no caching (the message
// is single-use), no referrer, no framing.
func (f PostForm) Write(w http.ResponseWriter) error {
	p, err := f.page()
	if err != nil {
		return err
	}
	return p.Write(w)
}
