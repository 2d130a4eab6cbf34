package entra

import (
	"fmt"
	"io"
	"strings"
)

// EAM is one entra-eam app: Gatehouse as an external authentication method
// of a tenant.
type EAM struct {
	Name     string
	TenantID string
	// ClientID is what Entra sends as client_id (openIdConnectSetting).
	ClientID string
	// AppID is the app registration's application id (the hint's aud).
	AppID string
	// BaseURL is Gatehouse's issuer; discovery and the authorization
	// endpoint hang off it.
	BaseURL string
}

// Discovery and authorization paths the OIDC core serves.
const (
	discoveryPath = "/.well-known/openid-configuration"
	authorizePath = "/oauth2/authorize"
)

// WritePowerShell writes what the tenant's administrator runs: the app
// registration Entra issues its id_token_hints for, and the external
// authentication method (Microsoft Graph PowerShell).
func (e EAM) WritePowerShell(w io.Writer) error {
	base := strings.TrimRight(e.BaseURL, "/")
	var b strings.Builder
	fmt.Fprintf(&b, "# Gatehouse as the external authentication method %q of tenant %s (Microsoft Graph PowerShell).\n", e.Name, e.TenantID)
	b.WriteString("# Entra checks the password, then sends the user to Gatehouse for the second factor alone.\n")
	b.WriteString("Connect-MgGraph -TenantId " + psQuote(e.TenantID) + " -Scopes 'Application.ReadWrite.All','Policy.ReadWrite.AuthenticationMethod'\n\n")
	b.WriteString("# 1. The app registration Entra issues its id_token_hint for (single tenant; the redirect URI is Gatehouse's\n")
	b.WriteString("#    authorization endpoint; admin consent for openid and profile in the admin center's API permissions).\n")
	b.WriteString("#    Skip it when the registration exists. Otherwise put the AppId it prints into apps[].app_id\n")
	b.WriteString("#    (or client_id) and run `gatehouse entra eam` again, so step 2 names it.\n")
	fmt.Fprintf(&b, "$app = New-MgApplication -DisplayName %s -SignInAudience 'AzureADMyOrg' -Web @{ RedirectUris = @(%s) }\n",
		psQuote(e.Name+" (Gatehouse)"), psQuote(base+authorizePath))
	b.WriteString("New-MgServicePrincipal -AppId $app.AppId\n")
	b.WriteString("$app.AppId\n\n")
	b.WriteString("# 2. The external authentication method. clientId is the client_id Gatehouse knows Entra by;\n")
	b.WriteString("#    includeTargets: all users here, or a pilot group's object id first.\n")
	b.WriteString("$params = @{\n")
	b.WriteString("  '@odata.type' = '#microsoft.graph.externalAuthenticationMethodConfiguration'\n")
	fmt.Fprintf(&b, "  displayName = %s\n", psQuote(e.Name))
	b.WriteString("  state = 'enabled'\n")
	fmt.Fprintf(&b, "  appId = %s\n", psQuote(e.AppID))
	b.WriteString("  openIdConnectSetting = @{\n")
	fmt.Fprintf(&b, "    clientId = %s\n", psQuote(e.ClientID))
	fmt.Fprintf(&b, "    discoveryUrl = %s\n", psQuote(base+discoveryPath))
	b.WriteString("  }\n")
	b.WriteString("  includeTargets = @( @{ targetType = 'group'; id = 'all_users' } )\n")
	b.WriteString("}\n")
	b.WriteString("New-MgPolicyAuthenticationMethodPolicyAuthenticationMethodConfiguration -BodyParameter $params\n\n")
	b.WriteString("# 3. Conditional Access: a policy that requires multifactor authentication (\"Require MFA\"; an external\n")
	b.WriteString("#    method does not satisfy authentication strengths) now offers this method to the users it targets.\n")
	b.WriteString("#    Entra caches Gatehouse's discovery and keys for 24 hours: publish a next signing key\n")
	b.WriteString("#    (signing.next_key_file) at least a day before it signs.\n")
	_, err := io.WriteString(w, b.String())
	return err
}
