package config

import (
	"testing"
)

const (
	testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testAppID  = "0b5a6b4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b"
)

func TestAnEntraEAMAppIsChecked(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, path, msg string
	}{
		{"a client id is required", "apps: [{name: E, type: entra-eam, tenant_id: " + testTenant + "}]", "apps[0].client_id", "required"},
		{"the tenant is a GUID", "apps: [{name: E, type: entra-eam, client_id: " + testAppID + ", tenant_id: contoso.com}]", "apps[0].tenant_id", "GUID"},
		{"a client id that is not the app registration's id needs app_id",
			"apps: [{name: E, type: entra-eam, client_id: gatehouse, tenant_id: " + testTenant + "}]", "apps[0].app_id", "required when client_id"},
		{"an app id is a GUID", "apps: [{name: E, type: entra-eam, client_id: g, app_id: nope, tenant_id: " + testTenant + "}]", "apps[0].app_id", "GUID"},
		{"a client id names one app among OIDC clients too",
			"apps: [{name: A, type: oidc, client_id: " + testAppID + ", redirect_uris: [https://a.example.com/cb]}, {name: E, type: entra-eam, client_id: " + testAppID + ", tenant_id: " + testTenant + "}]",
			"apps[1].client_id", "already used"},
		{"the metadata URL is https", "apps: [{name: E, type: entra-eam, client_id: " + testAppID + ", tenant_id: " + testTenant + ", entra_metadata_url: http://entra.example.com/x}]",
			"apps[0].entra_metadata_url", "https"},
		{"the CA file must exist", "apps: [{name: E, type: entra-eam, client_id: " + testAppID + ", tenant_id: " + testTenant + ", entra_ca_file: /nonexistent/ca.pem}]",
			"apps[0].entra_ca_file", "cannot read"},
		{"an optional second factor makes no sense", "apps: [{name: E, type: entra-eam, mfa: optional, client_id: " + testAppID + ", tenant_id: " + testTenant + "}]",
			"apps[0].mfa", "always asks"},
		{"recovery codes alone cannot answer Entra", "mfa: {methods: [recovery]}\napps: [{name: E, type: entra-eam, client_id: " + testAppID + ", tenant_id: " + testTenant + "}]",
			"mfa.methods", "recovery codes do not answer Entra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), nil)
			if err == nil {
				t.Fatal("want a problem")
			}
			hasProblem(t, err, tc.path, tc.msg)
		})
	}
}

func TestAnEntraEAMAppDefaultsToEntrasOwnAddresses(t *testing.T) {
	_, base := validAD(t)
	cfg, err := Parse([]byte(base+"apps: [{name: Entra MFA, type: entra-eam, client_id: "+testAppID+", tenant_id: "+testTenant+"}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Apps[0]
	for _, c := range []struct{ what, got, want string }{
		{"metadata", a.EAMMetadataURL(), "https://login.microsoftonline.com/" + testTenant + "/v2.0/.well-known/openid-configuration"},
		{"redirect", a.EAMRedirectURI(), "https://login.microsoftonline.com/common/federation/externalauthprovider"},
		{"audience", a.EAMAudience(), testAppID},
		{"issuer", EAMIssuer(a.TenantID), "https://login.microsoftonline.com/" + testTenant + "/v2.0"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
}
