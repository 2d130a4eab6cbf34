package reminders_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/notify/smtptest"
	"github.com/gatehouse-sso/gatehouse/internal/reminders"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
)

const (
	day    = 24 * time.Hour
	maxAge = 90 * day
	issuer = "https://sso.corp.example.test"
)

// world is a file directory, a SQLite store and a real SMTP server, with
// a clock the test moves.
type world struct {
	t      *testing.T
	now    time.Time
	path   string
	rev    int
	users  []file.UserFile
	dir    *file.Directory
	store  *sqlite.Store
	smtp   *smtptest.Server
	sender *flakySender
	mailer *notify.Notifier
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, now: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	tmp := t.TempDir()
	w.path = filepath.Join(tmp, "users.yaml")
	w.save()
	var err error
	if w.dir, err = file.Open(t.Context(), w.path, file.Options{Now: w.clock}); err != nil {
		t.Fatal(err)
	}
	if w.store, err = sqlite.Open(t.Context(), filepath.Join(tmp, "g.db"), store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.store.Close() })
	w.smtp = smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
	m, err := notify.NewMailer(config.SMTP{Host: w.smtp.Host, Port: w.smtp.Port, From: "sso@corp.example.test", Security: notify.SecurityNone},
		notify.MailerOptions{FromName: "Contoso SSO", Now: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	w.sender = &flakySender{next: m}
	if w.mailer, err = notify.New(notify.Options{Sender: w.sender, Product: "Contoso SSO", BaseURL: issuer, Now: w.clock}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) clock() time.Time { return w.now }

// save writes the user file; the directory reloads it on the next call.
func (w *world) save() {
	w.t.Helper()
	out, err := yaml.Marshal(file.File{Policy: file.PolicyFile{MinLength: 12, MaxAge: maxAge}, Users: w.users})
	if err != nil {
		w.t.Fatal(err)
	}
	w.rev++
	out = fmt.Appendf(out, "# revision %d\n", w.rev) // a new size even within one mtime tick
	if err := os.WriteFile(w.path, out, 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// addUser adds a user whose password expires left from now.
func (w *world) addUser(name string, left time.Duration) {
	w.users = append(w.users, file.UserFile{
		ID: fmt.Sprintf("%032x", len(w.users)+1), Username: name, Mail: name + "@corp.example.test",
		DisplayName: strings.ToUpper(name[:1]) + name[1:] + " Example", PasswordHash: "unused",
		PasswordChangedAt: w.now.Add(left - maxAge),
	})
	w.save()
}

func (w *world) editUser(name string, fn func(u *file.UserFile)) {
	for i := range w.users {
		if w.users[i].Username == name {
			fn(&w.users[i])
			w.save()
			return
		}
	}
	w.t.Fatalf("no user %s", name)
}

func (w *world) options(dryRun bool) reminders.Options {
	return reminders.Options{Directory: w.dir, Store: w.store, Notifier: w.mailer, Windows: []int{14, 7, 1},
		Now: w.clock, DryRun: dryRun}
}

func (w *world) run(dryRun bool) reminders.Report {
	w.t.Helper()
	rep, err := reminders.Run(w.t.Context(), w.options(dryRun))
	if err != nil {
		w.t.Fatalf("Run: %v", err)
	}
	return rep
}

// lines renders a report as "login window status", soonest expiry first.
func lines(rep reminders.Report) []string {
	var out []string
	for _, r := range rep.Results {
		out = append(out, fmt.Sprintf("%s %dd %s", r.Login, r.Window, r.Status))
	}
	return out
}

func (w *world) expect(rep reminders.Report, want ...string) {
	w.t.Helper()
	if got := lines(rep); !slices.Equal(got, want) {
		w.t.Errorf("report:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func (w *world) mailsTo() []string {
	var out []string
	for _, m := range w.smtp.Messages() {
		out = append(out, strings.Join(m.To, ","))
	}
	return out
}

// flakySender passes mail on, except to the addresses it is told to
// refuse, as a relay that rejects a recipient would.
type flakySender struct {
	next notify.Sender
	mu   sync.Mutex
	fail map[string]bool
}

func (f *flakySender) refuse(addr string, yes bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		f.fail = map[string]bool{}
	}
	f.fail[addr] = yes
}

func (f *flakySender) Send(ctx context.Context, m notify.Message) error {
	f.mu.Lock()
	refuse := f.fail[m.To]
	f.mu.Unlock()
	if refuse {
		return fmt.Errorf("550 5.1.1 <%s>: recipient address rejected", m.To)
	}
	return f.next.Send(ctx, m)
}

func TestEachUserIsRemindedOncePerWindowAndPassword(t *testing.T) {
	w := newWorld(t)
	w.addUser("ann", 10*day)
	w.addUser("ben", 5*day)
	w.addUser("cat", 12*time.Hour)
	w.addUser("dan", 20*day) // outside every window
	w.addUser("eve", 3*day)
	w.editUser("eve", func(u *file.UserFile) { u.Mail = "" }) // nowhere to send it

	t.Run("the first run mails everyone in a window, each in the smallest window holding the expiry", func(t *testing.T) {
		w.expect(w.run(false), "cat 1d sent", "ben 7d sent", "ann 14d sent")
		if got := w.mailsTo(); !slices.Equal(got, []string{"cat@corp.example.test", "ben@corp.example.test", "ann@corp.example.test"}) {
			t.Fatalf("mail went to %v", got)
		}
	})

	t.Run("the mail names the user, the exact expiry, the days left and the change page", func(t *testing.T) {
		msgs := w.smtp.Messages()
		cat, ben := msgs[0], msgs[1]
		for _, want := range []string{"Hello Cat Example,", "expires today", "Sunday, 1 March 2026, 20:00 UTC", issuer + "/password/change",
			"never asks for your password"} {
			if !strings.Contains(cat.Text, want) || !strings.Contains(cat.HTML, want) {
				t.Errorf("cat's mail lacks %q:\n%s", want, cat.Text)
			}
		}
		if !strings.Contains(ben.Subject, "expires in 5 days") || !strings.Contains(ben.Text, "Friday, 6 March 2026, 08:00 UTC") {
			t.Errorf("ben's mail: %q\n%s", ben.Subject, ben.Text)
		}
	})

	t.Run("every mail sent is audited", func(t *testing.T) {
		evs, err := w.store.QueryAudit(t.Context(), store.AuditQuery{Type: audit.ExpiryReminder})
		if err != nil || len(evs) != 3 {
			t.Fatalf("%d audit events, %v", len(evs), err)
		}
		for _, e := range evs {
			if e.Result != "ok" || e.UserID == "" || !strings.Contains(string(e.Detail), `"window_days"`) || strings.Contains(string(e.Detail), "@corp.example.test") {
				t.Errorf("audit event %+v detail %s", e, e.Detail)
			}
		}
	})

	t.Run("running again the same day mails nobody", func(t *testing.T) {
		w.expect(w.run(false), "cat 1d already-sent", "ben 7d already-sent", "ann 14d already-sent")
		if n := len(w.smtp.Messages()); n != 3 {
			t.Errorf("%d mails in all, want still 3", n)
		}
	})

	t.Run("four days later the next windows are due, once", func(t *testing.T) {
		w.now = w.now.Add(4 * day) // cat's password has expired; ann 6 days, ben 1 day
		w.expect(w.run(false), "ben 1d sent", "ann 7d sent")
		w.expect(w.run(false), "ben 1d already-sent", "ann 7d already-sent")
		if got := w.mailsTo()[3:]; !slices.Equal(got, []string{"ben@corp.example.test", "ann@corp.example.test"}) {
			t.Errorf("new mail went to %v", got)
		}
	})

	t.Run("a changed password is reminded again in its own cycle", func(t *testing.T) {
		// Ann changed her password; it is now 84 days later, 6 days before
		// the new one expires: the 7-day window again, for a new password.
		w.now = w.now.Add(84 * day)
		w.editUser("ann", func(u *file.UserFile) { u.PasswordChangedAt = w.now.Add(6*day - maxAge) })
		w.editUser("ben", func(u *file.UserFile) { u.PasswordChangedAt = w.now.Add(-day) })
		w.expect(w.run(false), "ann 7d sent")
		if n := len(w.smtp.Messages()); n != 6 {
			t.Errorf("%d mails in all, want 6", n)
		}
	})
}

func TestADryRunSendsAndRecordsNothing(t *testing.T) {
	w := newWorld(t)
	w.addUser("ann", 10*day)
	w.addUser("ben", 5*day)

	w.expect(w.run(true), "ben 7d skipped", "ann 14d skipped")
	w.expect(w.run(true), "ben 7d skipped", "ann 14d skipped")
	if n := len(w.smtp.Messages()); n != 0 {
		t.Fatalf("a dry run sent %d mails", n)
	}
	w.expect(w.run(false), "ben 7d sent", "ann 14d sent")

	o := w.options(true)
	o.Notifier = nil // a dry run needs no mail server
	rep, err := reminders.Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	w.expect(rep, "ben 7d already-sent", "ann 14d already-sent")
	if n := len(w.smtp.Messages()); n != 2 {
		t.Errorf("%d mails in all, want 2", n)
	}
}

func TestAFailedMailIsReportedAndRetriedWhileTheOthersAreSent(t *testing.T) {
	w := newWorld(t)
	w.addUser("ann", 10*day)
	w.addUser("ben", 5*day)
	w.addUser("cat", 2*day)
	w.sender.refuse("ben@corp.example.test", true)

	rep := w.run(false)
	w.expect(rep, "cat 7d sent", "ben 7d failed", "ann 14d sent")
	if rep.Count(reminders.StatusFailed) != 1 || rep.Count(reminders.StatusSent) != 2 {
		t.Errorf("counts: %d failed, %d sent", rep.Count(reminders.StatusFailed), rep.Count(reminders.StatusSent))
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "ben") || !strings.Contains(err.Error(), "recipient address rejected") {
		t.Errorf("Err() = %v", err)
	}
	if evs, _ := w.store.QueryAudit(t.Context(), store.AuditQuery{Type: audit.ExpiryReminder}); len(evs) != 2 {
		t.Errorf("%d audit events, want one per mail sent (2)", len(evs))
	}

	w.sender.refuse("ben@corp.example.test", false)
	w.expect(w.run(false), "cat 7d already-sent", "ben 7d sent", "ann 14d already-sent")
	if got := w.mailsTo(); !slices.Equal(got, []string{"cat@corp.example.test", "ann@corp.example.test", "ben@corp.example.test"}) {
		t.Errorf("mail went to %v", got)
	}
}

// brokenLister is a directory that cannot answer.
type brokenLister struct{}

func (brokenLister) ListExpiring(context.Context, time.Time, time.Time) ([]*directory.User, error) {
	return nil, directory.ErrUnavailable
}

func TestARunThatCannotStartSaysWhy(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name string
		mod  func(o *reminders.Options)
		want string
	}{
		{"no mailer for a real run", func(o *reminders.Options) { o.Notifier = nil }, "configure smtp"},
		{"no windows", func(o *reminders.Options) { o.Windows = nil }, "reminders.days"},
		{"a directory that cannot list", func(o *reminders.Options) { o.Directory = nil }, "cannot list"},
		{"a directory that does not answer", func(o *reminders.Options) { o.Directory = brokenLister{} }, "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := w.options(false)
			tc.mod(&o)
			_, err := reminders.Run(t.Context(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error about %q", err, tc.want)
			}
			if tc.name == "a directory that does not answer" && !errors.Is(err, directory.ErrUnavailable) {
				t.Errorf("Run = %v, want it to wrap directory.ErrUnavailable", err)
			}
		})
	}
}
