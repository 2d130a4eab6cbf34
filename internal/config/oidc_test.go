package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestOIDCClientRules(t *testing.T) {
	dir, base := validAD(t)
	secret := writeFile(t, dir, "grafana-secret", strings.Repeat("s", 44)+"\n", 0o600)
	short := writeFile(t, dir, "short-secret", "hunter2\n", 0o600)
	jwks := writeFile(t, dir, "jwks.json", `{"keys":[]}`, 0o644)
	app := func(fields string) string {
		return base + "apps:\n  - {name: Grafana, type: oidc, client_id: grafana, " + fields + "}\n"
	}
	for _, tc := range []struct {
		name, fields, path, msg string
	}{
		{"a confidential client needs a secret file", "redirect_uris: [https://g.example.com/cb]", "apps[0].client_secret_file", "required"},
		{"a short secret is refused without being repeated", "client_secret_file: " + short + ", redirect_uris: [https://g.example.com/cb]",
			"apps[0].client_secret_file", "too short"},
		{"a public client cannot take a secret method", "public_client: true, token_endpoint_auth_method: client_secret_basic, redirect_uris: [http://127.0.0.1/cb]",
			"apps[0].token_endpoint_auth_method", "public client"},
		{"a public client has no secret file", "public_client: true, client_secret_file: " + secret + ", redirect_uris: [http://127.0.0.1/cb]",
			"apps[0].client_secret_file", "not used"},
		{"none is only for a public client", "token_endpoint_auth_method: none, redirect_uris: [https://g.example.com/cb]",
			"apps[0].token_endpoint_auth_method", "public_client: true"},
		{"private_key_jwt needs the client's keys", "token_endpoint_auth_method: private_key_jwt, redirect_uris: [https://g.example.com/cb]",
			"apps[0].jwks_file", "required"},
		{"a jwks file is only for private_key_jwt", "client_secret_file: " + secret + ", jwks_file: " + jwks + ", redirect_uris: [https://g.example.com/cb]",
			"apps[0].jwks_file", "only used"},
		{"a plain http redirect to another host is refused", "client_secret_file: " + secret + ", redirect_uris: [http://g.example.com/cb]",
			"apps[0].redirect_uris[0]", "https"},
		{"a redirect with a fragment is refused", "client_secret_file: " + secret + ", redirect_uris: ['https://g.example.com/cb#x']",
			"apps[0].redirect_uris[0]", "fragment"},
		{"a redirect with a user name is refused", "client_secret_file: " + secret + ", redirect_uris: ['https://evil@g.example.com/cb']",
			"apps[0].redirect_uris[0]", "user name"},
		{"a private scheme is only for a public client", "client_secret_file: " + secret + ", redirect_uris: ['com.example.app:/cb']",
			"apps[0].redirect_uris[0]", "reverse-domain"},
		{"pairwise subjects need one redirect host", "client_secret_file: " + secret + ", redirect_uris: [https://a.example.com/cb, https://b.example.com/cb]",
			"apps[0].subject", "2 hosts"},
		{"an unknown subject type is refused", "client_secret_file: " + secret + ", subject: email, redirect_uris: [https://g.example.com/cb]",
			"apps[0].subject", "pairwise, public"},
		{"an unknown scope is refused", "client_secret_file: " + secret + ", scopes: [openid, phone], redirect_uris: [https://g.example.com/cb]",
			"apps[0].scopes[1]", "groups"},
		{"scopes must include openid", "client_secret_file: " + secret + ", scopes: [email], redirect_uris: [https://g.example.com/cb]",
			"apps[0].scopes", "openid"},
		{"the code grant cannot be left out", "client_secret_file: " + secret + ", grant_types: [refresh_token], redirect_uris: [https://g.example.com/cb]",
			"apps[0].grant_types", "authorization_code"},
		{"an unknown grant is refused", "client_secret_file: " + secret + ", grant_types: [authorization_code, implicit], redirect_uris: [https://g.example.com/cb]",
			"apps[0].grant_types[1]", "refresh_token"},
		{"a back-channel logout URI must be https", "client_secret_file: " + secret + ", backchannel_logout_uri: http://g.example.com/logout, redirect_uris: [https://g.example.com/cb]",
			"apps[0].backchannel_logout_uri", "https"},
		{"a post-logout redirect must be https", "client_secret_file: " + secret + ", post_logout_redirect_uris: [http://g.example.com/], redirect_uris: [https://g.example.com/cb]",
			"apps[0].post_logout_redirect_uris[0]", "https"},
		{"another type's settings are refused", "client_secret_file: " + secret + ", reply_urls: [https://g.example.com/], redirect_uris: [https://g.example.com/cb]",
			"apps[0].reply_urls", "not used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(app(tc.fields)), nil)
			if err == nil {
				t.Fatal("want a problem")
			}
			hasProblem(t, err, tc.path, tc.msg)
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("a problem repeats the secret")
			}
		})
	}
	for _, tc := range []struct{ name, fields string }{
		{"a confidential client with a secret and one host", "client_secret_file: " + secret + ", redirect_uris: [https://g.example.com/cb, https://g.example.com/cb2]"},
		{"a public client with loopback and private-scheme redirects", "public_client: true, redirect_uris: ['http://127.0.0.1/cb', 'http://[::1]/cb', 'com.example.app:/cb'], subject: public"},
		{"a private_key_jwt client", "token_endpoint_auth_method: private_key_jwt, jwks_file: " + jwks + ", redirect_uris: [https://g.example.com/cb]"},
		{"public subjects over several hosts", "client_secret_file: " + secret + ", subject: public, redirect_uris: [https://a.example.com/cb, https://b.example.com/cb]"},
	} {
		t.Run(tc.name+" is accepted", func(t *testing.T) {
			if _, err := Parse([]byte(app(tc.fields)), nil); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
	t.Run("the secret is read from its file", func(t *testing.T) {
		c, err := Parse([]byte(app("client_secret_file: "+secret+", redirect_uris: [https://g.example.com/cb]")), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Apps[0].ClientSecret.Value(); got != strings.Repeat("s", 44) {
			t.Fatalf("secret %q", got)
		}
		if s := fmt.Sprint(c.Apps[0]); strings.Contains(s, strings.Repeat("s", 44)) {
			t.Fatal("printing the app shows its secret")
		}
	})
}
