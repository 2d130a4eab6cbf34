package selfservice

import (
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/mfa"
)

func TestWhatAResetMustVerifyFollowsTheConfiguredPolicy(t *testing.T) {
	totp, webauthn, email, recovery := mfa.MethodTOTP, mfa.MethodWebAuthn, mfa.MethodEmail, mfa.MethodRecovery
	own := []string{totp, email, recovery} // what a typical user has
	onlyMail := []string{email}
	for _, tc := range []struct {
		name               string
		require            string
		emailFallback      bool
		verified, enrolled []string
		want               bool
	}{
		{"default: one strong factor is enough", "", true, []string{totp}, own, true},
		{"default: a passkey is strong", "one_strong_or_two_weak", true, []string{webauthn}, own, true},
		{"default: one weak factor is not enough", "one_strong_or_two_weak", true, []string{email}, own, false},
		{"default: two weak factors are enough", "one_strong_or_two_weak", true, []string{email, recovery}, own, true},
		{"strong: two weak factors are not enough", "strong", true, []string{email, recovery}, own, false},
		{"strong: an authenticator app is", "strong", true, []string{totp}, own, true},
		{"two: one strong factor is not enough", "two", true, []string{totp}, own, false},
		{"two: any two are", "two", true, []string{totp, email}, own, true},
		{"no factor but mail: the email fallback", "", true, []string{email}, onlyMail, true},
		{"no factor but mail, any policy: the email fallback", "strong", true, []string{email}, onlyMail, true},
		{"no factor but mail, helpdesk fallback: not enough", "", false, []string{email}, onlyMail, false},
		{"nothing verified is never enough", "two", true, nil, onlyMail, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := &Reset{Require: tc.require, EmailFallback: tc.emailFallback}
			if got := rs.enough(tc.verified, tc.enrolled); got != tc.want {
				t.Errorf("enough(%v, %v) = %v, want %v", tc.verified, tc.enrolled, got, tc.want)
			}
		})
	}
}
