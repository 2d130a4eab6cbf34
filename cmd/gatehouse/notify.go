package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gatehouse-sso/gatehouse/internal/app"
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
	if err := app.CheckNotifyExpiring(cfg, *dryRun); err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	a, ok := openApp(ctx, cfg, stderr)
	if !ok {
		return 1
	}
	defer a.Close()
	if err := a.NotifyExpiring(ctx, stdout, *dryRun); err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	return 0
}
