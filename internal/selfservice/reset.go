package selfservice

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Reset is the forgotten-password reset at /password/reset or, with
// Unlock, the unlock at /account/unlock. The sign-in engine runs the flow
// (signin.Recovery: identify, then verify with the user's own factors
// until policy.Recovery is satisfied, then the new password); Reset is its
// ending: the administrative reset in the directory (with policy hints)
// or the unlock, then — retried until done (AfterWrite) — sessions and
// remembered browsers ended (a reset), the audit, and the notice mailed.
type Reset struct {
	*Handler
	// Notifier mails the notice; nil sends none.
	Notifier *notify.Notifier
	// Key derives the decoy addresses; from the encryption key.
	Key []byte
	// MailDomain is the organisation's mail domain, for the decoy address
	// of a typed user name (signin.Recovery.MailDomain).
	MailDomain string
	// Policy decides what must be verified (its Recovery rule, from
	// self_service.require and self_service.fallback).
	Policy policy.Settings
	// Support is whom to contact (config ui.support); "" means the
	// generic wording.
	Support string
	// Unlock makes this the unlock flow: after the user is verified, the
	// lockout is cleared and the password stays.
	Unlock bool
	// AfterWrite does what must follow the directory write (required).
	AfterWrite *AfterWrite
}

// Mount registers the routes.
func (rs *Reset) Mount(mux *http.ServeMux) {
	rc := signin.Recovery{Kind: "reset", Path: "/password/reset", Title: "reset.title", Intro: "reset.intro",
		Event: audit.PasswordReset, Purpose: notify.PurposeReset, NewPassword: true}
	if rs.Unlock {
		rc = signin.Recovery{Kind: "unlock", Path: "/account/unlock", Title: "unlock.title", Intro: "unlock.intro",
			Event: audit.AccountUnlocked, Purpose: notify.PurposeUnlock}
	}
	rc.Policy, rc.DecoyKey, rc.MailDomain, rc.Support, rc.Ending = rs.Policy, rs.Key, rs.MailDomain, rs.Support, rs
	rs.Engine.MountRecovery(mux, rc)
}

// End implements signin.RecoveryEnding.
func (rs *Reset) End(ctx context.Context, r *http.Request, u *directory.User, newPassword string, verified []string) (string, error) {
	if rs.Unlock {
		return rs.unlock(ctx, r, u, verified)
	}
	return rs.reset(ctx, r, u, newPassword, verified)
}

// reset sets the new password, then ends the user's sessions and
// remembered browsers, audits and mails the notice.
func (rs *Reset) reset(ctx context.Context, r *http.Request, u *directory.User, newPassword string, verified []string) (string, error) {
	pr, ok := rs.Directory.(directory.PasswordResetter)
	if !ok {
		return "", web.Errorf(http.StatusNotImplemented, "error.reset_unsupported", nil)
	}
	if err := pr.ResetPassword(ctx, u, newPassword); err != nil {
		return "", err
	}
	// The directory has the new password: from here on nothing may stop
	// the rest.
	revoked := int64(-1)
	detail := func() map[string]string {
		d := map[string]string{"verified": strings.Join(verified, " ")}
		if revoked >= 0 {
			d["sessions_revoked"] = strconv.FormatInt(revoked, 10)
		}
		return d
	}
	rs.AfterWrite.Run(ctx, "password reset", u.ID,
		Step{"end sessions", func(ctx context.Context) error {
			n, err := rs.Sessions.EndAll(ctx, u.ID)
			if err == nil {
				revoked = n
			}
			return err
		}},
		Step{"forget remembered browsers", func(ctx context.Context) error { return rs.Sessions.ForgetDevices(ctx, u.ID) }},
		Step{"audit", func(ctx context.Context) error {
			return rs.Audit.Persist(ctx, audit.Event{Type: audit.PasswordReset, UserID: u.ID, Login: u.UPN, Result: "ok", Detail: detail()})
		}},
		rs.notice(r, u, notify.KindPasswordReset),
	)
	return "reset.done", nil
}

// unlock clears the lockout, then audits and mails the notice.
func (rs *Reset) unlock(ctx context.Context, r *http.Request, u *directory.User, verified []string) (string, error) {
	ul, ok := rs.Directory.(directory.Unlocker)
	if !ok {
		return "", web.Errorf(http.StatusNotImplemented, "error.unlock_unsupported", nil)
	}
	if err := ul.Unlock(ctx, u); err != nil {
		return "", err
	}
	rs.AfterWrite.Run(ctx, "unlock", u.ID,
		Step{"audit", func(ctx context.Context) error {
			return rs.Audit.Persist(ctx, audit.Event{Type: audit.AccountUnlocked, UserID: u.ID, Login: u.UPN, Result: "ok",
				Detail: map[string]string{"verified": strings.Join(verified, " ")}})
		}},
		rs.notice(r, u, notify.KindAccountUnlocked),
	)
	return "unlock.done", nil
}

// notice is the step that mails the user what happened, when and from
// where: to the mailbox they read every day, else the alternate one.
func (rs *Reset) notice(r *http.Request, u *directory.User, kind string) Step {
	to := notify.Recipient{Address: u.Mail, Name: u.DisplayName, Lang: rs.Renderer.Catalog().Language(r)}
	if to.Address == "" {
		to.Address = u.AlternateMail
	}
	at, ip := rs.Now(), observe.ClientIP(r.Context())
	return Step{"notice", func(ctx context.Context) error {
		if rs.Notifier == nil || to.Address == "" {
			return nil
		}
		if kind == notify.KindAccountUnlocked {
			return rs.Notifier.AccountUnlocked(ctx, to, notify.AccountUnlocked{Time: at, IP: ip})
		}
		return rs.Notifier.PasswordReset(ctx, to, notify.PasswordReset{Time: at, IP: ip})
	}}
}
