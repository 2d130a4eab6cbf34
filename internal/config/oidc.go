package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// OIDC values an app's settings take.
const (
	OIDCSubjectPairwise = "pairwise"
	OIDCSubjectPublic   = "public"

	OIDCAuthBasic      = "client_secret_basic"
	OIDCAuthPost       = "client_secret_post"
	OIDCAuthPrivateJWT = "private_key_jwt"
	OIDCAuthNone       = "none"

	OIDCGrantCode    = "authorization_code"
	OIDCGrantRefresh = "refresh_token"
)

// ServedOIDCScopes are the scopes Gatehouse serves, the default of an
// app's scopes.
func ServedOIDCScopes() []string {
	return []string{"openid", "profile", "email", "groups", "offline_access"}
}

// MinClientSecretLength is the shortest client secret accepted: a secret
// from `openssl rand -base64 32` is 44 characters.
const MinClientSecretLength = 32

// OIDCSubject is the app's subject type, with the default.
func (a App) OIDCSubject() string {
	if a.Subject == "" {
		return OIDCSubjectPairwise
	}
	return a.Subject
}

// OIDCAuthMethod is how the app authenticates at the token endpoint, with
// the default.
func (a App) OIDCAuthMethod() string {
	switch {
	case a.TokenEndpointAuthMethod != "":
		return a.TokenEndpointAuthMethod
	case a.PublicClient:
		return OIDCAuthNone
	}
	return OIDCAuthBasic
}

// OIDCScopes is the scopes the app may ask for, with the default.
func (a App) OIDCScopes() []string {
	if len(a.Scopes) == 0 {
		return ServedOIDCScopes()
	}
	return a.Scopes
}

// OIDCGrantTypes is the grants the app may use, with the default.
func (a App) OIDCGrantTypes() []string {
	if len(a.GrantTypes) == 0 {
		return []string{OIDCGrantCode, OIDCGrantRefresh}
	}
	return a.GrantTypes
}

// validateOIDCApp checks apps[i] (at base), an OpenID Connect client;
// clients holds the client IDs seen so far.
func validateOIDCApp(p *Problems, base string, i int, a App, clients map[string]int) {
	if a.ClientID == "" {
		p.add(base+".client_id", "required")
	} else if j, dup := clients[a.ClientID]; dup {
		p.add(base+".client_id", "%q is already used by apps[%d]", a.ClientID, j)
	} else {
		clients[a.ClientID] = i
	}
	method := a.OIDCAuthMethod()
	oneOf(p, base+".token_endpoint_auth_method", a.TokenEndpointAuthMethod, "", OIDCAuthBasic, OIDCAuthPost, OIDCAuthPrivateJWT, OIDCAuthNone)
	switch {
	case a.PublicClient && method != OIDCAuthNone:
		p.add(base+".token_endpoint_auth_method", "a public client cannot authenticate: leave it out (none), got %q", method)
	case !a.PublicClient && method == OIDCAuthNone:
		p.add(base+".token_endpoint_auth_method", "none is for a public client (public_client: true)")
	}
	secretBased := method == OIDCAuthBasic || method == OIDCAuthPost
	switch {
	case secretBased && a.ClientSecretFile == "" && a.ClientSecret == "":
		p.add(base+".client_secret_file", "required for %s: a file holding the client secret (e.g. openssl rand -base64 32)", method)
	case !secretBased && a.ClientSecretFile != "":
		p.add(base+".client_secret_file", "not used with token_endpoint_auth_method %s: remove it", method)
	case secretBased && a.ClientSecret != "" && len(a.ClientSecret.Value()) < MinClientSecretLength:
		p.add(base+".client_secret_file", "the secret is too short: use at least %d characters (e.g. openssl rand -base64 32)", MinClientSecretLength)
	}
	fileMustExist(p, base+".client_secret_file", a.ClientSecretFile)
	switch {
	case method == OIDCAuthPrivateJWT && a.JWKSFile == "":
		p.add(base+".jwks_file", "required for private_key_jwt: the client's public keys as a JWK set")
	case method != OIDCAuthPrivateJWT && a.JWKSFile != "":
		p.add(base+".jwks_file", "only used with token_endpoint_auth_method private_key_jwt")
	}
	fileMustExist(p, base+".jwks_file", a.JWKSFile)

	if len(a.RedirectURIs) == 0 {
		p.add(base+".redirect_uris", "required: the app's exact callback URLs")
	}
	hosts := map[string]bool{}
	for j, r := range a.RedirectURIs {
		if u := redirectURI(p, fmt.Sprintf("%s.redirect_uris[%d]", base, j), r, a.PublicClient); u != nil {
			hosts[strings.ToLower(u.Host)] = true
		}
	}
	oneOf(p, base+".subject", a.Subject, "", OIDCSubjectPairwise, OIDCSubjectPublic)
	if a.OIDCSubject() == OIDCSubjectPairwise && len(hosts) > 1 {
		p.add(base+".subject", "pairwise subjects take the redirect URIs' host as the app's sector, and these name %d hosts: "+
			"list one host's URIs, or set subject: public", len(hosts))
	}
	for j, s := range a.Scopes {
		if !slices.Contains(ServedOIDCScopes(), s) {
			p.add(fmt.Sprintf("%s.scopes[%d]", base, j), "must be one of %s, got %q", strings.Join(ServedOIDCScopes(), ", "), s)
		}
	}
	if len(a.Scopes) > 0 && !slices.Contains(a.Scopes, "openid") {
		p.add(base+".scopes", "must include openid")
	}
	for j, g := range a.GrantTypes {
		oneOf(p, fmt.Sprintf("%s.grant_types[%d]", base, j), g, OIDCGrantCode, OIDCGrantRefresh)
	}
	if !slices.Contains(a.OIDCGrantTypes(), OIDCGrantCode) {
		p.add(base+".grant_types", "must include authorization_code")
	}
	if a.BackchannelLogoutURI != "" {
		absoluteURL(p, base+".backchannel_logout_uri", a.BackchannelLogoutURI)
	}
	for j, r := range a.PostLogoutRedirectURIs {
		redirectURI(p, fmt.Sprintf("%s.post_logout_redirect_uris[%d]", base, j), r, a.PublicClient)
	}
	if a.RefreshTokenLifetime < 0 {
		p.add(base+".refresh_token_lifetime", "must not be negative")
	}
	for _, k := range []struct {
		path string
		set  bool
	}{{"domains", len(a.Domains) > 0}, {"metadata_file", a.MetadataFile != ""}, {"entity_id", a.EntityID != ""}, {"reply_urls", len(a.ReplyURLs) > 0}} {
		if k.set {
			p.add(base+"."+k.path, "not used by an oidc app: remove it")
		}
	}
}

// redirectURI checks one redirect URI of a client and returns it parsed
// (nil when wrong): an absolute https URL, or http on a loopback host; a
// public (native) client may also use its own scheme (RFC 8252, a
// reverse domain name such as com.example.app:/callback). Never a
// fragment.
func redirectURI(p *Problems, path, raw string, public bool) *url.URL {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme == "":
		p.add(path, "must be an absolute URL, got %q", raw)
		return nil
	case u.Fragment != "" || strings.Contains(raw, "#"):
		p.add(path, "must not have a fragment")
		return nil
	case u.Scheme == "https" || (u.Scheme == "http" && IsLoopbackHost(u.Hostname())):
		if u.Host == "" {
			p.add(path, "must name a host, got %q", raw)
			return nil
		}
		if u.User != nil {
			p.add(path, "must not carry a user name or password")
			return nil
		}
		return u
	case u.Scheme == "http":
		p.add(path, "must use https (http only for a loopback address), got %q", raw)
	case public && strings.Contains(u.Scheme, "."):
		return u
	default:
		p.add(path, "must be an https URL (a public client may also use a reverse-domain scheme such as com.example.app:/cb), got %q", raw)
	}
	return nil
}
