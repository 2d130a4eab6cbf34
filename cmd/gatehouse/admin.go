package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gatehouse-sso/gatehouse/internal/app"
)

const adminHelp = `Usage:
  gatehouse admin user status USER [--json]
      What the directory and Gatehouse know about USER: the AD account (enabled,
      locked out and until when, password dates, the lockout policy, badPwdCount
      on each DC), Gatehouse's wrong-password counters, enrolled factors,
      remembered browsers, sessions, and the latest audit events.
  gatehouse admin mfa reset USER [--method totp|webauthn|recovery] [--json]
      Removes USER's second factors (all, or those of one method), ends their
      sessions and forgets their remembered browsers: the next sign-in asks for
      the password and, with no factor left, enrols a new one.
  gatehouse admin unlock USER [--json]
      Clears USER's lockout in AD (which resets badPwdCount) and Gatehouse's own
      wrong-password counters for the account.
  gatehouse admin sessions revoke USER [--json]
      Ends every session of USER, on every Gatehouse instance.
  gatehouse admin audit [--user LOGIN|ID] [--since TIME] [--type TYPE] [--limit N] [--json]
      Lists audit events, newest first (--json: one JSON object per line).
      --since takes 2026-05-04T10:00:00Z, 2026-05-04 or a duration back (24h, 7d).
  gatehouse admin audit --verify [--json]
      Checks the audit trail's hash chain; exit status 1, naming the first bad
      event, when an event was modified, deleted or reordered.

Every command needs --config FILE (or GATEHOUSE_CONFIG): the configuration of
gatehouse serve, whose store it uses (it creates none). Every command is
itself audited, with the operating-system user who ran it.

Options:
`

// adminFlags are the flags every admin command takes.
type adminFlags struct {
	fs      *flag.FlagSet
	cfgFile *string
	asJSON  *bool
}

func newAdminFlags(name string, stderr io.Writer) adminFlags {
	fs := newFlags("admin "+name, adminHelp, stderr)
	return adminFlags{fs: fs, cfgFile: fs.String("config", "", "configuration `file`"),
		asJSON: fs.Bool("json", false, "write JSON for scripts")}
}

// parseInterspersed parses flags before and after positional arguments
// (gatehouse admin unlock alice --json) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		if fs.NArg() == 0 {
			return pos, 0, true
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func cmdAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, adminHelp)
		return 0
	}
	// The command's words: "user status", "mfa reset", "unlock",
	// "sessions revoke", "audit".
	words := map[string]int{"user": 2, "mfa": 2, "sessions": 2, "unlock": 1, "audit": 1}
	n, ok := 0, false
	if len(args) > 0 {
		n, ok = words[args[0]]
	}
	if !ok || len(args) < n {
		fmt.Fprint(stderr, adminHelp)
		return 2
	}
	name := args[0]
	if n == 2 {
		name += " " + args[1]
	}
	switch name {
	case "user status", "mfa reset", "unlock", "sessions revoke", "audit":
	default:
		fmt.Fprintf(stderr, "gatehouse admin: unknown command %q\n\n%s", name, adminHelp)
		return 2
	}
	f := newAdminFlags(name, stderr)
	method := new(string)
	var q app.AuditQuery
	verify := new(bool)
	switch name {
	case "mfa reset":
		method = f.fs.String("method", "", "remove only this `method`'s factors: totp, webauthn or recovery")
	case "audit":
		f.fs.StringVar(&q.User, "user", "", "only events about this `login` (as typed) or user ID")
		f.fs.StringVar(&q.Since, "since", "", "only events since this `time` (RFC 3339, a date, or a duration back such as 24h or 7d)")
		f.fs.StringVar(&q.Type, "type", "", "only events of this `type`, e.g. signin.failure")
		f.fs.IntVar(&q.Limit, "limit", 100, "at most this many `events`")
		verify = f.fs.Bool("verify", false, "check the hash chain instead of listing events")
	}
	pos, code, ok := parseInterspersed(f.fs, args[n:])
	if !ok {
		return code
	}
	wantUser := name != "audit"
	if (wantUser && len(pos) != 1) || (!wantUser && len(pos) != 0) {
		f.fs.Usage()
		return 2
	}
	cfg, code := loadConfig("admin "+name, *f.cfgFile, stderr)
	if code != 0 {
		return code
	}
	if err := app.CheckAdmin(cfg); err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	a, err := app.OpenAdmin(ctx, cfg, app.Options{Logger: app.CommandLogger(stderr, cfg.Log)}, wantUser)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	defer a.Close()
	switch name {
	case "user status":
		err = a.AdminUserStatus(ctx, stdout, pos[0], *f.asJSON)
	case "mfa reset":
		err = a.AdminMFAReset(ctx, stdout, pos[0], *method, *f.asJSON)
	case "unlock":
		err = a.AdminUnlock(ctx, stdout, pos[0], *f.asJSON)
	case "sessions revoke":
		err = a.AdminSessionsRevoke(ctx, stdout, pos[0], *f.asJSON)
	case "audit":
		if *verify {
			err = a.AdminAuditVerify(ctx, stdout, *f.asJSON)
		} else {
			err = a.AdminAudit(ctx, stdout, q, *f.asJSON)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	return 0
}
