package signin

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// policyDir is a directory whose policy keeps a history of 24 passwords;
// reportingDir also answers ResetChecksHistory with checks and err.
type policyDir struct {
	directory.Directory
	checks bool
	err    error
}

func (policyDir) PasswordPolicy(context.Context, *directory.User) (directory.Policy, error) {
	return directory.Policy{MinLength: 7, HistoryLength: 24}, nil
}

type reportingDir struct{ policyDir }

func (d reportingDir) ResetChecksHistory(context.Context) (bool, error) { return d.checks, d.err }

func TestTheResetPolicyPromisesTheHistoryOnlyWhenTheResetChecksIt(t *testing.T) {
	for _, tc := range []struct {
		name        string
		dir         directory.Directory
		wantHistory int
	}{
		{"a directory that always checks history keeps the rule", policyDir{}, 24},
		{"a DC with the policy-hints control keeps the rule", reportingDir{policyDir{checks: true}}, 24},
		{"a DC without it drops the rule", reportingDir{policyDir{checks: false}}, 0},
		{"a DC that cannot be asked drops the rule rather than promise it", reportingDir{policyDir{checks: true, err: errors.New("down")}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Options{Directory: tc.dir})
			u := &directory.User{ID: "u1"}
			if got := e.ResetPolicyFor(context.Background(), u); got.HistoryLength != tc.wantHistory || got.MinLength != 7 {
				t.Errorf("ResetPolicyFor = %+v, want history %d and the rest unchanged", got, tc.wantHistory)
			}
			if got := e.PolicyFor(context.Background(), u); got.HistoryLength != 24 {
				t.Errorf("PolicyFor (a change as the user) lost the history rule: %+v", got)
			}
		})
	}
}
