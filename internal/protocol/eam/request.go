package eam

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Errors of a request. A request whose client or redirect URI is wrong is
// never answered at Entra's address; every other refusal is a page too,
// with the reason audited.
var (
	// ErrUnknownClient: no entra-eam app has the request's client_id.
	ErrUnknownClient = errors.New("eam: unknown client_id")
	// ErrRedirectURI: the redirect_uri is not the app's.
	ErrRedirectURI = errors.New("eam: redirect_uri not allowed")
	// ErrInvalidRequest: a parameter is missing, repeated, too long or
	// not what an EAM request carries.
	ErrInvalidRequest = errors.New("eam: invalid request")
	// ErrUnsatisfiable: the request asks for an acr or amr no Gatehouse
	// method can answer.
	ErrUnsatisfiable = errors.New("eam: no method can answer the request")
	// ErrHint: the id_token_hint is not one Entra issued for this app and
	// tenant, or it is too old.
	ErrHint = errors.New("eam: id_token_hint refused")
)

// Apps finds the configured entra-eam apps by client_id.
type Apps interface {
	ByClientID(clientID string) (*App, bool)
}

// Request is a checked EAM authorization request.
type Request struct {
	App   *App
	Nonce string
	State string
	// ACR are the acr values Entra asks for, in its order; the answer
	// carries exactly one of them.
	ACR []string
	// AMR are the amr values Entra accepts; empty: any.
	AMR []string
	// Hint is the id_token_hint as sent, to verify (VerifyHint).
	Hint string
	// ClientRequestID is Entra's correlation id, for the log and audit.
	ClientRequestID string
}

// paramLimits caps each parameter an EAM request may carry; others are
// ignored.
var paramLimits = map[string]int{
	"client_id": 256, "response_type": 64, "scope": 512, "response_mode": 32, "redirect_uri": 1024,
	"nonce": 512, "state": 4096, "id_token_hint": 16 << 10, "claims": 8 << 10, "client-request-id": 128,
}

// ParseRequest checks the parameters of an EAM request (the form Entra
// posted, or a query): the client, its exact redirect URI, the implicit
// flow's response type and mode, the openid scope, a nonce and state, a
// hint, and the claims parameter's acr and amr. It does not verify the
// hint.
func ParseRequest(form url.Values, apps Apps) (*Request, error) {
	p := map[string]string{}
	for name, limit := range paramLimits {
		vs := form[name]
		switch {
		case len(vs) > 1:
			return nil, fmt.Errorf("%w: %s given %d times", ErrInvalidRequest, name, len(vs))
		case len(vs) == 1 && len(vs[0]) > limit:
			return nil, fmt.Errorf("%w: %s of %d bytes", ErrInvalidRequest, name, len(vs[0]))
		case len(vs) == 1:
			p[name] = vs[0]
		}
	}
	app, ok := apps.ByClientID(p["client_id"])
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownClient, p["client_id"])
	}
	if p["redirect_uri"] != app.RedirectURI {
		return nil, fmt.Errorf("%w: %q for %s", ErrRedirectURI, p["redirect_uri"], app.Name)
	}
	switch {
	case p["response_type"] != "id_token":
		return nil, fmt.Errorf("%w: response_type %q, want id_token", ErrInvalidRequest, p["response_type"])
	case p["response_mode"] != "form_post":
		return nil, fmt.Errorf("%w: response_mode %q, want form_post", ErrInvalidRequest, p["response_mode"])
	case !slices.Contains(strings.Fields(p["scope"]), "openid"):
		return nil, fmt.Errorf("%w: scope %q lacks openid", ErrInvalidRequest, p["scope"])
	case p["nonce"] == "":
		return nil, fmt.Errorf("%w: no nonce", ErrInvalidRequest)
	case p["state"] == "":
		return nil, fmt.Errorf("%w: no state", ErrInvalidRequest)
	case p["id_token_hint"] == "":
		return nil, fmt.Errorf("%w: no id_token_hint", ErrInvalidRequest)
	}
	acr, amr, err := parseClaims(p["claims"])
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(acr, func(v string) bool { return acrAllows(v, possession) }) {
		return nil, fmt.Errorf("%w: acr %q", ErrUnsatisfiable, acr)
	}
	if len(amr) > 0 && !slices.ContainsFunc(amr, func(v string) bool { return slices.Contains(ourAMR, v) }) {
		return nil, fmt.Errorf("%w: amr %q", ErrUnsatisfiable, amr)
	}
	return &Request{App: app, Nonce: p["nonce"], State: p["state"], ACR: acr, AMR: amr, Hint: p["id_token_hint"],
		ClientRequestID: p["client-request-id"]}, nil
}

// claimRequest is one claim of the claims parameter (OpenID Connect Core
// 5.5.1).
type claimRequest struct {
	Essential bool     `json:"essential"`
	Value     *string  `json:"value"`
	Values    []string `json:"values"`
}

func (c *claimRequest) all() []string {
	if c == nil {
		return nil
	}
	out := slices.Clone(c.Values)
	if c.Value != nil {
		out = append(out, *c.Value)
	}
	return out
}

// maxClaimValues bounds the values of one requested claim.
const maxClaimValues = 32

// parseClaims reads the acr and amr values the claims parameter asks for
// in the id_token. Entra always asks for an acr.
func parseClaims(raw string) (acr, amr []string, err error) {
	if raw == "" {
		return nil, nil, fmt.Errorf("%w: no claims parameter (Entra names the acr it wants there)", ErrInvalidRequest)
	}
	var c struct {
		IDToken struct {
			ACR *claimRequest `json:"acr"`
			AMR *claimRequest `json:"amr"`
		} `json:"id_token"`
	}
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, nil, fmt.Errorf("%w: claims: %w", ErrInvalidRequest, err)
	}
	acr, amr = c.IDToken.ACR.all(), c.IDToken.AMR.all()
	for _, vs := range [][]string{acr, amr} {
		if len(vs) > maxClaimValues {
			return nil, nil, fmt.Errorf("%w: %d claim values", ErrInvalidRequest, len(vs))
		}
		for _, v := range vs {
			if v == "" || len(v) > 128 {
				return nil, nil, fmt.Errorf("%w: a claim value of %d bytes", ErrInvalidRequest, len(v))
			}
		}
	}
	if len(acr) == 0 {
		return nil, nil, fmt.Errorf("%w: the claims parameter asks for no acr", ErrInvalidRequest)
	}
	return acr, amr, nil
}
