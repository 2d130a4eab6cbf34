package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// CSRFField is the form field (and CSRFHeader the header) that carries the
// token on every state-changing request of Gatehouse's own forms.
const (
	CSRFField  = "csrf_token"
	CSRFHeader = "X-CSRF-Token"
)

type csrfCtxKey struct{}

// CSRF protects Gatehouse's own forms twice over: the browser's
// Sec-Fetch-Site/Origin headers must say same-origin (net/http's
// CrossOriginProtection), and the form must carry a token derived from a
// per-browser cookie with a server key (signed double-submit), so a request
// forged from another site, or a form without the token, is refused.
//
// Protocol endpoints that relying parties post to cross-site (SAML, WS-Fed,
// WS-Trust, OIDC token) are not wrapped with it.
type CSRF struct {
	key    []byte
	secure bool
	cop    *http.CrossOriginProtection
}

// NewCSRF returns CSRF protection using key (at least 32 bytes) for the
// token MAC; secure marks the cookie Secure and gives it the __Host- prefix.
func NewCSRF(key []byte, secure bool) *CSRF {
	c := &CSRF{key: key, secure: secure, cop: http.NewCrossOriginProtection()}
	c.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, HTTPError{Code: http.StatusForbidden, Title: "error.form_refused_title", Msg: "error.form_refused", Next: NextFormPage})
	}))
	return c
}

func (c *CSRF) cookieName() string {
	if c.secure {
		return "__Host-gh_csrf"
	}
	return "gh_csrf"
}

func (c *CSRF) token(cookie string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Protect wraps the handlers of Gatehouse's own pages. Safe requests get a
// token in their context (read it with CSRFToken) and the cookie set when
// missing; unsafe requests without a valid token get 403 and never reach h.
func (c *CSRF) Protect(h http.Handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cookie := c.cookie(r)
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			if cookie == "" {
				cookie = c.setCookie(w)
			}
		default:
			sent := r.Header.Get(CSRFHeader)
			if sent == "" {
				sent = r.PostFormValue(CSRFField) // body size is already limited
			}
			if cookie == "" || sent == "" || !hmac.Equal([]byte(sent), []byte(c.token(cookie))) {
				writeError(w, r, HTTPError{Code: http.StatusForbidden, Title: "error.form_expired_title", Msg: "error.form_expired", Next: NextFormPage})
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), csrfCtxKey{}, c.token(cookie))))
	})
	return c.cop.Handler(inner)
}

// Ensure gives a request that did not pass through Protect — a protocol
// endpoint answering with one of Gatehouse's forms, such as the sign-in page
// shown in reply to a relying party's request — the token for its forms,
// setting the cookie when the browser has none. It checks nothing: the
// forms it serves are posted to handlers that Protect.
func (c *CSRF) Ensure(w http.ResponseWriter, r *http.Request) *http.Request {
	if CSRFToken(r) != "" {
		return r
	}
	cookie := c.cookie(r)
	if cookie == "" {
		cookie = c.setCookie(w)
	}
	return r.WithContext(context.WithValue(r.Context(), csrfCtxKey{}, c.token(cookie)))
}

func (c *CSRF) cookie(r *http.Request) string {
	if ck, err := r.Cookie(c.cookieName()); err == nil && len(ck.Value) >= 32 {
		return ck.Value
	}
	return ""
}

func (c *CSRF) setCookie(w http.ResponseWriter) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	cookie := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{ // #nosec G124 -- Secure is off only for a plain-HTTP localhost issuer.
		Name: c.cookieName(), Value: cookie, Path: "/", HttpOnly: true,
		Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
	return cookie
}

// CSRFToken returns the token to put in a form's CSRFField, for a request
// that passed through Protect.
func CSRFToken(r *http.Request) string {
	s, _ := r.Context().Value(csrfCtxKey{}).(string)
	return s
}
