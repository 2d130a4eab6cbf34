// Command gatehouse is the Gatehouse identity provider: it signs users in
// against Active Directory with a second factor, federates Microsoft Entra
// ID and other apps, and lets users reset, change and unlock their AD
// password themselves.
//
// main only parses the command line and hands over to internal/app.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // ui.time_zone works on hosts without a zoneinfo database

	"github.com/gatehouse-sso/gatehouse/internal/app"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/version"
)

const usage = `Gatehouse — sign-in, MFA and self-service passwords for Active Directory,
federated to Microsoft Entra ID and your other apps.

Usage:
  gatehouse serve --config FILE         run the identity provider
  gatehouse demo [--listen ADDR] [--data DIR]
                                        try it now: no set-up, demo users, http://127.0.0.1:8080
  gatehouse config check --config FILE  validate a configuration and list every problem
  gatehouse config env                  list the GATEHOUSE_… environment overrides
  gatehouse entra federation --config FILE --domain DOMAIN
                                        print the Microsoft Graph PowerShell that federates DOMAIN
  gatehouse entra preflight --config FILE --user LOGIN
  gatehouse entra eam --config FILE [--app NAME]
                                        show exactly what Entra would receive for one user
  gatehouse notify expiring --config FILE [--dry-run]
                                        mail password-expiry reminders (run it daily from cron)
  gatehouse admin user status|mfa reset|unlock|sessions revoke USER --config FILE
                                        look at and act on one account (audited)
  gatehouse admin audit --config FILE [--user U] [--since T] [--type T] [--json] [--verify]
                                        query the audit trail, or verify its hash chain
  gatehouse version                     print the version

Run "gatehouse COMMAND --help" for a command's options.
Documentation: README.md (install, configure AD, wire Entra ID, operate, troubleshoot).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command until it ends or ctx is cancelled (SIGINT or
// SIGTERM), and returns the process exit code: 0 success, 1 failure, 2 bad
// usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(ctx, args[1:], stdout, stderr)
	case "config":
		return cmdConfig(ctx, args[1:], stdout, stderr)
	case "entra":
		return cmdEntra(ctx, args[1:], stdout, stderr)
	case "notify":
		return cmdNotify(ctx, args[1:], stdout, stderr)
	case "admin":
		return cmdAdmin(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "gatehouse %s (commit %s)\n", version.Version, version.Commit())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func newFlags(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, help)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; ok is false when the command should return code.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return 2, false
	}
	return 0, true
}

func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("GATEHOUSE_CONFIG")
}

// loadConfig loads the configuration named by --config or GATEHOUSE_CONFIG
// for command cmd. On failure it has told the user why and returns the
// exit code: 2 when no file was named, 1 when it does not load.
func loadConfig(cmd, flagValue string, stderr io.Writer) (config.Config, int) {
	path := configPath(flagValue)
	if path == "" {
		fmt.Fprintf(stderr, "gatehouse %s: --config FILE is required\n", cmd)
		return config.Config{}, 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return config.Config{}, 1
	}
	return cfg, 0
}

// openApp builds Gatehouse for a one-off command, logging warnings and
// errors only; on failure it has told the user why.
func openApp(ctx context.Context, cfg config.Config, stderr io.Writer) (*app.App, bool) {
	a, err := app.New(ctx, cfg, app.Options{Logger: app.CommandLogger(stderr, cfg.Log)})
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return nil, false
	}
	return a, true
}

const serveHelp = `Usage: gatehouse serve --config FILE

Runs Gatehouse with the configuration in FILE (YAML; see README.md for every
setting). Settings can be overridden with GATEHOUSE_… environment variables
(list them with "gatehouse config env"); GATEHOUSE_CONFIG may name the file.

Before serving, Gatehouse checks that the store, the directory and the
signing key work, and refuses to start with the reason when one does not.
It stops gracefully on SIGINT or SIGTERM.

Options:
`

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", serveHelp, stderr)
	cfgFile := fs.String("config", "", "configuration `file`")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg, code := loadConfig("serve", *cfgFile, stderr)
	if code != 0 {
		return code
	}
	log, err := app.Logger(stderr, cfg.Log)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	return serve(ctx, cfg, log, nil, stderr)
}

// serve runs Gatehouse until ctx is cancelled. ready, when set, is called
// once the listener is bound.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(a *app.App), stderr io.Writer) int {
	err := app.Run(ctx, cfg, app.Options{Logger: log}, ready)
	if errors.Is(err, app.ErrNotStarted) {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
	}
	if err != nil {
		return 1 // a failure after start is logged by Run
	}
	return 0
}

const demoHelp = `Usage: gatehouse demo [--listen ADDR] [--data DIR]

Starts Gatehouse with no set-up: a SQLite store, generated keys and a demo
user directory, all kept in DIR, on plain HTTP at ADDR (loopback only).
It prints what to open and who can sign in. Not for production: use
"gatehouse serve" with a configuration file.

Options:
`

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", demoHelp, stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "`address` to listen on (loopback only)")
	dataDir := fs.String("data", "gatehouse-demo", "`directory` for the demo's store, keys and users")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !config.IsLoopbackHost(host) {
		fmt.Fprintf(stderr, "gatehouse demo: --listen must be a loopback address such as 127.0.0.1:8080 (the demo has well-known passwords)\n")
		return 2
	}
	cfg, err := app.DemoConfig(*dataDir, *listen)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse demo: %v\n", err)
		return 1
	}
	if _, err := app.PrepareDemo(cfg, time.Now()); err != nil {
		fmt.Fprintf(stderr, "gatehouse demo: %v\n", err)
		return 1
	}
	log, err := app.Logger(stderr, cfg.Log)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse demo: %v\n", err)
		return 1
	}
	return serve(ctx, cfg, log, func(a *app.App) { a.WriteDemoBanner(stdout, *dataDir) }, stderr)
}

const configHelp = `Usage:
  gatehouse config check --config FILE   validate FILE (with GATEHOUSE_… overrides and
                                         secret files) and print every problem with its
                                         YAML path; exit status 1 when there is any
  gatehouse config env                   list the environment variables that override
                                         settings

Options:
`

func cmdConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, configHelp)
		return 2
	}
	switch args[0] {
	case "check":
		fs := newFlags("config check", configHelp, stderr)
		cfgFile := fs.String("config", "", "configuration `file`")
		if code, ok := parse(fs, args[1:]); !ok {
			return code
		}
		path := configPath(*cfgFile)
		if path == "" {
			fmt.Fprint(stderr, "gatehouse config check: --config FILE is required\n")
			return 2
		}
		cfg, err := config.Load(path)
		if err != nil {
			var ps config.Problems
			if errors.As(err, &ps) {
				fmt.Fprintf(stdout, "%s: %d problem(s):\n", path, len(ps))
				for _, p := range ps {
					fmt.Fprintf(stdout, "  %s\n", p)
				}
				return 1
			}
			fmt.Fprintf(stderr, "gatehouse: %v\n", err)
			return 1
		}
		notes, err := app.CheckConfig(ctx, cfg)
		if err != nil {
			// What the start-up would refuse (a SAML SP's metadata, …),
			// one problem a line like the loader's.
			errs := []error{err}
			var joined interface{ Unwrap() []error }
			if errors.As(err, &joined) {
				errs = joined.Unwrap()
			}
			fmt.Fprintf(stdout, "%s: %d problem(s):\n", path, len(errs))
			for _, e := range errs {
				fmt.Fprintf(stdout, "  %v\n", e)
			}
			return 1
		}
		fmt.Fprintf(stdout, "%s: OK\n", path)
		for _, n := range notes {
			fmt.Fprintf(stdout, "  %s\n", n)
		}
		return 0
	case "env":
		for _, n := range config.EnvNames() {
			fmt.Fprintln(stdout, n)
		}
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, configHelp)
		return 0
	default:
		fmt.Fprintf(stderr, "gatehouse config: unknown subcommand %q\n\n%s", args[0], configHelp)
		return 2
	}
}

const entraHelp = `Usage:
  gatehouse entra federation --config FILE --domain DOMAIN
      Prints the Microsoft Graph PowerShell (New-MgDomainFederationConfiguration)
      that federates DOMAIN to this Gatehouse: issuer, sign-in, WS-Trust and MEX
      addresses, the signing certificate (and the next one, when configured),
      wsFed with MFA enforced by Gatehouse; and the update for a rollover.
  gatehouse entra preflight --config FILE --user LOGIN
      Looks LOGIN up in the directory and prints the issuer, NameIdentifier
      (ImmutableID) and UPN Entra would receive, with warnings. Run it for a few
      users before converting a domain: a wrong ImmutableID locks everyone out.
  gatehouse entra eam --config FILE [--app NAME]
      Prints the app registration and the Microsoft Graph PowerShell
      (New-MgPolicyAuthenticationMethodPolicyAuthenticationMethodConfiguration)
      that make Gatehouse the external authentication method of the entra-eam
      app's tenant: Entra checks the password, Gatehouse the second factor.

Options:
`

func cmdEntra(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "federation" && args[0] != "preflight" && args[0] != "eam") {
		fmt.Fprint(stderr, entraHelp)
		return 2
	}
	fs := newFlags("entra "+args[0], entraHelp, stderr)
	cfgFile := fs.String("config", "", "configuration `file`")
	domain := fs.String("domain", "", "federated `domain` (federation)")
	login := fs.String("user", "", "user `login` (preflight)")
	appName := fs.String("app", "", "entra-eam app `name`, when there are several (eam)")
	if code, ok := parse(fs, args[1:]); !ok {
		return code
	}
	path := configPath(*cfgFile)
	if path == "" || (args[0] == "federation" && *domain == "") || (args[0] == "preflight" && *login == "") {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	if args[0] == "eam" {
		// Only the configuration: nothing is opened.
		if err := app.WriteEAM(cfg, stdout, *appName); err != nil {
			fmt.Fprintf(stderr, "gatehouse: %v\n", err)
			return 1
		}
		return 0
	}
	a, ok := openApp(ctx, cfg, stderr)
	if !ok {
		return 1
	}
	defer a.Close()
	fatal := false
	if args[0] == "federation" {
		err = a.WriteFederation(stdout, *domain)
	} else {
		fatal, err = a.WritePreflight(ctx, stdout, *login)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return 1
	}
	if fatal {
		return 1
	}
	return 0
}
