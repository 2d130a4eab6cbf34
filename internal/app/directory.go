package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/ad"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

// directoryAttributeSources are the attribute-rule sources of every app
// ("ad:<name>" among them), from which openDirectory learns the extra
// attributes to read with each user.
func directoryAttributeSources(cfg config.Config) []string {
	var out []string
	for _, a := range cfg.Apps {
		for _, at := range a.Attributes {
			if at.Source != "" {
				out = append(out, at.Source)
			}
		}
	}
	return out
}

// openDirectory opens the configured directory. extra are the extra AD
// attributes to read with each user (directory.ExtraAttributes); the file
// directory returns what its users carry.
func openDirectory(ctx context.Context, cfg config.Directory, extra []string, log *slog.Logger, m *observe.Metrics, now func() time.Time) (directory.Directory, error) {
	switch cfg.Type {
	case "activedirectory":
		return ad.Open(ctx, cfg.ActiveDirectory, ad.Options{Logger: log, Metrics: m, Now: now, Resolver: net.DefaultResolver, ExtraAttributes: extra})
	case "file":
		return file.Open(ctx, cfg.File.Path, file.Options{Logger: log, Now: now})
	default:
		return nil, fmt.Errorf("unknown directory type %q", cfg.Type)
	}
}
