package smtptest

import (
	"net"
	"net/smtp"
	"strings"
	"testing"
)

func TestAServerStoppedAtOnceShutsDownCleanly(t *testing.T) {
	// Cleanup may run before the serving goroutine has started; it must
	// not hang waiting for it.
	for range 50 {
		t.Run("start and stop", func(t *testing.T) {
			for _, mode := range []Mode{Plain, StartTLS, ImplicitTLS} {
				s := Start(t, Options{Mode: mode})
				if s.Port == 0 || s.Host != "127.0.0.1" {
					t.Fatalf("listening on %s", s.Addr())
				}
			}
		})
	}
}

func TestAMessageSentWithTheStandardClientIsCapturedAndParsed(t *testing.T) {
	s := Start(t, Options{Mode: Plain})
	raw := "From: a@example.test\r\nTo: b@example.test\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" +
		"--inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCode =3D 123456\r\n" +
		"--inner\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+MTIz\r\nNDU2PC9wPg==\r\n" +
		"--inner--\r\n--outer--\r\n"
	if err := smtp.SendMail(s.Addr(), nil, "a@example.test", []string{"b@example.test", "c@example.test"}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "Grüße" || strings.TrimSpace(m.Text) != "Code = 123456" || m.HTML != "<p>123456</p>" {
		t.Errorf("parsed subject %q, text %q, html %q", m.Subject, m.Text, m.HTML)
	}
	if m.From != "a@example.test" || strings.Join(m.To, ",") != "b@example.test,c@example.test" || m.TLS || m.User != "" {
		t.Errorf("envelope %+v", m)
	}
	s.Reset()
	if len(s.Messages()) != 0 {
		t.Error("Reset kept messages")
	}
}

func TestAServerWithCredentialsRefusesMailBeforeAuth(t *testing.T) {
	s := Start(t, Options{Mode: Plain, Username: "u", Password: "p"})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.test"); err == nil {
		t.Fatal("MAIL FROM accepted without AUTH")
	}
	// net/smtp allows PLAIN without TLS only towards localhost.
	host, _, _ := net.SplitHostPort(s.Addr())
	if err := c.Auth(smtp.PlainAuth("", "u", "wrong", host)); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if len(s.Messages()) != 0 {
		t.Fatal("a message was captured")
	}
}
