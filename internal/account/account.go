// Package account is the user's own page, /account: the sign-in methods
// they have, adding one and removing one (both need a recent second
// factor, after a confirmation for a removal), new recovery codes (after a
// confirmation), the browsers remembered for them, and their recent
// activity in plain sentences, with times in their own time zone.
//
// It uses the sign-in engine for who is signed in, for re-authentication
// and for enrolling a new method; it never checks passwords or codes
// itself.
package account

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/recovery"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/totp"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/webauthn"
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
	// Factors tells which methods a user has (the engine's factor set), to
	// say what removing the last one leaves; nil counts only the stored
	// factors.
	Factors interface {
		Enrolled(ctx context.Context, u *directory.User) ([]string, error)
	}
	Recovery *recovery.Codes
	Renderer *web.Renderer
	CSRF     *web.CSRF
	Audit    *audit.Recorder
	// TimeZone shows times while the browser has not told its own zone
	// (ui.time_zone); nil is UTC.
	TimeZone *time.Location
	// Apps lists the applications the user can open from the page (SAML
	// service providers that take IdP-initiated sign-in and that the
	// policy lets the user use); nil lists none.
	Apps func(u *directory.User) []AppLink
	Log  *slog.Logger
	Now  func() time.Time

	zones zoneCache
}

// Mount registers the routes. Every change is a POST with the CSRF token;
// a GET of a change's address shows what it would do and asks to confirm.
func (h *Handler) Mount(mux *http.ServeMux) {
	page := func(f web.ReturnHandler) http.Handler { return web.NoStore(h.CSRF.Protect(web.Handle(h.Log, f))) }
	mux.Handle("GET /account", page(h.show))
	mux.Handle("POST /account/factors/add", page(h.add))
	mux.Handle("GET /account/factors/remove", page(h.confirmRemove))
	mux.Handle("POST /account/factors/remove", page(h.remove))
	mux.Handle("GET /account/recovery", page(h.confirmRecovery))
	mux.Handle("POST /account/recovery", page(h.newRecovery))
	mux.Handle("POST /account/devices/forget", page(h.forgetDevices))
}

// factorRow is one sign-in method as the page lists it.
type factorRow struct {
	ID string
	// Label is the method's name in the reader's language; Name the
	// label the user or device gave it, only when it says more.
	Label, Name     string
	Added, LastUsed when
}

// addRow is a method the user may add.
type addRow struct{ Method, Label string }

// browserRow is one remembered browser.
type browserRow struct {
	ID, Label, IP        string
	Current              bool
	Remembered, LastUsed when
}

// eventRow is one line of the recent activity.
type eventRow struct {
	When          when
	What, App, IP string
}

type pageData struct {
	Name    string
	Apps    []AppLink
	Factors []factorRow
	// Strong: the user has a passkey or an authenticator app.
	Strong bool
	Add    []addRow
	// RecoveryOn offers recovery codes (the method is enabled); Recovery
	// is how many are left.
	RecoveryOn bool
	Recovery   int
	NewCodes   []string
	// Remembers: "remember this browser" is on, or a browser still is.
	Remembers bool
	Browsers  []browserRow
	Events    []eventRow
	// Zone names the time zone the times are in.
	Zone string
}

// AppLink is one application tile on /account: its name and the address
// that signs the user in to it.
type AppLink struct {
	Name string
	URL  string
}

// confirmData is a confirmation page: what will happen, and the form that
// does it.
type confirmData struct {
	Lines   []string
	Warning string
	Action  string
	ID      string
	Button  string
}

// user returns the signed-in user, or starts the sign-in (or step-up) for
// req that comes back to resume: the address of this GET, or for a POST
// the page the form was on.
func (h *Handler) user(w http.ResponseWriter, r *http.Request, req signin.Request, resume string) (*signin.Result, error) {
	req.ResumeURL = resume
	if r.Method == http.MethodGet {
		req.ResumeURL = r.URL.RequestURI()
	}
	if req.ResumeURL == "" {
		req.ResumeURL = "/account"
	}
	return h.Engine.Authenticate(w, r, req)
}

// fresh returns the user when the policy lets them change their factors
// now (a second factor used within a few minutes, whenever they have one),
// otherwise starts the step-up that comes back to resume (see user).
func (h *Handler) fresh(w http.ResponseWriter, r *http.Request, resume string) (*signin.Result, error) {
	return h.user(w, r, signin.Request{App: "account", Action: policy.ActionAccountSecurity}, resume)
}

// addRequest is the engine's request for adding method: the account's
// step-up, then the enrolment, back to /account.
func addRequest(method string) signin.Request {
	return signin.Request{App: "account", Action: policy.ActionAccountSecurity, AddFactor: method,
		ResumeURL: "/account?added=" + url.QueryEscape(method)}
}

// displayName is how the page names the user: the directory's display
// name, else the name they sign in with.
func displayName(u directory.User) string {
	for _, n := range []string{u.DisplayName, u.UPN, u.SAMAccountName, u.Mail} {
		if strings.TrimSpace(n) != "" {
			return n
		}
	}
	return u.ID
}

// clockFor formats times for p: in the browser's zone when it said one,
// else the configured one.
func (h *Handler) clockFor(r *http.Request, p *web.Page) clock {
	loc := h.TimeZone
	if l, ok := h.zones.browserZone(r); ok {
		loc = l
	}
	if loc == nil {
		loc = time.UTC
	}
	return clock{p: p, loc: loc, now: h.Now()}
}

// factorName is the label a factor was given when it says more than the
// method's own name: not empty, not the English label older versions
// stored for every unnamed one.
func factorName(p *web.Page, method, name string) string {
	n := strings.TrimSpace(name)
	if n == "" || strings.EqualFold(n, totp.DefaultName) || strings.EqualFold(n, webauthn.DefaultName) ||
		strings.EqualFold(n, methodLabel(p, method)) {
		return ""
	}
	return n
}

// strongMethod reports whether a stored credential is a sign-in method the
// page lists (and a strong second factor).
func strongMethod(typ string) bool { return typ == mfa.MethodTOTP || typ == mfa.MethodWebAuthn }

// render shows the account page; note, when set, gives the notice.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, res *signin.Result, note func(p *web.Page) string, codes []string) error {
	ctx := r.Context()
	d := &pageData{Name: displayName(res.User), NewCodes: codes}
	if h.Apps != nil {
		d.Apps = h.Apps(&res.User)
	}
	p := h.Renderer.NewPage(r, "account.title", d)
	c := h.clockFor(r, &p)
	d.Zone = c.loc.String()
	creds, err := h.Store.ListCredentials(ctx, res.User.ID)
	if err != nil {
		return err
	}
	for _, cr := range creds {
		if !strongMethod(cr.Type) {
			continue
		}
		d.Strong = true
		d.Factors = append(d.Factors, factorRow{ID: cr.ID, Label: methodLabel(&p, cr.Type), Name: factorName(&p, cr.Type, cr.Name),
			Added: c.format(cr.CreatedAt), LastUsed: c.format(cr.LastUsedAt)})
	}
	for _, m := range h.Engine.Enrollable() {
		switch m {
		case mfa.MethodWebAuthn:
			d.Add = append(d.Add, addRow{Method: m, Label: p.T("account.add_webauthn")})
		case mfa.MethodTOTP:
			d.Add = append(d.Add, addRow{Method: m, Label: p.T("account.add_totp")})
		}
	}
	if h.Recovery != nil {
		d.RecoveryOn = true
		if d.Recovery, err = h.Recovery.Remaining(ctx, res.User.ID); err != nil {
			return err
		}
	}
	browsers, err := h.Sessions.RememberedBrowsers(ctx, r, res.User.ID)
	if err != nil {
		return err
	}
	d.Remembers = h.Sessions.RemembersBrowsers() || len(browsers) > 0
	for _, b := range browsers {
		d.Browsers = append(d.Browsers, browserRow{ID: b.ID, Label: browserLabel(&p, b.UserAgent), IP: b.IP, Current: b.Current,
			Remembered: c.format(b.CreatedAt), LastUsed: c.format(b.LastUsedAt)})
	}
	evs, err := h.Store.QueryAudit(ctx, store.AuditQuery{UserID: res.User.ID, Limit: 20})
	if err != nil {
		return err
	}
	for _, e := range evs {
		what, namesApp := describe(&p, e)
		row := eventRow{When: c.format(e.Time), What: what, IP: e.IP}
		if !namesApp && !internalApps[e.App] {
			row.App = e.App
		}
		d.Events = append(d.Events, row)
	}
	if note != nil {
		p.Notice = note(&p)
	}
	return h.Renderer.Render(w, "account", http.StatusOK, p)
}

// browserLabel names a remembered browser in words: "Firefox on Windows".
func browserLabel(p *web.Page, ua string) string {
	b, s := userAgent(ua)
	switch {
	case b != "" && s != "":
		return p.T("account.browser_on", "browser", b, "system", s)
	case b != "":
		return b
	case s != "":
		return p.T("account.browser_on", "browser", p.T("account.browser_unknown"), "system", s)
	}
	return p.T("account.browser_unknown")
}

// notice returns a note of the message key, which takes no arguments.
func notice(key string) func(p *web.Page) string {
	return func(p *web.Page) string { return p.T(key) }
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if method := q.Get("added"); method != "" && q.Has(signin.ResumeParam) {
		// Back from adding a method: the finished flow, and only it,
		// says it was added.
		res, err := h.Engine.Finished(r, addRequest(method))
		if err != nil {
			return err
		}
		if res != nil {
			return h.render(w, r, res, func(p *web.Page) string {
				return p.T("account.method_added", "method", methodLabel(p, method))
			}, nil)
		}
	}
	res, err := h.user(w, r, signin.Request{App: "account"}, "")
	if err != nil || res == nil {
		return err
	}
	if q.Has(signin.ResumeParam) || q.Has("added") {
		http.Redirect(w, r, "/account", http.StatusSeeOther) // drop the flow id from the address bar
		return nil
	}
	return h.render(w, r, res, nil, nil)
}

// add starts adding a sign-in method: the engine asks for a recent second
// factor (or the password, for a user with none) and then shows the
// enrolment, and comes back to /account.
func (h *Handler) add(w http.ResponseWriter, r *http.Request) error {
	method := r.PostFormValue("method")
	if !slices.Contains(h.Engine.Enrollable(), method) {
		return web.Errorf(http.StatusBadRequest, "error.method_not_addable", nil).Then(web.NextAccount)
	}
	res, err := h.Engine.Authenticate(w, r, addRequest(method))
	if err != nil || res == nil {
		return err
	}
	// A live session never answers an AddFactor request; in case it did,
	// nothing was added.
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}

// ownFactor is the user's sign-in method id, or the page saying it is
// gone.
func (h *Handler) ownFactor(ctx context.Context, res *signin.Result, id string) (store.Credential, error) {
	if id == "" || len(id) > 128 {
		return store.Credential{}, web.Errorf(http.StatusNotFound, "error.method_gone", nil).Then(web.NextAccount)
	}
	c, err := h.Store.GetCredential(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (c.UserID != res.User.ID || !strongMethod(c.Type))) {
		return c, web.Errorf(http.StatusNotFound, "error.method_gone", err).Then(web.NextAccount)
	}
	return c, err
}

// removeAddress is the confirmation page of removing factor id.
func removeAddress(id string) string { return "/account/factors/remove?id=" + url.QueryEscape(id) }

// confirmRemove asks before removing a method, after the step-up the
// removal needs (so the confirmation acts at once), and says what follows:
// the other sessions end, and — for the last method — how the user signs
// in from then on.
func (h *Handler) confirmRemove(w http.ResponseWriter, r *http.Request) error {
	res, err := h.fresh(w, r, "")
	if err != nil || res == nil {
		return err
	}
	ctx := r.Context()
	c, err := h.ownFactor(ctx, res, r.URL.Query().Get("id"))
	if err != nil {
		return err
	}
	d := &confirmData{Action: "/account/factors/remove", ID: c.ID}
	p := h.Renderer.NewPage(r, "account.remove_title", d)
	label := methodLabel(&p, c.Type)
	if n := factorName(&p, c.Type, c.Name); n != "" {
		label += " (" + n + ")"
	}
	d.Lines = append(d.Lines, p.T("account.remove_question", "method", label, "date", h.clockFor(r, &p).date(c.CreatedAt)),
		p.T("account.remove_effect"))
	if d.Warning, err = h.lastFactorWarning(ctx, &p, res, c); err != nil {
		return err
	}
	d.Button = p.T("account.remove_confirm")
	return h.Renderer.Render(w, "account_confirm", http.StatusOK, p)
}

// lastFactorWarning says, when c is the user's last passkey or
// authenticator app, how they will sign in once it is gone, as the policy
// decides it for a sign-in to Gatehouse; "" when another one is left.
func (h *Handler) lastFactorWarning(ctx context.Context, p *web.Page, res *signin.Result, c store.Credential) (string, error) {
	creds, err := h.Store.ListCredentials(ctx, res.User.ID)
	if err != nil {
		return "", err
	}
	if slices.ContainsFunc(creds, func(o store.Credential) bool { return o.ID != c.ID && strongMethod(o.Type) }) {
		return "", nil
	}
	var left []string
	if h.Factors != nil {
		if left, err = h.Factors.Enrolled(ctx, &res.User); err != nil {
			return "", err
		}
	}
	left = slices.DeleteFunc(slices.Clone(left), strongMethod)
	if left == nil {
		left = []string{}
	}
	u := res.User
	d := h.Engine.Decide(policy.Input{User: &u, Enrolled: left, Proof: policy.Proof{PasswordAt: h.Now()}})
	switch {
	case d.Enrol:
		return p.T("account.remove_last_enrol"), nil
	case d.MFA && slices.Contains(d.Methods, mfa.MethodRecovery):
		n := 0
		if h.Recovery != nil {
			if n, err = h.Recovery.Remaining(ctx, res.User.ID); err != nil {
				return "", err
			}
		}
		return p.T("account.remove_last_recovery", "count", n), nil
	case d.MFA:
		return p.T("account.remove_last_email"), nil
	}
	return p.T("account.remove_last_password"), nil
}

func (h *Handler) remove(w http.ResponseWriter, r *http.Request) error {
	id := r.PostFormValue("id")
	res, err := h.fresh(w, r, removeAddress(id))
	if err != nil || res == nil {
		return err
	}
	ctx := r.Context()
	c, err := h.ownFactor(ctx, res, id)
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
	return h.render(w, r, res, notice("account.removed"), nil)
}

// freshForRecovery is fresh for the recovery-code pages, which are not
// there when recovery codes are off.
func (h *Handler) freshForRecovery(w http.ResponseWriter, r *http.Request, resume string) (*signin.Result, error) {
	res, err := h.fresh(w, r, resume)
	if err != nil || res == nil {
		return res, err
	}
	if h.Recovery == nil {
		return nil, web.Errorf(http.StatusNotFound, "error.recovery_disabled", nil).Then(web.NextAccount)
	}
	return res, nil
}

// confirmRecovery asks before making new recovery codes, after the
// step-up they need: the ones left stop working.
func (h *Handler) confirmRecovery(w http.ResponseWriter, r *http.Request) error {
	res, err := h.freshForRecovery(w, r, "")
	if err != nil || res == nil {
		return err
	}
	left, err := h.Recovery.Remaining(r.Context(), res.User.ID)
	if err != nil {
		return err
	}
	d := &confirmData{Action: "/account/recovery"}
	p := h.Renderer.NewPage(r, "account.recovery_title", d)
	d.Lines = []string{p.T("account.recovery_what")}
	if left > 0 {
		d.Warning = p.T("account.recovery_replace", "count", left)
	}
	d.Button = p.T("account.recovery_confirm")
	return h.Renderer.Render(w, "account_confirm", http.StatusOK, p)
}

func (h *Handler) newRecovery(w http.ResponseWriter, r *http.Request) error {
	res, err := h.freshForRecovery(w, r, "/account/recovery")
	if err != nil || res == nil {
		return err
	}
	codes, err := h.Recovery.Generate(r.Context(), res.User.ID)
	if err != nil {
		return err
	}
	h.Audit.Record(r.Context(), audit.Event{Type: audit.FactorEnrolled, UserID: res.User.ID, Login: res.User.UPN, Result: "ok",
		Detail: map[string]string{"method": mfa.MethodRecovery}})
	return h.render(w, r, res, notice("account.new_codes"), codes)
}

// forgetDevices forgets one remembered browser (the form's id) or all of
// them. It needs no step-up: it only ever asks for more.
func (h *Handler) forgetDevices(w http.ResponseWriter, r *http.Request) error {
	res, err := h.user(w, r, signin.Request{App: "account"}, "")
	if err != nil || res == nil {
		return err
	}
	ctx := r.Context()
	if id := r.PostFormValue("id"); id != "" {
		err := h.Sessions.ForgetBrowser(ctx, res.User.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			return web.Errorf(http.StatusNotFound, "error.browser_gone", err).Then(web.NextAccount)
		}
		if err != nil {
			return err
		}
		h.Audit.Record(ctx, audit.Event{Type: audit.DeviceForgotten, UserID: res.User.ID, Login: res.User.UPN, Result: "ok",
			Detail: map[string]string{"browsers": "one"}})
		return h.render(w, r, res, notice("account.forgot_device"), nil)
	}
	if err := h.Sessions.ForgetDevices(ctx, res.User.ID); err != nil {
		return err
	}
	h.Audit.Record(ctx, audit.Event{Type: audit.DeviceForgotten, UserID: res.User.ID, Login: res.User.UPN, Result: "ok",
		Detail: map[string]string{"browsers": "all"}})
	return h.render(w, r, res, notice("account.forgot_devices"), nil)
}
