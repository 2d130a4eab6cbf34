package oidcrp

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// Dir returns the absolute path of this folder (test/oidcrp).
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("oidcrp: cannot find own source file")
	}
	return filepath.Dir(file)
}

// Auth is how the relying party authenticates at the token endpoint.
type Auth struct {
	Method string `json:"method"`
	Secret string `json:"secret,omitempty"`
	// JWK is the private RSA key for private_key_jwt (with its kid).
	JWK map[string]any `json:"jwk,omitempty"`
}

// Client is one relying party's settings.
type Client struct {
	Issuer      string `json:"issuer"`
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	Scope       string `json:"scope"`
	Auth        Auth   `json:"auth"`
}

// Started is an authorization request: the URL to open and what the
// relying party keeps for the answer.
type Started struct {
	URL      string `json:"url"`
	Verifier string `json:"verifier"`
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Error    string `json:"error"`
	Detail   string `json:"detail"`
}

// Finished is what the relying party made of the answer.
type Finished struct {
	Claims          map[string]any `json:"claims"`
	IDTokenHeader   map[string]any `json:"id_token_header"`
	Userinfo        map[string]any `json:"userinfo"`
	RefreshedSub    string         `json:"refreshed_sub"`
	Rotated         bool           `json:"rotated"`
	ReuseError      string         `json:"reuse_error"`
	AfterReuseError string         `json:"after_reuse_error"`
	Error           string         `json:"error"`
	Detail          string         `json:"detail"`
}

// Start has openid-client discover the provider and build an
// authorization request.
func Start(tb testing.TB, c Client) Started {
	tb.Helper()
	var out Started
	run(tb, map[string]any{"step": "start", "client": c}, c, &out)
	if out.Error != "" || out.URL == "" {
		tb.Fatalf("openid-client could not start: %s %s", out.Error, out.Detail)
	}
	return out
}

// Finish has openid-client take the callback URL the browser ended at.
func Finish(tb testing.TB, c Client, s Started, callback string) Finished {
	tb.Helper()
	var out Finished
	run(tb, map[string]any{"step": "finish", "callback": callback, "verifier": s.Verifier, "state": s.State, "nonce": s.Nonce}, c, &out)
	return out
}

func run(tb testing.TB, step map[string]any, c Client, out any) {
	tb.Helper()
	node := testenv.LookPath(tb, "node", "the nodejs package")
	validators.EnsureNodeModules(tb, Dir(), "openid-client")
	in := map[string]any{"issuer": c.Issuer, "client_id": c.ClientID, "redirect_uri": c.RedirectURI, "scope": c.Scope, "auth": c.Auth}
	for k, v := range step {
		if k != "client" {
			in[k] = v
		}
	}
	data, err := json.Marshal(in)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(Dir(), "rp.mjs")) // #nosec G204 -- fixed test script.
	cmd.Dir = Dir()
	cmd.Stdin = bytes.NewReader(data)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("rp.mjs: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		tb.Fatalf("rp.mjs printed no JSON object: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
}
