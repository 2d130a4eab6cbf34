package signin

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// changeData is what the in-flow password change page shows.
type changeData struct {
	FlowID      string
	Step        string
	Login       string
	Reason      string // "expired" or "must_change"
	NewPassword NewPasswordForm
}

// PolicyFor is the user's effective password policy when the directory
// can tell it, else the empty policy (the directory still enforces its
// own on write).
func (e *Engine) PolicyFor(ctx context.Context, u *directory.User) directory.Policy {
	if pr, ok := e.dir.(directory.PolicyReader); ok && u != nil {
		if p, err := pr.PasswordPolicy(ctx, u); err == nil {
			return p
		}
	}
	return directory.Policy{}
}

// ResetPolicyFor is PolicyFor for a password reset: without the history
// rule when the directory says its reset will not check the history (an
// AD DC without the policy-hints control), so the page never promises
// what the write does not enforce. A change as the user always checks it.
func (e *Engine) ResetPolicyFor(ctx context.Context, u *directory.User) directory.Policy {
	p := e.PolicyFor(ctx, u)
	if hr, ok := e.dir.(directory.ResetHistoryReporter); ok && p.HistoryLength > 0 {
		if checked, err := hr.ResetChecksHistory(ctx); err != nil || !checked {
			p.HistoryLength = 0
		}
	}
	return p
}

// renderChangePassword shows the in-flow change page, focusing the field
// focus and showing kept again (Refill).
func (e *Engine) renderChangePassword(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState, p *web.Page, status int, focus string, kept PasswordFields) error {
	pol := e.PolicyFor(r.Context(), st.User)
	d := changeData{FlowID: f.ID, Step: f.Step, Login: st.Login, Reason: st.MustChange,
		NewPassword: e.NewPasswordForm(pol, st.User, p, focus, kept)}
	p.Title = "change.title"
	p.Data = d
	return e.render.Render(w, "login_change_password", status, *p)
}

func (e *Engine) postChangePassword(w http.ResponseWriter, r *http.Request, f store.Flow, st flowState) error {
	ctx := r.Context()
	pc, ok := e.dir.(directory.PasswordChanger)
	if !ok {
		return web.Errorf(http.StatusNotImplemented, "error.change_unsupported", nil)
	}
	newPW, confirm := r.PostFormValue(FieldNew), r.PostFormValue(FieldConfirm)
	// The form comes back with the field that was wrong focused and
	// empty, and what was right kept (Refill).
	typed := PasswordFields{New: newPW, Confirm: confirm}
	again := func(status int, field, msg string) error {
		p := e.render.NewPage(r, "change.title", nil)
		p.Errors[field] = msg
		return e.renderChangePassword(w, r, f, st, &p, status, field, Refill(field, typed, false))
	}
	p := e.render.NewPage(r, "change.title", nil)
	switch {
	case newPW == "" || len(newPW) > maxPasswordLen:
		return again(http.StatusUnprocessableEntity, FieldNew, p.T("change.new_required"))
	case newPW != confirm:
		return again(http.StatusUnprocessableEntity, FieldConfirm, p.T("change.mismatch"))
	}
	old, err := e.box.Open(st.SealedOld, []byte("oldpw:"+f.ID))
	if err != nil {
		return web.Errorf(http.StatusBadRequest, "error.signin_broken", err)
	}
	pol := e.PolicyFor(ctx, st.User)
	if v := e.CheckNewPassword(pol, newPW, st.User); len(v) > 0 {
		return again(http.StatusUnprocessableEntity, FieldNew, PolicyMessage(&p, pol, v))
	}
	if err := pc.ChangePassword(ctx, st.User, string(old), newPW); err != nil {
		var pe *directory.PolicyError
		switch {
		case errors.As(err, &pe):
			return again(http.StatusUnprocessableEntity, FieldNew, PolicyMessage(&p, pol, pe.Violations))
		case errors.Is(err, directory.ErrWrongPassword):
			return web.Errorf(http.StatusConflict, "error.password_changed_elsewhere", err)
		default:
			return err
		}
	}
	// The session this flow ends in is based on the new password; every
	// session the user had, and every remembered browser, ends now (this
	// browser's session is issued when the flow ends, and remembered again
	// if the user asked at the second factor).
	_, basis := e.sessions.basisAfterChange(ctx, st.User)
	ended, err := e.sessions.endOthers(ctx, st.User.ID, "")
	if err != nil {
		e.log.ErrorContext(ctx, "ending the other sessions after a password change", "err", err)
	}
	e.audit.Record(ctx, audit.Event{Type: audit.PasswordChanged, UserID: st.User.ID, Login: st.Login, App: st.Req.App, Result: "ok",
		Detail: map[string]string{"reason": st.MustChange, "where": "signin", "sessions_revoked": strconv.FormatInt(ended, 10)}})
	st.MustChange, st.SealedOld = "", nil
	st.User.State.MustChange = false
	st.User.State.PasswordLastSet = basis
	st.PasswordAt = e.now()
	return e.advance(ctx, w, r, f, st)
}
