package mfa_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/internal/mfatest"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

func TestEachMethodContributesItsRFC8176Value(t *testing.T) {
	for _, tc := range []struct{ method, amr string }{
		{mfa.MethodTOTP, "otp"},
		{mfa.MethodEmail, "otp"},
		{mfa.MethodRecovery, "otp"},
		{mfa.MethodWebAuthn, "hwk"},
		{"sms", ""},
		{"", ""},
	} {
		t.Run(tc.method, func(t *testing.T) {
			if got := mfa.AMR(tc.method); got != tc.amr {
				t.Errorf("AMR(%q) = %q, want %q", tc.method, got, tc.amr)
			}
		})
	}
}

func TestARefusedCodeLooksTheSameToTheUserButTellsTheLogWhy(t *testing.T) {
	for _, reason := range []string{mfa.ReasonWrong, mfa.ReasonExpired, mfa.ReasonReplayed, mfa.ReasonUsed, mfa.ReasonMalformed} {
		t.Run(reason, func(t *testing.T) {
			err := mfa.Invalid(mfa.MethodTOTP, reason)
			if !errors.Is(err, mfa.ErrInvalidCode) {
				t.Fatalf("%v does not match ErrInvalidCode", err)
			}
			wrapped := errors.Join(errors.New("context"), err)
			if got := mfa.Reason(wrapped); got != reason {
				t.Errorf("Reason = %q, want %q", got, reason)
			}
			if errors.Is(err, mfa.ErrThrottled) || errors.Is(err, mfa.ErrNotEnrolled) {
				t.Error("an invalid code also matches another typed error")
			}
		})
	}
	if got := mfa.Reason(mfa.ErrThrottled); got != "throttled" {
		t.Errorf("Reason(ErrThrottled) = %q", got)
	}
	if got := mfa.Reason(errors.New("other")); got != "" {
		t.Errorf("Reason(other) = %q, want empty", got)
	}
}

func TestNormalizeDigits(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
		ok       bool
	}{
		{"six digits pass unchanged", "123456", 6, "123456", true},
		{"spaces between groups are dropped", "123 456", 6, "123456", true},
		{"a dash and surrounding blanks are dropped", " 123-456\n", 6, "123456", true},
		{"a pasted no-break space is dropped", "123\u00a0456", 6, "123456", true},
		{"leading zeros are kept", "000042", 6, "000042", true},
		{"eight digits for an eight-digit code", "1234 5678", 8, "12345678", true},
		{"too few digits are refused", "12345", 6, "", false},
		{"too many digits are refused", "1234567", 6, "", false},
		{"letters are refused", "12345a", 6, "", false},
		{"non-ASCII digits are refused", "١٢٣٤٥٦", 6, "", false},
		{"an empty input is refused", "", 6, "", false},
		{"an absurdly long input is refused", strings.Repeat(" ", 100) + "123456", 6, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := mfa.NormalizeDigits(tc.in, tc.n)
			if got != tc.want || ok != tc.ok {
				t.Errorf("NormalizeDigits(%q, %d) = %q, %v; want %q, %v", tc.in, tc.n, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzNormalizeDigits(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "12-34-56", "", "abc", "١٢٣٤٥٦", "\u00a01\u00a02"} {
		f.Add(s, 6)
	}
	f.Fuzz(func(t *testing.T, in string, n int) {
		n = n%10 + 1
		if n < 1 {
			n = -n + 1
		}
		got, ok := mfa.NormalizeDigits(in, n)
		if !ok {
			if got != "" {
				t.Fatalf("refused input returned %q", got)
			}
			return
		}
		if len(got) != n {
			t.Fatalf("NormalizeDigits(%q, %d) = %q: wrong length", in, n, got)
		}
		for _, r := range got {
			if r < '0' || r > '9' {
				t.Fatalf("NormalizeDigits(%q, %d) = %q: not all digits", in, n, got)
			}
		}
		if !utf8.ValidString(got) {
			t.Fatal("invalid UTF-8")
		}
		if again, ok := mfa.NormalizeDigits(got, n); !ok || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, ok)
		}
	})
}

func TestTheLimiterLetsExactlyMaxAttemptsThroughEvenConcurrently(t *testing.T) {
	s := mfatest.Store(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := mfa.Limiter{Throttle: s, Limit: mfa.Limit{Max: 5, Window: 5 * time.Minute}}
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		allowed, throttle int
	)
	for range 20 {
		wg.Go(func() {
			err := l.Attempt(t.Context(), "k", now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				allowed++
			case errors.Is(err, mfa.ErrThrottled):
				throttle++
			default:
				t.Errorf("Attempt: %v", err)
			}
		})
	}
	wg.Wait()
	if allowed != 5 || throttle != 15 {
		t.Fatalf("allowed %d, throttled %d; want 5 and 15", allowed, throttle)
	}
	if err := l.Attempt(t.Context(), "k", now.Add(5*time.Minute)); err != nil {
		t.Errorf("a new window is still throttled: %v", err)
	}
	if err := l.Reset(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.GetCounter(t.Context(), "k", now.Add(5*time.Minute)); c.Count != 0 {
		t.Errorf("Reset left count %d", c.Count)
	}
}

func TestNoLimitNeverRefusesAndCountsNothing(t *testing.T) {
	s := mfatest.Store(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := mfa.Limiter{Throttle: s, Limit: mfa.NoLimit()}
	for i := range 50 {
		if err := l.Attempt(t.Context(), "k", now); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	if c, _ := s.GetCounter(t.Context(), "k", now); c.Count != 0 {
		t.Errorf("NoLimit counted %d", c.Count)
	}
	if err := l.Reset(t.Context(), "k"); err != nil {
		t.Error(err)
	}
}

func TestListFactorsShowsEnrolledFactorsButNotForeignTypes(t *testing.T) {
	s := mfatest.Store(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, c := range []store.Credential{
		{ID: "a", UserID: "u1", Type: mfa.MethodTOTP, Name: "Phone"},
		{ID: "b", UserID: "u1", Type: mfa.MethodRecovery, Name: "Recovery codes", LookupKey: "u1"},
		{ID: "c", UserID: "u1", Type: "something-else"},
		{ID: "d", UserID: "u2", Type: mfa.MethodTOTP},
	} {
		c.CreatedAt = at.Add(time.Duration(i) * time.Minute)
		if err := s.CreateCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := mfa.ListFactors(ctx, s, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "a" || got[0].Method != mfa.MethodTOTP || got[0].Name != "Phone" ||
		got[1].ID != "b" || got[1].Method != mfa.MethodRecovery {
		t.Fatalf("ListFactors = %+v", got)
	}
	none, err := mfa.ListFactors(ctx, s, "nobody")
	if err != nil || len(none) != 0 {
		t.Fatalf("ListFactors(nobody) = %v, %v", none, err)
	}
}

func TestNewIDsAreRandomAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, err := mfa.NewID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 26 || seen[id] {
			t.Fatalf("id %q: wrong length or repeated", id)
		}
		seen[id] = true
	}
	if _, err := mfa.NewID(strings.NewReader("short")); err == nil {
		t.Error("a failing random source gave an ID")
	}
}
