package policy

import "slices"

// RecoveryRule is what a forgotten-password reset or an unlock must
// verify (self_service.require and self_service.fallback).
type RecoveryRule struct {
	// Require is "one_strong_or_two_weak" (also ""), "strong" or "two".
	Require string
	// EmailFallback lets a user who has enrolled nothing of their own
	// verify with an email code alone (self_service.fallback: email);
	// otherwise such a user is sent to the helpdesk once the code proved
	// the mailbox.
	EmailFallback bool
}

// RecoveryDecision is where a reset or unlock stands.
type RecoveryDecision struct {
	// Done: what was verified is enough; the directory write may follow.
	Done bool
	// Helpdesk: the user has nothing but the mailbox, the mailbox is
	// proved, and email alone is not allowed: send them to the helpdesk.
	Helpdesk bool
}

// Recovery decides a reset or unlock: verified are the distinct methods
// verified in this flow, enrolled the methods the user has (email counts
// for a user with a code address).
func Recovery(s Settings, verified, enrolled []string) RecoveryDecision {
	strong := slices.ContainsFunc(verified, Strong)
	switch r := s.Recovery.Require; {
	case r == "strong" && strong, r == "two" && len(verified) >= 2,
		(r == "" || r == "one_strong_or_two_weak") && (strong || len(verified) >= 2):
		return RecoveryDecision{Done: true}
	}
	own := slices.ContainsFunc(enrolled, func(m string) bool { return m != MethodEmail })
	if !own && slices.Contains(verified, MethodEmail) {
		if s.Recovery.EmailFallback {
			return RecoveryDecision{Done: true}
		}
		return RecoveryDecision{Helpdesk: true}
	}
	return RecoveryDecision{}
}
