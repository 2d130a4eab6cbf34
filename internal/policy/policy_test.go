package policy

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func settings(requiredFor string) Settings {
	return Settings{
		RequiredFor: requiredFor, RequiredGroups: []string{"MFA Users"}, StepUpWindow: 5 * time.Minute,
		Apps: map[string]App{
			"strict": {MFA: "required"}, "lax": {MFA: "optional"}, "default": {},
			"staff": {Groups: []string{"Staff"}}, "nolegacy": {MFA: "required", DenyPasswordOnly: true},
		},
	}
}

var (
	plain  = &directory.User{ID: "u1", Groups: []string{"CN=Staff,OU=Groups,DC=corp"}}
	member = &directory.User{ID: "u2", Groups: []string{"CN=MFA Users,OU=Groups,DC=corp", "CN=Staff,OU=Groups,DC=corp"}}
	other  = &directory.User{ID: "u3"}
)

// Proofs a session or flow may hold.
var (
	noSession    = Proof{}
	passwordOnly = Proof{PasswordAt: t0.Add(-time.Hour)}
	withTOTP     = Proof{PasswordAt: t0.Add(-time.Hour), MFAAt: t0.Add(-time.Hour), Factors: []string{MethodTOTP}}
	freshTOTP    = Proof{PasswordAt: t0.Add(-time.Minute), MFAAt: t0.Add(-time.Minute), Factors: []string{MethodTOTP}}
	withEmail    = Proof{PasswordAt: t0.Add(-time.Hour), MFAAt: t0.Add(-time.Hour), Factors: []string{MethodEmail}}
	remembered   = Proof{PasswordAt: t0.Add(-time.Hour), Remembered: true}
	thisRequest  = Proof{PasswordAt: t0.Add(-time.Second), Since: t0.Add(-time.Minute)}
)

// TestDecideEveryCombination walks every combination of required_for, the
// app's MFA setting, group membership, the request's demand and the
// session's state, and checks each outcome against the rules as the
// README states them.
func TestDecideEveryCombination(t *testing.T) {
	demands := map[string]Demands{
		"no demand": {}, "wauth=multipleauthn": {MFA: true}, "mfa_max_age=600": {MFAMaxAge: 10 * time.Minute},
		"wfresh=0": {ForceAuthn: true}, "wfresh=30": {MaxAge: 30 * time.Minute},
	}
	proofs := map[string]Proof{
		"no session": noSession, "password only": passwordOnly, "totp an hour ago": withTOTP,
		"email code": withEmail, "remembered browser": remembered, "password for this request": thisRequest,
	}
	users := map[string]*directory.User{"a user": plain, "a required_groups member": member}
	n := 0
	for _, rf := range []string{"all", "apps", "none"} {
		for _, app := range []string{"strict", "lax", "default"} {
			for un, u := range users {
				for dn, dm := range demands {
					for pn, p := range proofs {
						n++
						name := fmt.Sprintf("required_for %s, app %s, %s, %s, %s", rf, app, un, dn, pn)
						got := Decide(settings(rf), Input{App: app, User: u, Demands: dm, Proof: p, Now: t0})
						// The expected outcome, rule by rule.
						wantPassword := p.PasswordAt.IsZero() || (dm.ForceAuthn && p.Since.IsZero()) ||
							(dm.MaxAge > 0 && t0.Sub(p.PasswordAt) > dm.MaxAge)
						configNeeds := app == "strict" || u == member || (app == "default" && rf == "all")
						demandNeeds := dm.MFA || dm.MFAMaxAge > 0
						realMFA := pn == "totp an hour ago" && (dm.MFAMaxAge == 0 || t0.Sub(p.MFAAt) <= dm.MFAMaxAge)
						var wantMFA bool
						switch {
						case demandNeeds:
							wantMFA = !realMFA
						case configNeeds:
							wantMFA = !realMFA && !p.Remembered
						}
						t.Run(name, func(t *testing.T) {
							if got.Password != wantPassword || got.MFA != wantMFA || got.Denied {
								t.Errorf("got password=%v mfa=%v denied=%v (%s), want password=%v mfa=%v",
									got.Password, got.MFA, got.Denied, got.Reason, wantPassword, wantMFA)
							}
							if got.MFAClaim != (pn == "totp an hour ago") {
								t.Errorf("MFAClaim = %v: only a second factor used in this session (not email, not a remembered browser) may claim MFA", got.MFAClaim)
							}
						})
					}
				}
			}
		}
	}
	if n != 3*3*2*5*6 {
		t.Fatalf("walked %d combinations", n)
	}
}

func TestDecide(t *testing.T) {
	week := 7 * 24 * time.Hour
	for _, tc := range []struct {
		name string
		s    Settings
		in   Input
		want Decision
	}{
		{"a member of required_groups needs MFA even for an app with mfa optional",
			settings("none"), Input{App: "lax", User: member, Proof: passwordOnly, Now: t0},
			Decision{MFA: true, Reason: "group"}},
		{"a password alone never satisfies an account security action of a user who has a factor",
			settings("none"), Input{Action: ActionAccountSecurity, User: plain, Enrolled: []string{MethodTOTP, MethodRecovery}, Proof: Proof{PasswordAt: t0}, Now: t0},
			Decision{MFA: true, Methods: []string{MethodTOTP, MethodRecovery}, Reason: "step_up"}},
		{"a second factor an hour old does not satisfy an account security action",
			settings("none"), Input{Action: ActionAccountSecurity, User: plain, Enrolled: []string{MethodTOTP}, Proof: withTOTP, Now: t0},
			Decision{MFA: true, Methods: []string{MethodTOTP}, MFAClaim: true, Reason: "step_up"}},
		{"a second factor a minute old satisfies an account security action",
			settings("none"), Input{Action: ActionAccountSecurity, User: plain, Enrolled: []string{MethodTOTP}, Proof: freshTOTP, Now: t0},
			Decision{Methods: []string{MethodTOTP}, MFAClaim: true}},
		{"a remembered browser does not satisfy an account security action",
			settings("all"), Input{Action: ActionAccountSecurity, User: plain, Enrolled: []string{MethodTOTP}, Proof: remembered, Now: t0},
			Decision{MFA: true, Methods: []string{MethodTOTP}, Reason: "step_up"}},
		{"a user with no factor enrols one before an account security action, with a fresh password",
			settings("none"), Input{Action: ActionAccountSecurity, User: plain, Enrolled: []string{}, Proof: passwordOnly, Now: t0},
			Decision{Password: true, MFA: true, Enrol: true, Methods: []string{}, Reason: "step_up_password"}},
		{"a user whose only method is email enrols a strong one where MFA is required",
			settings("all"), Input{App: "default", User: plain, Enrolled: []string{MethodEmail}, Proof: passwordOnly, Now: t0},
			Decision{MFA: true, Enrol: true, Methods: []string{}, Reason: "required_for_all"}},
		{"an email code is the second factor when the admin opts in",
			func() Settings { s := settings("all"); s.EmailIsMFA = true; return s }(),
			Input{App: "default", User: plain, Enrolled: []string{MethodEmail}, Proof: withEmail, Now: t0},
			Decision{Methods: []string{MethodEmail}, MFAClaim: true}},
		{"an email code from this session does not satisfy an app that requires MFA",
			settings("apps"), Input{App: "strict", User: plain, Enrolled: []string{MethodEmail, MethodTOTP}, Proof: withEmail, Now: t0},
			Decision{MFA: true, Methods: []string{MethodTOTP}, Reason: "app"}},
		{"a user outside an app's groups is denied",
			settings("none"), Input{App: "staff", User: other, Proof: withTOTP, Now: t0},
			Decision{Denied: true, Reason: "not_in_app_groups"}},
		{"a member of an app's groups is let in",
			settings("none"), Input{App: "staff", User: plain, Proof: passwordOnly, Now: t0},
			Decision{}},
		{"a password-only channel gets no MFA claim and is not asked for MFA it cannot give",
			settings("all"), Input{App: "strict", PasswordOnly: true, User: plain, Proof: Proof{PasswordAt: t0, MFAAt: t0, Factors: []string{MethodTOTP}}, Now: t0},
			Decision{}},
		{"a password-only channel is refused for an app with ws_trust deny",
			settings("all"), Input{App: "nolegacy", PasswordOnly: true, User: plain, Proof: Proof{PasswordAt: t0}, Now: t0},
			Decision{Denied: true, Reason: "password_only_denied"}},
		{"an expired password asks for the second factor first when the user has one, even where MFA is not required",
			settings("none"), Input{App: "lax", User: plain, MustChange: true, Enrolled: []string{MethodTOTP}, Proof: Proof{PasswordAt: t0, Remembered: true}, Now: t0},
			Decision{MFA: true, Methods: []string{MethodTOTP}, Reason: "must_change"}},
		{"an expired password of a user with nothing enrolled goes straight to the change where MFA is not required",
			settings("none"), Input{App: "lax", User: plain, MustChange: true, Enrolled: []string{}, Proof: Proof{PasswordAt: t0}, Now: t0},
			Decision{Methods: []string{}}},
		{"an expired password of a user with nothing enrolled enrols first where MFA is required",
			settings("all"), Input{App: "default", User: plain, MustChange: true, Enrolled: []string{}, Proof: Proof{PasswordAt: t0}, Now: t0},
			Decision{MFA: true, Enrol: true, Methods: []string{}, Reason: "required_for_all"}},
		{"mfa_max_age asks a session whose second factor is too old for a new one",
			settings("none"), Input{App: "lax", User: plain, Demands: Demands{MFAMaxAge: time.Minute}, Proof: withTOTP, Now: t0},
			Decision{MFA: true, MFAClaim: true, Reason: "request"}},
		{"an old session satisfies an app without demands",
			settings("apps"), Input{App: "strict", User: plain, Proof: Proof{PasswordAt: t0.Add(-week), MFAAt: t0.Add(-week), Factors: []string{MethodWebAuthn}}, Now: t0},
			Decision{MFAClaim: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.s, tc.in)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Decide =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

func TestRecovery(t *testing.T) {
	all := []string{MethodWebAuthn, MethodTOTP, MethodRecovery, MethodEmail}
	for _, tc := range []struct {
		name               string
		rule               RecoveryRule
		verified, enrolled []string
		want               RecoveryDecision
	}{
		{"a passkey alone is enough by default", RecoveryRule{}, []string{MethodWebAuthn}, all, RecoveryDecision{Done: true}},
		{"an authenticator app alone is enough by default", RecoveryRule{}, []string{MethodTOTP}, all, RecoveryDecision{Done: true}},
		{"an email code alone is not enough for a user with factors", RecoveryRule{EmailFallback: true}, []string{MethodEmail}, all, RecoveryDecision{}},
		{"a recovery code alone is not enough", RecoveryRule{}, []string{MethodRecovery}, all, RecoveryDecision{}},
		{"an email and a recovery code are enough by default", RecoveryRule{}, []string{MethodEmail, MethodRecovery}, all, RecoveryDecision{Done: true}},
		{"strong wants a strong factor", RecoveryRule{Require: "strong"}, []string{MethodEmail, MethodRecovery}, all, RecoveryDecision{}},
		{"two wants two", RecoveryRule{Require: "two"}, []string{MethodWebAuthn}, all, RecoveryDecision{}},
		{"two is two", RecoveryRule{Require: "two"}, []string{MethodWebAuthn, MethodEmail}, all, RecoveryDecision{Done: true}},
		{"a user with only a mailbox may use it with the email fallback", RecoveryRule{EmailFallback: true}, []string{MethodEmail}, []string{MethodEmail}, RecoveryDecision{Done: true}},
		{"a user with only a mailbox goes to the helpdesk without it", RecoveryRule{}, []string{MethodEmail}, []string{MethodEmail}, RecoveryDecision{Helpdesk: true}},
		{"nothing verified is nothing", RecoveryRule{EmailFallback: true}, nil, []string{MethodEmail}, RecoveryDecision{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Recovery(Settings{Recovery: tc.rule}, tc.verified, tc.enrolled); got != tc.want {
				t.Errorf("Recovery = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestASecondFactorOnlyRequestIsAnsweredByAFactorMadeForItAlone covers the
// answer to an app that checked the first factor itself (Entra's external
// authentication method): never a password, always a second factor made
// for this very request, never a recovery code or a remembered browser.
func TestASecondFactorOnlyRequestIsAnsweredByAFactorMadeForItAlone(t *testing.T) {
	since := t0.Add(-time.Minute)
	made := func(factors ...string) Proof { return Proof{MFAAt: t0, Factors: factors, Since: since} }
	for _, tc := range []struct {
		name     string
		s        Settings
		app      string
		user     *directory.User
		enrolled []string
		proof    Proof
		want     Decision
	}{
		{"nothing proved asks the second factor and never the password", settings("none"), "lax", plain, []string{MethodTOTP},
			Proof{}, Decision{MFA: true, Methods: []string{MethodTOTP}, Reason: "second_factor_only"}},
		{"a password session proves nothing here", settings("all"), "default", plain, nil,
			passwordOnly, Decision{MFA: true, Reason: "second_factor_only"}},
		{"a session's second factor from before the request is no answer", settings("all"), "default", plain, nil,
			withTOTP, Decision{MFA: true, Reason: "second_factor_only"}},
		{"a remembered browser is no answer", settings("all"), "default", plain, nil,
			remembered, Decision{MFA: true, Reason: "second_factor_only"}},
		{"an authenticator app code made for the request answers it", settings("none"), "lax", plain, nil,
			made(MethodTOTP), Decision{MFAClaim: true}},
		{"a passkey made for the request answers it", settings("none"), "default", plain, nil,
			made(MethodWebAuthn), Decision{MFAClaim: true}},
		{"a recovery code made for the request is no answer", settings("all"), "default", plain, nil,
			made(MethodRecovery), Decision{MFA: true, Reason: "second_factor_only"}},
		{"an email code is no answer by default", settings("all"), "default", plain, nil,
			made(MethodEmail), Decision{MFA: true, Reason: "second_factor_only"}},
		{"an email code answers where the admin lets email be a second factor", func() Settings {
			s := settings("all")
			s.EmailIsMFA = true
			return s
		}(), "default", plain, nil, made(MethodEmail), Decision{MFAClaim: true}},
		{"recovery codes are never offered", settings("all"), "default", plain, []string{MethodRecovery, MethodTOTP},
			Proof{}, Decision{MFA: true, Methods: []string{MethodTOTP}, Reason: "second_factor_only"}},
		{"a user with no method enrols one", settings("none"), "default", plain, []string{},
			Proof{}, Decision{MFA: true, Enrol: true, Methods: []string{}, Reason: "second_factor_only"}},
		{"a user with only an email code enrols a method where email is not a second factor", settings("all"), "default", plain,
			[]string{MethodEmail}, Proof{}, Decision{MFA: true, Enrol: true, Methods: []string{}, Reason: "second_factor_only"}},
		{"a user left with recovery codes alone is refused rather than enrolling with the first factor alone", settings("all"), "default",
			plain, []string{MethodRecovery}, Proof{}, Decision{Denied: true, Reason: ReasonRecoveryCodesOnly}},
		{"the app's groups still apply", settings("all"), "staff", other, []string{MethodTOTP},
			made(MethodTOTP), Decision{Denied: true, Reason: "not_in_app_groups"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.s, Input{App: tc.app, User: tc.user, Enrolled: tc.enrolled, SecondFactorOnly: true,
				Demands: Demands{MFA: true}, Proof: tc.proof, Now: t0})
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Decide = %+v, want %+v", got, tc.want)
			}
			if got.Password {
				t.Error("a second-factor-only request was asked for the password")
			}
		})
	}
}
