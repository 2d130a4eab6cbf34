package recovery_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/internal/mfatest"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/recovery"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
)

type fixture struct {
	store *sqlite.Store
	clock *mfatest.Clock
	log   *mfatest.Log
	c     *recovery.Codes
}

func newFixture(t *testing.T, limit mfa.Limit) *fixture {
	t.Helper()
	fx := &fixture{store: mfatest.Store(t), clock: mfatest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), log: &mfatest.Log{}}
	c, err := recovery.New(recovery.Options{
		Store: fx.store, Key: mfatest.Box(t).DeriveKey("mfa recovery"), Logger: fx.log.Logger(), Now: fx.clock.Now, Limit: limit,
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.c = c
	return fx
}

func TestASetHasTenDistinctCodesShownOnceAndStoredOnlyAsHashes(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	ctx := t.Context()
	codes, err := fx.c.Generate(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != recovery.DefaultCount {
		t.Fatalf("%d codes", len(codes))
	}
	seen := map[string]bool{}
	creds, _ := fx.store.ListCredentials(ctx, "u1")
	if len(creds) != 1 || creds[0].Type != mfa.MethodRecovery || len(creds[0].Secret) != 0 {
		t.Fatalf("stored %+v", creds)
	}
	for _, c := range codes {
		norm, ok := recovery.Normalize(c)
		if !ok || len(c) != 11 || c[5] != '-' || recovery.Format(norm) != c {
			t.Errorf("code %q is not of the form xxxxx-xxxxx", c)
		}
		if seen[c] {
			t.Errorf("code %q repeated", c)
		}
		seen[c] = true
		if bytes.Contains(creds[0].Data, []byte(norm)) || bytes.Contains(creds[0].Data, []byte(c)) {
			t.Errorf("code %q is stored in the clear", c)
		}
	}
	if n, err := fx.c.Remaining(ctx, "u1"); n != recovery.DefaultCount || err != nil {
		t.Errorf("Remaining = %d, %v", n, err)
	}
	if strings.Contains(fx.log.String(), strings.Split(codes[0], "-")[0]) {
		t.Error("the log holds a code")
	}
}

func TestEachCodeWorksOnceAndTheCountGoesDown(t *testing.T) {
	fx := newFixture(t, mfa.Limit{Max: 100, Window: time.Minute})
	ctx := t.Context()
	codes, _ := fx.c.Generate(ctx, "u1")
	for i, c := range codes {
		left, err := fx.c.Verify(ctx, "u1", c)
		if err != nil || left != len(codes)-i-1 {
			t.Fatalf("code %d: %d left, %v", i, left, err)
		}
		if _, err := fx.c.Verify(ctx, "u1", c); !errors.Is(err, mfa.ErrInvalidCode) || mfa.Reason(err) != mfa.ReasonUsed {
			t.Fatalf("code %d used twice: %v", i, err)
		}
	}
	if n, _ := fx.c.Remaining(ctx, "u1"); n != 0 {
		t.Errorf("Remaining = %d after using all", n)
	}
}

func TestTypedCodesAreReadForgivingly(t *testing.T) {
	fx := newFixture(t, mfa.Limit{Max: 100, Window: time.Minute})
	ctx := t.Context()
	codes, _ := fx.c.Generate(ctx, "u1")
	for i, tc := range []struct {
		name  string
		typed func(c string) string
	}{
		{"as shown", func(c string) string { return c }},
		{"in capitals", strings.ToUpper},
		{"without the dash", func(c string) string { return strings.ReplaceAll(c, "-", "") }},
		{"with spaces instead of the dash", func(c string) string { return strings.ReplaceAll(c, "-", " ") }},
		{"with blanks around it", func(c string) string { return "  " + c + "\n" }},
		{"with letter o for zero and l for one", func(c string) string {
			return strings.NewReplacer("0", "o", "1", "l").Replace(c)
		}},
		{"with I for one", func(c string) string { return strings.ReplaceAll(strings.ToUpper(c), "1", "I") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := fx.c.Verify(ctx, "u1", tc.typed(codes[i])); err != nil {
				t.Fatalf("Verify(%q): %v", tc.typed(codes[i]), err)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"a displayed code", "7k3mq-x9d2f", "7k3mq x9d2f", true},
		{"capitals and no dash", "7K3MQX9D2F", "7k3mq x9d2f", true},
		{"look-alikes are read as digits", "oOiIlL2345", "001111 2345", true},
		{"u is not in the alphabet", "uuuuu-uuuuu", "", false},
		{"too short", "7k3mq-x9d2", "", false},
		{"too long", "7k3mq-x9d2ff", "", false},
		{"punctuation", "7k3mq.x9d2f", "", false},
		{"non-ASCII letters", "7k3mq-x9d2ä", "", false},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := recovery.Normalize(tc.in)
			want := strings.ReplaceAll(tc.want, " ", "")
			if got != want || ok != tc.ok {
				t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tc.in, got, ok, want, tc.ok)
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"7k3mq-x9d2f", "7K3MQ X9D2F", "oOiIlL2345", "", "-----", "ééééé-ééééé", "\u00a0abcde\u2011fghjk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := recovery.Normalize(in)
		if !ok {
			if got != "" {
				t.Fatalf("refused input returned %q", got)
			}
			return
		}
		if len(got) != recovery.Length {
			t.Fatalf("Normalize(%q) = %q: wrong length", in, got)
		}
		for i := range len(got) {
			if !strings.ContainsRune(recovery.Alphabet, rune(got[i])) {
				t.Fatalf("Normalize(%q) = %q: %q is not in the alphabet", in, got, got[i])
			}
		}
		if again, ok := recovery.Normalize(recovery.Format(got)); !ok || again != got {
			t.Fatalf("a formatted code does not read back: %q -> %q, %v", got, again, ok)
		}
	})
}

func TestRegeneratingReplacesTheWholeSet(t *testing.T) {
	fx := newFixture(t, mfa.Limit{Max: 100, Window: time.Minute})
	ctx := t.Context()
	old, _ := fx.c.Generate(ctx, "u1")
	if _, err := fx.c.Verify(ctx, "u1", old[0]); err != nil {
		t.Fatal(err)
	}
	fresh, err := fx.c.Generate(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := fx.c.Remaining(ctx, "u1"); n != recovery.DefaultCount {
		t.Errorf("Remaining = %d after regenerating", n)
	}
	for _, c := range old[1:] {
		if _, err := fx.c.Verify(ctx, "u1", c); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("an old code still works: %v", err)
		}
	}
	if _, err := fx.c.Verify(ctx, "u1", fresh[3]); err != nil {
		t.Fatalf("a new code does not work: %v", err)
	}
	if creds, _ := fx.store.ListCredentials(ctx, "u1"); len(creds) != 1 {
		t.Errorf("%d recovery sets stored", len(creds))
	}
}

func TestOneUsersCodeDoesNotWorkForAnother(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	ctx := t.Context()
	codes, _ := fx.c.Generate(ctx, "u1")
	if _, err := fx.c.Generate(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.c.Verify(ctx, "u2", codes[0]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("u1's code worked for u2: %v", err)
	}
}

func TestOfConcurrentUsesOfOneCodeExactlyOneSucceeds(t *testing.T) {
	fx := newFixture(t, mfa.Limit{Max: 100, Window: time.Minute})
	codes, _ := fx.c.Generate(t.Context(), "u1")
	mfatest.ExactlyOnce(t, 16, func() error { _, err := fx.c.Verify(t.Context(), "u1", codes[0]); return err })
	if left, _ := fx.c.Remaining(t.Context(), "u1"); left != recovery.DefaultCount-1 {
		t.Errorf("Remaining = %d", left)
	}
}

func TestConcurrentFirstGenerationsLeaveOneSet(t *testing.T) {
	fx := newFixture(t, mfa.Limit{Max: 100, Window: time.Minute})
	ctx := t.Context()
	sets := make([][]string, 4)
	var wg sync.WaitGroup
	for i := range sets {
		wg.Go(func() {
			var err error
			if sets[i], err = fx.c.Generate(ctx, "u1"); err != nil {
				t.Errorf("Generate: %v", err)
			}
		})
	}
	wg.Wait()
	if creds, _ := fx.store.ListCredentials(ctx, "u1"); len(creds) != 1 {
		t.Fatalf("%d recovery sets stored", len(creds))
	}
	working := 0
	for _, set := range sets {
		if _, err := fx.c.Verify(ctx, "u1", set[0]); err == nil {
			working++
		}
	}
	if working != 1 {
		t.Fatalf("codes of %d sets work; want exactly the last one's", working)
	}
}

func TestTooManyWrongCodesThrottleTheUser(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	ctx := t.Context()
	codes, _ := fx.c.Generate(ctx, "u1")
	for i := range recovery.DefaultLimit().Max {
		if _, err := fx.c.Verify(ctx, "u1", "22222-22222"); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	if _, err := fx.c.Verify(ctx, "u1", codes[0]); !errors.Is(err, mfa.ErrThrottled) {
		t.Fatalf("a right code went through while throttled: %v", err)
	}
	fx.clock.Advance(recovery.DefaultLimit().Window)
	if _, err := fx.c.Verify(ctx, "u1", codes[0]); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestAUserWithoutASetIsNotEnrolled(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	if _, err := fx.c.Verify(t.Context(), "nobody", "22222-22222"); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("got %v", err)
	}
	if n, err := fx.c.Remaining(t.Context(), "nobody"); n != 0 || err != nil {
		t.Fatalf("Remaining = %d, %v", n, err)
	}
}

func TestNewRefusesAShortKey(t *testing.T) {
	if _, err := recovery.New(recovery.Options{Store: mfatest.Store(t), Key: []byte("short")}); err == nil {
		t.Fatal("New accepted a short key")
	}
}

func TestAUserWithoutASetIsThrottledAtTheSameCountAsOneTypingWrongCodes(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	for i := range recovery.DefaultLimit().Max {
		if _, err := fx.c.Verify(t.Context(), "nobody", "22222-22222"); !errors.Is(err, mfa.ErrNotEnrolled) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	if _, err := fx.c.Verify(t.Context(), "nobody", "22222-22222"); !errors.Is(err, mfa.ErrThrottled) {
		t.Fatalf("attempt %d: %v, want throttled", recovery.DefaultLimit().Max+1, err)
	}
}
