package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one rendered mail, ready to send.
type Message struct {
	// Kind names the message for logs and metrics (e.g. "email_code");
	// it is not sent.
	Kind    string
	To      string // address
	ToName  string // display name; may be empty
	Subject string
	Text    string // text/plain body
	HTML    string // text/html alternative; may be empty
}

// Sender delivers a rendered message. *Mailer sends over SMTP; tests use a
// fake or a Mailer pointed at notify/smtptest.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Recipient is who a notice goes to.
type Recipient struct {
	Address string
	Name    string // display name, used in the greeting
	Lang    string // BCP 47 tag (e.g. "de-CH"); "" means the default language
}

// Message kinds.
const (
	KindEmailCode       = "email_code"
	KindPasswordReset   = "password_reset"
	KindPasswordExpiry  = "password_expiry"
	KindFactorAdded     = "factor_added"
	KindAccountUnlocked = "account_unlocked"
)

// Purposes of an email code; they change the wording around it.
const (
	PurposeSignIn = "signin"
	PurposeReset  = "reset"
	PurposeUnlock = "unlock"
)

// EmailCode is the data of a mail carrying a one-time code.
type EmailCode struct {
	Code     string
	ValidFor time.Duration
	// Purpose is PurposeSignIn (default), PurposeReset or PurposeUnlock.
	Purpose string
}

// PasswordReset is the notice that the user's password was reset. It
// tells the user they were signed out everywhere: send it after the
// sessions were revoked.
type PasswordReset struct {
	Time time.Time
	IP   string // client IP the reset came from
}

// PasswordExpiry reminds the user that the password expires soon.
type PasswordExpiry struct {
	Expires time.Time
	// ChangeURL is where to change it; "" means BaseURL + "/password/change".
	ChangeURL string
}

// FactorAdded is the notice that a second factor was added to the account.
type FactorAdded struct {
	Method string // mfa method name: "totp", "webauthn", "recovery", "email"
	Name   string // the user's label for it, if any
	Time   time.Time
	IP     string
}

// AccountUnlocked is the notice that the account was unlocked by
// self-service.
type AccountUnlocked struct {
	Time time.Time
	IP   string
}

// Options configures a Notifier.
type Options struct {
	Sender Sender
	// Product is the name users know the service by (config ui.name).
	Product string
	// BaseURL is Gatehouse's public URL (config issuer), for links.
	BaseURL string
	// Support says whom to tell about something suspicious; the mail
	// writes "contact <Support>". Every language uses the same text, so
	// an address or a phone number reads best, e.g.
	// "helpdesk@corp.example.com (+49 30 1234-0)". Empty: a generic
	// "contact your IT helpdesk".
	Support string
	// DefaultLanguage is used when the recipient's is not available;
	// "" means English.
	DefaultLanguage string
	// Location is the time zone times are written in; nil means UTC.
	Location *time.Location
	Logger   *slog.Logger
	Now      func() time.Time
}

// Notifier renders the typed messages and hands them to a Sender.
type Notifier struct {
	sender   Sender
	product  string
	baseURL  string
	support  string
	lang     string
	loc      *time.Location
	log      *slog.Logger
	now      func() time.Time
	catalogs map[string]*catalog
}

// New returns a Notifier. It parses every template once, so a broken
// template fails here and not when the first mail is due.
func New(o Options) (*Notifier, error) {
	if o.Sender == nil {
		return nil, errors.New("notify: a sender is required")
	}
	n := &Notifier{sender: o.Sender, product: o.Product, baseURL: strings.TrimRight(o.BaseURL, "/"), support: o.Support,
		lang: o.DefaultLanguage, loc: o.Location, log: o.Logger, now: o.Now}
	if n.product == "" {
		n.product = "Gatehouse"
	}
	if n.loc == nil {
		n.loc = time.UTC
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.now == nil {
		n.now = time.Now
	}
	cats, err := loadCatalogs()
	if err != nil {
		return nil, err
	}
	n.catalogs = cats
	if n.lang == "" {
		n.lang = "en"
	}
	if _, ok := n.catalogs[baseLang(n.lang)]; !ok {
		return nil, fmt.Errorf("notify: no templates for default language %q (have %s)", n.lang, strings.Join(Languages(), ", "))
	}
	return n, nil
}

// EmailCode mails a one-time code.
func (n *Notifier) EmailCode(ctx context.Context, to Recipient, d EmailCode) error {
	if d.Purpose == "" {
		d.Purpose = PurposeSignIn
	}
	return n.send(ctx, KindEmailCode, to, d)
}

// PasswordReset mails the notice that the password was reset.
func (n *Notifier) PasswordReset(ctx context.Context, to Recipient, d PasswordReset) error {
	return n.send(ctx, KindPasswordReset, to, d)
}

// PasswordExpiry mails a reminder that the password expires soon.
func (n *Notifier) PasswordExpiry(ctx context.Context, to Recipient, d PasswordExpiry) error {
	if d.ChangeURL == "" {
		d.ChangeURL = n.baseURL + "/password/change"
	}
	return n.send(ctx, KindPasswordExpiry, to, d)
}

// FactorAdded mails the notice that a second factor was added.
func (n *Notifier) FactorAdded(ctx context.Context, to Recipient, d FactorAdded) error {
	return n.send(ctx, KindFactorAdded, to, d)
}

// AccountUnlocked mails the notice that the account was unlocked.
func (n *Notifier) AccountUnlocked(ctx context.Context, to Recipient, d AccountUnlocked) error {
	return n.send(ctx, KindAccountUnlocked, to, d)
}

func (n *Notifier) send(ctx context.Context, kind string, to Recipient, data any) error {
	if to.Address == "" {
		return errors.New("notify: " + kind + ": no recipient address")
	}
	m, err := n.render(kind, to, data)
	if err != nil {
		return err
	}
	if err := n.sender.Send(ctx, m); err != nil {
		return fmt.Errorf("%s mail: %w", kind, err)
	}
	return nil
}

// MaskAddress hides most of an address for display ("a code was sent to
// a•••@c•••.com"): the first character of the local part and of the
// domain, and the top-level domain.
func MaskAddress(addr string) string {
	const dots = "•••"
	local, domain, ok := strings.Cut(strings.TrimSpace(addr), "@")
	first := func(s string) string {
		r, size := utf8.DecodeRuneInString(s)
		if size == 0 || r == utf8.RuneError {
			return ""
		}
		return string(r)
	}
	if !ok {
		return first(local) + dots
	}
	out := first(local) + dots + "@" + first(domain) + dots
	if i := strings.LastIndexByte(domain, '.'); i > 0 && i < len(domain)-1 && utf8.ValidString(domain[i:]) {
		out += domain[i:]
	}
	return out
}
