package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// Security modes of config.SMTP.Security.
const (
	SecurityStartTLS = "starttls" // STARTTLS is mandatory: no upgrade, no mail
	SecurityTLS      = "tls"      // implicit TLS from the first byte (port 465)
	SecurityNone     = "none"     // plain text, towards a loopback relay only
)

// DefaultTimeout bounds connecting and each SMTP command when
// MailerOptions.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// MailerOptions are what a Mailer needs besides config.SMTP.
type MailerOptions struct {
	// FromName is the display name of the sender (config ui.name).
	FromName string
	// RootCAs verifies the server's certificate; nil means the system
	// roots. Tests pass their own CA here.
	RootCAs *x509.CertPool
	// Timeout bounds connecting and each command; zero means DefaultTimeout.
	Timeout time.Duration
	// HELO is the name announced in EHLO; "" means the OS host name.
	HELO   string
	Logger *slog.Logger
	Now    func() time.Time
}

// Mailer sends messages over SMTP. It opens one connection per message:
// mail is rare here (a code, a notice) and a fresh connection never finds
// a half-closed session.
type Mailer struct {
	host     string
	from     string
	fromName string
	opts     []mail.Option
	log      *slog.Logger
	now      func() time.Time
}

// NewMailer checks c and returns a Mailer for it. STARTTLS is required
// unless c.Security says "tls" (implicit TLS) or "none", which is refused
// for anything but a loopback host. With c.Username set it authenticates,
// choosing the strongest mechanism the server offers over TLS.
func NewMailer(c config.SMTP, o MailerOptions) (*Mailer, error) {
	if c.Host == "" {
		return nil, errors.New("notify: smtp.host is empty")
	}
	if c.From == "" {
		return nil, errors.New("notify: smtp.from is empty")
	}
	if c.Port == 0 {
		c.Port = 587
		if c.Security == SecurityTLS {
			c.Port = 465
		}
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	opts := []mail.Option{
		mail.WithPort(c.Port),
		mail.WithTimeout(timeout),
		mail.WithTLSConfig(&tls.Config{ServerName: c.Host, RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	if o.HELO != "" {
		opts = append(opts, mail.WithHELO(o.HELO))
	}
	switch c.Security {
	case "", SecurityStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case SecurityTLS:
		opts = append(opts, mail.WithSSL())
	case SecurityNone:
		if !IsLoopback(c.Host) {
			return nil, fmt.Errorf("notify: smtp.security none is only allowed towards localhost, not %q", c.Host)
		}
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		return nil, fmt.Errorf("notify: smtp.security must be starttls, tls or none, got %q", c.Security)
	}
	if c.Username != "" {
		auth := mail.SMTPAuthAutoDiscover
		if c.Security == SecurityNone {
			// Loopback only (checked above): PLAIN over the local socket.
			auth = mail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(c.Username), mail.WithPassword(c.Password.Value()))
	}
	m := &Mailer{host: c.Host, from: c.From, fromName: o.FromName, opts: opts, log: o.Logger, now: o.Now}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if _, err := m.client(); err != nil { // validate the options once
		return nil, err
	}
	if _, err := m.message(Message{To: "check@example.com"}); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Mailer) client() (*mail.Client, error) {
	c, err := mail.NewClient(m.host, m.opts...)
	if err != nil {
		return nil, fmt.Errorf("notify: smtp client: %w", err)
	}
	return c, nil
}

// message builds the MIME message: text/plain with an HTML alternative.
func (m *Mailer) message(msg Message) (*mail.Msg, error) {
	mm := mail.NewMsg()
	var err error
	// Names are free text (a display name from AD may hold quotes or
	// backslashes): each address is built as a net/mail.Address, whose
	// String quotes and encodes the name, never by pasting the name into
	// "name <addr>" for a parser to take apart again.
	from, err := netmail.ParseAddress(m.from)
	if err != nil {
		return nil, fmt.Errorf("notify: smtp.from %q: %w", m.from, err)
	}
	mm.FromMailAddress(&netmail.Address{Name: oneLine(m.fromName), Address: from.Address})
	to, err := netmail.ParseAddress(msg.To)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecipient, err)
	}
	mm.ToMailAddress(&netmail.Address{Name: oneLine(msg.ToName), Address: to.Address})
	mm.Subject(oneLine(msg.Subject))
	mm.SetDateWithValue(m.now())
	// The sender's domain, not this host's name, which would leak an
	// internal name into every mail.
	_, domain, _ := strings.Cut(m.from, "@")
	mm.SetMessageIDWithValue(rand.Text() + "@" + domain)
	// RFC 3834: automatic mail; out-of-office replies should not answer it.
	mm.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	mm.SetBodyString(mail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		mm.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	}
	return mm, nil
}

// ErrRecipient is a send that failed for this recipient alone: an address
// that does not parse, or one the mail server refused (RCPT TO). The mail
// server itself works; other mail still goes out.
var ErrRecipient = errors.New("notify: this recipient cannot be mailed")

// Send delivers msg. The log names the kind and a masked recipient only.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	mm, err := m.message(msg)
	if err != nil {
		return err
	}
	c, err := m.client()
	if err != nil {
		return err
	}
	start := m.now()
	if err := c.DialAndSendWithContext(ctx, mm); err != nil {
		m.log.WarnContext(ctx, "mail not sent", "event", "mail.fail", "kind", msg.Kind, "to", MaskAddress(msg.To), "err", err)
		if se := (*mail.SendError)(nil); errors.As(err, &se) && se.Reason == mail.ErrSMTPRcptTo {
			return fmt.Errorf("%w: %s refused it: %w", ErrRecipient, m.host, err)
		}
		return fmt.Errorf("notify: send via %s: %w", m.host, err)
	}
	m.log.InfoContext(ctx, "mail sent", "event", "mail.sent", "kind", msg.Kind, "to", MaskAddress(msg.To), "took", m.now().Sub(start))
	return nil
}

// Check connects, negotiates TLS and authenticates without sending, for
// `gatehouse config check` and readiness.
func (m *Mailer) Check(ctx context.Context) error {
	c, err := m.client()
	if err != nil {
		return err
	}
	if err := c.DialWithContext(ctx); err != nil {
		return fmt.Errorf("notify: connect to %s: %w", m.host, err)
	}
	if err := c.Close(); err != nil {
		return fmt.Errorf("notify: close connection to %s: %w", m.host, err)
	}
	return nil
}

// IsLoopback reports whether host names this machine: "localhost" or a
// loopback IP address.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
