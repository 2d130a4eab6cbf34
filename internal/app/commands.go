package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/entra"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/reminders"
	"github.com/gatehouse-sso/gatehouse/internal/version"
)

// What the subcommands of cmd/gatehouse run: each builds on App, so the
// command line only parses flags, loads the configuration and reports.

// ErrNotStarted wraps every error Run returns before Gatehouse served: a
// startup check failed or the address could not be bound.
var ErrNotStarted = errors.New("not starting")

// Logger is the logger `gatehouse serve` runs with: cfg's level and
// format, writing to w.
func Logger(w io.Writer, cfg config.Log) (*slog.Logger, error) {
	level, err := observe.ParseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	return observe.NewLogger(w, cfg.Format, level), nil
}

// CommandLogger is the logger of a one-off command: warnings and errors
// only, in cfg's format, writing to w.
func CommandLogger(w io.Writer, cfg config.Log) *slog.Logger {
	return observe.NewLogger(w, cfg.Format, slog.LevelWarn)
}

// Run builds Gatehouse from cfg, binds its address, calls ready (when set)
// once it listens, and serves until ctx is cancelled; then it shuts down
// gracefully and releases everything. An error that kept it from serving
// wraps ErrNotStarted.
func Run(ctx context.Context, cfg config.Config, opts Options, ready func(*App)) error {
	a, err := New(ctx, cfg, opts)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotStarted, err)
	}
	defer a.Close()
	if err := a.Listen(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotStarted, err)
	}
	a.recordConfigLoaded(ctx)
	if ready != nil {
		ready(a)
	}
	if err := a.Serve(ctx); err != nil {
		a.Log.Error("gatehouse stopped with an error", "err", err)
		return err
	}
	a.Log.Info("gatehouse stopped")
	return nil
}

// recordConfigLoaded audits the configuration Gatehouse starts serving
// with: what it runs on, and a fingerprint that changes with any setting
// (secrets are redacted before hashing, so it reveals none).
func (a *App) recordConfigLoaded(ctx context.Context) {
	b, err := json.Marshal(a.Config) // config.Secret marshals as [redacted]
	fingerprint := "unavailable"
	if err == nil {
		sum := sha256.Sum256(b)
		fingerprint = hex.EncodeToString(sum[:])
	}
	a.Audit.Record(ctx, audit.Event{Type: audit.ConfigLoaded, Result: "ok", Actor: osUser(), Detail: map[string]string{
		"version": version.Version, "commit": version.Commit(), "fingerprint": fingerprint,
		"storage": a.Config.Storage.Type, "directory": a.Config.Directory.Type, "apps": strconv.Itoa(len(a.Config.Apps)),
		"issuer": a.Config.Issuer, "listen": a.Addr().String(),
	}})
}

// WriteFederation writes the Microsoft Graph PowerShell that federates
// domain to this Gatehouse (gatehouse entra federation).
func (a *App) WriteFederation(w io.Writer, domain string) error {
	f, err := entra.FindDomain(a.relyingParties, a.Config.Issuer, domain, a.Keys)
	if err != nil {
		return err
	}
	return f.WritePowerShell(w)
}

// WritePreflight looks login up and writes what Entra would receive for
// the user, with warnings (gatehouse entra preflight). fatal reports a
// problem that would keep the user from signing in.
func (a *App) WritePreflight(ctx context.Context, w io.Writer, login string) (fatal bool, err error) {
	p, err := entra.RunPreflight(ctx, a.Directory, a.relyingParties, login)
	if err != nil {
		return false, err
	}
	if err := p.Write(w); err != nil {
		return false, err
	}
	return p.Fatal, nil
}

// CheckNotifyExpiring refuses, before anything is opened, a `notify
// expiring` that could not work with cfg: no mail server for a real run,
// or the encryption key or SQLite database of `gatehouse serve` missing —
// New would create them, and with them a second Gatehouse whose tickets
// and audit nobody reads.
func CheckNotifyExpiring(cfg config.Config, dryRun bool) error {
	if cfg.SMTP.Host == "" && !dryRun {
		return errors.New("reminders need a mail server: set smtp.host (or use --dry-run)")
	}
	files := []struct{ what, path string }{{"secrets.encryption_key_file", cfg.Secrets.EncryptionKeyFile}}
	if cfg.Storage.Type == "sqlite" {
		files = append(files, struct{ what, path string }{"storage.sqlite.path", cfg.Storage.SQLite.Path})
	}
	for _, f := range files {
		if _, err := os.Stat(f.path); f.path != "" && err != nil {
			return fmt.Errorf("%s %s: %w; run this with the configuration and working directory of gatehouse serve", f.what, f.path, err)
		}
	}
	return nil
}

// NotifyExpiring mails the password-expiry reminders that are due (none
// on a dry run, which lists who is due) and writes a line per user and a
// summary to w. It returns an error when the run failed or a mail was not
// sent; the failed reminders are tried again on the next run.
func (a *App) NotifyExpiring(ctx context.Context, w io.Writer, dryRun bool) error {
	lister, ok := a.Directory.(directory.ExpiryLister)
	if !ok {
		return fmt.Errorf("a %s directory cannot list expiring passwords", a.Config.Directory.Type)
	}
	loc := time.UTC
	if a.Config.UI.TimeZone != "" {
		loc, _ = time.LoadLocation(a.Config.UI.TimeZone) // validated by config
	}
	o := reminders.Options{Directory: lister, Store: a.Store, Audit: a.Audit, Windows: a.Config.Reminders.Days,
		Now: a.Now, Location: loc, DryRun: dryRun, Log: a.Log.With("component", "reminders")}
	if a.Notifier != nil { // not a typed nil in the interface
		o.Notifier = a.Notifier
	}
	rep, err := reminders.Run(ctx, o)
	rep.Write(w)
	if err != nil {
		return err
	}
	if n := rep.Count(reminders.StatusFailed); n > 0 {
		return fmt.Errorf("%d of %d reminders failed; they are tried again on the next run", n, len(rep.Results))
	}
	return nil
}
