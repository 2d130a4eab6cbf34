package oidc

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// AuthorizeRequest is a checked authorization request.
type AuthorizeRequest struct {
	Client      *Client
	RedirectURI string
	State       string
	Nonce       string
	// Scopes are those asked for that the client may have (openid among
	// them); others are left out, as RFC 6749 §3.3 allows.
	Scopes []string
	// Challenge is the PKCE S256 code challenge; "" for none.
	Challenge string
	// Passive: prompt=none. ForceAuthn: prompt=login or max_age=0.
	Passive, ForceAuthn bool
	// MaxAge is max_age when above zero (0: none).
	MaxAge time.Duration
	// ACRValues are the requested acr_values; MFA is set when one of them
	// asks for a second factor.
	ACRValues []string
	MFA       bool
	LoginHint string
}

// AuthError is a refusal the client is told of at its redirect URI
// (RFC 6749 §4.1.2.1); it is only returned once the client and the
// redirect URI are known to be good.
type AuthError struct {
	Code        string // e.g. invalid_request, unsupported_response_type
	Description string
	// Request carries the redirect URI and state to answer with.
	Request *AuthorizeRequest
}

func (e *AuthError) Error() string { return "oidc: " + e.Code + ": " + e.Description }

// Size limits of authorization request parameters: what a real client
// sends is far below them.
const (
	maxClientID    = 256
	maxRedirectURI = 2048
	maxState       = 2048
	maxNonce       = 512
	maxScope       = 1024
	maxLoginHint   = 256
	maxACRValues   = 1024
	maxParams      = 64
	// MaxAuthorizeQuery caps the whole request (query or form).
	MaxAuthorizeQuery = 16 << 10
)

// singles are the parameters that must not repeat (OIDC Core §3.1.2.1:
// "parameters MUST NOT be included more than once").
var singles = []string{"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce",
	"prompt", "max_age", "acr_values", "login_hint", "code_challenge", "code_challenge_method", "id_token_hint",
	"display", "ui_locales", "request", "request_uri", "claims"}

// ParseAuthorize checks an authorization request's parameters q against
// the clients. An error that is not an *AuthError means the client or its
// redirect URI cannot be trusted (ErrMalformed, ErrUnknownClient,
// ErrRedirectURI): the browser must not be sent anywhere. An *AuthError
// is answered at the redirect URI.
func ParseAuthorize(q url.Values, clients *Clients) (*AuthorizeRequest, error) {
	if len(q) > maxParams {
		return nil, fmt.Errorf("%w: %d parameters", ErrMalformed, len(q))
	}
	for _, k := range singles {
		if len(q[k]) > 1 {
			if k == "client_id" || k == "redirect_uri" {
				return nil, fmt.Errorf("%w: %s given %d times", ErrMalformed, k, len(q[k]))
			}
		}
	}
	id := q.Get("client_id")
	switch {
	case id == "":
		return nil, fmt.Errorf("%w: no client_id", ErrMalformed)
	case len(id) > maxClientID:
		return nil, fmt.Errorf("%w: client_id of %d bytes", ErrMalformed, len(id))
	}
	c, ok := clients.ByID(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownClient, id)
	}
	redirect := q.Get("redirect_uri")
	switch {
	case redirect == "":
		// OIDC requires it; guessing one of several would be a choice
		// the client did not make.
		return nil, fmt.Errorf("%w: no redirect_uri", ErrRedirectURI)
	case len(redirect) > maxRedirectURI:
		return nil, fmt.Errorf("%w: redirect_uri of %d bytes", ErrMalformed, len(redirect))
	case !c.RedirectAllowed(redirect):
		return nil, fmt.Errorf("%w: %s asked for %q", ErrRedirectURI, c.Name, redirect)
	}
	ar := &AuthorizeRequest{Client: c, RedirectURI: redirect}
	// From here on the client is told at its redirect URI; state first,
	// so that every refusal carries it back.
	fail := func(code, format string, args ...any) (*AuthorizeRequest, error) {
		return nil, &AuthError{Code: code, Description: fmt.Sprintf(format, args...), Request: ar}
	}
	if st := q.Get("state"); len(st) <= maxState {
		ar.State = st
	} else {
		return fail("invalid_request", "state is longer than %d bytes", maxState)
	}
	for _, k := range singles {
		if len(q[k]) > 1 {
			return fail("invalid_request", "%s must not be given more than once", k)
		}
	}
	switch {
	case q.Has("request"):
		return fail("request_not_supported", "request objects are not supported")
	case q.Has("request_uri"):
		return fail("request_uri_not_supported", "request_uri is not supported")
	}
	if rt := q.Get("response_type"); rt != "code" {
		if rt == "" {
			return fail("invalid_request", "response_type is missing")
		}
		return fail("unsupported_response_type", "only the authorization code flow (response_type=code) is supported")
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		return fail("invalid_request", "only response_mode=query is supported")
	}
	scope := q.Get("scope")
	if len(scope) > maxScope {
		return fail("invalid_scope", "scope is longer than %d bytes", maxScope)
	}
	for s := range strings.FieldsSeq(scope) {
		if s == "offline_access" && !c.AllowsGrant(config.OIDCGrantRefresh) {
			continue
		}
		if c.AllowsScope(s) && !slices.Contains(ar.Scopes, s) {
			ar.Scopes = append(ar.Scopes, s)
		}
	}
	if !slices.Contains(ar.Scopes, "openid") {
		return fail("invalid_scope", "scope must include openid")
	}
	if n := q.Get("nonce"); len(n) <= maxNonce {
		ar.Nonce = n
	} else {
		return fail("invalid_request", "nonce is longer than %d bytes", maxNonce)
	}
	if err := parsePKCE(q, ar); err != nil {
		return fail("invalid_request", "%s", err.Error())
	}
	for p := range strings.FieldsSeq(q.Get("prompt")) {
		switch p {
		case "none":
			ar.Passive = true
		case "login":
			ar.ForceAuthn = true
		case "consent", "select_account":
			// Nothing to consent to (apps are configured by an
			// administrator) and one account per browser.
		default:
			return fail("invalid_request", "unknown prompt value")
		}
	}
	if ar.Passive && (ar.ForceAuthn || len(strings.Fields(q.Get("prompt"))) > 1) {
		return fail("invalid_request", "prompt=none must stand alone")
	}
	if ma := q.Get("max_age"); ma != "" {
		n, err := strconv.ParseUint(ma, 10, 32)
		if err != nil {
			return fail("invalid_request", "max_age must be a number of seconds")
		}
		if n == 0 {
			ar.ForceAuthn = true
		} else {
			ar.MaxAge = time.Duration(n) * time.Second
		}
	}
	acr := q.Get("acr_values")
	if len(acr) > maxACRValues {
		return fail("invalid_request", "acr_values is longer than %d bytes", maxACRValues)
	}
	for v := range strings.FieldsSeq(acr) {
		ar.ACRValues = append(ar.ACRValues, v)
		if slices.Contains(MFAValues(), v) {
			ar.MFA = true
		}
	}
	if lh := q.Get("login_hint"); len(lh) <= maxLoginHint {
		ar.LoginHint = lh
	} else {
		return fail("invalid_request", "login_hint is longer than %d bytes", maxLoginHint)
	}
	return ar, nil
}

// parsePKCE takes the code challenge: S256 only (plain would hand the
// verifier to whoever sees the request), required for public clients.
func parsePKCE(q url.Values, ar *AuthorizeRequest) error {
	ch, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case ch == "" && method != "":
		return errors.New("code_challenge_method without code_challenge")
	case ch == "" && ar.Client.Public:
		return errors.New("PKCE is required: send code_challenge with code_challenge_method=S256")
	case ch == "":
		return nil
	case method != "S256":
		return errors.New("code_challenge_method must be S256")
	case len(ch) != 43 || strings.Trim(ch, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "":
		return errors.New("code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
	}
	ar.Challenge = ch
	return nil
}
