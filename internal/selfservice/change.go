package selfservice

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/abuse"
	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Handler serves the self-service pages.
type Handler struct {
	Engine    *signin.Engine
	Directory directory.Directory
	Sessions  *signin.Sessions
	Renderer  *web.Renderer
	CSRF      *web.CSRF
	Audit     *audit.Recorder
	Log       *slog.Logger
	Now       func() time.Time
}

// maxPassword bounds a password field. Wrong current passwords are limited
// by the sign-in guard (Engine.CheckCurrentPassword).
const maxPassword = 1024

// Mount registers the routes.
func (h *Handler) Mount(mux *http.ServeMux) {
	page := func(f web.ReturnHandler) http.Handler { return web.NoStore(h.CSRF.Protect(web.Handle(h.Log, f))) }
	mux.Handle("GET /password/change", page(h.getChange))
	mux.Handle("POST /password/change", page(h.postChange))
}

type changePage struct {
	NewPassword signin.NewPasswordForm
	Done        bool
	// Current is the current password shown again: only once the
	// directory accepted it (signin.Refill).
	Current string
	// Focus is the field the page focuses: the one that was wrong, else
	// the first.
	Focus string
}

// renderChange shows the change page: with errs (field → message), the
// field focus focused and the values kept shown again; or, with notice,
// the change done.
func (h *Handler) renderChange(w http.ResponseWriter, r *http.Request, u *directory.User, status int, errs map[string]string, focus string, kept signin.PasswordFields, notice string) error {
	d := &changePage{Current: kept.Current, Focus: focus}
	p := h.Renderer.NewPage(r, "change.title", d)
	npFocus := ""
	if focus != signin.FieldCurrent {
		npFocus = focus
	}
	d.NewPassword = h.Engine.NewPasswordForm(h.Engine.PolicyFor(r.Context(), u), u, &p, npFocus, kept)
	for k, v := range errs {
		p.Errors[k] = v
	}
	if notice != "" {
		d.Done = true
		p.Notice = p.T(notice)
	}
	return h.Renderer.Render(w, "password_change", status, p)
}

func (h *Handler) user(w http.ResponseWriter, r *http.Request) (*signin.Result, error) {
	return h.Engine.Authenticate(w, r, signin.Request{App: "password-change", ResumeURL: "/password/change"})
}

func (h *Handler) getChange(w http.ResponseWriter, r *http.Request) error {
	res, err := h.user(w, r)
	if err != nil || res == nil {
		return err
	}
	if r.URL.Query().Has(signin.ResumeParam) {
		http.Redirect(w, r, "/password/change", http.StatusSeeOther)
		return nil
	}
	return h.renderChange(w, r, &res.User, http.StatusOK, nil, signin.FieldCurrent, signin.PasswordFields{}, "")
}

func (h *Handler) postChange(w http.ResponseWriter, r *http.Request) error {
	res, err := h.user(w, r)
	if err != nil || res == nil {
		return err
	}
	ctx := r.Context()
	u := &res.User
	pc, ok := h.Directory.(directory.PasswordChanger)
	if !ok {
		return web.Errorf(http.StatusNotImplemented, "error.change_unsupported", nil)
	}
	typed := signin.PasswordFields{Current: r.PostFormValue(signin.FieldCurrent), New: r.PostFormValue(signin.FieldNew),
		Confirm: r.PostFormValue(signin.FieldConfirm)}
	p := h.Renderer.NewPage(r, "change.title", nil)
	// A refusal shows the form again with the wrong field focused and
	// empty, and the fields that were right kept (signin.Refill): the
	// current password only once the directory accepted it.
	currentRight := false
	again := func(status int, field, msg string) error {
		return h.renderChange(w, r, u, status, map[string]string{field: msg}, field, signin.Refill(field, typed, currentRight), "")
	}
	if typed.Current == "" || len(typed.Current) > maxPassword {
		return again(http.StatusUnprocessableEntity, signin.FieldCurrent, p.T("change.current_required"))
	}
	// The current password is checked first, so that a refusal of the new
	// one can keep it. It goes through the sign-in guard: AD counts a
	// wrong one, so it must never reach AD past the limits.
	wrong := func() error {
		currentRight = false
		h.Audit.Record(ctx, audit.Event{Type: audit.PasswordChanged, UserID: u.ID, Login: u.UPN, Result: "wrong_current_password"})
		return again(http.StatusUnprocessableEntity, signin.FieldCurrent, p.T("change.current_wrong"))
	}
	switch err := h.Engine.CheckCurrentPassword(r, u, typed.Current); {
	case errors.Is(err, signin.ErrWrongCurrentPassword):
		return wrong()
	case errors.Is(err, abuse.ErrThrottled):
		return again(http.StatusTooManyRequests, signin.FieldCurrent, p.T("login.throttled"))
	case err != nil:
		return err
	}
	currentRight = true
	switch {
	case typed.New == "" || len(typed.New) > maxPassword:
		return again(http.StatusUnprocessableEntity, signin.FieldNew, p.T("change.new_required"))
	case typed.New != typed.Confirm:
		return again(http.StatusUnprocessableEntity, signin.FieldConfirm, p.T("change.mismatch"))
	}
	pol := h.Engine.PolicyFor(ctx, u)
	if v := h.Engine.CheckNewPassword(pol, typed.New, u); len(v) > 0 {
		return again(http.StatusUnprocessableEntity, signin.FieldNew, signin.PolicyMessage(&p, pol, v))
	}
	err = pc.ChangePassword(ctx, u, typed.Current, typed.New)
	var pe *directory.PolicyError
	switch {
	case err == nil:
	case errors.Is(err, directory.ErrWrongPassword):
		return wrong() // changed elsewhere between the check and the change
	case errors.As(err, &pe):
		h.Audit.Record(ctx, audit.Event{Type: audit.PasswordChanged, UserID: u.ID, Login: u.UPN, Result: "policy"})
		return again(http.StatusUnprocessableEntity, signin.FieldNew, signin.PolicyMessage(&p, pol, pe.Violations))
	default:
		return err
	}
	// The user's other sessions and remembered browsers end; this one goes on.
	ended, err := h.Sessions.PasswordChanged(ctx, r, u)
	if err != nil {
		h.Log.ErrorContext(ctx, "change: ending the other sessions", "err", err)
	}
	h.Audit.Record(ctx, audit.Event{Type: audit.PasswordChanged, UserID: u.ID, Login: u.UPN, Result: "ok",
		Detail: map[string]string{"where": "self-service", "sessions_revoked": strconv.FormatInt(ended, 10)}})
	return h.renderChange(w, r, u, http.StatusOK, nil, "", signin.PasswordFields{}, "change.done")
}
