package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/gatehouse-sso/gatehouse/internal/app"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
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
every user due, as skipped.

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
	path := configPath(*cfgFile)
	if path == "" {
		fmt.Fprint(stderr, "gatehouse notify expiring: --config FILE is required\n")
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	if cfg.SMTP.Host == "" && !*dryRun {
		fmt.Fprint(stderr, "gatehouse: reminders need a mail server: set smtp.host (or use --dry-run)\n")
		return 1
	}
	log := observe.NewLogger(stderr, cfg.Log.Format, slog.LevelWarn)
	a, err := app.New(ctx, cfg, app.Options{Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	defer a.Close()
	lister, ok := a.Directory.(directory.ExpiryLister)
	if !ok {
		fmt.Fprintf(stderr, "gatehouse: a %s directory cannot list expiring passwords\n", cfg.Directory.Type)
		return 1
	}
	o := reminders.Options{Directory: lister, Store: a.Store, Audit: a.Audit, Windows: cfg.Reminders.Days,
		Now: a.Now, DryRun: *dryRun, Log: log.With("component", "reminders")}
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
