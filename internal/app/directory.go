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

// openDirectory opens the configured directory.
func openDirectory(ctx context.Context, cfg config.Directory, log *slog.Logger, m *observe.Metrics, now func() time.Time) (directory.Directory, error) {
	switch cfg.Type {
	case "activedirectory":
		return ad.Open(ctx, cfg.ActiveDirectory, ad.Options{Logger: log, Metrics: m, Now: now, Resolver: net.DefaultResolver})
	case "file":
		return file.Open(ctx, cfg.File.Path, file.Options{Logger: log, Now: now})
	default:
		return nil, fmt.Errorf("unknown directory type %q", cfg.Type)
	}
}
