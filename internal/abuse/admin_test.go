package abuse

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
)

func TestAnAdminUnlockClearsTheAccountsLoginCountersAndNotTheAddresses(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	p := NewPasswords(s, Limits{PerLogin: 2, PerIP: 3, Window: 15 * time.Minute}, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	for _, login := range []string{"alice", "Alice@corp.example", "alice@corp.example"} {
		p.Failed(ctx, login, "192.0.2.1")
	}
	logins := []string{"alice", "alice@corp.example"}
	got, err := LoginCounters(ctx, s, logins, now)
	if err != nil || len(got) != 2 || got[0].Count != 1 || got[1].Count != 2 {
		t.Fatalf("LoginCounters = %+v, %v; want 1 for alice and 2 for her UPN", got, err)
	}
	if ok, _ := p.Allowed(ctx, "alice@corp.example", "198.51.100.1"); ok {
		t.Fatal("the UPN was not limited before the unlock")
	}
	if err := Unlock(ctx, s, logins); err != nil {
		t.Fatal(err)
	}
	if ok, _ := p.Allowed(ctx, "ALICE@corp.example", "198.51.100.1"); !ok {
		t.Error("the UPN is still limited after the unlock")
	}
	if ok, _ := p.Allowed(ctx, "bob", "192.0.2.1"); ok {
		t.Error("the unlock cleared the address's counter, which is not the account's")
	}
}
