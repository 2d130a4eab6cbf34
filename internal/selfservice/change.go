package selfservice

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Handler serves the self-service pages.
type Handler struct {
	Engine    *signin.Engine
	Directory directory.Directory
	Sessions  *signin.Sessions
	// Throttle counts wrong current passwords.
	Throttle store.Throttle
	Renderer *web.Renderer
	CSRF     *web.CSRF
	Audit    *audit.Recorder
	Log      *slog.Logger
	Now      func() time.Time
}

// Limits on wrong current passwords when changing (per user), kept below
// any sensible AD lockout threshold.
const (
	changeFailures = 5
	changeWindow   = 15 * time.Minute
	maxPassword    = 1024
)

// Mount registers the routes.
func (h *Handler) Mount(mux *http.ServeMux) {
	page := func(f web.ReturnHandler) http.Handler { return web.NoStore(h.CSRF.Protect(web.Handle(h.Log, f))) }
	mux.Handle("GET /password/change", page(h.getChange))
	mux.Handle("POST /password/change", page(h.postChange))
}

type changePage struct {
	NewPassword signin.NewPasswordForm
	Done        bool
}

func (h *Handler) renderChange(w http.ResponseWriter, r *http.Request, u *directory.User, status int, errs map[string]string, notice string) error {
	d := &changePage{}
	p := h.Renderer.NewPage(r, "change.title", d)
	d.NewPassword = h.Engine.NewPasswordForm(h.Engine.PolicyFor(r.Context(), u), u, &p, false)
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
	return h.renderChange(w, r, &res.User, http.StatusOK, nil, "")
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
		return web.Errorf(http.StatusNotImplemented, "This directory cannot change passwords. Contact your helpdesk.", nil)
	}
	current, newPW, confirm := r.PostFormValue("current_password"), r.PostFormValue("new_password"), r.PostFormValue("confirm_password")
	p := h.Renderer.NewPage(r, "change.title", nil)
	again := func(status int, field, msg string) error {
		return h.renderChange(w, r, u, status, map[string]string{field: msg}, "")
	}
	switch {
	case current == "" || len(current) > maxPassword:
		return again(http.StatusUnprocessableEntity, "current_password", p.T("change.current_required"))
	case newPW == "" || len(newPW) > maxPassword:
		return again(http.StatusUnprocessableEntity, "new_password", p.T("change.new_required"))
	case newPW != confirm:
		return again(http.StatusUnprocessableEntity, "confirm_password", p.T("change.mismatch"))
	}
	key := "pwchange:" + u.ID
	if c, err := h.Throttle.GetCounter(ctx, key, h.Now()); err != nil {
		return err
	} else if c.Count >= changeFailures {
		return again(http.StatusTooManyRequests, "current_password", p.T("login.throttled"))
	}
	pol := h.Engine.PolicyFor(ctx, u)
	if v := h.Engine.CheckNewPassword(pol, newPW, u); len(v) > 0 {
		return again(http.StatusUnprocessableEntity, "new_password", signin.PolicyMessage(&p, pol, v))
	}
	err = pc.ChangePassword(ctx, u, current, newPW)
	var pe *directory.PolicyError
	switch {
	case err == nil:
	case errors.Is(err, directory.ErrWrongPassword):
		if _, cerr := h.Throttle.IncrementCounter(ctx, key, h.Now(), changeWindow); cerr != nil {
			h.Log.ErrorContext(ctx, "throttle counter", "err", cerr)
		}
		h.Audit.Record(ctx, audit.Event{Type: audit.PasswordChanged, UserID: u.ID, Login: u.UPN, Result: "wrong_current_password"})
		return again(http.StatusUnprocessableEntity, "current_password", p.T("change.current_wrong"))
	case errors.As(err, &pe):
		h.Audit.Record(ctx, audit.Event{Type: audit.PasswordChanged, UserID: u.ID, Login: u.UPN, Result: "policy"})
		return again(http.StatusUnprocessableEntity, "new_password", signin.PolicyMessage(&p, pol, pe.Violations))
	default:
		return err
	}
	_ = h.Throttle.ResetCounter(ctx, key)
	// The user's other sessions and remembered browsers end; this one goes on.
	ended, err := h.Sessions.PasswordChanged(ctx, r, u)
	if err != nil {
		h.Log.ErrorContext(ctx, "change: ending the other sessions", "err", err)
	}
	h.Audit.Record(ctx, audit.Event{Type: audit.PasswordChanged, UserID: u.ID, Login: u.UPN, Result: "ok",
		Detail: map[string]string{"where": "self-service", "sessions_revoked": strconv.FormatInt(ended, 10)}})
	return h.renderChange(w, r, u, http.StatusOK, nil, "change.done")
}
