package ad

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/directorytest"
)

func TestBadPasswordCountsAreReadFromEachDomainController(t *testing.T) {
	env := requireAD(t)
	admin := env.admin(t)
	tu := env.newUser(t, admin, directorytest.PasswordA)
	// Samba counts wrong passwords only where a lockout threshold applies.
	env.applyPSO(t, admin, pso{minLength: 7, history: 24, lockoutThreshold: 5}, tu.dn)
	d := openAD(t, env.config())
	ctx := context.Background()
	u, err := d.LookupUser(ctx, tu.sam)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Minute)
	for range 2 {
		if _, err := d.Authenticate(ctx, tu.sam, "Wrong!Passw0rd-9"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("a wrong password: %v", err)
		}
	}
	got, err := d.BadPasswordCounts(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].DC != dcName(env.url) || got[0].Count != 2 || got[0].Last.Before(before) || got[0].Error != "" {
		t.Fatalf("BadPasswordCounts = %+v, want 2 wrong passwords on %s just now", got, dcName(env.url))
	}
}
