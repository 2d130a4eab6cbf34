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

func TestWrongPasswordsAreLimitedPerLoginAndPerAddress(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	p := NewPasswords(s, LegacyLimits{PerLogin: 3, PerIP: 5, Window: 15 * time.Minute}, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	allowed := func(login, ip string) bool {
		t.Helper()
		ok, err := p.Allowed(ctx, login, ip)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for range 3 {
		if !allowed("Alice", "192.0.2.1") {
			t.Fatal("refused before the limit")
		}
		p.Failed(ctx, "Alice", "192.0.2.1")
	}
	if allowed("alice", "192.0.2.2") {
		t.Error("the login's limit is not shared across case and addresses")
	}
	if !allowed("bob", "192.0.2.1") {
		t.Error("another login from the same address was refused below the address limit")
	}
	p.Failed(ctx, "bob", "192.0.2.1")
	p.Failed(ctx, "carol", "192.0.2.1")
	if allowed("dave", "192.0.2.1") {
		t.Error("the address limit did not hold")
	}
	now = now.Add(16 * time.Minute)
	if !allowed("alice", "192.0.2.1") {
		t.Error("still refused after the window")
	}
}
