package app

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/oidc"
)

// mountOIDC builds the OpenID Connect provider for the oidc apps and
// mounts its endpoints — discovery and the keys also for the entra-eam
// apps, which Entra reads them for — and returns the authorization
// endpoint's handler for mountEAM to put behind its own (nil without oidc
// apps). Without either kind of app nothing is mounted. It runs after the
// signing keys are set up (mountProtocols).
func (a *App) mountOIDC(mux *http.ServeMux) (http.Handler, error) {
	clients, err := oidc.ClientsFromConfig(a.Config.Apps, a.Config.Signing.TokenLifetime)
	if err != nil {
		return nil, fmt.Errorf("apps: %w", err)
	}
	eam := slices.ContainsFunc(a.Config.Apps, func(c config.App) bool { return c.Type == "entra-eam" })
	if len(clients.All()) == 0 && !eam {
		return nil, nil
	}
	var tokenKey [32]byte
	copy(tokenKey[:], a.Secrets.DeriveKey("oidc access tokens"))
	var accounts oidc.Accounts
	if ids, ok := a.Directory.(directory.IDLookup); ok {
		accounts = ids
	}
	lim := a.Guard.Limits()
	p, err := oidc.New(oidc.Options{
		Issuer: a.Config.Issuer, Clients: clients, Keys: a.Keys, TokenKey: tokenKey,
		Subjects: oidc.Subjects{Key: a.Secrets.DeriveKey("oidc pairwise subjects")},
		Engine:   a.SignIn, Sessions: a.Sessions, Renderer: a.Renderer, CSRF: a.CSRF, SessionLifetime: a.Config.Sessions.AbsoluteTimeout,
		Flows: a.Store, Tickets: a.Store, Grants: a.Store, Throttle: a.Store,
		Accounts: accounts, Decide: a.SignIn.Decide, IDTokenFormPost: eam,
		Limits: oidc.Limits{PerAddress: lim.PerAddress, Window: lim.Window, IPv6Prefix: lim.IPv6Prefix},
		Audit:  a.Audit, Log: a.Log.With("component", "oidc"), Now: a.Now,
	})
	if err != nil {
		return nil, err
	}
	p.Mount(mux)
	// Sign-outs, resets and the rest end the sign-ins' grants and reach
	// the clients' back-channel logout URIs; pending ones are waited for.
	a.Sessions.OnEnd(p.SessionsEnded)
	a.closers = append(a.closers, p.Close)
	return p.Authorize(), nil
}
