package oidc

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file:\n got %s\nwant %s", name, got, want)
	}
}

const testIssuer = "https://sso.corp.example.test"

// testApps are the clients of the unit tests.
func testApps() []config.App {
	return []config.App{
		{Name: "Grafana", Type: "oidc", ClientID: "grafana", ClientSecret: "grafana-secret-0123456789abcdefghijklmnop",
			RedirectURIs: []string{"https://grafana.corp.example.test/login/generic_oauth"}},
		{Name: "GitLab", Type: "oidc", ClientID: "gitlab", ClientSecret: "gitlab-secret-0123456789abcdefghijklmnopq",
			TokenEndpointAuthMethod: config.OIDCAuthPost, RedirectURIs: []string{"https://gitlab.corp.example.test/users/auth/openid_connect/callback"},
			Scopes: []string{"openid", "email"}, GrantTypes: []string{config.OIDCGrantCode}},
		{Name: "CLI", Type: "oidc", ClientID: "cli", PublicClient: true, Subject: config.OIDCSubjectPublic,
			RedirectURIs: []string{"http://127.0.0.1/callback", "http://[::1]/callback", "com.example.cli:/callback"}},
		{Name: "Wiki", Type: "saml", EntityID: "urn:wiki"},
	}
}

func testClients(t testing.TB) *Clients {
	t.Helper()
	cs, err := ClientsFromConfig(testApps(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// testProvider is a provider on a fresh SQLite store with a new key, for
// the endpoints that need no sign-in.
func testProvider(t testing.TB) (*Provider, store.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	kp, err := keys.Generate("sso.corp.example.test", time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := keys.NewSet(kp, nil)
	log := slog.New(slog.DiscardHandler)
	render, err := web.NewRenderer(config.Default().UI)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Issuer: testIssuer, Clients: testClients(t), Keys: set, Subjects: Subjects{Key: []byte("k")},
		Renderer: render, CSRF: web.NewCSRF([]byte("0123456789abcdef0123456789abcdef"), true),
		Flows: st, Tickets: st, Grants: st, Throttle: st, Limits: Limits{PerAddress: 1000, Window: time.Minute, IPv6Prefix: 64},
		Audit: audit.New(st, log, time.Now), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return p, st
}
