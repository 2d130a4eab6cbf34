package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestConfigCheckWarnsAboutAPrimaryColourThatFailsContrast: the colour is
// adjusted, not refused, and the check says how.
func TestConfigCheckWarnsAboutAPrimaryColourThatFailsContrast(t *testing.T) {
	for _, tc := range []struct {
		name, color string
		warnings    []*regexp.Regexp
		note        *regexp.Regexp // nil: none expected
	}{
		{"a light yellow is darkened for light pages and its button text turns black", "#ffff00", []*regexp.Regexp{
			regexp.MustCompile(`(?m)^  warning: ui\.primary_color: links and secondary buttons in the light colour scheme: #ffff00 has 1(\.\d+)?:1 against #[0-9a-f]{6}, below WCAG AA's 4\.5:1; the pages use #[0-9a-f]{6} \(4\.5\d*:1\) instead$`),
			regexp.MustCompile(`(?m)^  warning: ui\.primary_color: focus ring in the light colour scheme: #ffff00 has .* the pages use #[0-9a-f]{6} \(3(\.\d+)?:1\) instead$`),
			regexp.MustCompile(`(?m)^  warning: ui\.primary_color: button text in both colour schemes: #ffffff has 1\.07:1 against #ffff00, below WCAG AA's 4\.5:1; the pages use #000000 \(19\.\d+:1\) instead$`),
		}, nil},
		{"the default blue only gets a note about dark pages", "#1f5fbf", nil,
			regexp.MustCompile(`(?m)^  note: ui\.primary_color: links and secondary buttons in the dark colour scheme: #1f5fbf has 2\.\d+:1 .* the pages use #[0-9a-f]{6} \(4\.5\d*:1\) instead$`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			users := filepath.Join(dir, "users.yaml")
			if err := os.WriteFile(users, []byte("users: []\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "gatehouse.yaml")
			y := "issuer: https://sso.example.com\ndirectory: {type: file, file: {path: " + users + "}}\nui: {primary_color: \"" + tc.color + "\"}\n"
			if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if code := run(context.Background(), []string{"config", "check", "--config", cfg}, &out, &errOut); code != 0 {
				t.Fatalf("a colour that fails contrast is adjusted, not refused: exit %d\n%s%s", code, &out, &errOut)
			}
			if !strings.Contains(out.String(), cfg+": OK") {
				t.Errorf("output lacks OK:\n%s", &out)
			}
			for _, w := range tc.warnings {
				if !w.MatchString(out.String()) {
					t.Errorf("output lacks a line matching %s:\n%s", w, &out)
				}
			}
			if n := strings.Count(out.String(), "warning:"); n != len(tc.warnings) {
				t.Errorf("%d warnings, want %d:\n%s", n, len(tc.warnings), &out)
			}
			if tc.note != nil && !tc.note.MatchString(out.String()) {
				t.Errorf("output lacks a note matching %s:\n%s", tc.note, &out)
			}
		})
	}
}
