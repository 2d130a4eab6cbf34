package app

import (
	"context"
	"encoding/json"
	"html"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
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

func TestTheSignInExampleComesFromTheConfiguration(t *testing.T) {
	ad := func(mod func(*config.Config)) config.Config {
		cfg := config.Default()
		cfg.Directory.ActiveDirectory.BaseDN = "OU=Staff,DC=Corp,DC=Example,DC=com"
		if mod != nil {
			mod(&cfg)
		}
		return cfg
	}
	for _, tc := range []struct {
		name string
		cfg  config.Config
		want string
	}{
		{"the configured example wins", ad(func(c *config.Config) {
			c.UI.UsernameExample = "j.doe@contoso.com"
			c.Apps = []config.App{{Name: "m365", Type: "entra", Domains: []string{"fabrikam.com"}}}
		}), "j.doe@contoso.com"},
		{"an Entra app's first domain is the UPN suffix users have", ad(func(c *config.Config) {
			c.Apps = []config.App{{Name: "portal", Type: "wsfed"}, {Name: "m365", Type: "entra", Domains: []string{"example.com", "example.org"}}}
		}), "name@example.com"},
		{"the domain AD's DCs are discovered in comes next", ad(func(c *config.Config) {
			c.Directory.ActiveDirectory.DiscoverDomain = "AD.Example.com"
		}), "name@ad.example.com"},
		{"else the DNS name of the base DN's domain", ad(nil), "name@corp.example.com"},
		{"no example when users sign in with their account name only", ad(func(c *config.Config) {
			c.Directory.ActiveDirectory.LoginAttributes = []string{"sAMAccountName"}
		}), ""},
		{"no example when the base DN names no domain", ad(func(c *config.Config) {
			c.Directory.ActiveDirectory.BaseDN = "O=Example"
		}), ""},
		{"no example for a user file without one configured", func() config.Config {
			c := config.Default()
			c.Directory.Type = "file"
			return c
		}(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := UsernameExample(tc.cfg); got != tc.want {
				t.Errorf("UsernameExample = %q, want %q", got, tc.want)
			}
		})
	}
}

var exampleRe = regexp.MustCompile(`<p class="hint" id="login-hint">For example ([^<]+)</p>`)

// signInExample returns the example the sign-in page shows, failing the
// test when it shows none.
func signInExample(t *testing.T, b *browse.Browser) string {
	t.Helper()
	page := b.Get("/login")
	m := exampleRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the sign-in page shows no example:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

func TestTheDemosSignInExampleIsANameItsUsersHave(t *testing.T) {
	_, srv := newDemo(t)
	alice := DemoUsers()[0]
	b := browse.New(t, srv.URL)
	example := signInExample(t, b)
	if example != alice.Mail {
		t.Fatalf("the demo's example is %q, want %s's address %q", example, alice.Username, alice.Mail)
	}
	page := b.Submit(map[string]string{"login": example})
	if !strings.Contains(page, `id="password"`) {
		t.Fatalf("signing in as the example %q does not reach the password:\n%s", example, page)
	}
	page = b.Submit(map[string]string{"password": alice.Password})
	if b.Status != 200 || strings.Contains(page, `id="password"`) {
		t.Errorf("the example's user did not get past the password (status %d):\n%s", b.Status, page)
	}
}
