// Package account is the user's own page, /account: the sign-in methods
// they have (and removing one, which needs a recent second factor), new recovery
// codes, remembered browsers, and their recent sign-ins.
//
// It uses the sign-in engine for who is signed in and for re-authentication;
// it never checks passwords or codes itself.
package account

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/recovery"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Handler serves /account.
type Handler struct {
	Engine   *signin.Engine
	Sessions *signin.Sessions
	// Store: the user's factors and their recent events.
	Store interface {
		store.Credentials
		store.Audit
	}
	Recovery *recovery.Codes
	Renderer *web.Renderer
	CSRF     *web.CSRF
	Audit    *audit.Recorder
	Log      *slog.Logger
	Now      func() time.Time
}

// Mount registers the routes.
func (h *Handler) Mount(mux *http.ServeMux) {
	page := func(f web.ReturnHandler) http.Handler { return web.NoStore(h.CSRF.Protect(web.Handle(h.Log, f))) }
	mux.Handle("GET /account", page(h.show))
	mux.Handle("POST /account/factors/remove", page(h.remove))
	mux.Handle("POST /account/recovery", page(h.newRecovery))
	// New codes were once made by a GET of this path: an old link or
	// bookmark now only shows the page with the form.
	mux.Handle("GET /account/recovery", http.RedirectHandler("/account", http.StatusSeeOther))
	mux.Handle("POST /account/devices/forget", page(h.forgetDevices))
}

type factorRow struct {
	ID, Method, Name   string
	CreatedAt, LastUse string
}

type eventRow struct {
	Time, Type, Result, IP, App string
}

type pageData struct {
	Name     string
	Factors  []factorRow
	Events   []eventRow
	Recovery int
	// RecoveryOn offers new recovery codes (the method is enabled).
	RecoveryOn bool
	NewCodes   []string
	Remembers  bool
}

func (h *Handler) user(w http.ResponseWriter, r *http.Request, req signin.Request) (*signin.Result, error) {
	req.ResumeURL = r.URL.RequestURI()
	if r.Method != http.MethodGet {
		req.ResumeURL = "/account"
	}
	return h.Engine.Authenticate(w, r, req)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, res *signin.Result, notice string, codes []string) error {
	ctx := r.Context()
	fs, err := mfa.ListFactors(ctx, h.Store, res.User.ID)
	if err != nil {
		return err
	}
	d := pageData{Name: res.User.DisplayName, NewCodes: codes}
	for _, f := range fs {
		if f.Method == mfa.MethodRecovery {
			continue
		}
		d.Factors = append(d.Factors, factorRow{ID: f.ID, Method: f.Method, Name: f.Name, CreatedAt: fmtTime(f.CreatedAt), LastUse: fmtTime(f.LastUsedAt)})
	}
	if h.Recovery != nil {
		d.RecoveryOn = true
		if d.Recovery, err = h.Recovery.Remaining(ctx, res.User.ID); err != nil {
			return err
		}
	}
	evs, err := h.Store.QueryAudit(ctx, store.AuditQuery{UserID: res.User.ID, Limit: 20})
	if err != nil {
		return err
	}
	for _, e := range evs {
		d.Events = append(d.Events, eventRow{Time: fmtTime(e.Time), Type: e.Type, Result: e.Result, IP: e.IP, App: e.App})
	}
	creds, err := h.Store.ListCredentials(ctx, res.User.ID)
	if err != nil {
		return err
	}
	for _, c := range creds {
		d.Remembers = d.Remembers || c.Type == signin.DeviceType
	}
	p := h.Renderer.NewPage(r, "account.title", d)
	if notice != "" {
		p.Notice = p.T(notice)
	}
	return h.Renderer.Render(w, "account", http.StatusOK, p)
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request) error {
	res, err := h.user(w, r, signin.Request{App: "account"})
	if err != nil || res == nil {
		return err
	}
	if r.URL.Query().Has(signin.ResumeParam) {
		http.Redirect(w, r, "/account", http.StatusSeeOther) // drop the flow id from the address bar
		return nil
	}
	return h.render(w, r, res, "", nil)
}

// fresh returns the user when the policy lets them change their factors
// now (a second factor used within a few minutes, whenever they have one),
// otherwise starts the step-up that returns to /account.
func (h *Handler) fresh(w http.ResponseWriter, r *http.Request) (*signin.Result, error) {
	return h.user(w, r, signin.Request{App: "account", Action: policy.ActionAccountSecurity})
}

func (h *Handler) remove(w http.ResponseWriter, r *http.Request) error {
	res, err := h.fresh(w, r)
	if err != nil || res == nil {
		return err
	}
	ctx := r.Context()
	id := r.PostFormValue("id")
	c, err := h.Store.GetCredential(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.UserID != res.User.ID) {
		return web.Errorf(http.StatusNotFound, "error.method_gone", err).Then(web.NextAccount)
	}
	if err != nil {
		return err
	}
	if err := h.Store.DeleteCredential(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	ended, err := h.Sessions.FactorRemoved(ctx, r, res.User.ID)
	if err != nil {
		h.Log.ErrorContext(ctx, "ending the sessions a removed factor backed", "err", err)
	}
	h.Audit.Record(ctx, audit.Event{Type: audit.FactorRemoved, UserID: res.User.ID, Login: res.User.UPN, Result: "ok",
		Detail: map[string]string{"method": c.Type, "sessions_revoked": strconv.FormatInt(ended, 10)}})
	return h.render(w, r, res, "account.removed", nil)
}

func (h *Handler) newRecovery(w http.ResponseWriter, r *http.Request) error {
	res, err := h.fresh(w, r)
	if err != nil || res == nil {
		return err
	}
	if h.Recovery == nil {
		return web.Errorf(http.StatusNotFound, "error.recovery_disabled", nil).Then(web.NextAccount)
	}
	codes, err := h.Recovery.Generate(r.Context(), res.User.ID)
	if err != nil {
		return err
	}
	h.Audit.Record(r.Context(), audit.Event{Type: audit.FactorEnrolled, UserID: res.User.ID, Login: res.User.UPN, Result: "ok",
		Detail: map[string]string{"method": mfa.MethodRecovery}})
	return h.render(w, r, res, "account.new_codes", codes)
}

func (h *Handler) forgetDevices(w http.ResponseWriter, r *http.Request) error {
	res, err := h.user(w, r, signin.Request{App: "account"})
	if err != nil || res == nil {
		return err
	}
	if err := h.Sessions.ForgetDevices(r.Context(), res.User.ID); err != nil {
		return err
	}
	return h.render(w, r, res, "account.forgot_devices", nil)
}
