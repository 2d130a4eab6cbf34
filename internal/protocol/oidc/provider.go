package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-sso/gatehouse/internal/abuse"
	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Limits bound wrong client credentials at the token and revocation
// endpoints, from the abuse settings (abuse.passwords.per_address and
// window, abuse.ipv6_prefix): a client address that sends too many is
// answered 429 with Retry-After until the window ends.
type Limits struct {
	PerAddress int
	Window     time.Duration
	IPv6Prefix int
}

// Options are the provider's collaborators.
type Options struct {
	// Issuer is the public base URL, the iss of every token.
	Issuer  string
	Clients *Clients
	// Keys sign (Current) and are published (Current and Next).
	Keys *keys.Set
	// TokenKey encrypts the access tokens' IDs (derived from the
	// encryption key).
	TokenKey [32]byte
	Subjects Subjects
	Engine   *signin.Engine
	Sessions *signin.Sessions
	// Renderer and CSRF are for the logout confirmation page.
	Renderer *web.Renderer
	CSRF     *web.CSRF
	// SessionLifetime is sessions.absolute_timeout: a grant is kept at
	// least that long, so back-channel logout reaches a client whose
	// tokens have expired but whose own session may not have.
	SessionLifetime time.Duration
	// Flows keeps authorization requests that arrived by POST for their
	// GET: bounded like sign-in flows.
	Flows    store.Flows
	Tickets  store.Tickets
	Grants   store.Grants
	Throttle store.Throttle
	// Accounts re-reads an account when its refresh token is used; nil
	// skips that.
	Accounts Accounts
	// Decide is the policy, asked again at each refresh.
	Decide func(policy.Input) policy.Decision
	Limits Limits
	// IDTokenFormPost: the authorization endpoint also answers
	// response_type=id_token with response_mode=form_post (an external
	// authentication method for Microsoft Entra, internal/protocol/eam),
	// which discovery then lists.
	IDTokenFormPost bool
	// HTTPClient sends back-channel logout tokens; nil: one with a
	// 10-second timeout.
	HTTPClient *http.Client
	Audit      *audit.Recorder
	Log        *slog.Logger
	Now        func() time.Time
}

// Provider serves the OpenID Connect endpoints.
type Provider struct {
	o       Options
	issuer  string
	st      *storage
	op      *op.Provider
	crypto  op.Crypto
	logouts *logoutSender
}

// New builds the provider.
func New(o Options) (*Provider, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	st := &storage{clients: o.Clients, tickets: o.Tickets, grants: o.Grants, keys: o.Keys, accounts: o.Accounts,
		decide: o.Decide, sessionLifetime: o.SessionLifetime, audit: o.Audit, log: o.Log, now: o.Now}
	crypto := op.NewAES256GCMCrypto(o.TokenKey, "1")
	cfg := &op.Config{CryptoKey: o.TokenKey, AuthMethodPost: true, AuthMethodPrivateKeyJWT: true, GrantTypeRefreshToken: true,
		CodeMethodS256: true, BackChannelLogoutSupported: true, BackChannelLogoutSessionSupported: true}
	opts := []op.Option{op.WithCrypto(crypto)}
	if strings.HasPrefix(o.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure()) // config allows it for localhost only
	}
	lib, err := op.NewProvider(cfg, st, op.StaticIssuer(strings.TrimRight(o.Issuer, "/")), opts...)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	p := &Provider{o: o, issuer: strings.TrimRight(o.Issuer, "/"), st: st, op: lib, crypto: crypto}
	p.logouts = newLogoutSender(p)
	return p, nil
}

// Mount registers the endpoints but /oauth2/authorize, which Authorize
// serves: the external authentication method (internal/protocol/eam)
// answers its own requests there and hands the rest to it.
func (p *Provider) Mount(mux *http.ServeMux) {
	mux.Handle("GET "+PathDiscovery, http.HandlerFunc(p.discovery))
	mux.Handle("GET "+PathKeys, http.HandlerFunc(p.jwks))
	mux.Handle("POST "+PathToken, web.NoStore(http.HandlerFunc(p.token)))
	mux.Handle("GET "+PathUserinfo, web.NoStore(http.HandlerFunc(p.userinfo)))
	mux.Handle("POST "+PathUserinfo, web.NoStore(http.HandlerFunc(p.userinfo)))
	mux.Handle("POST "+PathRevoke, web.NoStore(http.HandlerFunc(p.revoke)))
	l := &logout{p: p}
	mux.Handle("GET "+PathLogout, web.NoStore(p.o.CSRF.Protect(web.Handle(p.o.Log, l.get))))
	mux.Handle("POST "+PathLogout, web.NoStore(p.o.CSRF.Protect(web.Handle(p.o.Log, l.post))))
}

// Authorize is the authorization endpoint's handler (GET and POST), nil
// when there is no client to serve.
func (p *Provider) Authorize() http.Handler {
	if len(p.o.Clients.All()) == 0 {
		return nil
	}
	a := &authorize{p: p}
	get, post := web.NoStore(web.Handle(p.o.Log, a.get)), web.NoStore(web.Handle(p.o.Log, a.post))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			get.ServeHTTP(w, r)
		case http.MethodPost:
			post.ServeHTTP(w, r)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

// withIssuer gives the library the issuer in the request's context.
func (p *Provider) withIssuer(r *http.Request) *http.Request {
	return r.WithContext(op.ContextWithIssuer(r.Context(), p.issuer))
}

// Discovery is the provider's metadata (OpenID Connect Discovery 1.0 §3).
type Discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethods     []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	ACRValuesSupported                []string `json:"acr_values_supported"`
	PromptValuesSupported             []string `json:"prompt_values_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	AuthorizationResponseISSSupported bool     `json:"authorization_response_iss_parameter_supported"`
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool     `json:"backchannel_logout_session_supported"`
	FrontchannelLogoutSupported       bool     `json:"frontchannel_logout_supported"`
}

// Metadata is the discovery document.
func (p *Provider) Metadata() Discovery {
	b := p.issuer
	auth := []string{config.OIDCAuthBasic, config.OIDCAuthPost, config.OIDCAuthPrivateJWT, config.OIDCAuthNone}
	d := Discovery{
		Issuer: b, AuthorizationEndpoint: b + PathAuthorize, TokenEndpoint: b + PathToken, UserinfoEndpoint: b + PathUserinfo,
		JWKSURI: b + PathKeys, RevocationEndpoint: b + PathRevoke, EndSessionEndpoint: b + PathLogout,
		ScopesSupported:                   config.ServedOIDCScopes(),
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               []string{config.OIDCGrantCode, config.OIDCGrantRefresh},
		SubjectTypesSupported:             []string{config.OIDCSubjectPairwise, config.OIDCSubjectPublic},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		TokenEndpointAuthMethodsSupported: auth,
		TokenEndpointAuthSigningAlgs:      []string{"RS256"},
		RevocationEndpointAuthMethods:     auth,
		CodeChallengeMethodsSupported:     []string{"S256"},
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash", "c_hash",
			"name", "given_name", "family_name", "preferred_username", "email", "email_verified", "groups"},
		ACRValuesSupported:                ACRValues(),
		PromptValuesSupported:             []string{"none", "login"},
		AuthorizationResponseISSSupported: true,
		BackchannelLogoutSupported:        true,
		BackchannelLogoutSessionSupported: true,
	}
	if p.o.IDTokenFormPost {
		d.ResponseTypesSupported = append(d.ResponseTypesSupported, "id_token")
		d.ResponseModesSupported = append(d.ResponseModesSupported, "form_post")
	}
	return d
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, p.Metadata())
}

// JWKS is the published keys (keys.JWKS): the current and the next one,
// RS256, each with its certificate (x5c) and thumbprints; kid is the one
// in the tokens' headers.
func (p *Provider) JWKS() jose.JSONWebKeySet { return keys.JWKS(p.o.Keys) }

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	// Relying parties cache it; a new next key shows within the hour.
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, p.JWKS())
}

// maxTokenRequest caps a token or revocation request's body.
const maxTokenRequest = 64 << 10

// token serves the token endpoint through the library, after Gatehouse's
// own checks: the grant is one Gatehouse offers, the client
// authenticates the way it is configured to, and the client's address
// has not sent too many wrong credentials.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.guarded(w, r, grantOffered, func(w http.ResponseWriter, r *http.Request) { op.Exchange(w, r, p.op) })
}

// grantOffered refuses a grant type Gatehouse does not offer.
func grantOffered(w http.ResponseWriter, r *http.Request) bool {
	switch r.PostForm.Get("grant_type") {
	case config.OIDCGrantCode, config.OIDCGrantRefresh:
		return true
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is missing")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
	}
	return false
}

// revoke serves token revocation (RFC 7009) through the library.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	p.guarded(w, r, nil, func(w http.ResponseWriter, r *http.Request) { op.Revoke(w, r, p.op) })
}

// guarded runs next for a client request at the token or revocation
// endpoint: size-capped, for what the endpoint offers (offered, when not
// nil, answers otherwise), from an address not over its limit of wrong
// client credentials, with the client authenticating only as configured.
// A refusal of the credentials (401) counts against the address.
func (p *Provider) guarded(w http.ResponseWriter, r *http.Request, offered func(http.ResponseWriter, *http.Request) bool, next http.HandlerFunc) {
	r = p.withIssuer(r)
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the request body is not a form or too large")
		return
	}
	if offered != nil && !offered(w, r) {
		return
	}
	key, now := "oidc.client:"+abuse.ClientKey(observe.ClientIP(ctx), p.o.Limits.IPv6Prefix), p.o.Now()
	if lim := p.o.Limits.PerAddress; lim > 0 {
		c, err := p.o.Throttle.GetCounter(ctx, key, now)
		if err != nil {
			p.o.Log.ErrorContext(ctx, "oidc: reading the client-credentials counter", "err", err)
			oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again later")
			return
		}
		if c.Count >= lim {
			wait := max(1, int(c.ExpiresAt.Sub(now).Seconds()+0.999))
			// The event was written when the limit was reached (failed):
			// once per address while it lasts, not per refused attempt.
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			oauthError(w, http.StatusTooManyRequests, "temporarily_unavailable", "too many wrong client credentials from this address; retry later")
			return
		}
	}
	failed := func() {
		if p.o.Limits.PerAddress <= 0 {
			return
		}
		c, err := p.o.Throttle.IncrementCounter(context.WithoutCancel(ctx), key, now, p.o.Limits.Window)
		if err != nil {
			p.o.Log.ErrorContext(ctx, "oidc: counting wrong client credentials", "err", err)
			return
		}
		if c.Count == p.o.Limits.PerAddress {
			p.o.Audit.Record(ctx, audit.Event{Type: audit.AbuseThrottled, Result: "refused", Reason: "oidc_client_credentials",
				Detail: map[string]string{"retry_after": strconv.Itoa(max(1, int(c.ExpiresAt.Sub(now).Seconds()+0.999)))}})
		}
	}
	if err := p.authenticateClient(r); err != nil {
		p.o.Log.InfoContext(ctx, "oidc: client authentication refused", "path", r.URL.Path, "reason", err.Error())
		failed()
		w.Header().Set("WWW-Authenticate", `Basic realm="`+p.issuer+`"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	rec := &statusWriter{ResponseWriter: w, onStatus: func(code int) {
		if code == http.StatusUnauthorized {
			failed()
			w.Header().Set("WWW-Authenticate", `Basic realm="`+p.issuer+`"`)
		}
	}}
	next(rec, r)
}

// authenticateClient authenticates the client before the library sees
// the request (which redeems a code before it checks the client): only
// the way the client is configured to (a client_secret_basic client's
// secret in the form, a private_key_jwt client with a secret, a public
// client with anything are refused), secrets compared in constant time,
// a client assertion verified and its jti used up.
func (p *Provider) authenticateClient(r *http.Request) error {
	id, secret, basic := r.BasicAuth()
	form := r.PostForm
	method := config.OIDCAuthNone
	switch {
	case basic:
		method = config.OIDCAuthBasic
		var err1, err2 error
		if id, err1 = url.QueryUnescape(id); err1 == nil {
			secret, err2 = url.QueryUnescape(secret)
		}
		if err1 != nil || err2 != nil || form.Get("client_secret") != "" || form.Has("client_assertion") {
			return errors.New("malformed or doubled client authentication")
		}
	case form.Has("client_assertion") || form.Has("client_assertion_type"):
		if form.Get("client_assertion_type") != oidc.ClientAssertionTypeJWTAssertion || form.Has("client_secret") {
			return errors.New("unsupported client_assertion_type")
		}
		return p.authenticateAssertion(r)
	case form.Has("client_secret"):
		method, id, secret = config.OIDCAuthPost, form.Get("client_id"), form.Get("client_secret")
	default:
		id = form.Get("client_id")
	}
	c, ok := p.o.Clients.ByID(id)
	switch {
	case !ok:
		return errors.New("unknown client")
	case c.AuthMethod != method:
		return fmt.Errorf("the client must authenticate with %s", c.AuthMethod)
	case method != config.OIDCAuthNone && !c.CheckSecret(secret):
		return errors.New("wrong client secret")
	}
	return nil
}

// authenticateAssertion verifies a private_key_jwt client assertion (RS256,
// aud the issuer, iss and sub the client, not expired, issued within the
// hour) and uses its jti up: an assertion works once.
func (p *Provider) authenticateAssertion(r *http.Request) error {
	ctx := r.Context()
	req, err := op.VerifyJWTAssertion(ctx, r.PostForm.Get("client_assertion"), p.op.JWTProfileVerifier(ctx))
	if err != nil {
		return fmt.Errorf("the client assertion does not verify: %w", err)
	}
	if id := r.PostForm.Get("client_id"); id != "" && id != req.Issuer {
		return errors.New("client_id is not the assertion's issuer")
	}
	if req.JWTID == "" || len(req.JWTID) > 256 {
		return errors.New("the client assertion has no jti")
	}
	now := p.o.Now()
	exp := req.ExpiresAt.AsTime()
	if exp.After(now.Add(time.Hour)) {
		exp = now.Add(time.Hour) // the verifier refuses older assertions anyway
	}
	err = p.o.Tickets.CreateTicket(ctx, store.Ticket{Kind: ticketAssertion, ID: digest("jti", req.Issuer+"\x00"+req.JWTID),
		CreatedAt: now, ExpiresAt: exp.Add(time.Minute)})
	if errors.Is(err, store.ErrConflict) {
		return errors.New("the client assertion was used before")
	}
	return err
}

// ticketAssertion remembers a used client assertion's jti.
const ticketAssertion = "oidc.assertion"

// statusWriter calls onStatus with the status before it is written.
type statusWriter struct {
	http.ResponseWriter
	onStatus func(int)
	wrote    bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.wrote = true
		s.onStatus(code)
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.wrote {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

// maxBearer caps an access token presented at userinfo.
const maxBearer = 4 << 10

// userinfo answers the claims of an access token's grant, by its scopes
// (OIDC Core §5.3). The token comes in the Authorization header or, on a
// POST, the form (RFC 6750 §2.1–2.2), never the query.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tok, ok := bearer(r)
	if !ok && r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxBearer+1024)
		if err := r.ParseForm(); err == nil {
			tok = r.PostForm.Get("access_token")
		}
	}
	if tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+p.issuer+`"`)
		oauthError(w, http.StatusUnauthorized, "invalid_request", "no access token")
		return
	}
	invalid := func() {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+p.issuer+`", error="invalid_token"`)
		oauthError(w, http.StatusUnauthorized, "invalid_token", "the access token is not valid")
	}
	if len(tok) > maxBearer {
		invalid()
		return
	}
	plain, err := p.crypto.Decrypt(tok)
	if err != nil {
		invalid()
		return
	}
	tokenID, subject, ok := strings.Cut(plain, ":")
	if !ok {
		invalid()
		return
	}
	info := new(oidc.UserInfo)
	if err := p.st.SetUserinfoFromToken(ctx, info, tokenID, subject, ""); err != nil {
		if !errors.Is(err, ErrInvalidToken) {
			p.o.Log.ErrorContext(ctx, "oidc: userinfo", "err", err)
			oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again later")
			return
		}
		invalid()
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// bearer is the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// oauthError writes an OAuth error as JSON (RFC 6749 §5.2).
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}
