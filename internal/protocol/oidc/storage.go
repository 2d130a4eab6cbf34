package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Ticket kinds in store.Tickets.
const (
	// ticketCode is an authorization code, by its digest.
	ticketCode = "oidc.code"
)

// grantIDOf is the ID of the grant a code becomes: a replay of the code
// finds it (and revokes it) without a record of its own.
func grantIDOf(code string) string { return digest("grant", code)[:32] }

// codeData is what an authorization code stands for: the sign-in it
// answers and the grant it becomes when exchanged.
type codeData struct {
	ClientID    string    `json:"client"`
	RedirectURI string    `json:"redirect_uri"`
	Challenge   string    `json:"challenge,omitempty"`
	Nonce       string    `json:"nonce,omitempty"`
	Scopes      []string  `json:"scopes"`
	UserID      string    `json:"user"`
	Subject     string    `json:"sub"`
	SID         string    `json:"sid,omitempty"`
	AuthTime    time.Time `json:"auth_time"`
	AMR         []string  `json:"amr,omitempty"`
	ACR         string    `json:"acr"`
	Claims      Claims    `json:"claims"`
}

// grantData is a grant's state (store.Grant.Data): what its tokens say,
// and the digests of the current access and refresh token.
type grantData struct {
	Scopes   []string  `json:"scopes"`
	Subject  string    `json:"sub"`
	SID      string    `json:"sid,omitempty"`
	AuthTime time.Time `json:"auth_time"`
	AMR      []string  `json:"amr,omitempty"`
	ACR      string    `json:"acr"`
	Claims   Claims    `json:"claims"`
	// Access is the digest of the current access token's secret.
	Access        string    `json:"access,omitempty"`
	AccessExpires time.Time `json:"access_exp,omitzero"`
	// Refresh is the digest of the current refresh token's secret; a
	// refresh token of the grant that is not it was rotated away.
	Refresh        string    `json:"refresh,omitempty"`
	RefreshExpires time.Time `json:"refresh_exp,omitzero"`
	Rotations      int       `json:"rotations,omitempty"`
	// Revoked marks the stand-in of a replayed code that had become no
	// grant yet: it keeps a racing exchange of that code from issuing.
	Revoked bool `json:"revoked,omitempty"`
}

func decodeGrant(g store.Grant) (grantData, error) {
	var d grantData
	if err := json.Unmarshal(g.Data, &d); err != nil {
		return d, fmt.Errorf("oidc: grant %s: %w", g.ID, err)
	}
	return d, nil
}

// Accounts re-reads an account when a refresh token is used
// (directory.IDLookup).
type Accounts interface {
	LookupUserByID(ctx context.Context, id string) (*directory.User, error)
}

// storage is the library's Storage over Gatehouse's store, clients and
// keys. Methods of flows Gatehouse does not offer (the library's own
// authorize endpoint, client credentials, introspection, JWT profile
// grants) refuse.
type storage struct {
	clients  *Clients
	tickets  store.Tickets
	grants   store.Grants
	keys     *keys.Set
	accounts Accounts // nil: refresh tokens are not re-checked
	decide   func(policy.Input) policy.Decision
	// sessionLifetime keeps a grant at least as long as a session may
	// last, for back-channel logout.
	sessionLifetime time.Duration
	audit           *audit.Recorder
	log             *slog.Logger
	now             func() time.Time
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)

	errUnsupported        = errors.New("oidc: not supported by Gatehouse")
	errGrantTokenMismatch = errors.New("oidc: tokens went out for this code already")
)

// authRequest is an exchanged code's sign-in as the library sees it; it
// becomes the grant grantID.
type authRequest struct {
	d       codeData
	grantID string
}

var _ op.AuthRequest = (*authRequest)(nil)

func (a *authRequest) GetID() string                      { return a.grantID }
func (a *authRequest) GetACR() string                     { return a.d.ACR }
func (a *authRequest) GetAMR() []string                   { return a.d.AMR }
func (a *authRequest) GetAudience() []string              { return []string{a.d.ClientID} }
func (a *authRequest) GetAuthTime() time.Time             { return a.d.AuthTime }
func (a *authRequest) GetClientID() string                { return a.d.ClientID }
func (a *authRequest) GetNonce() string                   { return a.d.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.d.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseTypeCode }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseModeQuery }
func (a *authRequest) GetScopes() []string                { return a.d.Scopes }
func (a *authRequest) GetState() string                   { return "" }
func (a *authRequest) GetSubject() string                 { return a.d.Subject }
func (a *authRequest) Done() bool                         { return true }

func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.d.Challenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.d.Challenge, Method: oidc.CodeChallengeMethodS256}
}

// refreshRequest is a grant being refreshed: its token family's sign-in.
type refreshRequest struct {
	grant  store.Grant
	d      grantData
	token  string // the refresh token presented
	scopes []string
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string            { return r.d.AMR }
func (r *refreshRequest) GetAudience() []string       { return []string{r.grant.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.d.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.grant.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.d.Subject }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// AuthRequestByCode redeems a code, once. A code presented again revokes
// the grant it became, and every token of it.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	now := s.now()
	t, err := s.tickets.ConsumeTicket(ctx, ticketCode, digest("code", code), now)
	if errors.Is(err, store.ErrNotFound) {
		s.codeReplayed(ctx, code, now)
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	var d codeData
	if err := json.Unmarshal(t.Data, &d); err != nil {
		return nil, fmt.Errorf("oidc: code data: %w", err)
	}
	return &authRequest{d: d, grantID: grantIDOf(code)}, nil
}

// codeReplayed revokes the grant of a code that is not (or no longer)
// redeemable. When there is none, a revoked stand-in takes its ID for as
// long as a code lives: an exchange of the same code racing this one then
// issues nothing either.
func (s *storage) codeReplayed(ctx context.Context, code string, now time.Time) {
	id := grantIDOf(code)
	err := s.grants.CreateGrant(ctx, store.Grant{ID: id, Data: []byte(`{"revoked":true}`), CreatedAt: now, ExpiresAt: now.Add(2 * CodeLifetime)})
	if !errors.Is(err, store.ErrConflict) {
		return // none was issued: a wrong, expired or racing code
	}
	g, err := s.grants.GetGrant(ctx, id, now)
	if err != nil {
		return
	}
	if d, err := decodeGrant(g); err != nil || d.Revoked {
		return
	}
	if err := s.grants.DeleteGrant(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.ErrorContext(ctx, "oidc: revoking the tokens of a replayed code", "err", err)
		return
	}
	s.log.WarnContext(ctx, "oidc: an authorization code was used again; its tokens are revoked",
		"event", "code_replayed", "client_id", g.ClientID, "user", g.UserID)
	s.audit.Record(ctx, audit.Event{Type: audit.TokenIssued, UserID: g.UserID, App: s.appName(g.ClientID), Result: "code_replayed",
		Detail: map[string]string{"protocol": "oidc", "client_id": g.ClientID, "revoked": "grant"}})
}

// newGrant stores the grant an exchanged code becomes, with its first
// tokens in d. A grant of that ID exists already only when the code was
// replayed meanwhile: nothing is issued then.
func (s *storage) newGrant(ctx context.Context, ar *authRequest, d grantData, now, last time.Time) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	err = s.grants.CreateGrant(ctx, store.Grant{ID: ar.grantID, ClientID: ar.d.ClientID, UserID: ar.d.UserID, SessionID: ar.d.SID,
		Data: raw, CreatedAt: now, ExpiresAt: s.keepUntil(now, last)})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: the code was used again", errGrantTokenMismatch)
	}
	return err
}

// grantOf is the state of the grant an exchanged code becomes.
func grantOf(cd codeData) grantData {
	return grantData{Scopes: cd.Scopes, Subject: cd.Subject, SID: cd.SID, AuthTime: cd.AuthTime, AMR: cd.AMR, ACR: cd.ACR, Claims: cd.Claims}
}

func (s *storage) appName(clientID string) string {
	if c, ok := s.clients.ByID(clientID); ok {
		return c.Name
	}
	return ""
}

// Tokens: an access token's ID (inside the encrypted bearer token the
// library makes of it) and a refresh token are "grant id.secret"; the
// grant keeps the secret's digest.
func splitToken(tok string) (grantID, secret string, ok bool) {
	grantID, secret, ok = strings.Cut(tok, ".")
	return grantID, secret, ok && grantID != "" && len(grantID) <= 64 && len(secret) >= 32 && len(secret) <= 64
}

// CreateAccessToken issues the access token of a code exchanged without
// offline_access.
func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	ar, ok := req.(*authRequest)
	if !ok {
		return "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	c, ok := s.clients.ByID(ar.d.ClientID)
	if !ok {
		return "", time.Time{}, oidc.ErrInvalidClient()
	}
	now := s.now()
	access, accessSecret := newSecret(ar.grantID)
	exp := now.Add(c.TokenLifetime)
	d := grantOf(ar.d)
	d.Access, d.AccessExpires = digest("access", accessSecret), exp
	if err := s.newGrant(ctx, ar, d, now, exp); err != nil {
		return "", time.Time{}, grantError(err)
	}
	s.issued(ctx, c, ar.d.UserID, "authorization_code", false)
	return access, exp, nil
}

// newSecret is a new token of the grant and its secret part.
func newSecret(grantID string) (token, secret string) {
	secret = randomToken()
	return grantID + "." + secret, secret
}

func encodeGrant(g store.Grant, d grantData) (store.Grant, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return g, err
	}
	g.Data = data
	return g, nil
}

// keepUntil is how long a grant whose last token expires at last is
// kept: until then, and as long as the sign-in it came from may last, so
// that the client hears of its end (back-channel logout). The tokens'
// own expiries are checked apart from it.
func (s *storage) keepUntil(now, last time.Time) time.Time {
	if k := now.Add(s.sessionLifetime); k.After(last) {
		return k
	}
	return last
}

// grantError is a failed token issue as the library answers it: a grant
// that is gone or moved on is invalid_grant, anything else the server's.
func grantError(err error) error {
	var oe *oidc.Error
	switch {
	case errors.As(err, &oe):
		return err
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errGrantTokenMismatch), errors.Is(err, ErrTokenReused),
		errors.Is(err, ErrAccountRevoked), errors.Is(err, ErrInvalidToken):
		return oidc.ErrInvalidGrant().WithParent(err)
	}
	return oidc.ErrServerError().WithParent(err)
}

// CreateAccessAndRefreshTokens issues an access and a refresh token: for
// a code exchanged with offline_access (currentRefreshToken empty), or by
// rotating currentRefreshToken, which works once: a second use is reuse,
// and revokes the family.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	switch r := req.(type) {
	case *authRequest:
		return s.firstTokens(ctx, r)
	case *refreshRequest:
		return s.rotate(ctx, r, currentRefreshToken)
	}
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
}

// firstTokens are a code's access and refresh token, in its new grant.
func (s *storage) firstTokens(ctx context.Context, ar *authRequest) (string, string, time.Time, error) {
	c, ok := s.clients.ByID(ar.d.ClientID)
	if !ok {
		return "", "", time.Time{}, oidc.ErrInvalidClient()
	}
	now := s.now()
	access, accessSecret := newSecret(ar.grantID)
	refresh, refreshSecret := newSecret(ar.grantID)
	d := grantOf(ar.d)
	// A family lasts refresh_token_lifetime from the sign-in.
	d.RefreshExpires = d.AuthTime.Add(c.RefreshLifetime)
	if d.RefreshExpires.Before(now) {
		d.RefreshExpires = now.Add(c.RefreshLifetime)
	}
	exp := minTime(now.Add(c.TokenLifetime), d.RefreshExpires)
	d.Access, d.AccessExpires, d.Refresh = digest("access", accessSecret), exp, digest("refresh", refreshSecret)
	if err := s.newGrant(ctx, ar, d, now, d.RefreshExpires); err != nil {
		return "", "", time.Time{}, grantError(err)
	}
	s.issued(ctx, c, ar.d.UserID, "authorization_code", true)
	return access, refresh, exp, nil
}

// rotate replaces a grant's refresh token (and access token) with new
// ones, once: of concurrent rotations with the same token one wins, and
// the others are reuse.
func (s *storage) rotate(ctx context.Context, r *refreshRequest, current string) (string, string, time.Time, error) {
	g := r.grant
	c, ok := s.clients.ByID(g.ClientID)
	if !ok {
		return "", "", time.Time{}, oidc.ErrInvalidClient()
	}
	_, sec, ok := splitToken(current)
	if !ok {
		return "", "", time.Time{}, oidc.ErrInvalidGrant()
	}
	presented := digest("refresh", sec)
	now := s.now()
	access, accessSecret := newSecret(g.ID)
	refresh, refreshSecret := newSecret(g.ID)
	var exp time.Time
	_, err := s.grants.UpdateGrant(ctx, g.ID, func(g store.Grant) (store.Grant, error) {
		d, err := decodeGrant(g)
		if err != nil {
			return g, err
		}
		switch {
		case !sameDigest(d.Refresh, presented):
			return g, ErrTokenReused // another request rotated it first
		case !now.Before(d.RefreshExpires):
			return g, ErrInvalidToken
		}
		if len(r.scopes) > 0 {
			d.Scopes = r.scopes
		}
		d.Claims = r.d.Claims // as the directory said just now (recheck)
		exp = minTime(now.Add(c.TokenLifetime), d.RefreshExpires)
		d.Access, d.AccessExpires, d.Refresh = digest("access", accessSecret), exp, digest("refresh", refreshSecret)
		d.Rotations++
		g.ExpiresAt = s.keepUntil(now, d.RefreshExpires)
		return encodeGrant(g, d)
	})
	if errors.Is(err, ErrTokenReused) {
		s.revokeFamily(ctx, g.ID, g.ClientID, g.UserID)
	}
	if err != nil {
		return "", "", time.Time{}, grantError(err)
	}
	s.issued(ctx, c, g.UserID, "refresh_token", true)
	return access, refresh, exp, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// revokeFamily deletes a grant whose rotated refresh token came back: an
// attacker or the client holds a stolen copy, and which is not knowable.
func (s *storage) revokeFamily(ctx context.Context, grantID, clientID, userID string) {
	if err := s.grants.DeleteGrant(ctx, grantID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.ErrorContext(ctx, "oidc: revoking a refresh-token family", "err", err)
	}
	s.log.WarnContext(ctx, "oidc: a rotated refresh token was used again; its family is revoked",
		"event", "refresh_token_reused", "client_id", clientID, "user", userID)
	s.audit.Record(ctx, audit.Event{Type: audit.TokenIssued, UserID: userID, App: s.appName(clientID), Result: "refresh_token_reused",
		Detail: map[string]string{"protocol": "oidc", "client_id": clientID, "revoked": "grant"}})
}

func (s *storage) issued(ctx context.Context, c *Client, userID, grant string, refresh bool) {
	s.audit.Record(ctx, audit.Event{Type: audit.TokenIssued, UserID: userID, App: c.Name, Result: "ok",
		Detail: map[string]string{"protocol": "oidc", "client_id": c.ID, "grant_type": grant, "refresh_token": fmt.Sprint(refresh)}})
}

// TokenRequestByRefreshToken finds a refresh token's grant. A token of a
// live grant that is not its current one was rotated away: reuse, which
// revokes the family. The account is asked again: one the directory no
// longer backs, or the policy no longer lets use the app, ends the family.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	now := s.now()
	grantID, secret, ok := splitToken(token)
	if !ok {
		return nil, ErrInvalidToken
	}
	g, err := s.grants.GetGrant(ctx, grantID, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	d, err := decodeGrant(g)
	if err != nil {
		return nil, err
	}
	if d.Refresh == "" {
		return nil, ErrInvalidToken
	}
	if !sameDigest(d.Refresh, digest("refresh", secret)) {
		s.revokeFamily(ctx, g.ID, g.ClientID, g.UserID)
		return nil, ErrTokenReused
	}
	if !now.Before(d.RefreshExpires) {
		return nil, ErrInvalidToken
	}
	if err := s.recheck(ctx, &g, &d); err != nil {
		return nil, err
	}
	return &refreshRequest{grant: g, d: d, token: token, scopes: d.Scopes}, nil
}

// recheck asks the directory and the policy about a grant's account
// before its refresh token is used; a directory it cannot ask lets the
// refresh go on with the claims it has (as a session does).
func (s *storage) recheck(ctx context.Context, g *store.Grant, d *grantData) error {
	if s.accounts == nil {
		return nil
	}
	u, err := s.accounts.LookupUserByID(ctx, g.UserID)
	switch {
	case errors.Is(err, directory.ErrUserNotFound):
		return s.endGrant(ctx, g, "account_deleted")
	case err != nil:
		s.log.WarnContext(ctx, "oidc: cannot re-check the account of a refresh token; going on", "user", g.UserID, "err", err)
		return nil
	}
	now := s.now()
	st := u.State
	switch {
	case st.Disabled:
		return s.endGrant(ctx, g, "account_disabled")
	case !st.AccountExpires.IsZero() && !now.Before(st.AccountExpires):
		return s.endGrant(ctx, g, "account_expired")
	case st.Locked && (st.LockedUntil.IsZero() || now.Before(st.LockedUntil)):
		return fmt.Errorf("%w: the account is locked", ErrInvalidToken)
	}
	if s.decide != nil {
		c, _ := s.clients.ByID(g.ClientID)
		if c != nil {
			dec := s.decide(policy.Input{App: c.Name, User: u, Proof: policy.Proof{PasswordAt: d.AuthTime, Since: d.AuthTime}})
			if dec.Denied {
				return s.endGrant(ctx, g, dec.Reason)
			}
		}
	}
	d.Claims = ClaimsOf(u)
	return nil
}

// endGrant revokes a grant its account no longer backs.
func (s *storage) endGrant(ctx context.Context, g *store.Grant, reason string) error {
	if err := s.grants.DeleteGrant(ctx, g.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.ErrorContext(ctx, "oidc: revoking a grant", "err", err)
	}
	s.audit.Record(ctx, audit.Event{Type: audit.TokenIssued, UserID: g.UserID, App: s.appName(g.ClientID), Result: reason,
		Detail: map[string]string{"protocol": "oidc", "client_id": g.ClientID, "revoked": "grant"}})
	return fmt.Errorf("%w: %s", ErrAccountRevoked, reason)
}

// GetRefreshTokenInfo names a refresh token's grant for revocation.
func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	grantID, secret, ok := splitToken(token)
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	g, err := s.grants.GetGrant(ctx, grantID, s.now())
	if err != nil {
		return "", "", op.ErrInvalidRefreshToken
	}
	d, err := decodeGrant(g)
	if err != nil || g.ClientID != clientID || !sameDigest(d.Refresh, digest("refresh", secret)) {
		return "", "", op.ErrInvalidRefreshToken
	}
	return g.UserID, token, nil
}

// RevokeToken revokes the grant of a refresh token or access token ID:
// every token of the family goes (RFC 7009 §2.1 allows it, and a client
// revoking one of them is done with the sign-in). A token that is not the
// client's, or not known, is answered as revoked (RFC 7009 §2.2).
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _, clientID string) *oidc.Error {
	grantID, secret, ok := splitToken(tokenOrID)
	if !ok {
		return nil
	}
	now := s.now()
	g, err := s.grants.GetGrant(ctx, grantID, now)
	if err != nil {
		return nil
	}
	d, err := decodeGrant(g)
	if err != nil || g.ClientID != clientID {
		return nil
	}
	if !sameDigest(d.Refresh, digest("refresh", secret)) && !sameDigest(d.Access, digest("access", secret)) {
		return nil
	}
	if err := s.grants.DeleteGrant(ctx, g.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return oidc.ErrServerError().WithParent(err)
	}
	s.audit.Record(ctx, audit.Event{Type: audit.TokenIssued, UserID: g.UserID, App: s.appName(clientID), Result: "revoked",
		Detail: map[string]string{"protocol": "oidc", "client_id": clientID, "revoked": "grant"}})
	return nil
}

// accessGrant returns the live grant whose current access token has the
// ID tokenID, and its state.
func (s *storage) accessGrant(ctx context.Context, tokenID string) (store.Grant, grantData, error) {
	now := s.now()
	grantID, secret, ok := splitToken(tokenID)
	if !ok {
		return store.Grant{}, grantData{}, ErrInvalidToken
	}
	g, err := s.grants.GetGrant(ctx, grantID, now)
	if errors.Is(err, store.ErrNotFound) {
		return g, grantData{}, ErrInvalidToken
	}
	if err != nil {
		return g, grantData{}, err
	}
	d, err := decodeGrant(g)
	if err != nil {
		return g, d, err
	}
	if !sameDigest(d.Access, digest("access", secret)) || !now.Before(d.AccessExpires) {
		return g, d, ErrInvalidToken
	}
	return g, d, nil
}

// SigningKey is the current key: RS256 only.
func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{s.keys.Current}, nil
}

// SignatureAlgorithms is RS256, the one Gatehouse signs with.
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet is the published keys (current and next), for the library's
// verifiers of Gatehouse's own tokens.
func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	var out []op.Key
	for _, kp := range s.keys.Published() {
		out = append(out, publicKey{kp})
	}
	return out, nil
}

type signingKey struct{ kp *keys.KeyPair }

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.kp.Key }
func (k signingKey) ID() string                                  { return k.kp.ID }

type publicKey struct{ kp *keys.KeyPair }

func (k publicKey) ID() string                         { return k.kp.ID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.kp.Key.PublicKey }

// GetClientByClientID is the configured client.
func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c, ok := s.clients.ByID(id)
	if !ok {
		return nil, ErrUnknownClient
	}
	return opClient{c}, nil
}

// AuthorizeClientIDSecret checks a client secret in constant time.
func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.clients.ByID(id)
	if !ok || !c.CheckSecret(secret) {
		return errors.New("oidc: wrong client credentials")
	}
	return nil
}

// GetKeyByIDAndClientID is a private_key_jwt client's public key.
func (s *storage) GetKeyByIDAndClientID(_ context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	c, ok := s.clients.ByID(clientID)
	if !ok || c.AuthMethod != "private_key_jwt" {
		return nil, ErrUnknownClient
	}
	return c.key(keyID)
}

// SetUserinfoFromScopes sets only sub: the claims come from the request
// (SetUserinfoFromRequest), which knows the user.
func (s *storage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, subject, _ string, _ []string) error {
	info.Subject = subject
	return nil
}

// SetUserinfoFromRequest sets the ID token's claims for the sign-in the
// request carries: the scopes' claims, sid, and (refreshed ID tokens,
// which the library gives no acr) acr.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	switch r := req.(type) {
	case *authRequest:
		r.d.Claims.fill(info, r.d.Subject, scopes)
		if r.d.SID != "" {
			info.AppendClaims("sid", r.d.SID)
		}
	case *refreshRequest:
		r.d.Claims.fill(info, r.d.Subject, scopes)
		if r.d.SID != "" {
			info.AppendClaims("sid", r.d.SID)
		}
		info.AppendClaims("acr", r.d.ACR)
	}
	return nil
}

// SetUserinfoFromToken answers userinfo for an access token ID.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	_, d, err := s.accessGrant(ctx, tokenID)
	if err != nil {
		return err
	}
	if d.Subject != subject {
		return ErrInvalidToken
	}
	d.Claims.fill(info, d.Subject, d.Scopes)
	return nil
}

// Health: the store's health is /readyz's.
func (s *storage) Health(context.Context) error { return nil }

// Unused parts of the library's Storage: Gatehouse serves its own
// authorize endpoint and offers no other grants.

func (s *storage) CreateAuthRequest(context.Context, *oidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, errUnsupported
}

func (s *storage) AuthRequestByID(context.Context, string) (op.AuthRequest, error) {
	return nil, errUnsupported
}

func (s *storage) SaveAuthCode(context.Context, string, string) error { return errUnsupported }

// DeleteAuthRequest: the code was used up when it was redeemed.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// TerminateSession: RP-initiated logout is Gatehouse's own (/oauth2/logout).
func (s *storage) TerminateSession(context.Context, string, string) error { return errUnsupported }

func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errUnsupported
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errUnsupported
}

// issueCode stores a new authorization code for d and returns it.
func (s *storage) issueCode(ctx context.Context, d codeData) (string, error) {
	code := randomToken()
	raw, err := json.Marshal(d)
	if err != nil {
		return "", err
	}
	now := s.now()
	err = s.tickets.CreateTicket(ctx, store.Ticket{Kind: ticketCode, ID: digest("code", code), UserID: d.UserID, Data: raw,
		CreatedAt: now, ExpiresAt: now.Add(CodeLifetime)})
	return code, err
}
