package account

import (
	"encoding/json"
	"strings"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// internalApps are the names the engine's requests give Gatehouse's own
// pages: a sign-in to them is a sign-in to Gatehouse, not to an app.
var internalApps = map[string]bool{"": true, "account": true, "password-change": true}

// describe is what an audit event of the user's says, as one sentence in
// the page's language: "Signed in to Microsoft 365", "Wrong code at the
// second step", "Unlock started". It also reports whether the sentence
// names the event's app. An event type it does not know reads as other
// account activity, never as its code (TestEveryEventTypeHasADescription
// keeps the list complete).
func describe(p *web.Page, e store.AuditEvent) (what string, namesApp bool) {
	var detail map[string]string
	if len(e.Detail) > 0 {
		_ = json.Unmarshal(e.Detail, &detail)
	}
	app := e.App
	if internalApps[app] {
		app = ""
	}
	ok := e.Result == "ok" || e.Result == ""
	switch e.Type {
	case audit.SignInSuccess:
		if app != "" {
			return p.T("event.signin_success_app", "app", app), true
		}
		return p.T("event.signin_success"), false
	case audit.SignInFailure:
		return signInFailure(p, e.Result, app)
	case audit.SignInMFAFailure:
		switch {
		case detail["step"] == "enrol":
			return p.T("event.enrol_failure"), false
		case strings.HasPrefix(e.Result, "throttled"):
			return p.T("event.mfa_failure_throttled"), false
		case detail["method"] == mfa.MethodWebAuthn:
			return p.T("event.mfa_failure_passkey"), false
		}
		return p.T("event.mfa_failure"), false
	case audit.SignOut:
		return p.T("event.signout"), false
	case audit.MFAUsed:
		if m := detail["method"]; m != "" {
			return p.T("event.mfa_used_method", "method", methodLabel(p, m)), false
		}
		return p.T("event.mfa_used"), false
	case audit.FactorEnrolled:
		switch detail["method"] {
		case mfa.MethodTOTP:
			return p.T("event.factor_enrolled_totp"), false
		case mfa.MethodWebAuthn:
			return p.T("event.factor_enrolled_webauthn"), false
		case mfa.MethodRecovery:
			return p.T("event.factor_enrolled_recovery"), false
		}
		return p.T("event.factor_enrolled"), false
	case audit.FactorRemoved:
		switch detail["method"] {
		case mfa.MethodTOTP:
			return p.T("event.factor_removed_totp"), false
		case mfa.MethodWebAuthn:
			return p.T("event.factor_removed_webauthn"), false
		}
		return p.T("event.factor_removed"), false
	case audit.DeviceForgotten:
		if detail["browsers"] == "one" {
			return p.T("event.device_forgotten"), false
		}
		return p.T("event.devices_forgotten"), false
	case audit.PasswordChanged:
		switch {
		case ok:
			return p.T("event.password_changed"), false
		case e.Result == "wrong_current_password":
			return p.T("event.password_changed_wrong_current"), false
		case e.Result == "policy":
			return p.T("event.password_changed_policy"), false
		}
		return p.T("event.password_changed_failed"), false
	case audit.PasswordReset:
		switch e.Result {
		case "ok", "":
			return p.T("event.reset_done"), false
		case "started":
			return p.T("event.reset_started"), false
		case "verify_failed":
			return p.T("event.reset_verify_failed"), false
		case "no_factor":
			return p.T("event.reset_no_factor"), false
		case "code_not_sent":
			return p.T("event.reset_code_not_sent"), false
		case "account_state":
			return p.T("event.reset_account_state"), false
		}
		return p.T("event.reset_failed"), false
	case audit.AccountUnlocked:
		switch e.Result {
		case "ok", "":
			return p.T("event.unlock_done"), false
		case "started":
			return p.T("event.unlock_started"), false
		case "verify_failed":
			return p.T("event.unlock_verify_failed"), false
		case "no_factor":
			return p.T("event.unlock_no_factor"), false
		case "code_not_sent":
			return p.T("event.unlock_code_not_sent"), false
		case "account_state":
			return p.T("event.unlock_account_state"), false
		}
		return p.T("event.unlock_failed"), false
	case audit.ExpiryReminder:
		return p.T("event.expiry_reminder"), false
	case audit.TokenIssued:
		switch {
		case app == "":
			return p.T("event.token_issued"), false
		case ok:
			return p.T("event.token_issued_app", "app", app), true
		}
		return p.T("event.app_refused", "app", app), true
	case audit.EAMLinked:
		return p.T("event.eam_linked"), false
	case audit.EAMRefused:
		if e.Result == "link_mismatch" {
			return p.T("event.eam_link_mismatch"), false
		}
		return p.T("event.eam_refused"), false
	case audit.SessionRevoked:
		return p.T("event.session_revoked"), false
	case audit.AbuseThrottled:
		return p.T("event.throttled"), false
	case audit.AbuseSmartLockout:
		if e.Result == "repeat" {
			return p.T("event.smart_lockout_repeat"), false
		}
		return p.T("event.smart_lockout_held_back"), false
	case audit.AdminUserStatus, audit.AdminMFAReset, audit.AdminUnlock, audit.AdminSessionsRevoke, audit.AdminAuditQuery, audit.AdminAuditVerify:
		return adminAction(p, e.Type, ok), false
	case audit.ConfigLoaded:
		return p.T("event.config_loaded"), false
	case audit.AuditPruned:
		return p.T("event.audit_pruned"), false
	}
	return p.T("event.other"), false
}

// signInFailure describes a failed sign-in by its result: the
// directory's answer, a limit, a passkey, or the policy's refusal of the
// app.
func signInFailure(p *web.Page, result, app string) (string, bool) {
	switch {
	case result == "invalid_credentials":
		return p.T("event.signin_failure_password"), false
	case result == "locked" || result == "account_locked":
		return p.T("event.signin_failure_locked"), false
	case result == "disabled" || result == "account_disabled":
		return p.T("event.signin_failure_disabled"), false
	case result == "account_expired":
		return p.T("event.signin_failure_account_expired"), false
	case result == "password_expired" || result == "must_change":
		return p.T("event.signin_failure_password_expired"), false
	case result == "not_permitted":
		return p.T("event.signin_failure_not_permitted"), false
	case result == "throttled":
		return p.T("event.signin_failure_throttled"), false
	case result == "error":
		return p.T("event.signin_failure_unavailable"), false
	case strings.HasPrefix(result, "passkey_"):
		return p.T("event.signin_failure_passkey"), false
	case (result == "not_in_app_groups" || result == "password_only_denied") && app != "":
		return p.T("event.app_refused", "app", app), true
	}
	return p.T("event.signin_failure"), false
}

// adminAction describes what the helpdesk did with gatehouse admin.
func adminAction(p *web.Page, typ string, ok bool) string {
	if !ok {
		return p.T("event.admin_failed")
	}
	switch typ {
	case audit.AdminUserStatus:
		return p.T("event.admin_user_status")
	case audit.AdminMFAReset:
		return p.T("event.admin_mfa_reset")
	case audit.AdminUnlock:
		return p.T("event.admin_unlock")
	case audit.AdminSessionsRevoke:
		return p.T("event.admin_sessions_revoke")
	case audit.AdminAuditQuery:
		return p.T("event.admin_audit_query")
	}
	return p.T("event.admin_audit_verify")
}

// methodLabel is a method's name in the page's language.
func methodLabel(p *web.Page, method string) string {
	switch method {
	case mfa.MethodTOTP:
		return p.T("account.method_totp")
	case mfa.MethodWebAuthn:
		return p.T("account.method_webauthn")
	case mfa.MethodRecovery:
		return p.T("account.method_recovery")
	case mfa.MethodEmail:
		return p.T("account.method_email")
	}
	return p.T("account.method_other")
}
