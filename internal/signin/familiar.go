package signin

import (
	"context"
	"net/http"
)

// A familiar browser (internal/abuse) is one that signed its user in
// before: it holds a token in the gh_familiar cookie, set after every
// finished sign-in whether or not "remember this browser" was ticked, and
// its password attempts for that user spend a budget of their own — a
// spray elsewhere cannot lock the user out of it. The token proves nothing
// else; the store keeps only its hash.

func (e *Engine) familiarCookie() string { return e.cookieName("gh_familiar") }

// familiarToken is the token the browser holds, or "".
func (e *Engine) familiarToken(r *http.Request) string {
	c, err := r.Cookie(e.familiarCookie())
	if err != nil || len(c.Value) > 64 {
		return ""
	}
	return c.Value
}

// keepFamiliar makes this browser familiar for userID after a finished
// sign-in. A failure is logged: the sign-in stands without it.
func (e *Engine) keepFamiliar(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string) {
	if e.guard == nil {
		return
	}
	old := e.familiarToken(r)
	token, err := e.guard.RememberClient(ctx, userID, old)
	if err != nil {
		e.log.ErrorContext(ctx, "making the browser familiar", "user", userID, "err", err)
		return
	}
	if token != "" {
		e.setCookie(w, e.familiarCookie(), token, e.guard.FamiliarFor())
	}
}
