package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// runDemo runs the demo configuration (changed by mod) as gatehouse serve
// does, until the test ends, and returns it once it listens.
func runDemo(t *testing.T, dir string, mod func(*config.Config)) *App {
	t.Helper()
	cfg, err := DemoConfig(dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PrepareDemo(cfg, time.Now()); err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *App, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Logger: slog.New(slog.DiscardHandler)}, func(a *App) { ready <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatalf("Run ended before serving: %v", err)
		return nil
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsAndTheDetailOfReadinessMoveToTheMetricsAddress(t *testing.T) {
	a := runDemo(t, t.TempDir(), func(c *config.Config) { c.HTTP.MetricsListen = "127.0.0.1:0" })
	main, metrics := "http://"+a.Addr().String(), "http://"+a.MetricsAddr().String()
	if code, _ := get(t, main+"/metrics"); code != http.StatusNotFound {
		t.Errorf("the main address serves /metrics (%d)", code)
	}
	if code, body := get(t, main+"/readyz"); code != http.StatusOK || body != "{\"ready\":true}\n" {
		t.Errorf("the main address's /readyz = %d %q, want the status alone", code, body)
	}
	if code, body := get(t, metrics+"/metrics"); code != http.StatusOK || !strings.Contains(body, "gatehouse_build_info{") {
		t.Errorf("the metrics address's /metrics = %d", code)
	}
	if code, body := get(t, metrics+"/readyz"); code != http.StatusOK || !strings.Contains(body, `"checks"`) || !strings.Contains(body, `"directory"`) {
		t.Errorf("the metrics address's /readyz = %d %s, want every check", code, body)
	}
	if code, _ := get(t, metrics+"/login"); code != http.StatusNotFound {
		t.Errorf("the metrics address serves the sign-in page (%d)", code)
	}
}

func TestWithoutAMetricsAddressTheMainOneServesMetricsAndTheDetail(t *testing.T) {
	a := runDemo(t, t.TempDir(), nil)
	main := "http://" + a.Addr().String()
	if a.MetricsAddr() != nil {
		t.Fatal("a metrics address without http.metrics_listen")
	}
	if code, body := get(t, main+"/metrics"); code != http.StatusOK || !strings.Contains(body, "gatehouse_build_info{") {
		t.Errorf("/metrics = %d", code)
	}
	if code, body := get(t, main+"/readyz"); code != http.StatusOK || !strings.Contains(body, `"checks"`) {
		t.Errorf("/readyz = %d %s", code, body)
	}
}

// configLoaded returns the detail of the config.loaded events in a's store,
// newest first.
func configLoaded(t *testing.T, a *App) []map[string]string {
	t.Helper()
	evs, err := a.Store.QueryAudit(t.Context(), store.AuditQuery{Type: audit.ConfigLoaded})
	if err != nil {
		t.Fatal(err)
	}
	me, _ := user.Current()
	var out []map[string]string
	for _, e := range evs {
		var d map[string]string
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if me != nil && !strings.HasPrefix(e.Actor, me.Username) {
			t.Errorf("config.loaded names actor %q, want %q", e.Actor, me.Username)
		}
		out = append(out, d)
	}
	return out
}

func TestServingRecordsTheConfigurationItStartedWithAndNoSecret(t *testing.T) {
	dir := t.TempDir()
	fingerprint := func(mod func(*config.Config)) string {
		t.Helper()
		a := runDemo(t, dir, mod)
		evs := configLoaded(t, a)
		if len(evs) == 0 || evs[0]["version"] == "" || evs[0]["storage"] != "sqlite" || evs[0]["directory"] != "file" ||
			evs[0]["listen"] != a.Addr().String() || len(evs[0]["fingerprint"]) != 64 {
			t.Fatalf("config.loaded events: %+v", evs)
		}
		return evs[0]["fingerprint"]
	}
	first := fingerprint(func(c *config.Config) { c.SMTP.Password = "first-secret" })
	if got := fingerprint(func(c *config.Config) { c.SMTP.Password = "other-secret" }); got != first {
		t.Errorf("the fingerprint changed with a secret (%s, %s): it must not tell secrets apart", first, got)
	}
	if got := fingerprint(func(c *config.Config) { c.SMTP.Password = "other-secret"; c.UI.Name = "Corp Sign-in" }); got == first {
		t.Error("the fingerprint did not change with a setting")
	}
}

func TestAuditEventsOlderThanTheRetentionArePrunedAndTheChainStillVerifies(t *testing.T) {
	c := &clock{t: time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)}
	a, _ := newDemoAt(t, c.now, func(cfg *config.Config) { cfg.Audit.Retention = 30 * 24 * time.Hour })
	ctx := context.Background()
	old := audit.New(a.Store, slog.New(slog.DiscardHandler), func() time.Time { return c.now().Add(-31 * 24 * time.Hour) })
	old.Record(ctx, audit.Event{Type: audit.SignInSuccess, Login: "alice", Result: "ok"})
	old.Record(ctx, audit.Event{Type: audit.SignInFailure, Login: "alice", Result: "invalid_credentials"})
	a.Audit.Record(ctx, audit.Event{Type: audit.SignInSuccess, Login: "alice", Result: "ok"})

	n, err := a.pruneAuditOnce(ctx)
	if err != nil || n != 2 {
		t.Fatalf("pruneAuditOnce = %d, %v; want the 2 events older than 30 days", n, err)
	}
	left, err := a.Store.QueryAudit(ctx, store.AuditQuery{Logins: []string{"alice"}})
	if err != nil || len(left) != 1 || !left[0].Time.Equal(c.now()) {
		t.Fatalf("left %+v, %v; want the recent event", left, err)
	}
	rep, err := audit.Verify(ctx, a.Store)
	if err != nil || rep.Problem != nil || rep.Chained != 2 {
		t.Fatalf("Verify after pruning = %+v, %v; want the recent event and the prune's record", rep, err)
	}
	if n, err := a.pruneAuditOnce(ctx); err != nil || n != 0 {
		t.Fatalf("a second prune = %d, %v", n, err)
	}
}

func TestAWorldOrGroupReadableKeyFileKeepsGatehouseFromStarting(t *testing.T) {
	for _, tc := range []struct {
		name, check string
		file        func(config.Config) string
	}{
		{"the encryption key", "encryption key", func(c config.Config) string { return c.Secrets.EncryptionKeyFile }},
		{"the signing key", "signing key", func(c config.Config) string { return c.Signing.KeyFile }},
	} {
		for _, mode := range []uint32{0o640, 0o604, 0o644} {
			t.Run(tc.name+" with mode "+strings.TrimLeft(fmtMode(mode), "0"), func(t *testing.T) {
				cfg, err := DemoConfig(filepath.Join(t.TempDir(), "demo"), "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := PrepareDemo(cfg, time.Now()); err != nil {
					t.Fatal(err)
				}
				a, err := New(t.Context(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				_ = a.Close()
				chmod(t, tc.file(cfg), mode)
				_, err = New(t.Context(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
				if err == nil || !strings.Contains(err.Error(), `startup check "`+tc.check+`" failed`) ||
					!strings.Contains(err.Error(), "can be read by other users") || !strings.Contains(err.Error(), "chmod 600") {
					t.Fatalf("New with %s at mode %o: %v", tc.name, mode, err)
				}
			})
		}
	}
}

func fmtMode(m uint32) string { return "0" + strconv.FormatUint(uint64(m), 8) }

func chmod(t *testing.T, path string, mode uint32) {
	t.Helper()
	if err := os.Chmod(path, os.FileMode(mode)); err != nil {
		t.Fatal(err)
	}
}
