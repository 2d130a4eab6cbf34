package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/reminders"
)

const notifyHelp = `Usage: gatehouse notify expiring --config FILE [--dry-run]

Mails every user whose password expires within one of the windows in
reminders.days (default 14, 7 and 1 days before) a reminder with the exact
expiry and a link to ISSUER/password/change: once per window and password,
so running it again never mails twice, and a user who changes the password
is reminded again before the next expiry. Run it daily from cron:

  0 8 * * * gatehouse notify expiring --config /etc/gatehouse/gatehouse.yaml

It prints one line per user (login, expiry, window, sent / already-sent /
failed) and a summary, and nothing at all when there was nothing to send.
Exit status 1 when a mail failed or the directory, store or mail server
could not be used; the failed reminders are tried again on the next run.

--dry-run sends and records nothing (no mail server is needed) and prints
every user due: as skipped, or as already-sent when this window's mail went
out before.

It uses the same store and keys as gatehouse serve and creates neither: it
refuses to run when the encryption key or the SQLite database is missing
(relative paths in the configuration are relative to the working
directory, which under cron is usually not Gatehouse's).

Options:
`

func cmdNotify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, notifyHelp)
		return 0
	}
	if len(args) == 0 || args[0] != "expiring" {
		fmt.Fprint(stderr, notifyHelp)
		return 2
	}
	fs := newFlags("notify expiring", notifyHelp, stderr)
	cfgFile := fs.String("config", "", "configuration `file`")
	dryRun := fs.Bool("dry-run", false, "send and record nothing; print who is due")
	if code, ok := parse(fs, args[1:]); !ok {
		return code
	}
	cfg, code := loadConfig("notify expiring", *cfgFile, stderr)
	if code != 0 {
		return code
	}
	if cfg.SMTP.Host == "" && !*dryRun {
		fmt.Fprint(stderr, "gatehouse: reminders need a mail server: set smtp.host (or use --dry-run)\n")
		return 1
	}
	// app.New would create a missing key or database: here that would be
	// a second Gatehouse, with tickets and audit nobody reads.
	for _, f := range []struct{ what, path string }{
		{"secrets.encryption_key_file", cfg.Secrets.EncryptionKeyFile},
		{"storage.sqlite.path", map[bool]string{true: cfg.Storage.SQLite.Path}[cfg.Storage.Type == "sqlite"]},
	} {
		if _, err := os.Stat(f.path); f.path != "" && err != nil {
			fmt.Fprintf(stderr, "gatehouse: %s %s: %v; run this with the configuration and working directory of gatehouse serve\n", f.what, f.path, err)
			return 1
		}
	}
	loc := time.UTC
	if cfg.UI.TimeZone != "" {
		loc, _ = time.LoadLocation(cfg.UI.TimeZone) // validated by config
	}
	a, log, ok := openApp(ctx, cfg, stderr)
	if !ok {
		return 1
	}
	defer a.Close()
	lister, ok := a.Directory.(directory.ExpiryLister)
	if !ok {
		fmt.Fprintf(stderr, "gatehouse: a %s directory cannot list expiring passwords\n", cfg.Directory.Type)
		return 1
	}
	o := reminders.Options{Directory: lister, Store: a.Store, Audit: a.Audit, Windows: cfg.Reminders.Days,
		Now: a.Now, Location: loc, DryRun: *dryRun, Log: log.With("component", "reminders")}
	if a.Notifier != nil { // not a typed nil in the interface
		o.Notifier = a.Notifier
	}
	rep, err := reminders.Run(ctx, o)
	printReminders(stdout, rep)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	if n := rep.Count(reminders.StatusFailed); n > 0 {
		fmt.Fprintf(stderr, "gatehouse: %d of %d reminders failed; they are tried again on the next run\n", n, len(rep.Results))
		return 1
	}
	return 0
}

// printReminders writes one line per user and a summary, or nothing when
// a real run had nothing to send (so cron mails no one).
func printReminders(w io.Writer, rep reminders.Report) {
	if !rep.DryRun && rep.Count(reminders.StatusSent) == 0 && rep.Count(reminders.StatusFailed) == 0 {
		return
	}
	width := len("login")
	for _, r := range rep.Results {
		width = max(width, len(r.Login))
	}
	for _, r := range rep.Results {
		status := string(r.Status)
		switch r.Status {
		case reminders.StatusSkipped:
			status += " (dry run)"
		case reminders.StatusFailed:
			status += ": " + r.Err.Error()
		}
		fmt.Fprintf(w, "%-*s  expires %s  %3d-day window  %s\n", width, r.Login, r.Expires.UTC().Format("2006-01-02 15:04 MST"), r.Window, status)
	}
	note := ""
	if rep.DryRun {
		note = " (dry run: nothing sent)"
	}
	fmt.Fprintf(w, "%d users: %d sent, %d skipped, %d already sent, %d failed%s\n", len(rep.Results),
		rep.Count(reminders.StatusSent), rep.Count(reminders.StatusSkipped), rep.Count(reminders.StatusAlreadySent),
		rep.Count(reminders.StatusFailed), note)
}
