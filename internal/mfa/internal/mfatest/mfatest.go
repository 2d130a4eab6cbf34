// Package mfatest holds what the factor tests share: a real SQLite store
// in a temporary directory, a secrets box, a clock the test moves, and a
// log that records everything so a test can prove no code leaked into it.
//
// It is imported by tests only.
package mfatest

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"

	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/secrets"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
)

// Store opens a fresh SQLite store and closes it when t ends.
func Store(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"), store.Options{})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("store Close: %v", err)
		}
	})
	return s
}

// Box returns a secrets box with a fixed test key.
func Box(t testing.TB) *secrets.Box {
	t.Helper()
	b, err := secrets.New(bytes.Repeat([]byte{0x42}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Clock is a time that only moves when the test says so.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Log is a logger writing to a buffer the test can search.
type Log struct{ testenv.Buffer }

// Logger returns a debug-level logger writing to l.
func (l *Log) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// ExactlyOnce runs verify n times at once and fails the test unless exactly
// one run succeeds and every other is refused as already used.
func ExactlyOnce(t *testing.T, n int, verify func() error) {
	t.Helper()
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		ok, used, other int
	)
	for range n {
		wg.Go(func() {
			err := verify()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case mfa.Reason(err) == mfa.ReasonUsed:
				used++
			default:
				other++
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || used != n-1 {
		t.Fatalf("%d succeeded, %d refused as used, %d other; want exactly one success", ok, used, other)
	}
}
