package config

import (
	"net/url"
	"regexp"
	"slices"
)

// EAM constants: what Microsoft Entra ID uses for every tenant.
const (
	// EntraAuthority is the host of Entra's (global) sign-in service.
	EntraAuthority = "https://login.microsoftonline.com"
	// EntraEAMRedirectURI is where Entra takes an external authentication
	// method's answer.
	EntraEAMRedirectURI = EntraAuthority + "/common/federation/externalauthprovider"
)

// guid is an Entra tenant or application id.
var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// EAMIssuer is the issuer of the id_token_hints a tenant's Entra sends.
func EAMIssuer(tenantID string) string { return EntraAuthority + "/" + tenantID + "/v2.0" }

// EAMMetadataURL is a's Entra OpenID metadata URL (entra_metadata_url, or
// the tenant's own).
func (a App) EAMMetadataURL() string {
	if a.EntraMetadataURL != "" {
		return a.EntraMetadataURL
	}
	return EAMIssuer(a.TenantID) + "/.well-known/openid-configuration"
}

// EAMRedirectURI is where a's answers go (entra_redirect_uri, or Entra's).
func (a App) EAMRedirectURI() string {
	if a.EntraRedirectURI != "" {
		return a.EntraRedirectURI
	}
	return EntraEAMRedirectURI
}

// EAMAudience is the audience of a's id_token_hints: app_id, or client_id.
func (a App) EAMAudience() string {
	if a.AppID != "" {
		return a.AppID
	}
	return a.ClientID
}

// validateEAMApp checks an entra-eam app, apps[i] at base; clients holds
// the client ids of the apps before it (OIDC clients and EAM apps share
// /oauth2/authorize, so one id names one app).
func (c *Config) validateEAMApp(p *Problems, base string, i int, a App, clients map[string]int) {
	switch j, dup := clients[a.ClientID]; {
	case a.ClientID == "":
		p.add(base+".client_id", "required: the client id you give Entra in the external authentication method's settings")
	case dup:
		p.add(base+".client_id", "%q is already used by apps[%d]", a.ClientID, j)
	default:
		clients[a.ClientID] = i
	}
	if !guid.MatchString(a.TenantID) {
		p.add(base+".tenant_id", "required: the Entra tenant's id, a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47, got %q", a.TenantID)
	}
	switch {
	case a.AppID != "" && !guid.MatchString(a.AppID):
		p.add(base+".app_id", "must be the application id (a GUID) of the app registration Entra issues the id_token_hint for, got %q", a.AppID)
	case a.AppID == "" && a.ClientID != "" && !guid.MatchString(a.ClientID):
		p.add(base+".app_id", "required when client_id is not the app registration's application id (a GUID): Entra issues the id_token_hint for that id")
	}
	if a.EntraMetadataURL != "" {
		absoluteURL(p, base+".entra_metadata_url", a.EntraMetadataURL)
	}
	fileMustExist(p, base+".entra_ca_file", a.EntraCAFile)
	if a.EntraRedirectURI != "" {
		absoluteURL(p, base+".entra_redirect_uri", a.EntraRedirectURI)
		if u, err := url.Parse(a.EntraRedirectURI); err == nil && u.RawQuery != "" {
			p.add(base+".entra_redirect_uri", "must not have a query")
		}
	}
	if a.MFA == "optional" {
		p.add(base+".mfa", "an external authentication method always asks the second factor; leave it empty")
	}
	usable := slices.ContainsFunc(c.MFA.Methods, func(m string) bool {
		return m == "totp" || m == "webauthn" || (m == "email" && c.MFA.EmailAsSecondFactor)
	})
	if !usable {
		p.add("mfa.methods", "%s (entra-eam) needs totp or webauthn (or email with mfa.email_as_second_factor): recovery codes do not answer Entra", base)
	}
}
