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

// served is a Gatehouse a test runs on http://localhost:PORT (passkeys
// need a host name): its address, the app for what a test prepares behind
// the pages' back, and its log.
type served struct {
	base string
	app  *app.App
	logs *testenv.Buffer
}

// serve runs the demo's configuration on a free port: with ad, against the
// test Samba DC, else on the demo's own user file (for pages that need no
// directory); now, when not nil, is the app's clock, and mod (when not nil)
// changes the configuration.
func serve(t *testing.T, ad bool, now func() time.Time, mod func(*config.Config)) served {
	t.Helper()
	var v []string
	if ad {
		v = testenv.Require(t, testenv.ADURL, testenv.ADCAFile, testenv.ADBindDN, testenv.ADBindPassword, testenv.ADBaseDN)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	cfg, err := app.DemoConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	if ad {
		cfg.Directory.Type = "activedirectory"
		d := &cfg.Directory.ActiveDirectory
		d.URLs, d.CAFile, d.BindDN, d.BindPassword, d.BaseDN = []string{v[0]}, v[1], v[2], config.Secret(v[3]), v[4]
	}
	if mod != nil {
		mod(&cfg)
	}
	if !ad {
		if _, err := app.PrepareDemo(cfg, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	logs := &testenv.Buffer{}
	a, err := app.New(context.Background(), cfg, app.Options{Logger: observe.NewLogger(logs, "text", slog.LevelInfo), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); _ = a.Close() })
	return served{base: "http://localhost:" + port, app: a, logs: logs}
}

// demoGatehouse runs the demo on its own user file, with mod applied, and
// returns the address and the log.
func demoGatehouse(t *testing.T, mod func(*config.Config)) (string, *testenv.Buffer) {
	t.Helper()
	s := serve(t, false, nil, mod)
	return s.base, s.logs
}
