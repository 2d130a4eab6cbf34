package app

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	gpolicy "github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wstrust"
)

// mountProtocols builds and mounts WS-Federation (passive, metadata),
// WS-Trust (usernamemixed 1.3 and 2005, MEX) and SAML 2.0.
func (a *App) mountProtocols(ctx context.Context, mux *http.ServeMux) error {
	reg, err := wsfed.FromConfig(a.Config.Issuer, a.Config.Apps)
	if err != nil {
		return fmt.Errorf("apps: %w", err)
	}
	a.relyingParties = reg
	s := a.Config.Signing
	set, err := keys.NewSet(a.Signing, nil)
	if s.NextKeyFile != "" {
		var next *keys.KeyPair
		if next, err = keys.LoadNext(s.NextKeyFile, s.NextCertFile, a.Now()); err == nil {
			set, err = keys.NewSet(a.Signing, next)
		}
	}
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	a.Keys = set
	builder, err := assertion.NewBuilder(assertion.Options{Key: a.Signing, Now: a.Now, Lifetime: s.TokenLifetime})
	if err != nil {
		return err
	}
	base := strings.TrimRight(a.Config.Issuer, "/")
	policy := assertion.ClaimsPolicy{PasswordChangeURL: base + "/password/change", PasswordExpiryWindow: a.Config.Claims.PasswordExpiryWindow}
	if policy.PasswordExpiryWindow == 0 {
		policy.PasswordExpiryWindow = -1 // off
	}
	for _, n := range a.Config.Claims.CorporateNetworks {
		pfx, err := netip.ParsePrefix(n) // validated by config
		if err != nil {
			return err
		}
		policy.CorporateNetworks = append(policy.CorporateNetworks, pfx.Masked())
	}
	sts := []string{base + wstrust.PathUsernameMixed13, base + wstrust.PathUsernameMixed2005}
	wsf := &wsfed.Handler{
		Engine: a.SignIn, Sessions: a.Sessions, Registry: reg, Builder: builder, Policy: policy,
		Metadata: wsfed.MetadataConfig{EntityID: a.Config.Issuer, PassiveEndpoint: base + wsfed.Path, STSEndpoints: sts, Keys: set},
		Audit:    a.Audit, Renderer: a.Renderer, Log: a.Log.With("component", "wsfed"), Now: a.Now,
	}
	if err := a.mountSAML(ctx, mux, builder, set, wsf); err != nil {
		return err
	}
	wsf.Mount(mux)

	issue := func(ctx context.Context, req *wstrust.Request, u *directory.User) (*assertion.Assertion, error) {
		rp, ok := reg.ByRealm(req.AppliesTo)
		if !ok {
			return nil, fmt.Errorf("%w: unknown AppliesTo", wstrust.ErrInvalidRequest)
		}
		now := a.Now()
		// WS-Trust checks a password and nothing else: the policy says
		// whether the app takes that (its groups, ws_trust) and never lets
		// such a token claim MFA.
		d := a.SignIn.Decide(gpolicy.Input{App: rp.Name, PasswordOnly: true, User: u, Proof: gpolicy.Proof{PasswordAt: now, Since: now}})
		if d.Denied {
			a.Audit.Record(ctx, audit.Event{Type: audit.TokenIssued, UserID: u.ID, Login: u.UPN, App: rp.Name, Result: d.Reason,
				Detail: map[string]string{"protocol": "wstrust"}})
			return nil, fmt.Errorf("%w: %s for %s", wstrust.ErrNotAuthorized, d.Reason, rp.Name)
		}
		claims := policy.Claims(u, assertion.SignIn{AuthInstant: now, AMR: []string{"pwd"}, MFA: d.MFAClaim}, now)
		as, err := wsfed.IssueAssertion(ctx, builder, rp, claims)
		if err != nil {
			return nil, err
		}
		a.Audit.Record(ctx, audit.Event{Type: audit.TokenIssued, UserID: u.ID, Login: u.UPN, App: rp.Name, Result: "ok",
			Detail: map[string]string{"protocol": "wstrust", "assertion": as.ID, "mfa": "false"}})
		return as, nil
	}
	for _, v := range []struct {
		version wstrust.Version
		path    string
	}{{wstrust.Trust13, wstrust.PathUsernameMixed13}, {wstrust.Trust2005, wstrust.PathUsernameMixed2005}} {
		h, err := wstrust.NewHandler(wstrust.HandlerConfig{
			Version: v.version, Endpoint: base + v.path, Auth: wsTrustAuth{a}, Issue: issue, Now: a.Now,
			Logger: a.Log.With("component", "wstrust"), MaxBodyBytes: int(min(a.Config.HTTP.MaxBodyBytes, 256<<10)),
		})
		if err != nil {
			return err
		}
		mux.Handle("POST "+v.path, h)
	}
	mex, err := wstrust.MEXHandler(wstrust.MEXConfig{UsernameMixed13: sts[0], UsernameMixed2005: sts[1]})
	if err != nil {
		return err
	}
	mux.Handle("GET "+wstrust.PathMEX, mex)
	return a.mountEAM(mux, nil) // nil: the OIDC core's authorize endpoint, once it is served
}

// wsTrustAuth checks WS-Trust passwords through the sign-in engine, so
// they share its throttles, timing and audit.
type wsTrustAuth struct{ a *App }

func (w wsTrustAuth) Authenticate(ctx context.Context, login, password string) (*directory.User, error) {
	return w.a.SignIn.CheckPassword(ctx, "ws-trust", login, password)
}
