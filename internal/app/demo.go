package app

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
)

// DemoUser is a user the demo directory starts with.
type DemoUser struct {
	Username, Password, DisplayName, Mail string
	Groups                                []string
	MustChange                            bool
}

// DemoUsers returns the users the demo directory starts with, printed by
// `gatehouse demo` so a newcomer can sign in: a fresh list on every call.
func DemoUsers() []DemoUser {
	return []DemoUser{
		{Username: "alice", Password: "Alice-Demo-2026!", DisplayName: "Alice Smith", Mail: "alice@demo.gatehouse.test", Groups: []string{"Staff", "Engineers"}},
		{Username: "bob", Password: "Bob-Demo-2026!", DisplayName: "Bob Jones", Mail: "bob@demo.gatehouse.test", Groups: []string{"Staff"}},
		{Username: "carol", Password: "Carol-Demo-2026!", DisplayName: "Carol White", Mail: "carol@demo.gatehouse.test", Groups: []string{"Staff"}, MustChange: true},
	}
}

// WriteDemoBanner writes what `gatehouse demo` prints once it listens:
// where to open it, the health endpoints, and who can sign in.
func (a *App) WriteDemoBanner(w io.Writer, dataDir string) {
	base := "http://" + a.Addr().String()
	if _, port, err := net.SplitHostPort(a.Addr().String()); err == nil && strings.HasPrefix(a.Config.Issuer, "http://localhost:") {
		base = "http://localhost:" + port
	}
	fmt.Fprintf(w, "\nGatehouse demo is running (data in %s/, Ctrl-C to stop).\n\n", dataDir)
	fmt.Fprintf(w, "  Open:      %s/\n", base)
	fmt.Fprintf(w, "  Health:    %s/healthz   Readiness: %s/readyz   Metrics: %s/metrics\n\n", base, base, base)
	fmt.Fprintf(w, "  Demo users (directory: %s):\n", a.Config.Directory.File.Path)
	for _, u := range DemoUsers() {
		note := ""
		if u.MustChange {
			note = "  (must change password at first sign-in)"
		}
		fmt.Fprintf(w, "    %-6s %-18s %s%s\n", u.Username, u.Password, strings.Join(u.Groups, ", "), note)
	}
	fmt.Fprintln(w)
}

// DemoConfig is the configuration `gatehouse demo` runs with: everything
// under dataDir, a file directory with the demo users, plain HTTP on a
// loopback address.
func DemoConfig(dataDir, listen string) (config.Config, error) {
	cfg := config.Default()
	cfg.Listen = listen
	// localhost rather than 127.0.0.1: passkeys need a host name.
	cfg.Issuer = "http://" + listen
	if host, port, err := net.SplitHostPort(listen); err == nil && host == "127.0.0.1" {
		cfg.Issuer = "http://localhost:" + port
	}
	cfg.Storage.SQLite.Path = filepath.Join(dataDir, "gatehouse.db")
	cfg.Secrets.EncryptionKeyFile = filepath.Join(dataDir, "encryption.key")
	cfg.Signing.KeyFile = filepath.Join(dataDir, "signing.key")
	cfg.Signing.CertFile = filepath.Join(dataDir, "signing.crt")
	cfg.Directory.Type = "file"
	cfg.Directory.File.Path = filepath.Join(dataDir, "users.yaml")
	// The sign-in page's example is a name the demo's users have.
	cfg.UI.UsernameExample = DemoUsers()[0].Mail
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// PrepareDemo creates the data directory and, when missing, the demo user
// file. It reports whether it created the users.
func PrepareDemo(cfg config.Config, now time.Time) (bool, error) {
	path := cfg.Directory.File.Path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("demo data directory: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("demo users: %w", err)
	}
	f := file.File{Policy: file.DefaultPolicy()}
	for _, du := range DemoUsers() {
		h, err := file.Hash(du.Password)
		if err != nil {
			return false, err
		}
		f.Users = append(f.Users, file.UserFile{
			Username: du.Username, UPN: du.Mail, Mail: du.Mail, DisplayName: du.DisplayName,
			Groups: du.Groups, PasswordHash: h, PasswordChangedAt: now.UTC(), MustChange: du.MustChange,
		})
	}
	out, err := yaml.Marshal(f)
	if err != nil {
		return false, fmt.Errorf("demo users: %w", err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return false, fmt.Errorf("demo users: %w", err)
	}
	return true, nil
}
