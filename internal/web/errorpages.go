package web

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

// ErrorPages answers whatever goes wrong — a handler's HTTPError, a stale
// form, a panic, a body over the limit, a full server, an address nothing
// serves — with a page in the normal layout and the request's language:
// a heading, one sentence of what happened, a next step as the primary
// link, and the request id the logs carry, for the helpdesk.
//
// The writers of errors (Handle, CSRF, Recover, LimitBody,
// LimitConcurrency) find it in the request's context, where Middleware
// puts it; without it, and on machine endpoints, they answer in plain
// text. When the page itself cannot be rendered, the answer is plain text
// too, still translated: an error page never fails.
type ErrorPages struct {
	render *Renderer
	mux    *http.ServeMux
	opts   ErrorPagesOptions
}

// ErrorPagesOptions configures ErrorPages.
type ErrorPagesOptions struct {
	// Machine reports the paths that programs call, not people (WS-Trust,
	// metadata, health checks): their errors are answered in plain text.
	Machine func(path string) bool
	// Classify turns an error a handler returned that is not an HTTPError
	// into what the user is told (an unreachable directory as 503); false
	// leaves it a 500. Err is set by the caller.
	Classify func(ctx context.Context, err error) (HTTPError, bool)
	// Log records an error page that failed to render (nil: not logged).
	Log *slog.Logger
}

// NewErrorPages returns the error pages of renderer r for the routes of
// mux: mux tells which page a refused form belongs to, for "Start again".
// mux may be nil (every "Start again" then goes to the start page).
func NewErrorPages(r *Renderer, mux *http.ServeMux, o ErrorPagesOptions) *ErrorPages {
	return &ErrorPages{render: r, mux: mux, opts: o}
}

type errorPagesKey struct{}

// Middleware puts the error pages in the request's context, for every
// writer of errors below it.
func (e *ErrorPages) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), errorPagesKey{}, e)))
	})
}

func errorPagesOf(r *http.Request) *ErrorPages {
	e, _ := r.Context().Value(errorPagesKey{}).(*ErrorPages)
	return e
}

// Handler is the mux with the requests no route matches answered by an
// error page: the mux's own status (404, or 405 with its Allow header) in
// the layout, or in plain text on a machine path. The request reaches
// the mux unchanged, so Instrument still reads its route pattern.
func (e *ErrorPages) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := e.mux.Handler(r)
		if pattern != "" || r.RequestURI == "*" {
			e.mux.ServeHTTP(w, r)
			return
		}
		// The mux's answer (http.NotFound, or its 405 with Allow), kept
		// for its status and headers; its plain body is replaced.
		rec := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if rec.code < 400 {
			rec.code = http.StatusNotFound
		}
		e.write(w, r, HTTPError{Code: rec.code})
	})
}

// headerRecorder keeps a response's status and header and drops its body.
type headerRecorder struct {
	header http.Header
	code   int
}

func (h *headerRecorder) Header() http.Header { return h.header }

func (h *headerRecorder) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}

func (h *headerRecorder) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(b), nil
}

// statusPage is what a status says when the error does not say more.
type statusPage struct {
	title, msg string
	next       NextStep
}

func statusDefaults(code int) statusPage {
	switch code {
	case http.StatusForbidden:
		return statusPage{"error.forbidden_title", "error.forbidden", NextHome}
	case http.StatusNotFound:
		return statusPage{"error.not_found_title", "error.not_found", NextHome}
	case http.StatusMethodNotAllowed:
		return statusPage{"error.method_title", "error.method", NextHome}
	case http.StatusConflict:
		return statusPage{"error.conflict_title", "error.conflict", NextSignIn}
	case http.StatusRequestEntityTooLarge:
		return statusPage{"error.too_large_title", "error.too_large", NextFormPage}
	case http.StatusTooManyRequests:
		return statusPage{"error.too_many_title", "error.too_many", NextTryAgain}
	case http.StatusNotImplemented:
		return statusPage{"error.not_implemented_title", "error.not_implemented", NextHome}
	case http.StatusServiceUnavailable:
		return statusPage{"error.unavailable_title", "error.unavailable", NextTryAgain}
	}
	if code >= 500 {
		return statusPage{"error.internal_title", "error.internal", NextTryAgain}
	}
	return statusPage{"error.bad_request_title", "error.bad_request", NextStartAgain}
}

// errorView is the error page's data.
type errorView struct {
	Message   string // message key
	Wait      string // how long to wait, in the page's language; "" when unknown
	NextLabel string // message key
	NextHref  string
	RequestID string

	code  int
	title string // message key
	lang  string
}

// view resolves he for r: the status's defaults, the next step's address,
// the wait from a Retry-After the handler set.
func (e *ErrorPages) view(w http.ResponseWriter, r *http.Request, he HTTPError, c *Catalog) errorView {
	def := statusDefaults(he.Code)
	v := errorView{Message: he.Msg, code: he.Code, title: he.Title, RequestID: observe.RequestID(r.Context())}
	if v.Message == "" {
		v.Message = def.msg
	}
	if v.title == "" {
		v.title = def.title
	}
	next := he.Next
	if next == NextDefault {
		next = def.next
	}
	v.NextLabel, v.NextHref = e.next(r, next)
	if c != nil {
		v.lang = c.Language(r)
		if he.Code == http.StatusTooManyRequests || he.Code == http.StatusServiceUnavailable {
			v.Wait = waitSentence(c, v.lang, w.Header().Get("Retry-After"))
		}
	}
	return v
}

// waitSentence says how long to wait before trying again, from a
// Retry-After of whole seconds; "" when there is none.
func waitSentence(c *Catalog, lang, retryAfter string) string {
	secs, err := strconv.Atoi(strings.TrimSpace(retryAfter))
	switch {
	case err != nil || secs < 0:
		return ""
	case secs < 2:
		return c.T(lang, "error.retry_soon")
	case secs < 120:
		return c.T(lang, "error.retry_seconds", "seconds", secs)
	}
	return c.T(lang, "error.retry_minutes", "minutes", (secs+59)/60)
}

// next is the label (a message key) and the local address of step n for
// r.
func (e *ErrorPages) next(r *http.Request, n NextStep) (label, href string) {
	switch n {
	case NextSignIn:
		return "error.next_sign_in", "/login"
	case NextAccount:
		return "error.next_account", "/account"
	case NextStartAgain:
		return "error.next_start_again", e.pageOf(r.URL.Path)
	case NextFormPage:
		label = "error.next_start_again"
	case NextTryAgain:
		label = "error.next_try_again"
	default:
		return "error.next_home", "/"
	}
	href = r.URL.RequestURI()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// The page the form was on: its own address when a GET serves it
		// (with the query: a sign-in's flow), else the nearest above.
		href = e.pageOf(r.URL.Path)
		if href == r.URL.Path && r.URL.RawQuery != "" {
			href += "?" + r.URL.RawQuery
		}
	}
	if !IsLocalPath(href) {
		href = "/"
	}
	return label, href
}

// pageOf is the nearest path at or above p that a GET is served at:
// /account for a post to /account/factors/remove.
func (e *ErrorPages) pageOf(p string) string {
	if e == nil || e.mux == nil || !IsLocalPath(p) {
		return "/"
	}
	for p = path.Clean(p); p != "/"; p = path.Dir(p) {
		if e.opts.Machine != nil && e.opts.Machine(p) {
			continue
		}
		_, pattern := e.mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: p}, Header: http.Header{}})
		if pattern != "" {
			return p
		}
	}
	return "/"
}

// fallbackCatalog is the embedded catalog, for the plain answers of a
// request that passed no ErrorPages.
var fallbackCatalog = sync.OnceValue(func() *Catalog {
	c, err := LoadCatalog("en")
	if err != nil {
		return nil // the plain answer then speaks HTTP status text
	}
	return c
})

func (e *ErrorPages) catalog() *Catalog {
	if e != nil && e.render != nil {
		return e.render.catalog
	}
	return fallbackCatalog()
}

// write answers r with he's page, or in plain text on a machine path,
// without ErrorPages, or when the page fails. The security headers stay:
// the error page runs under the same strict CSP as every page, whatever
// a handler set before it failed.
func (e *ErrorPages) write(w http.ResponseWriter, r *http.Request, he HTTPError) {
	c := e.catalog()
	v := e.view(w, r, he, c)
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", DefaultCSP)
	machine := e == nil || (e.opts.Machine != nil && e.opts.Machine(r.URL.Path))
	if !machine && e.page(w, r, v) {
		return
	}
	writePlain(w, c, v, !machine)
}

// page writes the error page in the layout; false when it could not be
// rendered (nothing is written then).
func (e *ErrorPages) page(w http.ResponseWriter, r *http.Request, v errorView) (ok bool) {
	if e.render == nil {
		return false
	}
	defer func() {
		// A broken override template must not turn an error into a
		// crash: the plain answer follows.
		if p := recover(); p != nil {
			e.logRenderFailure(r, p)
			ok = false
		}
	}()
	p := e.render.NewPage(r, v.title, v)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		p.Path = v.NextHref // the language switcher reloads a page, not the post
	}
	body, err := e.render.execute("error", p)
	if err != nil {
		e.logRenderFailure(r, err)
		return false
	}
	_ = writeHTML(w, v.code, p.Lang, body) // a client that left cannot be answered
	return true
}

func (e *ErrorPages) logRenderFailure(r *http.Request, problem any) {
	if e.opts.Log != nil {
		e.opts.Log.ErrorContext(r.Context(), "the error page failed to render; answered in plain text", "err", problem)
	}
}

// writePlain is the answer without the layout: the heading, what
// happened, the next step (for people) and the reference, in the
// request's language when the catalog is there.
func writePlain(w http.ResponseWriter, c *Catalog, v errorView, withNext bool) {
	var b bytes.Buffer
	if c == nil {
		b.WriteString(strconv.Itoa(v.code) + " " + http.StatusText(v.code) + "\n")
		if v.RequestID != "" {
			b.WriteString("Reference: " + v.RequestID + "\n")
		}
	} else {
		b.WriteString(c.T(v.lang, v.title) + "\n\n" + c.T(v.lang, v.Message) + "\n")
		if v.Wait != "" {
			b.WriteString(v.Wait + "\n")
		}
		if withNext {
			b.WriteString(c.T(v.lang, v.NextLabel) + ": " + v.NextHref + "\n")
		}
		if v.RequestID != "" {
			b.WriteString(c.T(v.lang, "error.reference", "id", v.RequestID) + "\n")
		}
		w.Header().Set("Content-Language", v.lang)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(v.code)
	_, _ = w.Write(b.Bytes())
}
