package e2e

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/app"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// demoGatehouse runs the demo (its own user file: the pages it serves need
// no directory server) on http://localhost:PORT, with mod (when not nil)
// applied to its configuration, and returns the address and the log.
func demoGatehouse(t *testing.T, mod func(*config.Config)) (string, *testenv.Buffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	cfg, err := app.DemoConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&cfg)
	}
	if _, err := app.PrepareDemo(cfg, time.Now()); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	a, err := app.New(context.Background(), cfg, app.Options{Logger: observe.NewLogger(logs, "text", slog.LevelInfo)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); _ = a.Close() })
	return "http://localhost:" + port, logs
}
