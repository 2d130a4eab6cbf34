package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// newADApp is Gatehouse against the test Samba DC, MFA not required.
func newADApp(t *testing.T) (*App, *httptest.Server) { return newADAppWith(t, nil) }

// adTestConfig is a configuration against the test DC with a fresh SQLite
// store and keys in a temporary directory, and MFA off.
func adTestConfig(tb testing.TB) config.Config {
	tb.Helper()
	v := testenv.Require(tb, testenv.ADURL, testenv.ADCAFile, testenv.ADBindDN, testenv.ADBindPassword, testenv.ADBaseDN)
	dir := tb.TempDir()
	cfg := config.Default()
	cfg.Storage.SQLite.Path = filepath.Join(dir, "g.db")
	cfg.Secrets.EncryptionKeyFile = filepath.Join(dir, "enc.key")
	cfg.Signing.KeyFile, cfg.Signing.CertFile = filepath.Join(dir, "s.key"), filepath.Join(dir, "s.crt")
	cfg.MFA.RequiredFor = "none"
	ad := &cfg.Directory.ActiveDirectory
	ad.URLs, ad.CAFile, ad.BindDN, ad.BindPassword, ad.BaseDN = []string{v[0]}, v[1], v[2], config.Secret(v[3]), v[4]
	return cfg
}

func newADAppWith(t *testing.T, mod func(*config.Config)) (*App, *httptest.Server) {
	t.Helper()
	cfg := adTestConfig(t)
	if mod != nil {
		mod(&cfg)
	}
	return startApp(t, cfg, nil)
}

// newADUser creates a throwaway user in OU=Staff and deletes it afterwards.
func newADUser(t *testing.T, password string) string {
	t.Helper()
	return testenv.NewADUser(t, "ss", password, "Self", "Service")
}

func TestAUserChangesTheirADPasswordWithThePolicyInWords(t *testing.T) {
	a, srv := newADApp(t)
	const first, second = "First!Passw0rd-x", "Second!Passw0rd-y"
	name := newADUser(t, first)
	b := browse.New(t, srv.URL)
	b.Get("/password/change")
	b.Submit(map[string]string{"login": name + "@" + testenv.ADDNSDomain})
	page := b.Submit(map[string]string{"password": first})
	for _, want := range []string{`name="current_password"`, "Not one of your last 24 passwords.",
		`<li data-rule="min_length" data-value="7">`, `data-rule="strength"`, "Not a common or leaked password"} {
		if !strings.Contains(page, want) {
			t.Fatalf("no change form with the domain policy and the strength rule (%s):\n%s", want, page)
		}
	}
	for _, tc := range []struct {
		name, current, next, want string
	}{
		{"a wrong current password is named", "Wrong!Passw0rd-z", second, "Your current password is not right."},
		{"a short one gets the policy's length", first, "Ab1!", "Use at least 7 characters."},
		{"a simple one gets the complexity rule", first, "abcdefghijkl", "Use at least three of"},
		{"the current password is refused by history", first, first, "Choose a password you have not used before"},
		{"a breached password is refused", first, "g00dPa$$w0rD", "leaked in data breaches"},
		{"an easily guessed one is refused", first, "Password2026!", "too easy to guess"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := b.Submit(map[string]string{"current_password": tc.current, "new_password": tc.next, "confirm_password": tc.next})
			if b.Status != 422 || !strings.Contains(page, tc.want) || !strings.Contains(page, `name="current_password"`) {
				t.Fatalf("status %d, want the form again with %q:\n%s", b.Status, tc.want, page)
			}
			if strings.Contains(page, "0000052D") || strings.Contains(page, "Constraint") {
				t.Fatalf("raw LDAP text shown:\n%s", page)
			}
		})
	}
	page = b.Submit(map[string]string{"current_password": first, "new_password": second, "confirm_password": second})
	if !strings.Contains(page, "Your password was changed.") {
		t.Fatalf("change failed:\n%s", page)
	}
	if _, err := a.Directory.Authenticate(context.Background(), name, second); err != nil {
		t.Fatalf("the new password does not bind: %v", err)
	}
	if _, err := a.Directory.Authenticate(context.Background(), name, first); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("the old password still binds: %v", err)
	}
}

// startApp is Gatehouse on cfg behind a test server, closed when the test
// ends; now is its clock (nil: the real one).
func startApp(t *testing.T, cfg config.Config, now func() time.Time) (*App, *httptest.Server) {
	t.Helper()
	a, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return a, srv
}
