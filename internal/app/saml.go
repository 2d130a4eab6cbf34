package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-sso/gatehouse/internal/account"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	gpolicy "github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/saml"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
)

// mountSAML builds the SAML 2.0 identity provider: the service providers
// from configuration, /saml/sso on the sign-in engine, /saml/slo (which
// also signs /logout and WS-Fed's wsignout1.0 out of every application of
// the session) and the signed /saml/metadata.
func (a *App) mountSAML(ctx context.Context, mux *http.ServeMux, builder *assertion.Builder, set *keys.Set, wsfedHandler *wsfed.Handler) error {
	reg, err := saml.FromConfig(ctx, a.Config.Issuer, a.Config.Apps, saml.Options{Logger: a.Log.With("component", "saml"), Now: a.Now})
	if err != nil {
		return fmt.Errorf("saml: %w", err)
	}
	a.samlSPs = reg
	base := strings.TrimRight(a.Config.Issuer, "/")
	parser := &saml.Parser{Lookup: reg.ByEntityID, Replay: saml.TicketReplayCache{Tickets: a.Store, Now: a.Now}, Now: a.Now,
		SSOURL: base + saml.PathSSO, SLOURL: base + saml.PathSLO}
	responder, err := saml.NewResponder(saml.ResponderOptions{Builder: builder, EntityID: a.Config.Issuer})
	if err != nil {
		return err
	}
	log := a.Log.With("component", "saml")
	(&saml.Handler{Engine: a.SignIn, Flows: a.Store, SPs: reg, Parse: parser.AuthnRequest, Responses: responder,
		IssuerFor: a.samlIssuer, Sessions: a.Sessions, Catalog: a.Renderer.Catalog(), Audit: a.Audit, Log: log, Now: a.Now}).Mount(mux)
	slo := &saml.SLO{EntityID: a.Config.Issuer, Outbound: saml.Outbound{Signer: builder.Signer()}, LookupSP: reg.ByEntityID,
		LookupRP: a.relyingParties.ByRealm, ParseLogoutRequest: parser.LogoutRequest, ParseLogoutResponse: parser.LogoutResponse,
		Sessions: a.Sessions, Renderer: a.Renderer, Log: log, Now: a.Now}
	slo.Mount(mux)
	a.SignIn.SetLogoutFanOut(slo)
	wsfedHandler.FanOut = slo
	mux.Handle("GET "+saml.PathMetadata, &saml.MetadataHandler{Config: saml.MetadataConfig{EntityID: a.Config.Issuer,
		SSOURL: base + saml.PathSSO, SLOURL: base + saml.PathSLO, Keys: set, Signer: builder.Signer(), Now: a.Now}, Log: log})
	return nil
}

// samlIssuer is the Issuer of sp's responses: Gatehouse's entity ID, but
// for Entra the IssuerUri of the user's federated domain (the same as over
// WS-Federation, so a domain can move between the protocols).
func (a *App) samlIssuer(sp *saml.ServiceProvider, u *directory.User) (string, error) {
	if !sp.Entra {
		return "", nil
	}
	for _, rp := range a.relyingParties.All() {
		if rp.Entra() && rp.Name == sp.Name {
			iss, _, err := rp.IssuerFor(u.UPN)
			return iss, err
		}
	}
	return "", fmt.Errorf("saml: no Entra domains for %s", sp.Name)
}

// appTiles lists the SAML applications u can open from /account: those
// that take IdP-initiated sign-in and that the policy does not deny u.
func (a *App) appTiles(u *directory.User) []account.AppLink {
	if a.samlSPs == nil {
		return nil
	}
	var out []account.AppLink
	for _, sp := range a.samlSPs.All() {
		if !sp.IDPInitiated || len(sp.ACS) == 0 {
			continue
		}
		if d := a.SignIn.Decide(gpolicy.Input{App: sp.Name, User: u}); d.Denied {
			continue
		}
		out = append(out, account.AppLink{Name: sp.Name, URL: saml.PathSSO + "?sp=" + url.QueryEscape(sp.EntityID)})
	}
	return out
}
