// Package totp is the authenticator-app factor (RFC 6238 time-based
// one-time passwords, 6 digits, 30-second steps, HMAC-SHA1 — what every
// authenticator app understands).
//
// It owns enrolment (a 160-bit seed, the otpauth:// URL, its QR code and
// the seed as text to type), confirmation by a first correct code,
// verification with one step of clock drift either way, single use of each
// time step per credential, and the per-user attempt limit. Seeds are
// stored sealed with secrets.Box, bound to their credential and user.
//
// It must not log or return a seed or a code, and knows nothing of HTTP.
package totp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/secrets"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// The code shape. These are the defaults of every authenticator app; the
// values are also written into each credential so they could change for
// new enrolments without breaking old ones.
const (
	Digits     = 6
	Period     = 30 * time.Second
	SeedBytes  = 20 // 160 bits, RFC 4226's recommended length for SHA-1
	Skew       = 1  // steps accepted either side of the current one
	QRSize     = 256
	DefaultTTL = 15 * time.Minute
	// QuietZone is the light border around the QR symbol, in modules:
	// ISO/IEC 18004 asks for four, and phone cameras that meet a dark
	// page right at the symbol's edge often fail to find it.
	QuietZone = 4
)

// DefaultLimit is the attempt limit per user when Options.Limit is zero.
func DefaultLimit() mfa.Limit { return mfa.Limit{Max: 5, Window: 5 * time.Minute} }

// DefaultName is the label older versions stored for a credential the
// user did not name. Such a credential is now stored without a name (pages
// show the method's name in the reader's language); pages treat this
// label as no name.
const DefaultName = "Authenticator app"

// Store is what the factor needs of the store.
type Store interface {
	CreateCredential(ctx context.Context, c store.Credential) error
	ListCredentials(ctx context.Context, userID string) ([]store.Credential, error)
	UpdateCredential(ctx context.Context, id string, fn func(store.Credential) (store.Credential, error)) (store.Credential, error)
	store.Throttle
}

// Options configures the factor.
type Options struct {
	Store Store
	Box   *secrets.Box
	// Issuer names the service in the authenticator app (config ui.name).
	Issuer string
	Logger *slog.Logger
	Now    func() time.Time
	// Rand is the source of seeds and IDs; nil means crypto/rand.
	Rand io.Reader
	// Limit bounds verification and confirmation attempts per user; zero
	// means DefaultLimit.
	Limit mfa.Limit
	// EnrolmentTTL bounds the time between Enrol and Confirm; zero means
	// DefaultTTL.
	EnrolmentTTL time.Duration
}

// TOTP is the authenticator-app factor.
type TOTP struct {
	store  Store
	box    *secrets.Box
	issuer string
	log    *slog.Logger
	now    func() time.Time
	rand   io.Reader
	limit  mfa.Limiter
	ttl    time.Duration
}

// New returns the factor.
func New(o Options) (*TOTP, error) {
	if o.Store == nil || o.Box == nil {
		return nil, errors.New("totp: a store and a secrets box are required")
	}
	if strings.TrimSpace(o.Issuer) == "" {
		return nil, errors.New("totp: an issuer name is required")
	}
	t := &TOTP{store: o.Store, box: o.Box, issuer: o.Issuer, log: o.Logger, now: o.Now, rand: o.Rand,
		limit: mfa.Limiter{Throttle: o.Store, Limit: o.Limit}, ttl: o.EnrolmentTTL}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.rand == nil {
		t.rand = rand.Reader
	}
	if t.limit.Limit == (mfa.Limit{}) {
		t.limit.Limit = DefaultLimit()
	}
	if t.ttl <= 0 {
		t.ttl = DefaultTTL
	}
	return t, nil
}

// Enrolment is a started enrolment: what to show the user, and Pending,
// the sealed state to keep server-side (e.g. in the flow) and hand back
// to Confirm. Nothing is stored until Confirm succeeds.
type Enrolment struct {
	// URL is the otpauth:// key URI (issuer, account, secret).
	URL string
	// QRCode is a PNG of URL, QRSize pixels square, each module a whole
	// number of pixels, with a quiet zone of at least QuietZone modules.
	QRCode []byte
	// Secret is the seed in base32, in groups of four for typing.
	Secret    string
	Pending   []byte
	ExpiresAt time.Time
}

// QRCodeDataURI returns the QR code as a data: URI for an <img src>.
// (html/template needs it typed as template.URL to let it through.)
func (e Enrolment) QRCodeDataURI() string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRCode)
}

// pendingEnrolment is the sealed Enrolment.Pending.
type pendingEnrolment struct {
	ID       string    `json:"id"`
	UserID   string    `json:"user"`
	Seed     []byte    `json:"seed"`
	NotAfter time.Time `json:"not_after"`
}

// credData is the public part of a stored credential (store.Credential.Data).
type credData struct {
	Version   int    `json:"v"`
	Digits    int    `json:"digits"`
	Period    int    `json:"period"` // seconds
	Algorithm string `json:"algorithm"`
	// LastStep is the last time step accepted; a code of that step or an
	// earlier one is a replay.
	LastStep uint64 `json:"last_step"`
}

// Enrol starts an enrolment for userID. account is what the authenticator
// app shows under the issuer (the UPN).
func (t *TOTP) Enrol(ctx context.Context, userID, account string) (Enrolment, error) {
	if userID == "" || account == "" {
		return Enrolment{}, errors.New("totp: enrol: user and account are required")
	}
	seed := make([]byte, SeedBytes)
	if _, err := io.ReadFull(t.rand, seed); err != nil {
		return Enrolment{}, fmt.Errorf("totp: enrol: randomness: %w", err)
	}
	id, err := mfa.NewID(t.rand)
	if err != nil {
		return Enrolment{}, fmt.Errorf("totp: enrol: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: t.issuer, AccountName: account, Secret: seed,
		Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("totp: enrol: %w", err)
	}
	qrPNG, err := qrCode(key.URL(), QRSize)
	if err != nil {
		return Enrolment{}, fmt.Errorf("totp: enrol: QR code: %w", err)
	}
	notAfter := t.now().Add(t.ttl)
	raw, err := json.Marshal(pendingEnrolment{ID: id, UserID: userID, Seed: seed, NotAfter: notAfter})
	if err != nil {
		return Enrolment{}, fmt.Errorf("totp: enrol: %w", err)
	}
	return Enrolment{
		URL:       key.URL(),
		QRCode:    qrPNG,
		Secret:    GroupSecret(key.Secret()),
		Pending:   t.box.Seal(raw, pendingAD(userID)),
		ExpiresAt: notAfter,
	}, nil
}

// qrCode draws content as a QR code (error correction M) in a PNG size
// pixels square: whole pixels per module, so nothing blurs, and the symbol
// centred with at least QuietZone light modules on every side.
// (pquerna/otp's Key.Image scales the bare symbol to the edge: its quiet
// zone is less than one module.)
func qrCode(content string, size int) ([]byte, error) {
	sym, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return nil, err
	}
	n := sym.Bounds().Dx()
	scale := size / (n + 2*QuietZone)
	if scale < 1 {
		return nil, fmt.Errorf("a %d-module symbol does not fit %d pixels with its quiet zone", n, size)
	}
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	off := (size - n*scale) / 2
	for y := range n {
		for x := range n {
			if lum, _, _, _ := color.GrayModel.Convert(sym.At(x, y)).RGBA(); lum >= 0x8000 {
				continue // a light module
			}
			for dy := range scale {
				row := img.Pix[(off+y*scale+dy)*img.Stride:]
				for dx := range scale {
					row[off+x*scale+dx] = 1
				}
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Confirm finishes an enrolment when code is right for the pending seed:
// it stores the credential (named name, which may be empty) and returns it.
// The confirming code's step counts as used, so it cannot sign in again.
func (t *TOTP) Confirm(ctx context.Context, userID string, pending []byte, code, name string) (mfa.Factor, error) {
	log := t.log.With("user", userID, "method", mfa.MethodTOTP)
	now := t.now()
	raw, err := t.box.Open(pending, pendingAD(userID))
	if err != nil {
		log.InfoContext(ctx, "totp enrolment refused", "event", "mfa.enrol", "result", "fail", "reason", mfa.ReasonMismatch)
		return mfa.Factor{}, mfa.Invalid(mfa.MethodTOTP, mfa.ReasonMismatch)
	}
	var p pendingEnrolment
	if err := json.Unmarshal(raw, &p); err != nil || p.UserID != userID || len(p.Seed) != SeedBytes {
		return mfa.Factor{}, mfa.Invalid(mfa.MethodTOTP, mfa.ReasonMismatch)
	}
	if !now.Before(p.NotAfter) {
		log.InfoContext(ctx, "totp enrolment refused", "event", "mfa.enrol", "result", "fail", "reason", mfa.ReasonExpired)
		return mfa.Factor{}, mfa.Invalid(mfa.MethodTOTP, mfa.ReasonExpired)
	}
	if err := t.limit.Attempt(ctx, throttleKey(userID), now); err != nil {
		log.InfoContext(ctx, "totp enrolment refused", "event", "mfa.enrol", "result", "fail", "reason", mfa.Reason(err))
		return mfa.Factor{}, err
	}
	d := newCredData()
	step, ok := d.match(p.Seed, code, now)
	if !ok {
		log.InfoContext(ctx, "totp enrolment refused", "event", "mfa.enrol", "result", "fail", "reason", codeReason(code))
		return mfa.Factor{}, mfa.Invalid(mfa.MethodTOTP, codeReason(code))
	}
	d.LastStep = step
	data, err := json.Marshal(d)
	if err != nil {
		return mfa.Factor{}, fmt.Errorf("totp: confirm: %w", err)
	}
	name = strings.TrimSpace(name)
	c := store.Credential{
		ID: p.ID, UserID: userID, Type: mfa.MethodTOTP, Name: name,
		Secret: t.box.Seal(p.Seed, seedAD(p.ID, userID)), Data: data,
		CreatedAt: now, LastUsedAt: now,
	}
	if err := t.store.CreateCredential(ctx, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// The same enrolment confirmed twice (a double submit, or a
			// replayed form): it is single-use like a code.
			log.InfoContext(ctx, "totp enrolment refused", "event", "mfa.enrol", "result", "fail", "reason", mfa.ReasonUsed)
			return mfa.Factor{}, mfa.Invalid(mfa.MethodTOTP, mfa.ReasonUsed)
		}
		return mfa.Factor{}, fmt.Errorf("totp: confirm: %w", err)
	}
	if err := t.limit.Reset(ctx, throttleKey(userID)); err != nil {
		log.WarnContext(ctx, "totp: resetting the attempt counter failed", "err", err)
	}
	log.InfoContext(ctx, "totp enrolled", "event", "mfa.enrol", "result", "ok", "credential", c.ID)
	return mfa.Factor{ID: c.ID, Method: mfa.MethodTOTP, Name: c.Name, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt}, nil
}

// errReplay aborts the compare-and-swap when the step is already used.
var errReplay = errors.New("totp: step already used")

// Verify checks code against the user's TOTP credentials. A code is
// accepted once: of two verifications of the same code, concurrent or
// not, only one succeeds. It returns mfa.ErrNotEnrolled when the user has
// no TOTP credential, mfa.ErrThrottled after too many attempts, and an
// error matching mfa.ErrInvalidCode for a wrong, replayed or malformed
// code.
func (t *TOTP) Verify(ctx context.Context, userID, code string) error {
	log := t.log.With("user", userID, "method", mfa.MethodTOTP)
	// Counted before the credentials are read: a user without an
	// authenticator (or an unknown account's stand-in, in a reset) is
	// refused as often, then throttled at the same count, as one with a
	// wrong code — the answers do not tell which has one.
	now := t.now()
	if err := t.limit.Attempt(ctx, throttleKey(userID), now); err != nil {
		log.InfoContext(ctx, "totp code refused", "event", "mfa.verify", "result", "fail", "reason", mfa.Reason(err))
		return err
	}
	creds, err := t.credentials(ctx, userID)
	if err != nil {
		return err
	}
	if len(creds) == 0 {
		return mfa.ErrNotEnrolled
	}
	var openErr error
	for _, c := range creds {
		seed, err := t.box.Open(c.Secret, seedAD(c.ID, userID))
		if err != nil {
			log.ErrorContext(ctx, "totp: cannot open a seed (wrong encryption key or damaged row)", "credential", c.ID, "err", err)
			openErr = fmt.Errorf("totp: credential %s: %w", c.ID, err)
			continue
		}
		d, err := parseCredData(c.Data)
		if err != nil {
			openErr = fmt.Errorf("totp: credential %s: %w", c.ID, err)
			continue
		}
		step, ok := d.match(seed, code, now)
		if !ok {
			continue
		}
		_, err = t.store.UpdateCredential(ctx, c.ID, func(cur store.Credential) (store.Credential, error) {
			d, err := parseCredData(cur.Data)
			if err != nil {
				return cur, err
			}
			if step <= d.LastStep {
				return cur, errReplay
			}
			d.LastStep = step
			cur.Data, err = json.Marshal(d)
			cur.LastUsedAt = now
			return cur, err
		})
		switch {
		case errors.Is(err, errReplay):
			log.InfoContext(ctx, "totp code refused", "event", "mfa.verify", "result", "fail", "reason", mfa.ReasonReplayed, "credential", c.ID)
			return mfa.Invalid(mfa.MethodTOTP, mfa.ReasonReplayed)
		case errors.Is(err, store.ErrNotFound):
			continue // removed meanwhile
		case err != nil:
			return fmt.Errorf("totp: verify: %w", err)
		}
		if err := t.limit.Reset(ctx, throttleKey(userID)); err != nil {
			log.WarnContext(ctx, "totp: resetting the attempt counter failed", "err", err)
		}
		log.InfoContext(ctx, "totp code accepted", "event", "mfa.verify", "result", "ok", "credential", c.ID)
		return nil
	}
	if openErr != nil {
		return openErr
	}
	reason := codeReason(code)
	log.InfoContext(ctx, "totp code refused", "event", "mfa.verify", "result", "fail", "reason", reason)
	return mfa.Invalid(mfa.MethodTOTP, reason)
}

// Enrolled reports whether the user has a TOTP credential.
func (t *TOTP) Enrolled(ctx context.Context, userID string) (bool, error) {
	creds, err := t.credentials(ctx, userID)
	return len(creds) > 0, err
}

func (t *TOTP) credentials(ctx context.Context, userID string) ([]store.Credential, error) {
	all, err := t.store.ListCredentials(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("totp: list credentials: %w", err)
	}
	var out []store.Credential
	for _, c := range all {
		if c.Type == mfa.MethodTOTP {
			out = append(out, c)
		}
	}
	return out, nil
}

func newCredData() credData {
	return credData{Version: 1, Digits: Digits, Period: int(Period / time.Second), Algorithm: "SHA1"}
}

func parseCredData(raw []byte) (credData, error) {
	d := newCredData()
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &d); err != nil {
			return credData{}, fmt.Errorf("totp: credential data: %w", err)
		}
	}
	if d.Digits != 6 && d.Digits != 8 || d.Period <= 0 || d.Algorithm != "SHA1" {
		return credData{}, fmt.Errorf("totp: unsupported credential parameters (%d digits, %ds, %s)", d.Digits, d.Period, d.Algorithm)
	}
	return d, nil
}

// match reports the time step whose code equals code, checking the
// current step and Skew steps either side. Every candidate is computed and
// compared in constant time; the latest matching step wins.
func (d credData) match(seed []byte, code string, now time.Time) (uint64, bool) {
	norm, ok := mfa.NormalizeDigits(code, d.Digits)
	if !ok {
		return 0, false
	}
	unix := now.Unix()
	if unix < 0 {
		return 0, false
	}
	cur := uint64(unix) / uint64(d.Period) // #nosec G115 -- checked non-negative above.
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)
	digits := otp.DigitsSix
	if d.Digits == 8 {
		digits = otp.DigitsEight
	}
	var found uint64
	var hit int
	lo := cur
	if cur >= Skew {
		lo = cur - Skew
	}
	for s := lo; s <= cur+Skew; s++ {
		want, err := hotp.GenerateCodeCustom(secret, s, hotp.ValidateOpts{Digits: digits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		eq := subtle.ConstantTimeCompare([]byte(want), []byte(norm))
		hit |= eq
		if eq == 1 {
			found = s
		}
	}
	return found, hit == 1
}

// codeReason tells a malformed code from a wrong one, for the log.
func codeReason(code string) string {
	if _, ok := mfa.NormalizeDigits(code, Digits); !ok {
		return mfa.ReasonMalformed
	}
	return mfa.ReasonWrong
}

// GroupSecret writes a base32 secret in groups of four, the way it is
// easiest to type from the screen: "JBSW Y3DP EHPK 3PXP".
func GroupSecret(s string) string { return strings.Join(SecretGroups(s), " ") }

// SecretGroups splits a secret into the groups of four that GroupSecret
// shows (the last may be shorter). A page shows each group unbroken and
// wraps only between them, so a key is never split inside a group.
func SecretGroups(s string) []string {
	var out []string
	for len(s) > 4 {
		out = append(out, s[:4])
		s = s[4:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

func throttleKey(userID string) string { return "mfa.totp:" + userID }

// seedAD binds a sealed seed to its credential and user: a sealed value
// copied to another row fails to open.
func seedAD(credID, userID string) []byte {
	return []byte("totp\x00" + credID + "\x00" + userID)
}

// pendingAD binds a pending enrolment to the user who started it.
func pendingAD(userID string) []byte { return []byte("totp-enrol\x00" + userID) }
