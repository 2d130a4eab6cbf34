package web

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

// HTTPError is an error a handler returns: Code and Msg are what the user
// sees; Err is what is logged and never shown.
type HTTPError struct {
	Code int
	Msg  string
	Err  error
}

func (e HTTPError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Msg)
}

func (e HTTPError) Unwrap() error { return e.Err }

// Errorf builds an HTTPError.
func Errorf(code int, msg string, err error) HTTPError {
	return HTTPError{Code: code, Msg: msg, Err: err}
}

// ReturnHandler is a handler that may fail. A returned HTTPError is shown
// with its code and message; any other error is a 500 with a generic
// message; both are logged.
type ReturnHandler func(w http.ResponseWriter, r *http.Request) error

// Handle adapts a ReturnHandler to http.Handler, logging with log.
func Handle(log *slog.Logger, h ReturnHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var he HTTPError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &he):
		case errors.As(err, &mbe):
			he = HTTPError{Code: http.StatusRequestEntityTooLarge, Msg: "The request is too large.", Err: err}
		default:
			he = HTTPError{Code: http.StatusInternalServerError, Msg: "Something went wrong on our side.", Err: err}
		}
		level := slog.LevelInfo
		if he.Code >= 500 {
			level = slog.LevelError
		}
		log.Log(r.Context(), level, "request failed", "status", he.Code, "path", r.URL.Path, "err", he.Err)
		writeError(w, r, he.Code, he.Msg)
	})
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Status}}</title><link rel="stylesheet" href="/static/gatehouse.css"></head>
<body><main id="main" class="card"><h1>{{.Status}}</h1><p>{{.Msg}}</p>{{if .RequestID}}<p>Reference: <code>{{.RequestID}}</code></p>{{end}}</main></body></html>
`))

// NotFound answers a path nothing serves with the error page.
func NotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusNotFound, "There is no page at this address.")
}

// writeError answers with a small HTML page carrying the request id for
// support.
func writeError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = errorPage.Execute(w, struct {
		Status    string
		Msg       string
		RequestID string
	}{fmt.Sprintf("%d %s", code, http.StatusText(code)), msg, observe.RequestID(r.Context())})
}
