package oidc

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// Client is one configured OpenID Connect client (an app of type oidc).
type Client struct {
	// Name is the app's configured name: what the policy and the audit
	// know it by.
	Name string
	ID   string
	// secret is the SHA-256 of the client secret (nil unless the client
	// authenticates with one): compared in constant time, whatever its
	// length.
	secret                 []byte
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// Public: a native or browser app without a secret; PKCE is required
	// and its loopback redirect URIs match on any port.
	Public bool
	// AuthMethod is how it authenticates at the token endpoint
	// (config.OIDCAuth…).
	AuthMethod string
	Scopes     []string
	GrantTypes []string
	// Pairwise: the client's subjects are its own (Sector's); otherwise
	// the user's public, stable ID.
	Pairwise bool
	// Sector is the redirect URIs' host, for pairwise subjects.
	Sector               string
	BackchannelLogoutURI string
	RefreshLifetime      time.Duration
	// TokenLifetime is how long its ID and access tokens last.
	TokenLifetime time.Duration
	// keys are the client's public keys for private_key_jwt.
	keys []jose.JSONWebKey
}

// Clients are the configured clients by client_id.
type Clients struct{ byID map[string]*Client }

// ClientsFromConfig builds the clients of the oidc apps; tokenLifetime is
// signing.token_lifetime. Secrets are read by the configuration already;
// private_key_jwt clients' key sets are read here.
func ClientsFromConfig(apps []config.App, tokenLifetime time.Duration) (*Clients, error) {
	cs := &Clients{byID: map[string]*Client{}}
	for _, a := range apps {
		if a.Type != "oidc" {
			continue
		}
		c := &Client{Name: a.Name, ID: a.ClientID, RedirectURIs: slices.Clone(a.RedirectURIs),
			PostLogoutRedirectURIs: slices.Clone(a.PostLogoutRedirectURIs), Public: a.PublicClient,
			AuthMethod: a.OIDCAuthMethod(), Scopes: a.OIDCScopes(), GrantTypes: a.OIDCGrantTypes(),
			Pairwise: a.OIDCSubject() == config.OIDCSubjectPairwise, BackchannelLogoutURI: a.BackchannelLogoutURI,
			RefreshLifetime: a.RefreshTokenLifetime, TokenLifetime: tokenLifetime}
		if c.RefreshLifetime <= 0 {
			c.RefreshLifetime = DefaultRefreshLifetime
		}
		if c.TokenLifetime <= 0 {
			c.TokenLifetime = time.Hour
		}
		if len(c.RedirectURIs) > 0 {
			if u, err := url.Parse(c.RedirectURIs[0]); err == nil {
				c.Sector = strings.ToLower(u.Hostname())
			}
		}
		if v := a.ClientSecret.Value(); v != "" {
			sum := sha256.Sum256([]byte(v))
			c.secret = sum[:]
		}
		if c.AuthMethod == config.OIDCAuthPrivateJWT {
			ks, err := readJWKS(a.JWKSFile)
			if err != nil {
				return nil, fmt.Errorf("app %s: jwks_file: %w", a.Name, err)
			}
			c.keys = ks
		}
		if _, dup := cs.byID[c.ID]; dup {
			return nil, fmt.Errorf("app %s: client_id %q is used twice", a.Name, c.ID)
		}
		cs.byID[c.ID] = c
	}
	return cs, nil
}

// maxJWKSFile bounds a client's key set file.
const maxJWKSFile = 64 << 10

// readJWKS reads a client's public keys: RSA only, no private parts.
func readJWKS(path string) ([]jose.JSONWebKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxJWKSFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxJWKSFile)
	}
	raw, err := os.ReadFile(path) // #nosec G304 -- the operator names the file.
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("%s is not a JWK set: %w", path, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("%s holds no key", path)
	}
	for i, k := range set.Keys {
		if _, ok := k.Key.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("%s: key %d is not an RSA public key (private_key_jwt takes RS256)", path, i)
		}
		if k.Use != "" && k.Use != "sig" {
			return nil, fmt.Errorf("%s: key %d is not for signatures (use %q)", path, i, k.Use)
		}
	}
	return set.Keys, nil
}

// ByID returns the client with client_id id.
func (cs *Clients) ByID(id string) (*Client, bool) {
	c, ok := cs.byID[id]
	return c, ok
}

// All returns every client.
func (cs *Clients) All() []*Client {
	out := make([]*Client, 0, len(cs.byID))
	for _, c := range cs.byID {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Client) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// CheckSecret reports whether secret is the client's, in constant time.
func (c *Client) CheckSecret(secret string) bool {
	if c.secret == nil || secret == "" {
		return false
	}
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], c.secret) == 1
}

// RedirectAllowed reports whether uri is one of the client's redirect
// URIs: exactly (no normalization: case, trailing slashes and encodings
// all count), except that a public client's loopback URI (http on
// 127.0.0.1, [::1] or localhost) matches on any port, as RFC 8252 §7.3
// lets a native app pick one when it starts.
func (c *Client) RedirectAllowed(uri string) bool {
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if !c.Public {
		return false
	}
	got, ok := loopback(uri)
	if !ok {
		return false
	}
	for _, r := range c.RedirectURIs {
		if reg, ok := loopback(r); ok && reg.Hostname() == got.Hostname() && reg.EscapedPath() == got.EscapedPath() &&
			reg.RawQuery == got.RawQuery {
			return true
		}
	}
	return false
}

// loopback parses uri when it is a plain-http loopback URL with nothing
// a browser would read differently: no user information, no fragment.
func loopback(uri string) (*url.URL, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.Opaque != "" || strings.Contains(uri, "#") {
		return nil, false
	}
	h := u.Hostname()
	if h == "localhost" {
		return u, u.Port() == "" || validPort(u.Port())
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return nil, false
	}
	return u, u.Port() == "" || validPort(u.Port())
}

func validPort(p string) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for _, r := range p {
		if r < '0' || r > '9' {
			return false
		}
		n = n*10 + int(r-'0')
	}
	return n > 0 && n < 65536
}

// PostLogoutAllowed reports whether uri is one of the client's
// post-logout redirect URIs (exact match).
func (c *Client) PostLogoutAllowed(uri string) bool {
	return slices.Contains(c.PostLogoutRedirectURIs, uri)
}

// AllowsScope reports whether the client may ask for scope.
func (c *Client) AllowsScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// AllowsGrant reports whether the client may use grant type g.
func (c *Client) AllowsGrant(g string) bool { return slices.Contains(c.GrantTypes, g) }

// key returns the client's public key kid for private_key_jwt; with no
// kid, its only key.
func (c *Client) key(kid string) (*jose.JSONWebKey, error) {
	for i := range c.keys {
		if c.keys[i].KeyID == kid || (kid == "" && len(c.keys) == 1) {
			k := c.keys[i]
			return &k, nil
		}
	}
	return nil, errors.New("oidc: no such key for the client")
}

// opClient is a Client as the library sees it.
type opClient struct{ *Client }

var _ op.Client = opClient{}

func (c opClient) GetID() string                       { return c.ID }
func (c opClient) RedirectURIs() []string              { return c.Client.RedirectURIs }
func (c opClient) PostLogoutRedirectURIs() []string    { return c.Client.PostLogoutRedirectURIs }
func (c opClient) LoginURL(string) string              { return PathAuthorize }
func (c opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c opClient) IDTokenLifetime() time.Duration      { return c.TokenLifetime }
func (c opClient) DevMode() bool                       { return false }
func (c opClient) ClockSkew() time.Duration            { return 0 }
func (c opClient) IsScopeAllowed(s string) bool        { return c.AllowsScope(s) }

// IDTokenUserinfoClaimsAssertion puts the profile, email and groups
// claims in the ID token as well as at userinfo: apps such as Grafana read
// them from the ID token.
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c opClient) ApplicationType() op.ApplicationType {
	if c.Public {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c opClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethod(c.Client.AuthMethod) }

func (c opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c opClient) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, len(c.Client.GrantTypes))
	for i, g := range c.Client.GrantTypes {
		out[i] = oidc.GrantType(g)
	}
	return out
}

func (c opClient) RestrictAdditionalIdTokenScopes() func([]string) []string { //nolint:revive // the library's name
	return func(s []string) []string { return s }
}

func (c opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
