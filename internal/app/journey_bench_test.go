package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// BenchmarkEntraSignInWithPasswordAndTOTP runs one complete Entra WS-Fed
// sign-in per iteration — password against the test DC, TOTP, the signed
// token — in this process, so a CPU profile shows where Gatehouse's time
// goes (the scripted browser's share is visible separately):
//
//	go test -run '^$' -bench EntraSignIn -cpuprofile cpu.out ./internal/app/
//
// The load generator in bench/ measures the same journey against a running
// server; this one is for profiling. Each iteration moves the app's clock
// on by a TOTP step, which also ages the directory's group and policy
// caches: expect a group search per sign-in, and a policy read every
// other one, here that a real server does not make.
func BenchmarkEntraSignInWithPasswordAndTOTP(b *testing.B) {
	cfg := adTestConfig(b)
	cfg.MFA.RequiredFor = "all"
	cfg.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}}}
	clk := &clock{t: time.Now()}
	a, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler), Now: clk.now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a.Handler)
	b.Cleanup(srv.Close)

	user := testenv.Alice
	_, secret := userWithTOTP(b, a, user.UPN(), clk.now())
	start := "/wsfed?" + url.Values{"wa": {"wsignin1.0"}, "wtrealm": {"urn:federation:MicrosoftOnline"},
		"wctx": {"LoginOptions=3"}, "username": {user.UPN()}}.Encode()

	if testing.Verbose() { // -v: the store and directory operations behind the numbers
		b.Cleanup(func() { b.Log(operationCounts(srv.URL)) })
	}
	b.ReportAllocs()
	for b.Loop() {
		clk.add(30 * time.Second) // each sign-in uses a fresh TOTP step
		br := browse.New(b, srv.URL)
		br.Get(start)
		br.Submit(map[string]string{"password": user.Password})
		code, _ := totp.GenerateCode(secret, clk.now())
		page := br.Submit(map[string]string{"code": code})
		if wresultRe.FindStringSubmatch(page) == nil {
			b.Fatalf("no token:\n%s", page)
		}
	}
}

// operationCounts are the request, store and directory operation counts
// from /metrics.
func operationCounts(base string) string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.Contains(l, "_count") && (strings.HasPrefix(l, "gatehouse_store") || strings.HasPrefix(l, "gatehouse_directory") || strings.HasPrefix(l, "gatehouse_http")) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
