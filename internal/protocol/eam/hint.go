package eam

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// App is one entra-eam app: an Entra tenant that uses Gatehouse as its
// external authentication method.
type App struct {
	// Name is the app's configured name, for the policy and the audit.
	Name string
	// ClientID is the client id Entra sends; the answer's aud.
	ClientID string
	// TenantID is the tenant's id; the hint's tid.
	TenantID string
	// Audience is the hint's aud: the application id of the app
	// registration Entra issues it for.
	Audience string
	// Issuer is the hint's iss: the tenant's v2.0 issuer.
	Issuer string
	// RedirectURI is where the answer goes, matched exactly.
	RedirectURI string
	// Keys are the tenant's Entra signing keys.
	Keys *EntraKeys
}

// Hint is what a verified id_token_hint says.
type Hint struct {
	// Subject is Entra's pairwise sub, which the answer repeats.
	Subject string
	// ObjectID and TenantID name the Entra user for good (oid, tid).
	ObjectID, TenantID string
	// PreferredUsername is the user's sign-in name (the UPN), which finds
	// the AD user.
	PreferredUsername string
	IssuedAt          time.Time
}

// Limits on a hint.
const (
	// MaxHintAge is how old a hint may be. Entra issues it, already
	// expired on purpose, as it sends the browser here: its expiry is
	// ignored, its age bounded instead.
	MaxHintAge = 10 * time.Minute
	// hintSkew is how far in the future a hint's iat may be (clocks).
	hintSkew = 5 * time.Minute
)

// hintClaims are the claims of Entra's hint that Gatehouse reads.
type hintClaims struct {
	jwt.Claims
	TID               string `json:"tid"`
	OID               string `json:"oid"`
	PreferredUsername string `json:"preferred_username"`
}

// VerifyHint checks that raw was signed RS256 by one of the tenant's Entra
// keys (looked up by its kid, never chosen by the token), that it was
// issued by the tenant's v2.0 issuer for the app (aud) and the tenant
// (tid), that it is not older than MaxHintAge at now, and that it names a
// user. Its exp is ignored: Entra sends it expired.
func VerifyHint(ctx context.Context, raw string, app *App, now time.Time) (*Hint, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, fmt.Errorf("%w: not an RS256 JWS: %w", ErrHint, err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return nil, fmt.Errorf("%w: no kid", ErrHint)
	}
	key, err := app.Keys.Key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return nil, err
	}
	var c hintClaims
	if err := tok.Claims(key, &c); err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrHint, err)
	}
	switch {
	case c.Issuer != app.Issuer:
		return nil, fmt.Errorf("%w: issuer %q, want %q", ErrHint, c.Issuer, app.Issuer)
	case len(c.Audience) != 1 || c.Audience[0] != app.Audience:
		return nil, fmt.Errorf("%w: audience %q, want %q", ErrHint, []string(c.Audience), app.Audience)
	case c.TID != app.TenantID:
		return nil, fmt.Errorf("%w: tenant %q, want %q", ErrHint, c.TID, app.TenantID)
	case c.IssuedAt == nil:
		return nil, fmt.Errorf("%w: no iat", ErrHint)
	case c.Subject == "" || c.OID == "" || c.PreferredUsername == "":
		return nil, fmt.Errorf("%w: sub, oid or preferred_username missing", ErrHint)
	}
	iat := c.IssuedAt.Time()
	if now.Sub(iat) > MaxHintAge || iat.Sub(now) > hintSkew {
		return nil, fmt.Errorf("%w: issued at %s, now %s", ErrHintTooOld, iat.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if c.NotBefore != nil && c.NotBefore.Time().Sub(now) > hintSkew {
		return nil, fmt.Errorf("%w: not valid before %s", ErrHint, c.NotBefore.Time().UTC().Format(time.RFC3339))
	}
	return &Hint{Subject: c.Subject, ObjectID: c.OID, TenantID: c.TID, PreferredUsername: c.PreferredUsername, IssuedAt: iat}, nil
}

// ErrHintTooOld is a hint issued more than MaxHintAge ago (or, by a clock
// off by more than a few minutes, in the future).
var ErrHintTooOld = fmt.Errorf("%w: too old", ErrHint)

// ErrUnknownKey is a hint signed with a kid the tenant does not publish.
var ErrUnknownKey = fmt.Errorf("%w: signed with a key Entra does not publish", ErrHint)

// EntraKeys are a tenant's Entra signing keys, read from its OpenID
// metadata's jwks_uri and cached: read again after RefreshEvery, and when
// a hint names a kid the cache lacks — at most once per MinRefresh, so a
// stream of made-up kids cannot make Gatehouse hammer Entra.
type EntraKeys struct {
	// MetadataURL is the tenant's OpenID metadata document.
	MetadataURL string
	// Issuer is the issuer the metadata must state.
	Issuer string
	// Client fetches the documents (its TLS roots verify Entra).
	Client *http.Client
	Now    func() time.Time
	Log    *slog.Logger
	// RefreshEvery is how long a read set is used; zero: 24 hours.
	RefreshEvery time.Duration
	// MinRefresh is the least time between two reads; zero: 5 minutes.
	MinRefresh time.Duration

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time // when keys was read
	tried   time.Time // the last read, successful or not
}

// Key returns the tenant's RSA signing key of kid.
func (k *EntraKeys) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.Now()
	every, least := k.RefreshEvery, k.MinRefresh
	if every <= 0 {
		every = 24 * time.Hour
	}
	if least <= 0 {
		least = 5 * time.Minute
	}
	_, known := k.keys[kid]
	stale := k.keys == nil || now.Sub(k.fetched) >= every
	if (stale || !known) && (k.tried.IsZero() || now.Sub(k.tried) >= least) {
		k.tried = now
		keys, err := k.fetch(ctx)
		if err != nil {
			if k.keys == nil {
				return nil, fmt.Errorf("eam: Entra's keys: %w", err)
			}
			// The last keys stay in use while Entra cannot be read.
			k.Log.WarnContext(ctx, "eam: reading Entra's keys failed; the last ones stay in use", "url", k.MetadataURL, "err", err)
		} else {
			k.keys, k.fetched = keys, now
		}
	}
	if key, ok := k.keys[kid]; ok {
		return key, nil
	}
	return nil, fmt.Errorf("%w (kid %q)", ErrUnknownKey, kid)
}

// Size caps on what Entra's servers send.
const (
	maxMetadata = 64 << 10
	maxJWKS     = 256 << 10
)

// fetch reads the metadata and its jwks_uri: the RSA signing keys.
func (k *EntraKeys) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	var md struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := k.getJSON(ctx, k.MetadataURL, maxMetadata, &md); err != nil {
		return nil, err
	}
	if md.Issuer != k.Issuer {
		return nil, fmt.Errorf("the metadata at %s names issuer %q, want %q", k.MetadataURL, md.Issuer, k.Issuer)
	}
	u, err := url.Parse(md.JWKSURI)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("the metadata's jwks_uri %q is not an https URL", md.JWKSURI)
	}
	var set jose.JSONWebKeySet
	if err := k.getJSON(ctx, md.JWKSURI, maxJWKS, &set); err != nil {
		return nil, err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, jwk := range set.Keys {
		pub, ok := jwk.Key.(*rsa.PublicKey)
		if !ok || jwk.KeyID == "" || (jwk.Use != "" && jwk.Use != "sig") || pub.N.BitLen() < 2048 {
			continue // not a key a hint may be signed with
		}
		keys[jwk.KeyID] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWKS holds no RSA signing key")
	}
	return keys, nil
}

func (k *EntraKeys) getJSON(ctx context.Context, u string, limit int64, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.Client.Do(req) // #nosec G704 -- the configured metadata URL, or the jwks_uri it names (https only).
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("GET %s: larger than %d bytes", u, limit)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}
