package app

import (
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/emailcode"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/recovery"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/totp"
	"github.com/gatehouse-sso/gatehouse/internal/mfa/webauthn"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
)

// buildFactors builds the configured second factors and, when SMTP is
// configured, the mailer.
func (a *App) buildFactors() (*signin.FactorSet, error) {
	fs := &signin.FactorSet{Methods: a.Config.MFA.Methods, Box: a.Secrets, Now: a.Now, Credentials: a.Store, Log: a.Log.With("component", "mfa")}
	log := a.Log.With("component", "mfa")
	var err error
	// Code checks are budgeted per user across methods by the abuse guard
	// (FactorSet.Guard): the methods keep no per-user limits of their own,
	// which anonymous reset and unlock attempts would use up.
	fs.TOTP, err = totp.New(totp.Options{Store: a.Store, Box: a.Secrets, Issuer: a.Config.UI.Name, Logger: log, Now: a.Now,
		Limit: mfa.NoLimit()})
	if err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	fs.Recovery, err = recovery.New(recovery.Options{Store: a.Store, Key: a.Secrets.DeriveKey("recovery codes"), Logger: log, Now: a.Now,
		Limit: mfa.NoLimit()})
	if err != nil {
		return nil, fmt.Errorf("recovery codes: %w", err)
	}
	if slices.Contains(a.Config.MFA.Methods, "webauthn") {
		rp, err := webauthn.RelyingPartyFromIssuer(a.Config.Issuer, a.Config.UI.Name)
		if err != nil {
			a.Log.Warn("passkeys are off: the issuer's host cannot be a WebAuthn relying party (use a DNS name, or localhost)", "issuer", a.Config.Issuer, "err", err)
		} else if fs.WebAuthn, err = webauthn.New(webauthn.Options{RP: rp, Store: a.Store, Now: a.Now}); err != nil {
			return nil, fmt.Errorf("webauthn: %w", err)
		}
	}
	if a.Config.SMTP.Host != "" {
		m, err := notify.NewMailer(a.Config.SMTP, notify.MailerOptions{FromName: a.Config.UI.Name})
		if err != nil {
			return nil, err
		}
		loc := time.UTC
		if tz := a.Config.UI.TimeZone; tz != "" {
			if loc, err = time.LoadLocation(tz); err != nil {
				return nil, fmt.Errorf("ui.time_zone: %w", err)
			}
		}
		a.Notifier, err = notify.New(notify.Options{Sender: m, Product: a.Config.UI.Name, BaseURL: a.Config.Issuer,
			Support: a.Config.UI.Support, DefaultLanguage: a.Config.UI.DefaultLanguage, Location: loc,
			Logger: a.Log.With("component", "notify"), Now: a.Now})
		if err != nil {
			return nil, err
		}
		fs.Email, err = emailcode.New(emailcode.Options{Store: a.Store, Mailer: a.Notifier, Key: a.Secrets.DeriveKey("email codes"), Logger: log, Now: a.Now})
		if err != nil {
			return nil, fmt.Errorf("email codes: %w", err)
		}
	}
	return fs, nil
}
