// Package emailcode is the email-code factor: a short numeric code mailed
// to the user's directory address, valid for a few minutes, usable once.
//
// It owns code generation, the challenge (what the flow keeps between
// sending and checking), the attempt limits, and the masked destination
// shown to the user. It must not store, log or return a code after the
// mail has gone: the store holds only a keyed hash.
//
// How single use and the limits are guaranteed, on store.Tickets and
// store.Throttle alone:
//   - The ticket's ID is HMAC(key, challenge ID, user ID, code); the ticket
//     holds nothing else secret. Checking a code is ConsumeTicket with the
//     ID computed from the typed code: the right code deletes the ticket
//     atomically (of concurrent consumers exactly one wins, the store
//     guarantees it), a wrong code names a ticket that does not exist and
//     so consumes nothing, and an expired ticket is not found.
//   - Every check first increments a counter for the challenge, whose
//     window outlives the ticket; the check is refused once the counter
//     passes MaxAttempts. The increment is atomic, so concurrent guesses
//     cannot exceed the limit either.
//   - Sends are limited per user, which bounds the guesses an attacker gets
//     per hour to SendLimit.Max × MaxAttempts out of 10^Digits codes.
package emailcode

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Defaults.
const (
	DefaultDigits      = 6
	DefaultTTL         = 10 * time.Minute
	DefaultMaxAttempts = 5
)

// DefaultSendLimit is how many codes a user may be sent when
// Options.SendLimit is zero.
func DefaultSendLimit() mfa.Limit { return mfa.Limit{Max: 5, Window: time.Hour} }

// ticketKind is the store.Ticket namespace of email codes.
const ticketKind = "mfa.emailcode"

// Store is what the factor needs of the store.
type Store interface {
	store.Tickets
	store.Throttle
}

// Mailer sends the code; *notify.Notifier is one.
type Mailer interface {
	EmailCode(ctx context.Context, to notify.Recipient, d notify.EmailCode) error
}

// Options configures the factor.
type Options struct {
	Store  Store
	Mailer Mailer
	// Key is the HMAC key for the code hashes, at least 32 bytes; derive it
	// with secrets.Box.DeriveKey("mfa emailcode").
	Key []byte
	// Digits is the code length, 6 to 8; zero means DefaultDigits.
	Digits int
	// TTL is how long a code is valid; zero means DefaultTTL.
	TTL time.Duration
	// MaxAttempts is how many checks a challenge allows; zero means
	// DefaultMaxAttempts.
	MaxAttempts int
	// SendLimit bounds codes sent per user; zero means DefaultSendLimit.
	SendLimit mfa.Limit
	Logger    *slog.Logger
	Now       func() time.Time
	// Rand is the source of codes and challenge IDs; nil means crypto/rand.
	Rand io.Reader
}

// Codes is the email-code factor.
type Codes struct {
	store    Store
	mailer   Mailer
	key      []byte
	digits   int
	ttl      time.Duration
	attempts mfa.Limiter
	sends    mfa.Limiter
	log      *slog.Logger
	now      func() time.Time
	rand     io.Reader
}

// New returns the factor.
func New(o Options) (*Codes, error) {
	if o.Store == nil || o.Mailer == nil {
		return nil, errors.New("emailcode: a store and a mailer are required")
	}
	if len(o.Key) < 32 {
		return nil, errors.New("emailcode: the hash key must be at least 32 bytes")
	}
	c := &Codes{store: o.Store, mailer: o.Mailer, key: o.Key, digits: o.Digits, ttl: o.TTL,
		log: o.Logger, now: o.Now, rand: o.Rand}
	if c.digits == 0 {
		c.digits = DefaultDigits
	}
	if c.digits < 6 || c.digits > 8 {
		return nil, fmt.Errorf("emailcode: digits must be 6 to 8, got %d", c.digits)
	}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	maxAttempts := o.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	// The attempt window is twice the TTL: it starts at the first check,
	// which is after the ticket was made, so it always outlives the ticket
	// and a challenge cannot get fresh attempts before it expires.
	c.attempts = mfa.Limiter{Throttle: o.Store, Limit: mfa.Limit{Max: maxAttempts, Window: 2 * c.ttl}}
	c.sends = mfa.Limiter{Throttle: o.Store, Limit: o.SendLimit}
	if c.sends.Limit == (mfa.Limit{}) {
		c.sends.Limit = DefaultSendLimit()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	return c, nil
}

// Digits returns the code length, for the input field.
func (c *Codes) Digits() int { return c.digits }

// Recipient is who gets the code.
type Recipient struct {
	UserID  string
	Address string // the directory's mail (or the configured attribute)
	Name    string // display name for the greeting
	Lang    string // the user's language, for the mail
}

// Challenge is a sent code's state: keep it server-side (in the flow) and
// pass it back to Verify. It holds no secret.
type Challenge struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expires_at"`
	// Destination is the masked address for display ("a•••@c•••.com").
	Destination string `json:"destination"`
}

// Send makes a code for r, stores its hash and mails it. purpose is
// notify.PurposeSignIn, PurposeReset or PurposeUnlock (the mail's
// wording). It returns mfa.ErrThrottled when the user was sent too many
// codes lately.
func (c *Codes) Send(ctx context.Context, r Recipient, purpose string) (Challenge, error) {
	if r.UserID == "" || r.Address == "" {
		return Challenge{}, mfa.ErrNotEnrolled
	}
	log := c.log.With("user", r.UserID, "method", mfa.MethodEmail)
	now := c.now()
	if err := c.sends.Attempt(ctx, sendKey(r.UserID, purpose), now); err != nil {
		log.InfoContext(ctx, "email code not sent", "event", "mfa.challenge", "result", "fail", "reason", mfa.Reason(err))
		return Challenge{}, err
	}
	id, err := mfa.NewID(c.rand)
	if err != nil {
		return Challenge{}, fmt.Errorf("emailcode: %w", err)
	}
	code, err := c.newCode()
	if err != nil {
		return Challenge{}, err
	}
	ch := Challenge{ID: id, ExpiresAt: now.Add(c.ttl), Destination: notify.MaskAddress(r.Address)}
	if err := c.store.CreateTicket(ctx, store.Ticket{
		Kind: ticketKind, ID: c.ticketID(id, r.UserID, code), UserID: r.UserID, CreatedAt: now, ExpiresAt: ch.ExpiresAt,
	}); err != nil {
		return Challenge{}, fmt.Errorf("emailcode: store: %w", err)
	}
	if err := c.mailer.EmailCode(ctx, notify.Recipient{Address: r.Address, Name: r.Name, Lang: r.Lang},
		notify.EmailCode{Code: code, ValidFor: c.ttl, Purpose: purpose}); err != nil {
		// The ticket stays until it expires; without the mail nobody can
		// name it. A send that failed for this recipient alone still
		// returns the challenge: a caller that must not tell it from a
		// code that went out (reset, unlock) shows it like one.
		if errors.Is(err, notify.ErrRecipient) {
			return ch, fmt.Errorf("emailcode: %w", err)
		}
		return Challenge{}, fmt.Errorf("emailcode: %w", err)
	}
	log.InfoContext(ctx, "email code sent", "event", "mfa.challenge", "result", "ok", "challenge", id, "to", ch.Destination)
	return ch, nil
}

// Decoy stands in for Send when the account gets no code (it is unknown,
// or has no address): it counts against userID's send limit exactly as
// Send does — mfa.ErrThrottled at the same count — and returns a challenge
// that no code opens, whose checks Verify counts and limits like a real
// one's. It mails nothing and stores nothing. Destination is left empty
// for the caller's decoy address.
func (c *Codes) Decoy(ctx context.Context, userID, purpose string) (Challenge, error) {
	if userID == "" {
		return Challenge{}, mfa.ErrNotEnrolled
	}
	now := c.now()
	if err := c.sends.Attempt(ctx, sendKey(userID, purpose), now); err != nil {
		return Challenge{}, err
	}
	id, err := mfa.NewID(c.rand)
	if err != nil {
		return Challenge{}, fmt.Errorf("emailcode: %w", err)
	}
	return Challenge{ID: id, ExpiresAt: now.Add(c.ttl)}, nil
}

// Verify checks code against the challenge for userID and, if right,
// consumes it: a code works once. It returns mfa.ErrThrottled when the
// challenge has had its attempts, and an error matching
// mfa.ErrInvalidCode for a wrong, expired, used or malformed code. A
// wrong code leaves the challenge usable (within its attempts).
func (c *Codes) Verify(ctx context.Context, userID string, ch Challenge, code string) error {
	log := c.log.With("user", userID, "method", mfa.MethodEmail, "challenge", ch.ID)
	if ch.ID == "" || userID == "" {
		return mfa.Invalid(mfa.MethodEmail, mfa.ReasonMismatch)
	}
	now := c.now()
	if err := c.attempts.Attempt(ctx, attemptKey(ch.ID), now); err != nil {
		log.InfoContext(ctx, "email code refused", "event", "mfa.verify", "result", "fail", "reason", mfa.Reason(err))
		return err
	}
	norm, ok := mfa.NormalizeDigits(code, c.digits)
	if !ok {
		log.InfoContext(ctx, "email code refused", "event", "mfa.verify", "result", "fail", "reason", mfa.ReasonMalformed)
		return mfa.Invalid(mfa.MethodEmail, mfa.ReasonMalformed)
	}
	t, err := c.store.ConsumeTicket(ctx, ticketKind, c.ticketID(ch.ID, userID, norm), now)
	if errors.Is(err, store.ErrNotFound) {
		// The store cannot tell wrong from used (a used ticket is gone);
		// the challenge's own expiry tells expired.
		reason := mfa.ReasonUsed
		if !now.Before(ch.ExpiresAt) {
			reason = mfa.ReasonExpired
		}
		log.InfoContext(ctx, "email code refused", "event", "mfa.verify", "result", "fail", "reason", reason)
		return mfa.Invalid(mfa.MethodEmail, reason)
	}
	if err != nil {
		return fmt.Errorf("emailcode: verify: %w", err)
	}
	if t.UserID != userID { // cannot happen: the user is in the MAC
		return mfa.Invalid(mfa.MethodEmail, mfa.ReasonMismatch)
	}
	log.InfoContext(ctx, "email code accepted", "event", "mfa.verify", "result", "ok")
	return nil
}

// newCode returns a uniformly random code of c.digits digits.
func (c *Codes) newCode() (string, error) {
	mod := uint64(1)
	for range c.digits {
		mod *= 10
	}
	// Rejection sampling: values at or above the largest multiple of mod
	// below 2^64 would make small codes likelier.
	limit := (^uint64(0) / mod) * mod
	var b [8]byte
	for {
		if _, err := io.ReadFull(c.rand, b[:]); err != nil {
			return "", fmt.Errorf("emailcode: randomness: %w", err)
		}
		if v := binary.BigEndian.Uint64(b[:]); v < limit {
			s := fmt.Sprint(v % mod)
			return strings.Repeat("0", c.digits-len(s)) + s, nil
		}
	}
}

// ticketID is the stored form of a code: a keyed hash bound to the
// challenge and the user, so neither a database copy nor a code of another
// challenge reveals or opens anything.
func (c *Codes) ticketID(challengeID, userID, code string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("gatehouse email code\x00" + challengeID + "\x00" + userID + "\x00" + code))
	return hex.EncodeToString(m.Sum(nil))
}

// sendKey counts sends per purpose: codes anyone can ask for (reset,
// unlock) never use up the user's sign-in codes.
// sendKey is the send limit's counter for userID: one for sign-in codes,
// one shared by reset and unlock codes — so anonymous self-service cannot
// use up the user's sign-in codes, and reset and unlock together get the
// limit once.
func sendKey(userID, purpose string) string {
	class := "selfservice"
	if purpose != notify.PurposeReset && purpose != notify.PurposeUnlock {
		class = "signin"
	}
	return "mfa.email.send:" + class + ":" + userID
}

func attemptKey(challenge string) string { return "mfa.email.attempt:" + challenge }
