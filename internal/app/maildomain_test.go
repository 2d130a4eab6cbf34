package app

import (
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

func TestTheDecoyMailDomainIsTheOrganisationsAsTheConfigurationTellsIt(t *testing.T) {
	ad := func(baseDN string) config.Directory {
		return config.Directory{Type: "activedirectory", ActiveDirectory: config.ActiveDirectory{BaseDN: baseDN}}
	}
	for _, tc := range []struct {
		name string
		cfg  config.Config
		want string
	}{
		{"the first Entra domain comes first", config.Config{Directory: ad("DC=corp,DC=local"),
			Apps: []config.App{{Type: "oidc"}, {Type: "entra", Domains: []string{"Example.COM", "example.org"}}}}, "example.com"},
		{"then the AD domain of the base DN", config.Config{Directory: ad("OU=Staff, dc=Corp,DC=example,DC=test"),
			SMTP: config.SMTP{From: "sso@mail.example.net"}}, "corp.example.test"},
		{"then the sender's domain", config.Config{Directory: config.Directory{Type: "file"},
			SMTP: config.SMTP{From: "sso@Example.net"}}, "example.net"},
		{"else none", config.Config{Directory: config.Directory{Type: "file"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decoyMailDomain(tc.cfg); got != tc.want {
				t.Errorf("decoyMailDomain = %q, want %q", got, tc.want)
			}
		})
	}
}
