package totp_test

import (
	"bytes"
	"encoding/base32"
	"errors"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/internal/mfatest"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/totp"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
)

// start is a time exactly at the beginning of a 30-second step.
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	store *sqlite.Store
	clock *mfatest.Clock
	log   *mfatest.Log
	f     *totp.TOTP
}

func newFixture(t *testing.T, limit mfa.Limit) *fixture {
	t.Helper()
	fx := &fixture{t: t, store: mfatest.Store(t), clock: mfatest.NewClock(start), log: &mfatest.Log{}}
	f, err := totp.New(totp.Options{
		Store: fx.store, Box: mfatest.Box(t), Issuer: "Contoso SSO",
		Logger: fx.log.Logger(), Now: fx.clock.Now, Limit: limit,
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.f = f
	return fx
}

// code is what an authenticator app shows for secret at time at,
// computed by pquerna/otp.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := pqtotp.GenerateCodeCustom(strings.ReplaceAll(secret, " ", ""), at, pqtotp.ValidateOpts{
		Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolled runs a full enrolment for user and returns the secret as shown.
func (fx *fixture) enrolled(user string) string {
	fx.t.Helper()
	e, err := fx.f.Enrol(fx.t.Context(), user, user+"@corp.example.test")
	if err != nil {
		fx.t.Fatal(err)
	}
	if _, err := fx.f.Confirm(fx.t.Context(), user, e.Pending, code(fx.t, e.Secret, fx.clock.Now()), "Phone"); err != nil {
		fx.t.Fatalf("Confirm: %v", err)
	}
	// Move on so the confirming code's step, and the one after it, are
	// out of the window: every test starts from a clean slate.
	fx.clock.Advance(10 * totp.Period)
	return e.Secret
}

func TestEnrolmentShowsAScannableKeyAndStoresNothingYet(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	e, err := fx.f.Enrol(t.Context(), "u1", "alice@corp.example.test")
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(e.URL)
	if err != nil {
		t.Fatalf("URL %q does not parse: %v", e.URL, err)
	}
	if key.Type() != "totp" || key.Issuer() != "Contoso SSO" || key.AccountName() != "alice@corp.example.test" ||
		key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1 {
		t.Errorf("key = %s", key)
	}
	if got := strings.ReplaceAll(e.Secret, " ", ""); got != key.Secret() || len(got) != 32 {
		t.Errorf("Secret %q does not show the URL's 160-bit secret %q", e.Secret, key.Secret())
	}
	for _, g := range strings.Split(e.Secret, " ") {
		if len(g) != 4 {
			t.Errorf("Secret %q is not in groups of four", e.Secret)
			break
		}
	}
	img, err := png.Decode(bytes.NewReader(e.QRCode))
	if err != nil {
		t.Fatalf("QR code is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != totp.QRSize || b.Dy() != totp.QRSize {
		t.Errorf("QR code is %v", b)
	}
	if !strings.HasPrefix(e.QRCodeDataURI(), "data:image/png;base64,") {
		t.Errorf("data URI %.40q", e.QRCodeDataURI())
	}
	if bytes.Contains(e.Pending, []byte(key.Secret())) {
		t.Error("the pending state holds the secret in the clear")
	}
	if creds, _ := fx.store.ListCredentials(t.Context(), "u1"); len(creds) != 0 {
		t.Errorf("enrolment stored %d credentials before confirmation", len(creds))
	}
	other, _ := fx.f.Enrol(t.Context(), "u1", "alice@corp.example.test")
	if other.Secret == e.Secret {
		t.Error("two enrolments got the same secret")
	}
}

// TestTheQRCodeHasAQuietZoneOfFourModulesAndReadsAsTheKeyURL measures the
// QR code's light border in the PNG itself: the symbol's module size is
// taken from its top-left finder pattern (seven modules wide), and the
// border on every side must be at least totp.QuietZone modules (ISO/IEC
// 18004). An independent decoder (ZXing's port) must then read the
// otpauth:// URL from it.
func TestTheQRCodeHasAQuietZoneOfFourModulesAndReadsAsTheKeyURL(t *testing.T) {
	for _, tc := range []struct{ name, account string }{
		{"a short account name", "al@corp.example.test"},
		{"a long account name, which needs a larger symbol", strings.Repeat("alexandra.schmidt-weber", 3) + "@corp.example.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, mfa.Limit{})
			e, err := fx.f.Enrol(t.Context(), "u1", tc.account)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(e.QRCode))
			if err != nil {
				t.Fatalf("QR code is not a PNG: %v", err)
			}
			sym, module := symbolBounds(t, img)
			modules := sym.Dx() / module
			if sym.Dx() != sym.Dy() || sym.Dx()%module != 0 || modules < 21 || (modules-21)%4 != 0 {
				t.Fatalf("the symbol is %v with %d-pixel modules: not a QR symbol's size", sym, module)
			}
			b := img.Bounds()
			for side, px := range map[string]int{
				"left": sym.Min.X - b.Min.X, "top": sym.Min.Y - b.Min.Y, "right": b.Max.X - sym.Max.X, "bottom": b.Max.Y - sym.Max.Y,
			} {
				if px < totp.QuietZone*module {
					t.Errorf("the quiet zone on the %s is %d pixels, %.1f modules; want at least %d", side, px, float64(px)/float64(module), totp.QuietZone)
				}
			}
			bmp, err := gozxing.NewBinaryBitmapFromImage(img)
			if err != nil {
				t.Fatal(err)
			}
			res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
			if err != nil {
				t.Fatalf("the QR code does not decode: %v", err)
			}
			if res.GetText() != e.URL {
				t.Errorf("the QR code reads %q, want the key URL %q", res.GetText(), e.URL)
			}
		})
	}
}

func TestAKeyIsShownInGroupsOfFour(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		want         []string
	}{
		{"a 160-bit key makes eight full groups", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
			[]string{"JBSW", "Y3DP", "EHPK", "3PXP", "JBSW", "Y3DP", "EHPK", "3PXP"}},
		{"a key whose length is not a multiple of four ends with a short group", "JBSWY3DPEH", []string{"JBSW", "Y3DP", "EH"}},
		{"a key of exactly one group is one group", "JBSW", []string{"JBSW"}},
		{"no key makes no group", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := totp.SecretGroups(tc.secret)
			if !slices.Equal(got, tc.want) {
				t.Errorf("SecretGroups(%q) = %q, want %q", tc.secret, got, tc.want)
			}
			if g := totp.GroupSecret(tc.secret); g != strings.Join(tc.want, " ") || strings.ReplaceAll(g, " ", "") != tc.secret {
				t.Errorf("GroupSecret(%q) = %q", tc.secret, g)
			}
		})
	}
}

// symbolBounds returns the smallest rectangle holding every dark pixel of
// img and the module size in pixels: the length of the dark run the
// top-left finder pattern starts the first dark row with, over seven.
func symbolBounds(t *testing.T, img image.Image) (image.Rectangle, int) {
	t.Helper()
	dark := func(x, y int) bool {
		lum, _, _, _ := color.GrayModel.Convert(img.At(x, y)).RGBA()
		return lum < 0x8000
	}
	b := img.Bounds()
	sym := image.Rectangle{Min: b.Max, Max: b.Min}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if dark(x, y) {
				sym = sym.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if sym.Empty() {
		t.Fatal("the QR code has no dark pixel")
	}
	run := 0
	for x := sym.Min.X; x < sym.Max.X && dark(x, sym.Min.Y); x++ {
		run++
	}
	if run%7 != 0 {
		t.Fatalf("the finder pattern's top edge is %d pixels, not seven whole modules", run)
	}
	return sym, run / 7
}

func TestEnrolmentIsConfirmedOnlyByACorrectCode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		user    string                                            // who confirms
		advance time.Duration                                     // before confirming
		code    func(secret string, now time.Time) string         // what is typed
		check   func(t *testing.T, err error, fx *fixture, n int) // n = credentials stored
	}{
		{
			name: "a correct code confirms and stores the credential", user: "u1",
			code: func(s string, now time.Time) string { return code(t, s, now) },
			check: func(t *testing.T, err error, _ *fixture, n int) {
				if err != nil || n != 1 {
					t.Fatalf("err %v, %d credentials", err, n)
				}
			},
		},
		{
			name: "a wrong code stores nothing", user: "u1",
			code: func(s string, now time.Time) string { return code(t, s, now.Add(-5*totp.Period)) },
			check: func(t *testing.T, err error, _ *fixture, n int) {
				if !errors.Is(err, mfa.ErrInvalidCode) || mfa.Reason(err) != mfa.ReasonWrong || n != 0 {
					t.Fatalf("err %v, %d credentials", err, n)
				}
			},
		},
		{
			name: "an enrolment left too long expires", user: "u1", advance: totp.DefaultTTL,
			code: func(s string, now time.Time) string { return code(t, s, now) },
			check: func(t *testing.T, err error, _ *fixture, n int) {
				if !errors.Is(err, mfa.ErrInvalidCode) || mfa.Reason(err) != mfa.ReasonExpired || n != 0 {
					t.Fatalf("err %v, %d credentials", err, n)
				}
			},
		},
		{
			name: "another user cannot confirm someone's enrolment", user: "u2",
			code: func(s string, now time.Time) string { return code(t, s, now) },
			check: func(t *testing.T, err error, fx *fixture, _ int) {
				creds, _ := fx.store.ListCredentials(t.Context(), "u2")
				if !errors.Is(err, mfa.ErrInvalidCode) || mfa.Reason(err) != mfa.ReasonMismatch || len(creds) != 0 {
					t.Fatalf("err %v, %d credentials", err, len(creds))
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, mfa.Limit{})
			e, err := fx.f.Enrol(t.Context(), "u1", "alice@corp.example.test")
			if err != nil {
				t.Fatal(err)
			}
			fx.clock.Advance(tc.advance)
			_, err = fx.f.Confirm(t.Context(), tc.user, e.Pending, tc.code(e.Secret, fx.clock.Now()), "")
			creds, _ := fx.store.ListCredentials(t.Context(), "u1")
			tc.check(t, err, fx, len(creds))
		})
	}
}

func TestAConfirmedSeedIsSealedAndTheEnrolmentCannotBeConfirmedTwice(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	ctx := t.Context()
	e, _ := fx.f.Enrol(ctx, "u1", "alice@corp.example.test")
	c := code(t, e.Secret, fx.clock.Now())
	f, err := fx.f.Confirm(ctx, "u1", e.Pending, c, "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Method != mfa.MethodTOTP || f.Name != "" { // the page names the method in the reader's language
		t.Errorf("factor %+v", f)
	}
	cred, err := fx.store.GetCredential(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := otp.NewKeyFromURL(e.URL)
	seed, _ := decodeSecret(key.Secret())
	if len(cred.Secret) == 0 || bytes.Contains(cred.Secret, seed) || bytes.Contains(cred.Secret, []byte(key.Secret())) ||
		bytes.Contains(cred.Data, []byte(key.Secret())) {
		t.Error("the stored credential holds the seed in the clear")
	}
	if _, err := fx.f.Confirm(ctx, "u1", e.Pending, c, ""); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("second confirmation: %v", err)
	}
	// The confirming code's step is used: it cannot also sign in.
	if err := fx.f.Verify(ctx, "u1", c); !errors.Is(err, mfa.ErrInvalidCode) || mfa.Reason(err) != mfa.ReasonReplayed {
		t.Errorf("the confirming code signed in: %v", err)
	}
}

func TestVerificationAcceptsOneStepOfDriftEitherWay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset time.Duration // of the phone's clock against ours
		ok     bool
	}{
		{"the current step's code is accepted", 0, true},
		{"a phone one step behind is accepted", -totp.Period, true},
		{"a phone one step ahead is accepted", totp.Period, true},
		{"a phone two steps behind is refused", -2 * totp.Period, false},
		{"a phone two steps ahead is refused", 2 * totp.Period, false},
		{"the last second of the previous step is accepted", -time.Second, true},
		{"a phone 89 seconds ahead is refused", 89 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, mfa.Limit{})
			secret := fx.enrolled("u1")
			err := fx.f.Verify(t.Context(), "u1", code(t, secret, fx.clock.Now().Add(tc.offset)))
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (!errors.Is(err, mfa.ErrInvalidCode) || mfa.Reason(err) != mfa.ReasonWrong) {
				t.Fatalf("got %v, want a wrong-code refusal", err)
			}
		})
	}
}

func TestACodeIsAcceptedOnlyOnce(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	ctx := t.Context()
	secret := fx.enrolled("u1")
	now := fx.clock.Now()
	if err := fx.f.Verify(ctx, "u1", code(t, secret, now)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{"the same code again is a replay", now},
		{"the same code typed with a space is a replay", now},
		{"the previous step's code after the current one is a replay", now.Add(-totp.Period)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := code(t, secret, tc.at)
			if strings.Contains(tc.name, "space") {
				c = c[:3] + " " + c[3:]
			}
			err := fx.f.Verify(ctx, "u1", c)
			if !errors.Is(err, mfa.ErrInvalidCode) || mfa.Reason(err) != mfa.ReasonReplayed {
				t.Fatalf("got %v, want a replay refusal", err)
			}
		})
	}
	t.Run("the next step's code is accepted", func(t *testing.T) {
		fx.clock.Advance(totp.Period)
		if err := fx.f.Verify(ctx, "u1", code(t, secret, fx.clock.Now())); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOfConcurrentVerificationsOfOneCodeExactlyOneSucceeds(t *testing.T) {
	fx := newFixture(t, mfa.Limit{Max: 100, Window: time.Minute})
	secret := fx.enrolled("u1")
	c := code(t, secret, fx.clock.Now())
	const n = 16
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		ok, replayed, o int
	)
	for range n {
		wg.Go(func() {
			err := fx.f.Verify(t.Context(), "u1", c)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case mfa.Reason(err) == mfa.ReasonReplayed:
				replayed++
			default:
				o++
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || replayed != n-1 {
		t.Fatalf("%d succeeded, %d replays, %d other; want exactly one success", ok, replayed, o)
	}
}

func TestTooManyWrongCodesThrottleTheUser(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	ctx := t.Context()
	secret := fx.enrolled("u1")
	wrong := code(t, secret, fx.clock.Now().Add(-10*totp.Period))
	for i := range totp.DefaultLimit().Max {
		if err := fx.f.Verify(ctx, "u1", wrong); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	if err := fx.f.Verify(ctx, "u1", code(t, secret, fx.clock.Now())); !errors.Is(err, mfa.ErrThrottled) {
		t.Fatalf("even a right code must wait once throttled: %v", err)
	}
	if err := fx.f.Verify(ctx, "u2", "123456"); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("another user: %v", err)
	}
	fx.clock.Advance(totp.DefaultLimit().Window)
	if err := fx.f.Verify(ctx, "u1", code(t, secret, fx.clock.Now())); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestASuccessClearsTheFailureCount(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	ctx := t.Context()
	secret := fx.enrolled("u1")
	wrong := code(t, secret, fx.clock.Now().Add(-10*totp.Period))
	for range totp.DefaultLimit().Max - 1 {
		_ = fx.f.Verify(ctx, "u1", wrong)
	}
	if err := fx.f.Verify(ctx, "u1", code(t, secret, fx.clock.Now())); err != nil {
		t.Fatal(err)
	}
	for i := range totp.DefaultLimit().Max {
		if err := fx.f.Verify(ctx, "u1", wrong); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("attempt %d after a success: %v", i+1, err)
		}
	}
}

func TestAUserWithoutTOTPIsNotEnrolled(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	if err := fx.f.Verify(t.Context(), "nobody", "123456"); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("got %v", err)
	}
	if ok, err := fx.f.Enrolled(t.Context(), "nobody"); ok || err != nil {
		t.Fatalf("Enrolled = %v, %v", ok, err)
	}
}

func TestMalformedCodesAreRefusedAsInvalid(t *testing.T) {
	fx := newFixture(t, mfa.Limit{Max: 100, Window: time.Minute})
	fx.enrolled("u1")
	for _, in := range []string{"", "12345", "1234567", "abcdef", "12345\x00", strings.Repeat("1", 1000)} {
		err := fx.f.Verify(t.Context(), "u1", in)
		if !errors.Is(err, mfa.ErrInvalidCode) || mfa.Reason(err) != mfa.ReasonMalformed {
			t.Errorf("Verify(%.20q) = %v", in, err)
		}
	}
}

func TestTheLogNeverHoldsACodeOrTheSecret(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	ctx := t.Context()
	e, _ := fx.f.Enrol(ctx, "u1", "alice@corp.example.test")
	c1 := code(t, e.Secret, fx.clock.Now())
	if _, err := fx.f.Confirm(ctx, "u1", e.Pending, c1, ""); err != nil {
		t.Fatal(err)
	}
	fx.clock.Advance(totp.Period)
	c2 := code(t, e.Secret, fx.clock.Now())
	_ = fx.f.Verify(ctx, "u1", c2)
	_ = fx.f.Verify(ctx, "u1", c2)
	wrong := code(t, e.Secret, fx.clock.Now().Add(-10*totp.Period))
	_ = fx.f.Verify(ctx, "u1", wrong)
	log := fx.log.String()
	if !strings.Contains(log, "reason=replayed") || !strings.Contains(log, "reason=wrong") {
		t.Fatalf("the log does not tell why codes were refused:\n%s", log)
	}
	for _, secret := range []string{c1, c2, wrong, strings.ReplaceAll(e.Secret, " ", "")} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds %q:\n%s", secret, log)
		}
	}
}

func TestNewRefusesMissingCollaborators(t *testing.T) {
	s := mfatest.Store(t)
	for _, tc := range []struct {
		name string
		o    totp.Options
	}{
		{"without a store", totp.Options{Box: mfatest.Box(t), Issuer: "x"}},
		{"without a box", totp.Options{Store: s, Issuer: "x"}},
		{"without an issuer", totp.Options{Store: s, Box: mfatest.Box(t)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := totp.New(tc.o); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

func decodeSecret(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

func TestAUserWithoutAnAuthenticatorIsThrottledAtTheSameCountAsOneTypingWrongCodes(t *testing.T) {
	fx := newFixture(t, mfa.Limit{})
	for i := range totp.DefaultLimit().Max {
		if err := fx.f.Verify(t.Context(), "nobody", "123456"); !errors.Is(err, mfa.ErrNotEnrolled) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	if err := fx.f.Verify(t.Context(), "nobody", "123456"); !errors.Is(err, mfa.ErrThrottled) {
		t.Fatalf("attempt %d: %v, want throttled", totp.DefaultLimit().Max+1, err)
	}
}
