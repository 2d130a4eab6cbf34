package entra

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory/ad"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

func TestThePreflightShowsWhatEntraWouldReceiveForAnADUser(t *testing.T) {
	v := testenv.Require(t, testenv.ADURL, testenv.ADCAFile, testenv.ADBindDN, testenv.ADBindPassword, testenv.ADBaseDN)
	if _, err := os.Stat(v[1]); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Directory.ActiveDirectory
	cfg.URLs, cfg.CAFile, cfg.BindDN, cfg.BindPassword, cfg.BaseDN = []string{v[0]}, v[1], v[2], config.Secret(v[3]), v[4]
	d, err := ad.Open(context.Background(), cfg, ad.Options{Logger: slog.New(slog.DiscardHandler), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		name, domain, login string
		fatal               bool
		want                string
	}{
		{"a user in the federated domain passes", testenv.ADDNSDomain, testenv.Alice.SAMAccountName, false, "No problems found."},
		{"a UPN outside the federated domains is fatal", "other.example", testenv.Alice.SAMAccountName, true, "AADSTS50107"},
		{"a disabled account is warned about", testenv.ADDNSDomain, testenv.Dave.SAMAccountName, false, "disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := wsfed.FromConfig("https://sso.example.test", []config.App{{Name: "M365", Type: "entra", Domains: []string{tc.domain}}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := RunPreflight(context.Background(), d, reg, tc.login)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := p.Write(&out); err != nil {
				t.Fatal(err)
			}
			if p.Fatal != tc.fatal || !strings.Contains(out.String(), tc.want) {
				t.Errorf("fatal=%v, report:\n%s", p.Fatal, &out)
			}
			if p.NameID == "" || p.NameID != p.User.ImmutableID {
				t.Errorf("NameIdentifier %q is not the ImmutableID %q", p.NameID, p.User.ImmutableID)
			}
		})
	}
	if _, err := RunPreflight(context.Background(), d, nil, "no-such-user"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Errorf("unknown user: %v", err)
	}
}

func TestTheFederationCommandsNameTheProtocolsEndpoints(t *testing.T) {
	kp, err := keys.Generate("gatehouse test", time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.NewSet(kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		saml     bool
		want     []string
		unwanted []string
	}{
		{"WS-Federation signs in at /wsfed", false,
			[]string{"-PassiveSignInUri 'https://sso.example.test/wsfed'", "-PreferredAuthenticationProtocol 'wsFed'", "-SignOutUri 'https://sso.example.test/wsfed?wa=wsignout1.0'"},
			[]string{"saml"}},
		{"SAML-P signs in at /saml/sso and out at /saml/slo, rich clients still over WS-Trust", true,
			[]string{"-PassiveSignInUri 'https://sso.example.test/saml/sso'", "-PreferredAuthenticationProtocol 'saml'",
				"-SignOutUri 'https://sso.example.test/saml/slo'", "-ActiveSignInUri 'https://sso.example.test/wstrust/13/usernamemixed'",
				"-IsSignedAuthenticationRequestRequired"},
			[]string{"/wsfed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Federation{Domain: "corp.example.test", Issuer: "https://sso.example.test/corp.example.test", BaseURL: "https://sso.example.test", Keys: ks, SAML: tc.saml}
			var out bytes.Buffer
			if err := f.WritePowerShell(&out); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("missing %q in:\n%s", w, &out)
				}
			}
			for _, w := range tc.unwanted {
				if strings.Contains(out.String(), w) {
					t.Errorf("unexpected %q in:\n%s", w, &out)
				}
			}
		})
	}
}
