package ad

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// fakeResolver answers SRV lookups from a table.
type fakeResolver struct {
	srvs  map[string][]*net.SRV
	asked []string
}

func (r *fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	q := "_" + service + "._" + proto + "." + name
	r.asked = append(r.asked, q)
	if s, ok := r.srvs[q]; ok {
		return q, s, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: q, IsNotFound: true}
}

func TestOpenDiscoversDCsBySRV(t *testing.T) {
	r := &fakeResolver{srvs: map[string][]*net.SRV{
		"_ldap._tcp.dc._msdcs.corp.example.test": {
			{Target: "dc2.corp.example.test.", Port: 389, Priority: 0, Weight: 100},
			{Target: "dc1.corp.example.test.", Port: 389, Priority: 0, Weight: 100},
		},
	}}
	cfg := testConfig()
	cfg.URLs = []string{"ldap://dc1.corp.example.test"}
	cfg.DiscoverDomain = "corp.example.test"
	d, err := Open(context.Background(), cfg, Options{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var got []string
	for _, c := range d.dcs {
		got = append(got, c.t.addr+"/"+c.t.tls.ServerName)
		if !c.t.startTLS {
			t.Errorf("%s: a discovered DC must use StartTLS on its LDAP port", c.t.name)
		}
	}
	want := "dc1.corp.example.test:389/dc1.corp.example.test dc2.corp.example.test:389/dc2.corp.example.test"
	if strings.Join(got, " ") != want {
		t.Errorf("DCs = %v, want configured first, then discovered, without duplicates: %s", got, want)
	}

	t.Run("a failed lookup keeps the configured URLs", func(t *testing.T) {
		cfg.DiscoverDomain = "elsewhere.test"
		d, err := Open(context.Background(), cfg, Options{Resolver: r})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if len(d.dcs) != 1 {
			t.Errorf("%d DCs", len(d.dcs))
		}
	})
	t.Run("a failed lookup with nothing configured is an error", func(t *testing.T) {
		cfg.URLs = nil
		if _, err := Open(context.Background(), cfg, Options{Resolver: r}); err == nil {
			t.Error("no error")
		}
	})
}

func TestOpenRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*config.ActiveDirectory)
	}{
		{"a plain ldapi URL", func(c *config.ActiveDirectory) { c.URLs = []string{"ldapi:///run/x"} }},
		{"no DC at all", func(c *config.ActiveDirectory) { c.URLs = nil }},
		{"a missing CA file", func(c *config.ActiveDirectory) { c.CAFile = filepath.Join(dir, "missing.pem") }},
		{"a CA file without certificates", func(c *config.ActiveDirectory) { c.CAFile = notPEM }},
		{"no bind password", func(c *config.ActiveDirectory) { c.BindPassword = "" }},
		{"a base DN outside a domain", func(c *config.ActiveDirectory) { c.BaseDN = "O=Example" }},
		{"a login attribute that is a filter", func(c *config.ActiveDirectory) { c.LoginAttributes = []string{"mail)(cn=*"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.URLs = []string{"ldaps://dc1.corp.example.test"}
			tt.edit(&cfg)
			d, err := Open(context.Background(), cfg, Options{Resolver: &fakeResolver{}})
			if err == nil {
				d.Close()
				t.Fatal("Open accepted it")
			}
			if errors.Is(err, context.Canceled) {
				t.Errorf("err = %v", err)
			}
		})
	}
}
