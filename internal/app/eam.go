package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/entra"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/eam"
)

// mountEAM serves the entra-eam apps (Gatehouse as a Microsoft Entra
// external authentication method) at /oauth2/authorize, the authorization
// endpoint discovery names, and hands every other request there to next:
// the OIDC core's authorize endpoint, which must then not be mounted at
// that path itself (nil: no OIDC clients are served there yet). With
// neither, nothing is mounted. It needs a.Keys (mountProtocols).
func (a *App) mountEAM(mux *http.ServeMux, next http.Handler) error {
	var apps []*eam.App
	for i, c := range a.Config.Apps {
		if c.Type != "entra-eam" {
			continue
		}
		client, err := entraClient(c.EntraCAFile)
		if err != nil {
			return fmt.Errorf("apps[%d].entra_ca_file: %w", i, err)
		}
		issuer := config.EAMIssuer(c.TenantID)
		apps = append(apps, &eam.App{Name: c.Name, ClientID: c.ClientID, TenantID: c.TenantID, Audience: c.EAMAudience(), Issuer: issuer,
			RedirectURI: c.EAMRedirectURI(), Keys: &eam.EntraKeys{MetadataURL: c.EAMMetadataURL(), Issuer: issuer, Client: client, Now: a.Now,
				Log: a.Log.With("component", "eam", "app", c.Name)}})
	}
	if len(apps) == 0 && next == nil {
		return nil
	}
	h := &eam.Handler{Engine: a.SignIn, Flows: a.Store, Links: a.Store, Apps: eam.NewRegistry(apps...), Keys: a.Keys,
		Issuer: a.Config.Issuer, Audit: a.Audit, Log: a.Log.With("component", "eam"), Now: a.Now, Next: next,
		Catalog: a.Renderer.Catalog()}
	mux.Handle("GET "+eam.Path, h)
	mux.Handle("POST "+eam.Path, h)
	return nil
}

// entraClient is the HTTP client that reads Entra's metadata and keys:
// the system roots, or those of caFile; the environment's proxy, as an
// outbound call to Microsoft often needs one.
func entraClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile) // #nosec G304 -- the operator names the file.
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, nil
}

// WriteEAM writes the Microsoft Graph PowerShell that registers the
// entra-eam app named name (or the only one) in its tenant (gatehouse
// entra eam). It needs only the configuration.
func WriteEAM(cfg config.Config, w io.Writer, name string) error {
	var found []config.App
	for _, c := range cfg.Apps {
		if c.Type == "entra-eam" && (name == "" || c.Name == name) {
			found = append(found, c)
		}
	}
	switch {
	case len(found) == 0 && name != "":
		return fmt.Errorf("no app of type entra-eam is named %q (apps[].name)", name)
	case len(found) == 0:
		return errors.New("no app of type entra-eam is configured (apps[].type: entra-eam)")
	case len(found) > 1:
		return errors.New("several entra-eam apps are configured: name one with --app")
	}
	c := found[0]
	return entra.EAM{Name: c.Name, TenantID: c.TenantID, ClientID: c.ClientID, AppID: c.EAMAudience(), BaseURL: cfg.Issuer}.WritePowerShell(w)
}
