package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// HTTPError is an error a handler returns: Code, Title, Msg and Next are
// what the user sees, as message keys rendered in the request's language;
// Err is what is logged and never shown.
type HTTPError struct {
	Code int
	// Msg is the message key of the one sentence that says what
	// happened; empty: the status's own. Its message takes no arguments.
	Msg string
	// Title is the message key of the page's heading; empty: the
	// status's own.
	Title string
	// Next is the way forward the page offers; NextDefault: the status's.
	Next NextStep
	Err  error
}

func (e HTTPError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Msg)
}

func (e HTTPError) Unwrap() error { return e.Err }

// Then returns e offering next as the way forward.
func (e HTTPError) Then(next NextStep) HTTPError {
	e.Next = next
	return e
}

// Errorf builds an HTTPError: msg is the message key of what the user
// reads, err what is logged.
func Errorf(code int, msg string, err error) HTTPError {
	return HTTPError{Code: code, Msg: msg, Err: err}
}

// NextStep is the way forward an error page offers, as its primary link.
type NextStep int

// The next steps. The error page turns each into a label and an address
// on this site.
const (
	// NextDefault is the status's own next step.
	NextDefault NextStep = iota
	// NextStartAgain goes to the page the request belongs to, afresh
	// (without its query): a flow that cannot continue starts over.
	NextStartAgain
	// NextFormPage goes back to the page the refused form was on, as it
	// was (with its query, so a sign-in keeps its application), to send
	// the form again.
	NextFormPage
	// NextTryAgain repeats the request: the same address for a GET, the
	// form's page for a post.
	NextTryAgain
	// NextSignIn goes to the sign-in page.
	NextSignIn
	// NextAccount goes to the user's account page.
	NextAccount
	// NextHome goes to the start page.
	NextHome
)

// ReturnHandler is a handler that may fail. A returned HTTPError is shown
// with its code and message; any other error is a 500 with a generic
// message (or what the ErrorPages' Classify makes of it); both are logged.
type ReturnHandler func(w http.ResponseWriter, r *http.Request) error

// Handle adapts a ReturnHandler to http.Handler, logging with log. The
// error page is the ErrorPages' that the request passed (Middleware), or
// a plain one.
func Handle(log *slog.Logger, h ReturnHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		he := errorPagesOf(r).classify(r, err)
		level := slog.LevelInfo
		if he.Code >= 500 {
			level = slog.LevelError
		}
		log.Log(r.Context(), level, "request failed", "status", he.Code, "path", r.URL.Path, "err", he.Err)
		writeError(w, r, he)
	})
}

// classify is what the user is told about err: an HTTPError as it is, a
// body over the limit as 413, what Classify recognises, and anything else
// as a 500.
func (e *ErrorPages) classify(r *http.Request, err error) HTTPError {
	var he HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		if he.Code < 400 || he.Code > 599 {
			he.Code = http.StatusInternalServerError
		}
		return he
	case errors.As(err, &mbe):
		return HTTPError{Code: http.StatusRequestEntityTooLarge, Err: err}
	}
	if e != nil && e.opts.Classify != nil {
		if he, ok := e.opts.Classify(r.Context(), err); ok {
			he.Err = err
			return he
		}
	}
	return HTTPError{Code: http.StatusInternalServerError, Err: err}
}

// writeError answers with the error page of he, carrying the request id
// for support.
func writeError(w http.ResponseWriter, r *http.Request, he HTTPError) {
	errorPagesOf(r).write(w, r, he)
}
