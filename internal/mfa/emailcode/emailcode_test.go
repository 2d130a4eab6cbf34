package emailcode_test

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/emailcode"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/internal/mfatest"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/notify/smtptest"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
)

// outbox is a fake mailer that keeps the codes it was asked to send.
type outbox struct {
	mu   sync.Mutex
	sent []sent
	fail error
}

type sent struct {
	to notify.Recipient
	d  notify.EmailCode
}

func (o *outbox) EmailCode(_ context.Context, to notify.Recipient, d notify.EmailCode) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.sent = append(o.sent, sent{to, d})
	return nil
}

func (o *outbox) last(t *testing.T) sent {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.sent) == 0 {
		t.Fatal("no mail was sent")
	}
	return o.sent[len(o.sent)-1]
}

// spyStore records the tickets created, to prove what is stored.
type spyStore struct {
	*sqlite.Store
	mu      sync.Mutex
	tickets []store.Ticket
}

func (s *spyStore) CreateTicket(ctx context.Context, t store.Ticket) error {
	s.mu.Lock()
	s.tickets = append(s.tickets, t)
	s.mu.Unlock()
	return s.Store.CreateTicket(ctx, t)
}

type fixture struct {
	store *spyStore
	clock *mfatest.Clock
	log   *mfatest.Log
	out   *outbox
	c     *emailcode.Codes
}

var alice = emailcode.Recipient{UserID: "u1", Address: "alice@corp.example.test", Name: "Alice Smith", Lang: "en"}

func newFixture(t *testing.T, o emailcode.Options) *fixture {
	t.Helper()
	fx := &fixture{store: &spyStore{Store: mfatest.Store(t)}, clock: mfatest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		log: &mfatest.Log{}, out: &outbox{}}
	o.Store, o.Key, o.Logger, o.Now = fx.store, mfatest.Box(t).DeriveKey("mfa emailcode"), fx.log.Logger(), fx.clock.Now
	if o.Mailer == nil {
		o.Mailer = fx.out
	}
	c, err := emailcode.New(o)
	if err != nil {
		t.Fatal(err)
	}
	fx.c = c
	return fx
}

// send sends a code to alice and returns the challenge and the code.
func (fx *fixture) send(t *testing.T) (emailcode.Challenge, string) {
	t.Helper()
	ch, err := fx.c.Send(t.Context(), alice, notify.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	return ch, fx.out.last(t).d.Code
}

func TestASentCodeIsMailedAndOnlyItsKeyedHashIsStored(t *testing.T) {
	fx := newFixture(t, emailcode.Options{})
	ch, code := fx.send(t)
	m := fx.out.last(t)
	if m.to.Address != alice.Address || m.to.Name != alice.Name || m.d.ValidFor != emailcode.DefaultTTL || m.d.Purpose != notify.PurposeSignIn {
		t.Errorf("mail %+v", m)
	}
	if !regexp.MustCompile(`^[0-9]{6}$`).MatchString(code) {
		t.Errorf("code %q is not six digits", code)
	}
	if ch.Destination != "a•••@c•••.test" || !ch.ExpiresAt.Equal(fx.clock.Now().Add(10*time.Minute)) || ch.ID == "" {
		t.Errorf("challenge %+v", ch)
	}
	if len(fx.store.tickets) != 1 {
		t.Fatalf("%d tickets", len(fx.store.tickets))
	}
	tk := fx.store.tickets[0]
	if strings.Contains(tk.ID, code) || len(tk.Data) != 0 || len(tk.ID) != 64 || tk.UserID != "u1" {
		t.Errorf("the ticket holds more than a keyed hash: %+v", tk)
	}
	if strings.Contains(fx.log.String(), code) {
		t.Errorf("the log holds the code:\n%s", fx.log.String())
	}
}

func TestARightCodeWorksOnceAndAWrongOneDoesNotUseItUp(t *testing.T) {
	fx := newFixture(t, emailcode.Options{})
	ctx := t.Context()
	ch, code := fx.send(t)
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	steps := []struct {
		name   string
		code   string
		reason string // "" = accepted
	}{
		{"a wrong code is refused", wrong, mfa.ReasonUsed},
		{"a malformed code is refused", "12345", mfa.ReasonMalformed},
		{"the right code, typed with a space, is accepted after them", code[:3] + " " + code[3:], ""},
		{"the right code again is refused", code, mfa.ReasonUsed},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			err := fx.c.Verify(ctx, "u1", ch, s.code)
			if s.reason == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if s.reason != "" && (!errors.Is(err, mfa.ErrInvalidCode) || mfa.Reason(err) != s.reason) {
				t.Fatalf("got %v, want a %q refusal", err, s.reason)
			}
		})
	}
}

func TestACodeExpiresAfterTenMinutes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		ok    bool
	}{
		{"a code used a second before the end is accepted", 10*time.Minute - time.Second, true},
		{"a code used at the end is refused as expired", 10 * time.Minute, false},
		{"a code used an hour later is refused as expired", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, emailcode.Options{})
			ch, code := fx.send(t)
			fx.clock.Advance(tc.after)
			err := fx.c.Verify(t.Context(), "u1", ch, code)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (!errors.Is(err, mfa.ErrInvalidCode) || mfa.Reason(err) != mfa.ReasonExpired) {
				t.Fatalf("got %v, want an expiry refusal", err)
			}
		})
	}
}

func TestAChallengeAllowsOnlyItsAttempts(t *testing.T) {
	fx := newFixture(t, emailcode.Options{})
	ctx := t.Context()
	ch, code := fx.send(t)
	wrong := "999999"
	if code == wrong {
		wrong = "999998"
	}
	for i := range emailcode.DefaultMaxAttempts {
		if err := fx.c.Verify(ctx, "u1", ch, wrong); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	if err := fx.c.Verify(ctx, "u1", ch, code); !errors.Is(err, mfa.ErrThrottled) {
		t.Fatalf("the right code after the attempts ran out: %v", err)
	}
	fx.clock.Advance(emailcode.DefaultTTL - time.Second)
	if err := fx.c.Verify(ctx, "u1", ch, code); !errors.Is(err, mfa.ErrThrottled) {
		t.Fatalf("the challenge got fresh attempts before it expired: %v", err)
	}
	// A new challenge starts afresh.
	ch2, code2 := fx.send(t)
	if err := fx.c.Verify(ctx, "u1", ch2, code2); err != nil {
		t.Fatalf("a new challenge: %v", err)
	}
}

func TestOfConcurrentChecksOfTheRightCodeExactlyOneSucceeds(t *testing.T) {
	fx := newFixture(t, emailcode.Options{MaxAttempts: 100})
	ch, code := fx.send(t)
	mfatest.ExactlyOnce(t, 16, func() error { return fx.c.Verify(t.Context(), "u1", ch, code) })
}

func TestConcurrentGuessesCannotExceedTheAttempts(t *testing.T) {
	fx := newFixture(t, emailcode.Options{})
	ch, code := fx.send(t)
	const n = 20
	var (
		wg                    sync.WaitGroup
		mu                    sync.Mutex
		refused, throttled, x int
	)
	for i := range n {
		wg.Go(func() {
			guess := strings.Repeat(string(rune('0'+i%10)), 6)
			if guess == code {
				guess = "12345x" // malformed: still an attempt
			}
			err := fx.c.Verify(t.Context(), "u1", ch, guess)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, mfa.ErrInvalidCode):
				refused++
			case errors.Is(err, mfa.ErrThrottled):
				throttled++
			default:
				x++
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if refused != emailcode.DefaultMaxAttempts || throttled != n-emailcode.DefaultMaxAttempts {
		t.Fatalf("%d checked, %d throttled; want exactly %d checked", refused, throttled, emailcode.DefaultMaxAttempts)
	}
}

func TestACodeWorksOnlyForItsOwnChallengeAndUser(t *testing.T) {
	fx := newFixture(t, emailcode.Options{})
	ctx := t.Context()
	ch1, code1 := fx.send(t)
	ch2, code2 := fx.send(t)
	if code1 != code2 {
		if err := fx.c.Verify(ctx, "u1", ch2, code1); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("the first code opened the second challenge: %v", err)
		}
	}
	if err := fx.c.Verify(ctx, "u2", ch1, code1); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("another user used alice's challenge: %v", err)
	}
	if err := fx.c.Verify(ctx, "u1", emailcode.Challenge{}, code1); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("an empty challenge: %v", err)
	}
	if err := fx.c.Verify(ctx, "u1", ch1, code1); err != nil {
		t.Fatalf("the code in its own challenge: %v", err)
	}
}

func TestCodeLengthIsConfigurable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		digits int
		ok     bool
	}{
		{"zero means six", 0, true},
		{"seven digits", 7, true},
		{"eight digits", 8, true},
		{"five digits are too few", 5, false},
		{"nine digits are too many", 9, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := emailcode.Options{Store: mfatest.Store(t), Mailer: &outbox{}, Key: make([]byte, 32), Digits: tc.digits}
			c, err := emailcode.New(o)
			if !tc.ok {
				if err == nil {
					t.Fatal("New accepted it")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.digits
			if want == 0 {
				want = 6
			}
			out := o.Mailer.(*outbox)
			ch, err := c.Send(t.Context(), alice, notify.PurposeReset)
			if err != nil {
				t.Fatal(err)
			}
			code := out.last(t).d.Code
			if len(code) != want || c.Digits() != want {
				t.Fatalf("code %q, Digits %d; want %d digits", code, c.Digits(), want)
			}
			if err := c.Verify(t.Context(), "u1", ch, code); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCodesAreDrawnWithoutBiasAndZeroPadded(t *testing.T) {
	// Send reads 16 bytes for the challenge ID, then 8 bytes at a time for
	// the code. All-ones lies above the largest multiple of 10^6 below 2^64,
	// so it must be rejected (else low codes would be likelier); the next
	// value, 12345, gives the code "012345".
	src := strings.NewReader(strings.Repeat("\x07", 16) + strings.Repeat("\xff", 8) + "\x00\x00\x00\x00\x00\x00\x30\x39")
	out := &outbox{}
	c, err := emailcode.New(emailcode.Options{Store: mfatest.Store(t), Mailer: out, Key: make([]byte, 32), Rand: src})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(t.Context(), alice, ""); err != nil {
		t.Fatal(err)
	}
	if got := out.last(t).d.Code; got != "012345" {
		t.Fatalf("code %q, want 012345", got)
	}
}

func TestTooManySendsThrottleTheUser(t *testing.T) {
	fx := newFixture(t, emailcode.Options{})
	for i := range emailcode.DefaultSendLimit().Max {
		if _, err := fx.c.Send(t.Context(), alice, ""); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	if _, err := fx.c.Send(t.Context(), alice, ""); !errors.Is(err, mfa.ErrThrottled) {
		t.Fatalf("got %v", err)
	}
	fx.clock.Advance(emailcode.DefaultSendLimit().Window)
	if _, err := fx.c.Send(t.Context(), alice, ""); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestAFailedMailIsAnError(t *testing.T) {
	fx := newFixture(t, emailcode.Options{})
	fx.out.fail = errors.New("relay down")
	if _, err := fx.c.Send(t.Context(), alice, ""); err == nil || errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("got %v", err)
	}
	if _, err := fx.c.Send(t.Context(), emailcode.Recipient{UserID: "u1"}, ""); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("no address: %v", err)
	}
}

// TestACodeMailedThroughARealSMTPServerVerifies sends over TCP with
// STARTTLS and AUTH to the in-process server, reads the code out of the
// mail as a user would, and signs in with it.
func TestACodeMailedThroughARealSMTPServerVerifies(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.StartTLS, Username: "gatehouse", Password: "relay-secret"})
	clock := mfatest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	mailer, err := notify.NewMailer(config.SMTP{
		Host: srv.Host, Port: srv.Port, From: "sso@corp.example.test", Security: "starttls",
		Username: "gatehouse", Password: config.Secret("relay-secret"),
	}, notify.MailerOptions{FromName: "Contoso SSO", RootCAs: srv.RootCAs(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	n, err := notify.New(notify.Options{Sender: mailer, Product: "Contoso SSO", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	fx := newFixture(t, emailcode.Options{Mailer: n})
	ch, err := fx.c.Send(t.Context(), alice, notify.PurposeSignIn)
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages arrived", len(msgs))
	}
	m := msgs[0]
	if !m.TLS || m.User != "gatehouse" || len(m.To) != 1 || m.To[0] != alice.Address {
		t.Errorf("delivery: TLS %v, user %q, to %v", m.TLS, m.User, m.To)
	}
	found := regexp.MustCompile(`(?m)^\s+([0-9]{6})\s*$`).FindStringSubmatch(m.Text)
	if found == nil {
		t.Fatalf("no code in the mail:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, found[1]) {
		t.Error("the HTML part lacks the code")
	}
	if strings.Contains(m.Subject, found[1]) {
		t.Error("the subject holds the code (it shows on lock screens)")
	}
	if err := fx.c.Verify(t.Context(), "u1", ch, found[1]); err != nil {
		t.Fatalf("the mailed code does not verify: %v", err)
	}
	if err := fx.c.Verify(t.Context(), "u1", ch, found[1]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("the mailed code verified twice: %v", err)
	}
}

func TestADecoyIsLimitedLikeASendAndItsChallengeLikeARealOne(t *testing.T) {
	fx := newFixture(t, emailcode.Options{})
	ctx := t.Context()
	var ch emailcode.Challenge
	for i := range emailcode.DefaultSendLimit().Max {
		var err error
		if ch, err = fx.c.Decoy(ctx, "unknown:6e6f626f6479", notify.PurposeReset); err != nil || ch.ID == "" || ch.Destination != "" {
			t.Fatalf("decoy %d: %+v, %v", i+1, ch, err)
		}
	}
	if _, err := fx.c.Decoy(ctx, "unknown:6e6f626f6479", notify.PurposeReset); !errors.Is(err, mfa.ErrThrottled) {
		t.Fatalf("decoy past the send limit: %v, want throttled like a send", err)
	}
	if n := len(fx.out.sent); n != 0 {
		t.Fatalf("a decoy mailed %d codes", n)
	}
	for i := range emailcode.DefaultMaxAttempts {
		if err := fx.c.Verify(ctx, "unknown:6e6f626f6479", ch, "123456"); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("check %d: %v", i+1, err)
		}
	}
	if err := fx.c.Verify(ctx, "unknown:6e6f626f6479", ch, "123456"); !errors.Is(err, mfa.ErrThrottled) {
		t.Fatalf("check past the attempts: %v, want throttled like a real challenge", err)
	}
}

func TestResetAndUnlockCodesShareOneSendLimitApartFromSignIn(t *testing.T) {
	fx := newFixture(t, emailcode.Options{})
	alice := emailcode.Recipient{UserID: "u1", Address: "alice@example.test", Name: "Alice"}
	for i := range emailcode.DefaultSendLimit().Max {
		purpose := notify.PurposeReset
		if i%2 == 1 {
			purpose = notify.PurposeUnlock
		}
		if _, err := fx.c.Send(t.Context(), alice, purpose); err != nil {
			t.Fatalf("send %d (%s): %v", i+1, purpose, err)
		}
	}
	for _, purpose := range []string{notify.PurposeReset, notify.PurposeUnlock} {
		if _, err := fx.c.Send(t.Context(), alice, purpose); !errors.Is(err, mfa.ErrThrottled) {
			t.Errorf("a %s code past the self-service limit: %v, want throttled", purpose, err)
		}
	}
	if _, err := fx.c.Send(t.Context(), alice, notify.PurposeSignIn); err != nil {
		t.Errorf("a sign-in code after self-service used its limit: %v", err)
	}
}

// A send that fails for the recipient alone (an address the mail server
// would refuse) still returns its challenge, with notify.ErrRecipient, so
// reset and unlock can answer it like a code that went out; a mail server
// that is down returns no challenge and another error.
func TestARecipientThatCannotBeMailedStillGetsItsChallengeAndADownServerNone(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
	clock := mfatest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	newCodes := func(port int) *emailcode.Codes {
		mailer, err := notify.NewMailer(config.SMTP{Host: srv.Host, Port: port, From: "sso@corp.example.test", Security: "none"},
			notify.MailerOptions{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		n, err := notify.New(notify.Options{Sender: mailer, Product: "Contoso SSO", Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return newFixture(t, emailcode.Options{Mailer: n}).c
	}
	bad := alice
	bad.Address = "alice@@corp.example.test"
	ch, err := newCodes(srv.Port).Send(t.Context(), bad, notify.PurposeReset)
	if !errors.Is(err, notify.ErrRecipient) || ch.ID == "" || ch.Destination == "" {
		t.Errorf("an address that cannot be mailed: %+v, %v; want the challenge and notify.ErrRecipient", ch, err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages arrived", n)
	}
	closed := freePort(t)
	ch, err = newCodes(closed).Send(t.Context(), alice, notify.PurposeReset)
	if err == nil || errors.Is(err, notify.ErrRecipient) || ch.ID != "" {
		t.Errorf("a mail server that is down: %+v, %v; want no challenge and an error other than notify.ErrRecipient", ch, err)
	}
}

// freePort is a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}
