package totp

import (
	"bytes"
	"encoding/base32"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/secrets"
)

// TestMatchingAgreesWithPquernasValidator checks the step matcher, which
// must report which step matched (pquerna's validator only says whether),
// against totp.ValidateCustom with an explicit time and one step of skew.
func TestMatchingAgreesWithPquernasValidator(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2)) // #nosec G404 -- test data, reproducible.
	d := newCredData()
	opts := pqtotp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	agreed, accepted := 0, 0
	for i := range 2000 {
		seed := make([]byte, SeedBytes)
		for j := range seed {
			seed[j] = byte(r.Uint32())
		}
		secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)
		now := time.Unix(1_700_000_000+r.Int64N(100_000_000), 0)
		// Half the time the phone's code with some drift, half a random code.
		var code string
		if i%2 == 0 {
			drift := time.Duration(r.IntN(181)-90) * time.Second
			code, _ = pqtotp.GenerateCodeCustom(secret, now.Add(drift), opts)
		} else {
			code = string(rune('0'+r.IntN(10))) + "00000"
		}
		want, err := pqtotp.ValidateCustom(code, secret, now, opts)
		if err != nil {
			t.Fatal(err)
		}
		step, got := d.match(seed, code, now)
		if got != want {
			t.Fatalf("seed %x at %v, code %s: match = %v, pquerna = %v", seed, now, code, got, want)
		}
		if got {
			accepted++
			// The reported step must itself produce the code.
			at := time.Unix(int64(step)*30, 0) // #nosec G115 -- test values are small.
			if c, _ := pqtotp.GenerateCodeCustom(secret, at, opts); c != code {
				t.Fatalf("reported step %d gives %s, not %s", step, c, code)
			}
		}
		agreed++
	}
	if accepted < 500 {
		t.Fatalf("only %d of %d accepted: the test does not exercise acceptance", accepted, agreed)
	}
}

func TestASealedSeedOpensOnlyForItsCredentialAndUser(t *testing.T) {
	box, err := secrets.New(bytes.Repeat([]byte{1}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed := box.Seal([]byte("seed"), seedAD("c1", "u1"))
	if _, err := box.Open(sealed, seedAD("c1", "u1")); err != nil {
		t.Fatalf("own place: %v", err)
	}
	for _, ad := range [][]byte{seedAD("c2", "u1"), seedAD("c1", "u2"), pendingAD("u1")} {
		if _, err := box.Open(sealed, ad); !errors.Is(err, secrets.ErrOpen) {
			t.Errorf("opened under %q", ad)
		}
	}
}
