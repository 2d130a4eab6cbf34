// Package recovery is the recovery-code factor: a set of one-time codes
// the user prints or stores when enrolling, for the day the phone is lost.
//
// It owns the code format, their generation (shown once), their storage as
// keyed hashes, single use, regeneration (which replaces the whole set) and
// the per-user attempt limit. It must not store, log or return a code
// after Generate has handed the set out.
//
// Why a keyed hash (HMAC-SHA256) and not a password hash: each code holds
// 50 random bits, so there is nothing for a slow hash to stretch — the
// cost is in the entropy, not in the hash. Plain SHA-256 would still let
// whoever copies the database try 2^50 candidates offline, which is within
// reach of a GPU farm; keying the hash with a secret derived from the
// encryption key (which is not in the database) takes that away. The user
// ID is part of the MAC input, so equal codes of two users never share a
// hash.
package recovery

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// The code format: Length characters of Alphabet, shown as two groups of
// five joined by a dash ("7k3mq-x9d2f"). Alphabet is Crockford's base32 in
// lower case: no i, l, o or u, so nothing reads as another character, and
// 32 symbols make each character exactly 5 bits (50 bits a code).
const (
	Alphabet     = "0123456789abcdefghjkmnpqrstvwxyz"
	Length       = 10
	GroupSize    = 5
	DefaultCount = 10
)

// DefaultLimit is the attempt limit per user when Options.Limit is zero.
func DefaultLimit() mfa.Limit { return mfa.Limit{Max: 5, Window: 5 * time.Minute} }

// Store is what the factor needs of the store.
type Store interface {
	CreateCredential(ctx context.Context, c store.Credential) error
	GetCredentialByLookupKey(ctx context.Context, typ, key string) (store.Credential, error)
	UpdateCredential(ctx context.Context, id string, fn func(store.Credential) (store.Credential, error)) (store.Credential, error)
	store.Throttle
}

// Options configures the factor.
type Options struct {
	Store Store
	// Key is the HMAC key for the code hashes, at least 32 bytes; derive it
	// with secrets.Box.DeriveKey("mfa recovery").
	Key    []byte
	Logger *slog.Logger
	Now    func() time.Time
	// Rand is the source of codes and IDs; nil means crypto/rand.
	Rand io.Reader
	// Count is the number of codes in a set; zero means DefaultCount.
	Count int
	// Limit bounds attempts per user; zero means DefaultLimit.
	Limit mfa.Limit
}

// Codes is the recovery-code factor.
type Codes struct {
	store Store
	key   []byte
	log   *slog.Logger
	now   func() time.Time
	rand  io.Reader
	count int
	limit mfa.Limiter
}

// New returns the factor.
func New(o Options) (*Codes, error) {
	if o.Store == nil {
		return nil, errors.New("recovery: a store is required")
	}
	if len(o.Key) < 32 {
		return nil, errors.New("recovery: the hash key must be at least 32 bytes")
	}
	c := &Codes{store: o.Store, key: o.Key, log: o.Logger, now: o.Now, rand: o.Rand, count: o.Count,
		limit: mfa.Limiter{Throttle: o.Store, Limit: o.Limit}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.count <= 0 {
		c.count = DefaultCount
	}
	if c.limit.Limit == (mfa.Limit{}) {
		c.limit.Limit = DefaultLimit()
	}
	return c, nil
}

// setData is the stored set (store.Credential.Data): the hashes of the
// codes not used yet.
type setData struct {
	Version int      `json:"v"`
	Hashes  []string `json:"hashes"` // hex HMAC-SHA256
	Issued  int      `json:"issued"` // codes in the set when generated
}

// Generate makes a new set of codes for userID, replacing any previous
// set (whose codes stop working at once), and returns the codes to show
// the user this one time, formatted for display.
func (c *Codes) Generate(ctx context.Context, userID string) ([]string, error) {
	if userID == "" {
		return nil, errors.New("recovery: generate: user is required")
	}
	codes := make([]string, c.count)
	hashes := make([]string, c.count)
	seen := make(map[string]bool, c.count)
	for i := range codes {
		for {
			code, err := c.newCode()
			if err != nil {
				return nil, err
			}
			if !seen[code] {
				seen[code] = true
				codes[i], hashes[i] = Format(code), c.hash(userID, code)
				break
			}
		}
	}
	data, err := json.Marshal(setData{Version: 1, Hashes: hashes, Issued: len(hashes)})
	if err != nil {
		return nil, fmt.Errorf("recovery: generate: %w", err)
	}
	now := c.now()
	replace := func(cur store.Credential) (store.Credential, error) {
		cur.Data, cur.CreatedAt, cur.LastUsedAt = data, now, time.Time{}
		return cur, nil
	}
	// One set per user: LookupKey is the user ID, unique per type, so two
	// concurrent first generations cannot leave two sets behind.
	cred, err := c.store.GetCredentialByLookupKey(ctx, mfa.MethodRecovery, userID)
	switch {
	case err == nil:
		if _, err := c.store.UpdateCredential(ctx, cred.ID, replace); err != nil {
			return nil, fmt.Errorf("recovery: generate: %w", err)
		}
	case errors.Is(err, store.ErrNotFound):
		id, err := mfa.NewID(c.rand)
		if err != nil {
			return nil, fmt.Errorf("recovery: generate: %w", err)
		}
		err = c.store.CreateCredential(ctx, store.Credential{
			ID: id, UserID: userID, Type: mfa.MethodRecovery, Name: "Recovery codes", LookupKey: userID,
			Data: data, CreatedAt: now,
		})
		if errors.Is(err, store.ErrConflict) {
			// Someone generated a set at the same moment: replace theirs.
			cred, err = c.store.GetCredentialByLookupKey(ctx, mfa.MethodRecovery, userID)
			if err == nil {
				_, err = c.store.UpdateCredential(ctx, cred.ID, replace)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("recovery: generate: %w", err)
		}
	default:
		return nil, fmt.Errorf("recovery: generate: %w", err)
	}
	c.log.InfoContext(ctx, "recovery codes generated", "event", "mfa.recovery.generate", "user", userID, "count", len(codes))
	return codes, nil
}

// errNoMatch aborts the compare-and-swap when the code is not in the set.
var errNoMatch = errors.New("recovery: no such code")

// Verify uses up code if it is one of the user's unused codes and returns
// how many remain. Of two uses of the same code, concurrent or not, only
// one succeeds. It returns mfa.ErrNotEnrolled when the user has no set,
// mfa.ErrThrottled after too many attempts, and an error matching
// mfa.ErrInvalidCode for a wrong, used or malformed code.
func (c *Codes) Verify(ctx context.Context, userID, code string) (remaining int, err error) {
	log := c.log.With("user", userID, "method", mfa.MethodRecovery)
	// Counted before the set is read: a user without recovery codes (or an
	// unknown account's stand-in, in a reset) is throttled at the same
	// count as one typing wrong codes.
	now := c.now()
	if err := c.limit.Attempt(ctx, throttleKey(userID), now); err != nil {
		log.InfoContext(ctx, "recovery code refused", "event", "mfa.verify", "result", "fail", "reason", mfa.Reason(err))
		return 0, err
	}
	cred, err := c.store.GetCredentialByLookupKey(ctx, mfa.MethodRecovery, userID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, mfa.ErrNotEnrolled
	}
	if err != nil {
		return 0, fmt.Errorf("recovery: verify: %w", err)
	}
	norm, ok := Normalize(code)
	if !ok {
		log.InfoContext(ctx, "recovery code refused", "event", "mfa.verify", "result", "fail", "reason", mfa.ReasonMalformed)
		return 0, mfa.Invalid(mfa.MethodRecovery, mfa.ReasonMalformed)
	}
	want := c.hash(userID, norm)
	updated, err := c.store.UpdateCredential(ctx, cred.ID, func(cur store.Credential) (store.Credential, error) {
		d, err := parseSet(cur.Data)
		if err != nil {
			return cur, err
		}
		i := indexOf(d.Hashes, want)
		if i < 0 {
			return cur, errNoMatch
		}
		d.Hashes = append(d.Hashes[:i:i], d.Hashes[i+1:]...)
		cur.Data, err = json.Marshal(d)
		cur.LastUsedAt = now
		return cur, err
	})
	switch {
	case errors.Is(err, errNoMatch), errors.Is(err, store.ErrNotFound):
		// Wrong and already used look the same: the hash of a used code is
		// gone, which is the point.
		log.InfoContext(ctx, "recovery code refused", "event", "mfa.verify", "result", "fail", "reason", mfa.ReasonUsed)
		return 0, mfa.Invalid(mfa.MethodRecovery, mfa.ReasonUsed)
	case err != nil:
		return 0, fmt.Errorf("recovery: verify: %w", err)
	}
	d, err := parseSet(updated.Data)
	if err != nil {
		return 0, fmt.Errorf("recovery: verify: %w", err)
	}
	if err := c.limit.Reset(ctx, throttleKey(userID)); err != nil {
		log.WarnContext(ctx, "recovery: resetting the attempt counter failed", "err", err)
	}
	log.InfoContext(ctx, "recovery code accepted", "event", "mfa.verify", "result", "ok", "remaining", len(d.Hashes))
	return len(d.Hashes), nil
}

// Remaining returns how many unused codes the user has; 0 (and no error)
// when the user has no set.
func (c *Codes) Remaining(ctx context.Context, userID string) (int, error) {
	cred, err := c.store.GetCredentialByLookupKey(ctx, mfa.MethodRecovery, userID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("recovery: remaining: %w", err)
	}
	return remaining(cred)
}

// RemainingIn is Remaining for a user whose credentials were already
// listed: it saves a store read.
func RemainingIn(creds []store.Credential) (int, error) {
	for _, c := range creds {
		if c.Type == mfa.MethodRecovery {
			return remaining(c)
		}
	}
	return 0, nil
}

func remaining(cred store.Credential) (int, error) {
	d, err := parseSet(cred.Data)
	if err != nil {
		return 0, fmt.Errorf("recovery: remaining: %w", err)
	}
	return len(d.Hashes), nil
}

func (c *Codes) newCode() (string, error) {
	var raw [Length]byte
	if _, err := io.ReadFull(c.rand, raw[:]); err != nil {
		return "", fmt.Errorf("recovery: randomness: %w", err)
	}
	b := make([]byte, Length)
	for i, x := range raw {
		b[i] = Alphabet[x&31] // 32 symbols: the low 5 bits are uniform
	}
	return string(b), nil
}

// hash is the stored form of a normalised code.
func (c *Codes) hash(userID, norm string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("gatehouse recovery code\x00" + userID + "\x00" + norm))
	return hex.EncodeToString(m.Sum(nil))
}

// indexOf finds want among hashes, comparing every entry in constant time
// so the position of a match does not show in the timing.
func indexOf(hashes []string, want string) int {
	found := -1
	for i, h := range hashes {
		if hmac.Equal([]byte(h), []byte(want)) {
			found = i
		}
	}
	return found
}

func parseSet(raw []byte) (setData, error) {
	var d setData
	if err := json.Unmarshal(raw, &d); err != nil {
		return setData{}, fmt.Errorf("recovery: stored set: %w", err)
	}
	return d, nil
}

// Format writes a normalised code for display: "7k3mq-x9d2f".
func Format(norm string) string {
	if len(norm) != Length {
		return norm
	}
	return norm[:GroupSize] + "-" + norm[GroupSize:]
}

// Normalize turns a typed recovery code into its canonical form. It
// ignores case, spaces and dashes, and reads the characters Crockford's
// base32 treats as look-alikes: o as 0, i and l as 1. It reports false for
// anything that is not exactly Length symbols of Alphabet.
func Normalize(s string) (string, bool) {
	if len(s) > mfa.MaxInput {
		return "", false
	}
	var b strings.Builder
	b.Grow(Length)
	for _, r := range s {
		if mfa.IsSeparator(r) {
			continue
		}
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		switch r {
		case 'o':
			r = '0'
		case 'i', 'l':
			r = '1'
		}
		if r > 127 || strings.IndexByte(Alphabet, byte(r)) < 0 || b.Len() == Length {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != Length {
		return "", false
	}
	return b.String(), true
}

func throttleKey(userID string) string { return "mfa.recovery:" + userID }
