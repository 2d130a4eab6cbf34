package abuse

import (
	"context"
	"fmt"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

func TestAnAdminUnlockClearsTheAccountsCountersAndNotTheAddresses(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", nil)
	st := openSQLite(t)
	g, _ := newGuard(t, st, ad, clk.Now, func(l *Limits) { l.PerAccount, l.PerAddress = 3, 3 })
	ctx := context.Background()
	for i, login := range []string{"alice", "Alice@corp.example.test", "alice@corp.example.test"} {
		_, _, _ = g.Authenticate(ctx, Attempt{Login: login, IP: "192.0.2.1"}, fmt.Sprintf("Guess-%d", i))
	}
	logins := []string{"alice", "alice@corp.example.test"}
	got, err := LoginCounters(ctx, st, logins, clk.Now())
	if err != nil || len(got) != 2 || got[0].Count != 1 || got[1].Count != 2 {
		t.Fatalf("LoginCounters = %+v, %v; want 1 for alice and 2 for her UPN", got, err)
	}
	acct, err := ReadAccount(ctx, st, g.Limits(), alice.id, clk.Now())
	if err != nil || acct.WrongPasswords != 3 {
		t.Fatalf("ReadAccount = %+v, %v; want the account's 3 wrong passwords", acct, err)
	}
	if _, _, err := g.Authenticate(ctx, Attempt{Login: "ALICE@corp.example.test", IP: "198.51.100.1"}, alice.password); scope(err) == "" {
		t.Fatal("the account was not limited before the unlock")
	}
	if err := Unlock(ctx, st, logins); err != nil {
		t.Fatal(err)
	}
	if err := ResetAccount(ctx, st, alice.id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Authenticate(ctx, Attempt{Login: "ALICE@corp.example.test", IP: "198.51.100.1"}, alice.password); err != nil {
		t.Errorf("the account is still limited after the unlock: %v", err)
	}
	if _, _, err := g.Authenticate(ctx, Attempt{Login: "bob", IP: "192.0.2.1"}, "Guess-9"); scope(err) != ScopeAddress {
		t.Errorf("the unlock cleared the address's counter, which is not the account's: %v", err)
	}
}
