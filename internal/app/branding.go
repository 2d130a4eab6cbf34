package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/saml"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// ConfigNote is something the operator of a valid configuration should
// know: a warning (the configuration works, but not as written) or a note.
type ConfigNote struct {
	Warning bool
	Text    string
}

func (n ConfigNote) String() string {
	if n.Warning {
		return "warning: " + n.Text
	}
	return "note: " + n.Text
}

// CheckConfig returns what `gatehouse config check` reports about a
// configuration that loads: where ui.primary_color is replaced by a shade
// that keeps WCAG AA contrast (web.NewBranding; a colour that fails is
// adjusted, never refused). Its error lists every SAML service provider
// that could not be read, each with its app and metadata file or URL
// (metadata_url documents are fetched, as at start).
func CheckConfig(ctx context.Context, cfg config.Config) ([]ConfigNote, error) {
	b, err := web.NewBranding(cfg.UI)
	if err != nil {
		return nil, err
	}
	reg, err := saml.FromConfig(ctx, cfg.Issuer, cfg.Apps, saml.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	if errs := reg.Unavailable(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var notes []ConfigNote
	for _, adj := range b.Adjustments {
		notes = append(notes, ConfigNote{Warning: adj.Warning, Text: adj.String()})
	}
	return notes, nil
}

// logBranding tells the operator at start-up where ui.primary_color is
// replaced by a shade that keeps WCAG AA contrast: a warning where the
// colour as configured fails (light pages, button text), a note for the
// dark pages' lighter shades.
func logBranding(log *slog.Logger, b web.Branding) {
	for _, adj := range b.Adjustments {
		level, msg := slog.LevelInfo, "ui.primary_color: dark pages use a lighter shade"
		if adj.Warning {
			level, msg = slog.LevelWarn, "ui.primary_color does not reach WCAG AA contrast; the pages use an adjusted shade"
		}
		log.Log(context.Background(), level, msg, adj.LogAttrs()...)
	}
}

// UsernameExample is the example sign-in name the sign-in page shows:
// ui.username_example when set; else, when users may sign in with a UPN
// or mail address, "name@" the domain they most likely have — the first
// Entra app's first domain (the UPN suffix Microsoft 365 knows them by),
// else the AD domain (discover_domain, or base_dn's DC= parts); else
// none, rather than a domain nobody has.
func UsernameExample(cfg config.Config) string {
	if cfg.UI.UsernameExample != "" {
		return cfg.UI.UsernameExample
	}
	if cfg.Directory.Type != "activedirectory" {
		return ""
	}
	ad := cfg.Directory.ActiveDirectory
	if !slices.ContainsFunc(ad.LoginAttributes, func(a string) bool {
		return strings.EqualFold(a, "userPrincipalName") || strings.EqualFold(a, "mail")
	}) {
		return ""
	}
	for _, a := range cfg.Apps {
		if a.Type == "entra" && len(a.Domains) > 0 {
			return "name@" + a.Domains[0]
		}
	}
	if ad.DiscoverDomain != "" {
		return "name@" + strings.ToLower(ad.DiscoverDomain)
	}
	var labels []string
	for _, rdn := range strings.Split(ad.BaseDN, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(rdn), "="); ok && strings.EqualFold(strings.TrimSpace(k), "DC") {
			labels = append(labels, strings.ToLower(strings.TrimSpace(v)))
		}
	}
	if len(labels) < 2 {
		return ""
	}
	return "name@" + strings.Join(labels, ".")
}
