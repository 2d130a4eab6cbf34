package totp_test

import (
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/internal/mfatest"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/totp"
)

// BenchmarkVerify is one TOTP verification as a sign-in does it, on a
// SQLite store: list the user's credentials, count the attempt, open the
// seed, compare the codes of the window and, for a right code, mark its
// step used (compare-and-swap) and reset the attempt counter.
func BenchmarkVerify(b *testing.B) {
	ctx := b.Context()
	clock := mfatest.NewClock(start)
	f, err := totp.New(totp.Options{
		Store: mfatest.Store(b), Box: mfatest.Box(b), Issuer: "Contoso SSO", Logger: slog.New(slog.DiscardHandler),
		Now: clock.Now, Limit: mfa.Limit{Max: math.MaxInt32, Window: time.Hour}, // never throttled
	})
	if err != nil {
		b.Fatal(err)
	}
	opts := pqtotp.ValidateOpts{Period: 30, Skew: totp.Skew, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	codeAt := func(secret string, at time.Time) string {
		c, err := pqtotp.GenerateCodeCustom(secret, at, opts)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	e, err := f.Enrol(ctx, "u1", "alice@corp.example.test")
	if err != nil {
		b.Fatal(err)
	}
	secret := strings.ReplaceAll(e.Secret, " ", "")
	if _, err := f.Confirm(ctx, "u1", e.Pending, codeAt(secret, clock.Now()), "Phone"); err != nil {
		b.Fatal(err)
	}

	b.Run("right code", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			clock.Advance(totp.Period) // a fresh step: a code is accepted once
			if err := f.Verify(ctx, "u1", codeAt(secret, clock.Now())); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wrong code", func(b *testing.B) {
		wrong := "000000"
		for n := 1; ; n++ {
			if ok, _ := pqtotp.ValidateCustom(wrong, secret, clock.Now(), opts); !ok {
				break
			}
			wrong = codeAt(secret, clock.Now().Add(time.Duration(n)*time.Hour))
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := f.Verify(ctx, "u1", wrong); err == nil {
				b.Fatal("a wrong code was accepted")
			}
		}
	})
}
