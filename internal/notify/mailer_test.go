package notify_test

import (
	"context"
	"log/slog"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/notify/smtptest"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// logBuf is a log the test can read.
type logBuf = testenv.Buffer

func smtpConfig(srv *smtptest.Server, security string) config.SMTP {
	return config.SMTP{Host: srv.Host, Port: srv.Port, From: "sso@corp.example.test", Security: security}
}

func message() notify.Message {
	return notify.Message{
		Kind: notify.KindEmailCode, To: "alice@corp.example.test", ToName: "Alice Smith",
		Subject: "Ihr Bestätigungscode", Text: "Code: 424242\n", HTML: "<p>Code: <b>424242</b></p>",
	}
}

func TestMailIsDeliveredInEverySecurityMode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		server   smtptest.Options
		security string
		user     string
		password string
		wantTLS  bool
	}{
		{"plain text to a loopback relay", smtptest.Options{Mode: smtptest.Plain}, "none", "", "", false},
		{"plain text to a loopback relay with AUTH", smtptest.Options{Mode: smtptest.Plain, Username: "u", Password: "p"}, "none", "u", "p", false},
		{"STARTTLS with the test CA", smtptest.Options{Mode: smtptest.StartTLS}, "starttls", "", "", true},
		{"STARTTLS with AUTH", smtptest.Options{Mode: smtptest.StartTLS, Username: "gatehouse", Password: "s3cret"}, "starttls", "gatehouse", "s3cret", true},
		{"implicit TLS with AUTH", smtptest.Options{Mode: smtptest.ImplicitTLS, Username: "gatehouse", Password: "s3cret"}, "tls", "gatehouse", "s3cret", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.server)
			c := smtpConfig(srv, tc.security)
			c.Username, c.Password = tc.user, config.Secret(tc.password)
			m, err := notify.NewMailer(c, notify.MailerOptions{FromName: "Contoso SSO", RootCAs: srv.RootCAs(), Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Check(t.Context()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := m.Send(t.Context(), message()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages arrived", len(msgs))
			}
			got := msgs[0]
			if got.TLS != tc.wantTLS || got.User != tc.user {
				t.Errorf("TLS %v, user %q; want %v, %q", got.TLS, got.User, tc.wantTLS, tc.user)
			}
			if got.From != "sso@corp.example.test" || len(got.To) != 1 || got.To[0] != "alice@corp.example.test" {
				t.Errorf("envelope %s -> %v", got.From, got.To)
			}
		})
	}
}

func TestADeliveredMessageIsWellFormed(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.StartTLS})
	m, err := notify.NewMailer(smtpConfig(srv, "starttls"), notify.MailerOptions{FromName: "Contoso SSO", RootCAs: srv.RootCAs(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), message()); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()[0]
	from, err := mail.ParseAddress(got.Header.Get("From"))
	if err != nil || from.Name != "Contoso SSO" || from.Address != "sso@corp.example.test" {
		t.Errorf("From %q (%v)", got.Header.Get("From"), err)
	}
	to, err := mail.ParseAddress(got.Header.Get("To"))
	if err != nil || to.Name != "Alice Smith" || to.Address != "alice@corp.example.test" {
		t.Errorf("To %q (%v)", got.Header.Get("To"), err)
	}
	if got.Subject != "Ihr Bestätigungscode" {
		t.Errorf("Subject %q", got.Subject)
	}
	if d, err := got.Header.Date(); err != nil || !d.Equal(now) {
		t.Errorf("Date %v (%v), want the injected clock's %v", d, err, now)
	}
	if got.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted %q", got.Header.Get("Auto-Submitted"))
	}
	if id := got.Header.Get("Message-Id"); !strings.HasSuffix(id, "@corp.example.test>") {
		t.Errorf("Message-ID %q does not use the sender's domain", id)
	}
	if strings.TrimSpace(got.Text) != "Code: 424242" || got.HTML != "<p>Code: <b>424242</b></p>" {
		t.Errorf("bodies: text %q, html %q", got.Text, got.HTML)
	}
}

func TestMailIsRefusedRatherThanSentInsecurely(t *testing.T) {
	for _, tc := range []struct {
		name     string
		server   smtptest.Options
		security string
		trusted  bool // give the mailer the server's CA
		user     string
		password string
	}{
		{"STARTTLS is mandatory: a server without it gets nothing", smtptest.Options{Mode: smtptest.Plain}, "starttls", true, "", ""},
		{"a certificate from an unknown CA is refused", smtptest.Options{Mode: smtptest.StartTLS}, "starttls", false, "", ""},
		{"an implicit-TLS certificate from an unknown CA is refused", smtptest.Options{Mode: smtptest.ImplicitTLS}, "tls", false, "", ""},
		{"a wrong relay password is refused", smtptest.Options{Mode: smtptest.StartTLS, Username: "gatehouse", Password: "right"}, "starttls", true, "gatehouse", "wrong"},
		{"a relay requiring AUTH refuses a mailer without credentials", smtptest.Options{Mode: smtptest.StartTLS, Username: "gatehouse", Password: "right"}, "starttls", true, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.server)
			c := smtpConfig(srv, tc.security)
			c.Username, c.Password = tc.user, config.Secret(tc.password)
			o := notify.MailerOptions{Now: func() time.Time { return now }}
			if tc.trusted {
				o.RootCAs = srv.RootCAs()
			}
			m, err := notify.NewMailer(c, o)
			if err != nil {
				t.Fatal(err)
			}
			err = m.Send(t.Context(), message())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			t.Logf("refused as it should be: %v", err)
			if n := len(srv.Messages()); n != 0 {
				t.Fatalf("%d messages arrived", n)
			}
		})
	}
}

func TestAMailerIsNotBuiltFromABadConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    config.SMTP
	}{
		{"no TLS towards a remote relay", config.SMTP{Host: "smtp.corp.example.com", From: "sso@corp.example.com", Security: "none"}},
		{"an unknown security mode", config.SMTP{Host: "localhost", From: "sso@corp.example.com", Security: "ssl"}},
		{"no host", config.SMTP{From: "sso@corp.example.com"}},
		{"no sender", config.SMTP{Host: "localhost"}},
		{"a malformed sender", config.SMTP{Host: "localhost", From: "not an address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := notify.NewMailer(tc.c, notify.MailerOptions{}); err == nil {
				t.Fatal("NewMailer accepted it")
			}
		})
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "[::1]", "127.0.0.2"} {
		if !notify.IsLoopback(host) {
			t.Errorf("IsLoopback(%q) = false", host)
		}
	}
	for _, host := range []string{"smtp.example.com", "10.0.0.1", "localhost.example.com", ""} {
		if notify.IsLoopback(host) {
			t.Errorf("IsLoopback(%q) = true", host)
		}
	}
}

func TestTheLogNamesTheMailButNeverItsBody(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.StartTLS, Username: "gatehouse", Password: "relay-pw-123"})
	var log logBuf
	c := smtpConfig(srv, "starttls")
	c.Username, c.Password = "gatehouse", "relay-pw-123"
	m, err := notify.NewMailer(c, notify.MailerOptions{RootCAs: srv.RootCAs(), Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	n, err := notify.New(notify.Options{Sender: m, Product: "Contoso SSO", Logger: slog.New(slog.NewTextHandler(&log, nil)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.EmailCode(t.Context(), notify.Recipient{Address: "alice@corp.example.test"}, notify.EmailCode{Code: "918273", ValidFor: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	out := log.String()
	if !strings.Contains(out, "event=mail.sent") || !strings.Contains(out, "kind=email_code") || !strings.Contains(out, "a•••@c•••.test") {
		t.Errorf("the log does not say what was sent:\n%s", out)
	}
	for _, secret := range []string{"918273", "alice@corp", "relay-pw-123", "verification code"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
	if got := srv.Messages()[0]; !strings.Contains(got.Text, "918273") {
		t.Errorf("the code is not in the mail:\n%s", got.Text)
	}
}

func TestACancelledContextStopsTheSend(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
	m, err := notify.NewMailer(smtpConfig(srv, "none"), notify.MailerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Send(ctx, message()); err == nil {
		t.Fatal("Send succeeded with a cancelled context")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages arrived", n)
	}
}
