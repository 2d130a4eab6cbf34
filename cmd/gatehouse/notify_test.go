package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-sso/gatehouse/internal/app"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/notify/smtptest"
)

// writeReminderSetup writes a user file and a configuration for `notify
// expiring` with the SMTP relay at smtpPort (0: none configured).
func writeReminderSetup(t *testing.T, dir string, smtpPort int) string {
	t.Helper()
	const day = 24 * time.Hour
	maxAge := 90 * day
	now := time.Now()
	user := func(name string, left time.Duration) file.UserFile {
		return file.UserFile{Username: name, Mail: name + "@corp.example.test", DisplayName: name, PasswordHash: "unused",
			PasswordChangedAt: now.Add(left - maxAge)}
	}
	noMail := user("nomail", 3*day)
	noMail.Mail = ""
	users := filepath.Join(dir, "users.yaml")
	if _, err := os.Stat(users); os.IsNotExist(err) {
		out, err := yaml.Marshal(file.File{Policy: file.PolicyFile{MinLength: 12, MaxAge: maxAge},
			Users: []file.UserFile{user("ann", 5*day), user("ben", 10*day), user("dan", 60*day), noMail}})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(users, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	y := "issuer: https://sso.corp.example.test\n" +
		"storage: {sqlite: {path: " + filepath.Join(dir, "g.db") + "}}\n" +
		"secrets: {encryption_key_file: " + filepath.Join(dir, "enc.key") + "}\n" +
		"signing: {key_file: " + filepath.Join(dir, "s.key") + ", cert_file: " + filepath.Join(dir, "s.crt") + "}\n" +
		"directory: {type: file, file: {path: " + users + "}}\n" +
		"reminders: {days: [14, 7, 1]}\n"
	if smtpPort != 0 {
		y += fmt.Sprintf("smtp: {host: 127.0.0.1, port: %d, from: sso@corp.example.test, security: none}\n", smtpPort)
	}
	cfg := filepath.Join(dir, fmt.Sprintf("gatehouse-%d.yaml", smtpPort))
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serveOnce starts and stops Gatehouse on cfg as `gatehouse serve` would,
// which creates its keys and database.
func serveOnce(t *testing.T, cfg string) {
	t.Helper()
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), c, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func TestNotifyExpiringMailsEachUserOnceAndNothingOnADryRun(t *testing.T) {
	dir := t.TempDir()
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
	cfg := writeReminderSetup(t, dir, srv.Port)
	serveOnce(t, cfg)
	notify := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"notify", "expiring"}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	mailsTo := func() []string {
		var to []string
		for _, m := range srv.Messages() {
			to = append(to, m.To...)
		}
		slices.Sort(to)
		return to
	}

	t.Run("a dry run sends nothing and lists who is due", func(t *testing.T) {
		code, out, errOut := notify("--config", cfg, "--dry-run")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		for _, want := range []string{"ann ", "7-day window  skipped (dry run)", "ben ", "14-day window  skipped (dry run)",
			"2 users: 0 sent, 2 skipped, 0 already sent, 0 failed (dry run: nothing sent)"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "dan") || strings.Contains(out, "nomail") {
			t.Errorf("a user outside every window, or without mail, is listed:\n%s", out)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("a dry run sent %d mails", n)
		}
	})

	t.Run("a mail server that cannot be reached fails the run and leaves the reminders due", func(t *testing.T) {
		code, out, errOut := notify("--config", writeReminderSetup(t, dir, closedPort(t)))
		if code != 1 || strings.Count(out, "window  failed: ") != 2 || !strings.Contains(errOut, "2 of 2 reminders failed") {
			t.Errorf("exit %d\n%s\n%s", code, out, errOut)
		}
	})

	t.Run("a real run sends one mail per user due", func(t *testing.T) {
		code, out, errOut := notify("--config", cfg)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		if got := mailsTo(); !slices.Equal(got, []string{"ann@corp.example.test", "ben@corp.example.test"}) {
			t.Fatalf("mail went to %v", got)
		}
		if !strings.Contains(out, "2 users: 2 sent, 0 skipped, 0 already sent, 0 failed") {
			t.Errorf("output:\n%s", out)
		}
		for _, m := range srv.Messages() {
			if !strings.Contains(m.Text, "https://sso.corp.example.test/password/change") {
				t.Errorf("mail to %v lacks the change link:\n%s", m.To, m.Text)
			}
		}
	})

	t.Run("a second run sends nothing and prints nothing", func(t *testing.T) {
		code, out, errOut := notify("--config", cfg)
		if code != 0 || out != "" {
			t.Errorf("exit %d, output %q, stderr %q; want 0 and silence for cron", code, out, errOut)
		}
		if n := len(srv.Messages()); n != 2 {
			t.Errorf("%d mails in all, want still 2", n)
		}
	})
}

func TestNotifyExpiringRefusesWhatItCannotDo(t *testing.T) {
	dir := t.TempDir()
	noSMTP := writeReminderSetup(t, dir, 0)
	// Before gatehouse serve ever ran here (or from the wrong directory):
	// refused, and nothing is created.
	var out0, err0 bytes.Buffer
	if code := run(context.Background(), []string{"notify", "expiring", "--config", noSMTP, "--dry-run"}, &out0, &err0); code != 1 ||
		!strings.Contains(err0.String(), "secrets.encryption_key_file") {
		t.Errorf("no key yet: exit %d, stderr %q; want 1 naming the key file", code, &err0)
	}
	if _, err := os.Stat(filepath.Join(dir, "enc.key")); err == nil {
		t.Error("notify expiring created an encryption key")
	}
	serveOnce(t, noSMTP)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", []string{"notify"}, 2, "notify expiring"},
		{"an unknown subcommand", []string{"notify", "everyone"}, 2, "notify expiring"},
		{"no configuration", []string{"notify", "expiring"}, 2, "--config FILE is required"},
		{"no mail server for a real run", []string{"notify", "expiring", "--config", noSMTP}, 1, "set smtp.host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GATEHOUSE_CONFIG", "")
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %d and %q", code, &errOut, tc.code, tc.want)
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"notify", "expiring", "--config", noSMTP, "--dry-run"}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "2 skipped") {
		t.Errorf("a dry run without a mail server: exit %d\n%s\n%s", code, &out, &errOut)
	}
}
