package selfservice

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/emailcode"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Reset runs the forgotten-password flow: identify → verify with the
// user's own factors → new password → administrative reset in the
// directory (with policy hints) → sessions and remembered browsers revoked
// → notice mailed → audited.
//
// An unknown account walks through exactly the same pages: the email step
// shows a decoy masked address derived from what was typed, and takes about
// as long as a real send; every code then fails like a wrong one.
type Reset struct {
	*Handler
	Factors  *signin.FactorSet
	Notifier *notify.Notifier
	// Key derives decoy addresses; from the encryption key.
	Key []byte
	// Require is what must be verified (config self_service.require):
	// "one_strong_or_two_weak" (also ""), "strong" or "two".
	Require string
	// EmailFallback lets a user with no enrolled factor reset with an email
	// code alone (self_service.fallback: email); otherwise such a user is
	// told, once the code proved the mailbox, to contact Support.
	EmailFallback bool
	// Support is whom to contact (config ui.support); "" means the
	// generic wording.
	Support string
	// Unlock makes this the unlock flow at /account/unlock: after the user
	// is verified, the lockout is cleared and the password stays.
	Unlock bool

	mu      sync.Mutex
	sendAvg time.Duration
}

// Limits per client address on starting resets.
const (
	resetStarts = 20
	resetWindow = 15 * time.Minute
	resetTTL    = 15 * time.Minute
)

// Steps of a reset flow.
const (
	resetVerify   = "verify"
	resetPassword = "new_password"
)

type resetState struct {
	Binding   string              `json:"binding"`
	Login     string              `json:"login"`
	UserID    string              `json:"user_id,omitempty"` // empty for an unknown account
	User      *directory.User     `json:"user,omitempty"`
	Verified  []string            `json:"verified,omitempty"`
	Challenge emailcode.Challenge `json:"challenge,omitzero"`
	Decoy     string              `json:"decoy,omitempty"`
}

// Mount registers the routes.
func (rs *Reset) Mount(mux *http.ServeMux) {
	page := func(f web.ReturnHandler) http.Handler { return web.NoStore(rs.CSRF.Protect(web.Handle(rs.Log, f))) }
	mux.Handle("GET "+rs.path(), page(rs.get))
	mux.Handle("POST "+rs.path(), page(rs.post))
}

func (rs *Reset) path() string {
	if rs.Unlock {
		return "/account/unlock"
	}
	return "/password/reset"
}

func (rs *Reset) kind() string {
	if rs.Unlock {
		return "unlock"
	}
	return "reset"
}

func (rs *Reset) event() string {
	if rs.Unlock {
		return audit.AccountUnlocked
	}
	return audit.PasswordReset
}

func (rs *Reset) bindCookie(r *http.Request) string {
	name := "gh_" + rs.kind()
	if r.TLS != nil || strings.HasPrefix(rs.Engine.Issuer(), "https://") {
		return "__Host-" + name
	}
	return name
}

func hashBind(v string) string {
	s := sha256.Sum256([]byte("gh-reset\x00" + v))
	return hex.EncodeToString(s[:])
}

// enough reports whether the verified methods satisfy Require (by default
// one strong factor or two different weaker ones), or the email fallback
// for a user with nothing enrolled.
func (rs *Reset) enough(verified, enrolled []string) bool {
	strong := slices.ContainsFunc(verified, func(m string) bool { return m == mfa.MethodTOTP || m == mfa.MethodWebAuthn })
	switch {
	case rs.Require == "strong" && strong, rs.Require == "two" && len(verified) >= 2:
		return true
	case (rs.Require == "" || rs.Require == "one_strong_or_two_weak") && (strong || len(verified) >= 2):
		return true
	}
	return rs.EmailFallback && !hasOwnFactor(enrolled) && slices.Contains(verified, mfa.MethodEmail)
}

// hasOwnFactor reports whether the user enrolled anything beyond the
// directory's mail.
func hasOwnFactor(enrolled []string) bool {
	return slices.ContainsFunc(enrolled, func(m string) bool { return m != mfa.MethodEmail })
}

// codeAddress is where reset and unlock codes go: the alternate address
// when the user has one (a mailbox not behind the password), else mail.
func codeAddress(u *directory.User) string {
	if u.AlternateMail != "" {
		return u.AlternateMail
	}
	return u.Mail
}

// noticeAddress is where the notice of a reset or unlock goes: the mailbox
// the user reads every day, else the alternate one.
func noticeAddress(u *directory.User) string {
	if u.Mail != "" {
		return u.Mail
	}
	return u.AlternateMail
}

type resetPage struct {
	FlowID      string
	Step        string
	Methods     []string
	Destination string
	Verified    []string
	NewPassword signin.NewPasswordForm
	Done        bool
	Unlock      bool
	Path        string
}

func (rs *Reset) render(w http.ResponseWriter, r *http.Request, status int, d *resetPage, errs map[string]string, notice string) error {
	d.Unlock, d.Path = rs.Unlock, rs.path()
	title := "reset.title"
	if rs.Unlock {
		title = "unlock.title"
	}
	p := rs.Renderer.NewPage(r, title, d)
	for k, v := range errs {
		p.Errors[k] = v
	}
	if notice != "" {
		p.Notice = p.T(notice, d.Destination)
	}
	if d.Step == resetPassword && !d.Done {
		var u *directory.User
		if st, err := rs.loadState(r, d.FlowID); err == nil {
			u = st.User
		}
		d.NewPassword = rs.Engine.NewPasswordForm(rs.Engine.ResetPolicyFor(r.Context(), u), u, &p, true)
	}
	return rs.Renderer.Render(w, "password_reset", status, p)
}

// methods are the ways to verify, the same list for every account.
func (rs *Reset) methods() []string {
	var out []string
	for _, m := range rs.Factors.Methods {
		switch {
		case m == mfa.MethodTOTP && rs.Factors.TOTP != nil, m == mfa.MethodRecovery && rs.Factors.Recovery != nil,
			m == mfa.MethodEmail && rs.Factors.Email != nil:
			out = append(out, m)
		}
	}
	return out
}

func (rs *Reset) get(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("flow")
	if id == "" {
		return rs.render(w, r, http.StatusOK, &resetPage{Step: "identify"}, nil, "")
	}
	f, st, err := rs.load(r, id)
	if err != nil {
		return rs.render(w, r, http.StatusOK, &resetPage{Step: "identify"}, map[string]string{"": rs.Renderer.Catalog().T(rs.Renderer.Catalog().Language(r), "login.expired_flow")}, "")
	}
	return rs.render(w, r, http.StatusOK, &resetPage{FlowID: f.ID, Step: f.Step, Methods: rs.methods(), Verified: st.Verified, Destination: rs.destination(st)}, nil, "")
}

func (rs *Reset) destination(st resetState) string {
	if st.Challenge.Destination != "" {
		return st.Challenge.Destination
	}
	return st.Decoy
}

func (rs *Reset) loadState(r *http.Request, id string) (resetState, error) {
	_, st, err := rs.load(r, id)
	return st, err
}

func (rs *Reset) load(r *http.Request, id string) (store.Flow, resetState, error) {
	var st resetState
	if id == "" || len(id) > 64 {
		return store.Flow{}, st, errGone
	}
	f, err := rs.Store.GetFlow(r.Context(), id, rs.Now())
	if err != nil || f.Kind != rs.kind() {
		return f, st, errGone
	}
	if err := json.Unmarshal(f.Data, &st); err != nil {
		return f, st, err
	}
	c, err := r.Cookie(rs.bindCookie(r))
	if err != nil || hashBind(c.Value) != st.Binding {
		return f, st, errGone
	}
	return f, st, nil
}

var errGone = errors.New("selfservice: flow missing, expired or not this browser's")

func (rs *Reset) save(ctx context.Context, f store.Flow, step string, st resetState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = rs.Store.UpdateFlow(ctx, f.ID, func(old store.Flow) (store.Flow, error) {
		if old.Step != f.Step {
			return old, errGone
		}
		old.Step, old.Data = step, data
		if step == resetPassword {
			old.UserID = st.UserID // verified
		}
		return old, nil
	})
	return err
}

func (rs *Reset) post(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("flow")
	if id == "" {
		return rs.identify(w, r)
	}
	f, st, err := rs.load(r, id)
	if err != nil {
		http.Redirect(w, r, rs.path()+"?flow="+url.QueryEscape(id), http.StatusSeeOther)
		return nil
	}
	switch f.Step {
	case resetVerify:
		return rs.verify(w, r, f, st)
	case resetPassword:
		return rs.setPassword(w, r, f, st)
	}
	return web.Errorf(http.StatusBadRequest, "This reset cannot continue. Start again.", nil)
}

func (rs *Reset) identify(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	login := strings.TrimSpace(r.PostFormValue("login"))
	lang := rs.Renderer.Catalog().Language(r)
	if login == "" || len(login) > 256 {
		return rs.render(w, r, http.StatusUnprocessableEntity, &resetPage{Step: "identify"},
			map[string]string{"login": rs.Renderer.Catalog().T(lang, "login.required")}, "")
	}
	c, err := rs.Store.IncrementCounter(ctx, rs.kind()+":ip:"+observe.ClientIP(ctx), rs.Now(), resetWindow)
	if err != nil {
		return err
	}
	if c.Count > resetStarts {
		return rs.render(w, r, http.StatusTooManyRequests, &resetPage{Step: "identify"},
			map[string]string{"": rs.Renderer.Catalog().T(lang, "login.throttled")}, "")
	}
	st := resetState{Login: login, Decoy: rs.decoy(login)}
	u, err := rs.Directory.LookupUser(ctx, login)
	switch {
	case err == nil:
		st.UserID, st.User = u.ID, u
	case errors.Is(err, directory.ErrUserNotFound):
	default:
		return err
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	bind := base64.RawURLEncoding.EncodeToString(b)
	st.Binding = hashBind(bind)
	data, _ := json.Marshal(st)
	now := rs.Now()
	// The flow names no user until the user has proved the account (save,
	// at the step after verify): a store that evicts flows without a user
	// first must treat a known and an unknown account's reset alike.
	f := store.Flow{ID: newFlowID(), Kind: rs.kind(), Step: resetVerify, Data: data, CreatedAt: now, ExpiresAt: now.Add(resetTTL)}
	if err := rs.Store.CreateFlow(ctx, f); err != nil {
		return signin.CreateFlowError(err)
	}
	http.SetCookie(w, &http.Cookie{Name: rs.bindCookie(r), Value: bind, Path: rs.path(), HttpOnly: true, // #nosec G124 -- Secure off only for plain-HTTP localhost.
		Secure: strings.HasPrefix(rs.Engine.Issuer(), "https://"), SameSite: http.SameSiteLaxMode, MaxAge: int(resetTTL.Seconds())})
	rs.Audit.Record(ctx, audit.Event{Type: rs.event(), UserID: st.UserID, Login: login, Result: "started"})
	http.Redirect(w, r, rs.path()+"?flow="+f.ID, http.StatusSeeOther)
	return nil
}

func newFlowID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decoy is a stable, plausible masked address for an unknown login.
func (rs *Reset) decoy(login string) string {
	m := hmac.New(sha256.New, rs.Key)
	m.Write([]byte(strings.ToLower(login)))
	s := m.Sum(nil)
	const letters = "abcdefghijklmnoprstw"
	local, domain := letters[int(s[0])%len(letters)], letters[int(s[1])%len(letters)]
	if strings.Contains(login, "@") {
		_, d, _ := strings.Cut(login, "@")
		return notify.MaskAddress(string(local) + "x@" + d)
	}
	return notify.MaskAddress(string(local) + "x@" + string(domain) + "x.com")
}

func (rs *Reset) verify(w http.ResponseWriter, r *http.Request, f store.Flow, st resetState) error {
	ctx := r.Context()
	method := r.PostFormValue("method")
	d := &resetPage{FlowID: f.ID, Step: f.Step, Methods: rs.methods(), Verified: st.Verified}
	lang := rs.Renderer.Catalog().Language(r)
	if !slices.Contains(d.Methods, method) {
		return rs.render(w, r, http.StatusBadRequest, d, nil, "")
	}
	if method == mfa.MethodEmail && r.PostFormValue("send") == "1" {
		return rs.sendEmail(w, r, f, st, d)
	}
	code := r.PostFormValue("code")
	var err error
	user := st.UserID
	if user == "" {
		user = "unknown:" + hex.EncodeToString([]byte(st.Login)) // still throttled, never matches
	}
	switch method {
	case mfa.MethodTOTP:
		err = rs.Factors.TOTP.Verify(ctx, user, code)
	case mfa.MethodRecovery:
		_, err = rs.Factors.Recovery.Verify(ctx, user, code)
	case mfa.MethodEmail:
		if st.Challenge.ID == "" {
			err = mfa.Invalid(method, mfa.ReasonMismatch)
		} else {
			err = rs.Factors.Email.Verify(ctx, user, st.Challenge, code)
		}
	}
	d.Destination = rs.destination(st)
	if err != nil {
		key := "mfa.invalid"
		status := http.StatusUnauthorized
		if errors.Is(err, mfa.ErrThrottled) {
			key, status = "mfa.throttled", http.StatusTooManyRequests
		} else if !errors.Is(err, mfa.ErrInvalidCode) && !errors.Is(err, mfa.ErrNotEnrolled) {
			return err
		}
		rs.Audit.Record(ctx, audit.Event{Type: rs.event(), UserID: st.UserID, Login: st.Login, Result: "verify_failed",
			Detail: map[string]string{"method": method, "reason": mfa.Reason(err)}})
		return rs.render(w, r, status, d, map[string]string{"code_" + method: rs.Renderer.Catalog().T(lang, key)}, "")
	}
	if !slices.Contains(st.Verified, method) {
		st.Verified = append(st.Verified, method)
	}
	enrolled, err := rs.Factors.Enrolled(ctx, st.User)
	if err != nil {
		return err
	}
	next := resetVerify
	switch {
	case rs.enough(st.Verified, enrolled):
		if rs.Unlock {
			return rs.unlock(w, r, f, st)
		}
		next = resetPassword
	case !rs.EmailFallback && !hasOwnFactor(enrolled):
		// The code proved the mailbox, but this user has nothing else to
		// verify with and email alone is not allowed here.
		rs.Audit.Record(ctx, audit.Event{Type: rs.event(), UserID: st.UserID, Login: st.Login, Result: "no_factor"})
		if err := rs.Store.DeleteFlow(ctx, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		d.Step, d.Done = "", true
		support := rs.Support
		if support == "" {
			support = rs.Renderer.Catalog().T(lang, "reset.helpdesk_generic")
		}
		return rs.render(w, r, http.StatusOK, d, map[string]string{"": rs.Renderer.Catalog().T(lang, "reset.no_factor", support)}, "")
	}
	if err := rs.save(ctx, f, next, st); err != nil {
		return err
	}
	http.Redirect(w, r, rs.path()+"?flow="+f.ID, http.StatusSeeOther)
	return nil
}

// sendEmail mails a code to a known user's directory mail; for an unknown
// account it waits about as long and shows the decoy.
func (rs *Reset) sendEmail(w http.ResponseWriter, r *http.Request, f store.Flow, st resetState, d *resetPage) error {
	ctx := r.Context()
	start := time.Now()
	if st.User != nil && codeAddress(st.User) != "" {
		purpose := notify.PurposeReset
		if rs.Unlock {
			purpose = notify.PurposeUnlock
		}
		ch, err := rs.Factors.Email.Send(ctx, emailcode.Recipient{UserID: st.UserID, Address: codeAddress(st.User), Name: st.User.DisplayName,
			Lang: rs.Renderer.Catalog().Language(r)}, purpose)
		switch {
		case err == nil:
			st.Challenge = ch
			rs.mu.Lock()
			rs.sendAvg = (rs.sendAvg*4 + time.Since(start)) / 5
			rs.mu.Unlock()
		case errors.Is(err, mfa.ErrThrottled):
		default:
			rs.Log.ErrorContext(ctx, "reset: sending the email code", "user", st.UserID, "err", err)
		}
	} else {
		rs.mu.Lock()
		wait := rs.sendAvg + time.Duration(mrand.Int64N(int64(20*time.Millisecond))) // #nosec G404 -- jitter.
		rs.mu.Unlock()
		select {
		case <-time.After(wait - time.Since(start)):
		case <-ctx.Done():
		}
	}
	if err := rs.save(ctx, f, resetVerify, st); err != nil {
		return err
	}
	d.Destination = rs.destination(st)
	return rs.render(w, r, http.StatusOK, d, nil, "reset.email_sent")
}

func (rs *Reset) setPassword(w http.ResponseWriter, r *http.Request, f store.Flow, st resetState) error {
	ctx := r.Context()
	lang := rs.Renderer.Catalog().Language(r)
	t := func(k string) string { return rs.Renderer.Catalog().T(lang, k) }
	d := &resetPage{FlowID: f.ID, Step: f.Step}
	if st.User == nil { // cannot happen: unknown accounts never get past verify
		return web.Errorf(http.StatusBadRequest, "This reset cannot continue. Start again.", nil)
	}
	newPW, confirm := r.PostFormValue("new_password"), r.PostFormValue("confirm_password")
	switch {
	case newPW == "" || len(newPW) > maxPassword:
		return rs.render(w, r, http.StatusUnprocessableEntity, d, map[string]string{"new_password": t("change.new_required")}, "")
	case newPW != confirm:
		return rs.render(w, r, http.StatusUnprocessableEntity, d, map[string]string{"confirm_password": t("change.mismatch")}, "")
	}
	pr, ok := rs.Directory.(directory.PasswordResetter)
	if !ok {
		return web.Errorf(http.StatusNotImplemented, "This directory cannot reset passwords. Contact your helpdesk.", nil)
	}
	pol := rs.Engine.ResetPolicyFor(ctx, st.User)
	p := rs.Renderer.NewPage(r, "reset.title", nil)
	if v := rs.Engine.CheckNewPassword(pol, newPW, st.User); len(v) > 0 {
		return rs.render(w, r, http.StatusUnprocessableEntity, d, map[string]string{"new_password": signin.PolicyMessage(&p, pol, v)}, "")
	}
	if err := pr.ResetPassword(ctx, st.User, newPW); err != nil {
		var pe *directory.PolicyError
		if errors.As(err, &pe) {
			return rs.render(w, r, http.StatusUnprocessableEntity, d, map[string]string{"new_password": signin.PolicyMessage(&p, pol, pe.Violations)}, "")
		}
		return err
	}
	// Only now the flow ends: a replayed form cannot reset again.
	if err := rs.Store.DeleteFlow(ctx, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	n, err := rs.Store.DeleteUserSessions(ctx, st.UserID)
	if err != nil {
		rs.Log.ErrorContext(ctx, "reset: revoking sessions", "err", err)
	}
	if err := rs.Engine.ForgetDevices(ctx, st.UserID); err != nil {
		rs.Log.ErrorContext(ctx, "reset: forgetting devices", "err", err)
	}
	rs.Audit.Record(ctx, audit.Event{Type: audit.PasswordReset, UserID: st.UserID, Login: st.Login, Result: "ok",
		Detail: map[string]string{"verified": strings.Join(st.Verified, " "), "sessions_revoked": fmt.Sprint(n)}})
	if rs.Notifier != nil && noticeAddress(st.User) != "" {
		if err := rs.Notifier.PasswordReset(context.WithoutCancel(ctx), notify.Recipient{Address: noticeAddress(st.User), Name: st.User.DisplayName, Lang: lang},
			notify.PasswordReset{Time: rs.Now(), IP: observe.ClientIP(ctx)}); err != nil {
			rs.Log.ErrorContext(ctx, "reset: notice mail", "err", err)
		}
	}
	d.Done = true
	return rs.render(w, r, http.StatusOK, d, nil, "reset.done")
}

// unlock clears the lockout of a verified user.
func (rs *Reset) unlock(w http.ResponseWriter, r *http.Request, f store.Flow, st resetState) error {
	ctx := r.Context()
	ul, ok := rs.Directory.(directory.Unlocker)
	if !ok {
		return web.Errorf(http.StatusNotImplemented, "This directory cannot unlock accounts. Contact your helpdesk.", nil)
	}
	if err := ul.Unlock(ctx, st.User); err != nil {
		return err
	}
	if err := rs.Store.DeleteFlow(ctx, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	rs.Audit.Record(ctx, audit.Event{Type: audit.AccountUnlocked, UserID: st.UserID, Login: st.Login, Result: "ok",
		Detail: map[string]string{"verified": strings.Join(st.Verified, " ")}})
	lang := rs.Renderer.Catalog().Language(r)
	if rs.Notifier != nil && noticeAddress(st.User) != "" {
		if err := rs.Notifier.AccountUnlocked(context.WithoutCancel(ctx), notify.Recipient{Address: noticeAddress(st.User), Name: st.User.DisplayName, Lang: lang},
			notify.AccountUnlocked{Time: rs.Now(), IP: observe.ClientIP(ctx)}); err != nil {
			rs.Log.ErrorContext(ctx, "unlock: notice mail", "err", err)
		}
	}
	return rs.render(w, r, http.StatusOK, &resetPage{Step: resetPassword, Done: true}, nil, "unlock.done")
}
