package policy

import "testing"

func TestWhatAResetOrUnlockMustVerifyFollowsTheConfiguredRule(t *testing.T) {
	own := []string{MethodTOTP, MethodEmail, MethodRecovery} // what a typical user has
	passkeyOnly := []string{MethodWebAuthn}
	onlyMail := []string{MethodEmail}
	done, helpdesk, more := RecoveryDecision{Done: true}, RecoveryDecision{Helpdesk: true}, RecoveryDecision{}
	for _, tc := range []struct {
		name               string
		require            string
		emailFallback      bool
		verified, enrolled []string
		want               RecoveryDecision
	}{
		{"default: one strong factor is enough", "", true, []string{MethodTOTP}, own, done},
		{"default: a passkey is strong", "one_strong_or_two_weak", true, []string{MethodWebAuthn}, own, done},
		{"default: a passwordless user's passkey alone is enough", "one_strong_or_two_weak", false, []string{MethodWebAuthn}, passkeyOnly, done},
		{"default: one weak factor is not enough", "one_strong_or_two_weak", true, []string{MethodEmail}, own, more},
		{"default: two weak factors are enough", "one_strong_or_two_weak", true, []string{MethodEmail, MethodRecovery}, own, done},
		{"strong: two weak factors are not enough", "strong", true, []string{MethodEmail, MethodRecovery}, own, more},
		{"strong: an authenticator app is", "strong", true, []string{MethodTOTP}, own, done},
		{"strong: a passkey is", "strong", true, []string{MethodWebAuthn}, passkeyOnly, done},
		{"two: one strong factor is not enough", "two", true, []string{MethodTOTP}, own, more},
		{"two: any two are", "two", true, []string{MethodTOTP, MethodEmail}, own, done},
		{"no factor but mail: the email fallback", "", true, []string{MethodEmail}, onlyMail, done},
		{"no factor but mail, any rule: the email fallback", "strong", true, []string{MethodEmail}, onlyMail, done},
		{"no factor but mail, helpdesk fallback: the helpdesk", "", false, []string{MethodEmail}, onlyMail, helpdesk},
		{"nothing at all enrolled, helpdesk fallback: the helpdesk once the mailbox is proved", "", false, []string{MethodEmail}, nil, helpdesk},
		{"nothing verified is never enough", "two", true, nil, onlyMail, more},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Settings{Recovery: RecoveryRule{Require: tc.require, EmailFallback: tc.emailFallback}}
			if got := Recovery(s, tc.verified, tc.enrolled); got != tc.want {
				t.Errorf("Recovery(%v, %v) = %+v, want %+v", tc.verified, tc.enrolled, got, tc.want)
			}
		})
	}
}
