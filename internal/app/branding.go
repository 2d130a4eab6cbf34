package app

import (
	"context"
	"log/slog"

	"github.com/gatehouse-sso/gatehouse/internal/config"
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
// adjusted, never refused).
func CheckConfig(cfg config.Config) ([]ConfigNote, error) {
	b, err := web.NewBranding(cfg.UI)
	if err != nil {
		return nil, err
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
