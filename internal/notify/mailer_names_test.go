package notify_test

import (
	"net/mail"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/notify/smtptest"
)

// Found by an outside attack pass on a running instance: a display name is
// free text in AD, and a quote or backslash in it made the recipient
// "unparseable", so the code or notice was never sent. In password reset and
// unlock such a per-account failure also flips the process-wide "mail is
// failing" state that decoys copy, which turns the email step into an
// oracle for whether a login exists.
func TestAMailIsSentWhateverTheDisplayNameHolds(t *testing.T) {
	for _, name := range []string{
		`Robert "Bob" Smith`,
		`O"Brien, Pat`,
		`<script>alert(1)</script> Eve"'`,
		`Smith\`,
		`CORP\jsmith`,
		`Smith, John`,
		`Jürgen Müller`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
			m, err := notify.NewMailer(smtpConfig(srv, "none"), notify.MailerOptions{FromName: "Contoso SSO", Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			msg := message()
			msg.ToName = name
			if err := m.Send(t.Context(), msg); err != nil {
				t.Fatalf("Send to display name %q: %v", name, err)
			}
			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("%d messages arrived", len(got))
			}
			to, err := mail.ParseAddress(got[0].Header.Get("To"))
			if err != nil || to.Address != "alice@corp.example.test" || to.Name != name {
				t.Errorf("To %q parses as %+v (%v); want the name %q kept", got[0].Header.Get("To"), to, err, name)
			}
		})
	}
}
