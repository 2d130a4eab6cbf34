package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// TestStartUpWarnsAboutAPrimaryColourThatFailsContrast: the log names
// the colour, the contrast it had and the shade the pages use.
func TestStartUpWarnsAboutAPrimaryColourThatFailsContrast(t *testing.T) {
	cfg, err := DemoConfig(filepath.Join(t.TempDir(), "demo"), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.UI.PrimaryColor = "#ffff00"
	if _, err := PrepareDemo(cfg, time.Now()); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	a, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	uses := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["level"] != "WARN" || !strings.Contains(rec["msg"].(string), "ui.primary_color") {
			continue
		}
		uses[rec["use"].(string)+" "+rec["scheme"].(string)] = true
		if rec["used"] == "" || rec["contrast"] == "" || rec["used"] == rec["color"] {
			t.Errorf("the warning does not say what the pages use instead: %s", line)
		}
		if rec["use"] != "button text" && rec["color"] != "#ffff00" {
			t.Errorf("the warning does not name the colour: %s", line)
		}
	}
	for _, want := range []string{"links and secondary buttons light", "focus ring light", "button text both"} {
		if !uses[want] {
			t.Errorf("no warning about %s in:\n%s", want, logs.String())
		}
	}
}
