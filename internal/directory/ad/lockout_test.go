package ad

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/directorytest"
)

// TestSambaCheckedAuthenticateReadsTheLockoutStateInTheSameTwoOperations
// is what smart lockout stands on: the check before the bind sees the
// account's PSO lockout rule and the DC's badPwdCount and badPasswordTime,
// and a sign-in still costs one search and one bind.
func TestSambaCheckedAuthenticateReadsTheLockoutStateInTheSameTwoOperations(t *testing.T) {
	env := requireAD(t)
	d := openAD(t, env.config())
	admin := env.admin(t)
	ctx := context.Background()
	tu := env.newUser(t, admin, directorytest.PasswordA)
	env.applyPSO(t, admin, pso{minLength: 7, history: 24, lockoutThreshold: 5, lockoutDuration: 20 * time.Minute}, tu.dn)

	var seen directory.AccountState
	look := func(_ context.Context, u *directory.User) error {
		seen = u.State
		return nil
	}
	// Warm the policy and group caches.
	if _, err := d.AuthenticateWith(ctx, tu.sam, directorytest.PasswordA, look); err != nil {
		t.Fatal(err)
	}
	if seen.Lockout == nil || *seen.Lockout != (directory.LockoutPolicy{Threshold: 5, ObservationWindow: 20 * time.Minute, Duration: 20 * time.Minute}) {
		t.Fatalf("lockout policy seen = %+v, want the PSO's", seen.Lockout)
	}
	before := time.Now().Add(-2 * time.Second) // the DC's clock is this machine's
	for i := range 3 {
		ops := d.ops.Load()
		if _, err := d.AuthenticateWith(ctx, tu.upn(), "Wr0ng-Passw0rd!", look); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
		if n := d.ops.Load() - ops; n != 2 {
			t.Errorf("a checked sign-in cost %d LDAP operations, want 2 (search and bind)", n)
		}
		if seen.BadPasswordCount != i {
			t.Errorf("before wrong password %d the check saw badPwdCount %d, want %d", i+1, seen.BadPasswordCount, i)
		}
	}
	if seen.BadPasswordTime.Before(before) || seen.Counted(time.Now()) != 2 {
		t.Errorf("badPasswordTime %v (want after %v), counted %d (want 2)", seen.BadPasswordTime, before, seen.Counted(time.Now()))
	}
	if got := seen.Counted(seen.BadPasswordTime.Add(20 * time.Minute)); got != 0 {
		t.Errorf("after the observation window %d still count, want 0", got)
	}
	refused := errors.New("no")
	for range 5 {
		if _, err := d.AuthenticateWith(ctx, tu.sam, "Wr0ng-Passw0rd!", func(context.Context, *directory.User) error { return refused }); !errors.Is(err, refused) {
			t.Fatalf("refused: %v", err)
		}
	}
	u, err := d.LookupUser(ctx, tu.sam)
	if err != nil {
		t.Fatal(err)
	}
	if u.State.BadPasswordCount != 3 || u.State.Locked {
		t.Errorf("after 3 wrong and 5 refused passwords: badPwdCount %d, locked %v; want 3, not locked", u.State.BadPasswordCount, u.State.Locked)
	}
}
