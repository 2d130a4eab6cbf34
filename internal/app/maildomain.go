package app

import (
	"strings"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// decoyMailDomain is the organisation's mail domain as the configuration
// tells it, for the decoy address the reset and unlock pages show for an
// unknown user name: the first domain of the first Entra app (the
// organisation's verified Microsoft 365 domain, where its mail is), else
// the Active Directory domain of the base DN (DC=corp,DC=example,DC=com is
// corp.example.com), else the domain mail is sent from. "" when none is
// configured: the decoy then makes one up.
func decoyMailDomain(c config.Config) string {
	for _, app := range c.Apps {
		if app.Type == "entra" && len(app.Domains) > 0 {
			return strings.ToLower(app.Domains[0])
		}
	}
	if c.Directory.Type == "activedirectory" {
		var dcs []string
		for _, rdn := range strings.Split(c.Directory.ActiveDirectory.BaseDN, ",") {
			if k, v, ok := strings.Cut(strings.TrimSpace(rdn), "="); ok && strings.EqualFold(strings.TrimSpace(k), "DC") {
				dcs = append(dcs, strings.TrimSpace(v))
			}
		}
		if len(dcs) > 0 {
			return strings.ToLower(strings.Join(dcs, "."))
		}
	}
	if _, d, ok := strings.Cut(c.SMTP.From, "@"); ok {
		return strings.ToLower(strings.Trim(d, "> "))
	}
	return ""
}
