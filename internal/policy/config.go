package policy

import (
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// StepUpWindow is how recent a second factor must be for an account
// security action.
const StepUpWindow = 5 * time.Minute

// FromConfig is the policy the configuration sets.
func FromConfig(c config.Config) Settings {
	s := Settings{
		RequiredFor: c.MFA.RequiredFor, RequiredGroups: c.MFA.RequiredGroups, EmailIsMFA: c.MFA.EmailAsSecondFactor,
		StepUpWindow: StepUpWindow, Apps: map[string]App{},
		Recovery: RecoveryRule{Require: c.SelfService.Require, EmailFallback: c.SelfService.Fallback == "email"},
	}
	for _, a := range c.Apps {
		s.Apps[a.Name] = App{MFA: a.MFA, Groups: a.Groups, DenyPasswordOnly: a.WSTrust == "deny"}
	}
	return s
}
