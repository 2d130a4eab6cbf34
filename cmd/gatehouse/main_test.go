package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"

	"github.com/gatehouse-sso/gatehouse/internal/app"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer = testenv.Buffer

func TestConfigCheckReportsEveryProblemAndFails(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatehouse.yaml")
	y := `issuer: https://sso.corp.example.com
directory:
  type: activedirectory
  activedirectory:
    urls: [ldaps://dc1.corp.example.com, "dc2.corp.example.com"]
    bind_dn: CN=svc,DC=corp,DC=example,DC=com
    bind_password_file: ` + filepath.Join(dir, "no-such-file") + `
    base_dn: DC=corp,DC=example,DC=com
    timout: 5s
`
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"config", "check", "--config", cfg}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stdout:\n%s\nstderr:\n%s", code, &out, &errOut)
	}
	for _, want := range []string{
		"3 problem(s)",
		`directory.activedirectory.timout: unknown key (line 9); did you mean "timeout"?`,
		`directory.activedirectory.urls[1]: must start with ldaps://`,
		"directory.activedirectory.bind_password_file: secret file " + filepath.Join(dir, "no-such-file") + " does not exist",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
}

func TestConfigCheckPassesAGoodFile(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("users: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte("issuer: https://sso.example.com\ndirectory: {type: file, file: {path: "+users+"}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"config", "check", "--config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s %s", code, &out, &errOut)
	}
	if !strings.Contains(out.String(), "OK") {
		t.Errorf("output: %s", &out)
	}
}

func TestConfigCheckReportsABadSAMLMetadataFileWithItsPath(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	good := filepath.Join("..", "..", "internal", "protocol", "saml", "testdata", "spmetadata", "gitlab.xml")
	bad := filepath.Join(dir, "wiki.xml")
	for p, data := range map[string]string{
		users: "users: []\n",
		// An SP with an Artifact ACS only: nothing a response could be
		// posted to.
		bad: `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://wiki.example.com">` +
			`<SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
			`<AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://wiki.example.com/acs" index="0"/>` +
			`</SPSSODescriptor></EntityDescriptor>`,
	} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write := func(apps string) string {
		cfg := filepath.Join(dir, "gatehouse.yaml")
		y := "issuer: https://sso.example.com\ndirectory: {type: file, file: {path: " + users + "}}\napps:\n" + apps
		if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := write("  - {name: GitLab, type: saml, metadata_file: " + good + "}\n  - {name: Wiki, type: saml, metadata_file: " + bad + "}\n")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"config", "check", "--config", cfg}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s%s", code, &out, &errOut)
	}
	want := cfg + ": 1 problem(s):\n  app \"Wiki\" (apps[1]): metadata_file " + bad + ": entity \"https://wiki.example.com\": no AssertionConsumerService with the HTTP-POST binding\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", &out, want)
	}

	cfg = write("  - {name: GitLab, type: saml, metadata_file: " + good + "}\n")
	out.Reset()
	if code := run(context.Background(), []string{"config", "check", "--config", cfg}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "OK") {
		t.Fatalf("exit %d for good metadata:\n%s%s", code, &out, &errOut)
	}
}

func TestUsageErrorsExitWithTwo(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"serve"}, {"config", "check"}, {"demo", "--listen", "0.0.0.0:8080"}, {"serve", "--config", "x", "extra"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "--config") {
		t.Errorf("serve --help: exit %d, %s", code, &errOut)
	}
}

func TestServeRefusesToStartWhenTheDirectoryIsMissing(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatehouse.yaml")
	y := "issuer: http://127.0.0.1:0\nlisten: 127.0.0.1:0\n" +
		"storage: {sqlite: {path: " + filepath.Join(dir, "g.db") + "}}\n" +
		"secrets: {encryption_key_file: " + filepath.Join(dir, "enc.key") + "}\n" +
		"signing: {key_file: " + filepath.Join(dir, "s.key") + ", cert_file: " + filepath.Join(dir, "s.crt") + "}\n" +
		"directory: {type: file, file: {path: " + filepath.Join(dir, "absent.yaml") + "}}\n"
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"serve", "--config", cfg}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), `not starting: startup check "directory" failed`) ||
		!strings.Contains(errOut.String(), "absent.yaml") {
		t.Fatalf("exit %d, stderr:\n%s", code, &errOut)
	}
}

func TestDemoServesHealthAndMetrics(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "demo")}, pw, &errOut)
		pw.Close()
	}()

	base := ""
	sc := bufio.NewScanner(pr)
	openLine := regexp.MustCompile(`Open:\s+(http://(?:127\.0\.0\.1|localhost):\d+)/`)
	var printed strings.Builder
	for sc.Scan() {
		printed.WriteString(sc.Text() + "\n")
		if m := openLine.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
		}
		if strings.Contains(sc.Text(), "carol") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if base == "" {
		t.Fatalf("demo printed no address; stdout:\n%s\nstderr:\n%s", printed.String(), errOut.String())
	}
	if !strings.Contains(printed.String(), "alice") {
		t.Errorf("demo did not print its users:\n%s", printed.String())
	}

	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, h := get("/healthz"); code != 200 || body != "ok\n" || h.Get("Content-Security-Policy") == "" || h.Get("X-Request-Id") == "" {
		t.Errorf("/healthz = %d %q, headers %v", code, body, h)
	}
	if code, body, _ := get("/readyz"); code != 200 || !strings.Contains(body, `"ready":true`) || !strings.Contains(body, `"directory"`) {
		t.Errorf("/readyz = %d %s", code, body)
	}
	code, body, _ := get("/metrics")
	for _, want := range []string{"gatehouse_build_info{", `gatehouse_http_request_duration_seconds_count{method="GET",route="GET /healthz",status="200"} 1`, "gatehouse_store_operation_duration_seconds",
		"gatehouse_flows_in_memory ", "gatehouse_flows_evicted_total 0", "gatehouse_flows_refused_total 0"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}
	for _, f := range []string{"gatehouse.db", "encryption.key", "signing.key", "signing.crt", "users.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, "demo", f)); err != nil {
			t.Errorf("demo did not create %s: %v", f, err)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exited %d after shutdown; stderr:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not shut down")
	}
	if !strings.Contains(errOut.String(), "gatehouse stopped") {
		t.Errorf("no graceful stop logged:\n%s", errOut.String())
	}
}

func TestEntraCommandsPrintTheFederationAndThePreflight(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	y := "issuer: https://sso.demo.gatehouse.test\n" +
		"storage: {sqlite: {path: " + filepath.Join(dir, "g.db") + "}}\n" +
		"secrets: {encryption_key_file: " + filepath.Join(dir, "enc.key") + "}\n" +
		"signing: {key_file: " + filepath.Join(dir, "s.key") + ", cert_file: " + filepath.Join(dir, "s.crt") + "}\n" +
		"directory: {type: file, file: {path: " + filepath.Join(dir, "users.yaml") + "}}\n" +
		"apps: [{name: Microsoft 365, type: entra, domains: [demo.gatehouse.test]}]\n"
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	demoCfg, _ := app.DemoConfig(dir, "127.0.0.1:0")
	if _, err := app.PrepareDemo(demoCfg, time.Now()); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"entra", "federation", "--config", cfgPath, "--domain", "demo.gatehouse.test"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, &errOut)
	}
	certPEM, _ := os.ReadFile(filepath.Join(dir, "s.crt"))
	block, _ := pem.Decode(certPEM)
	for _, want := range []string{
		"New-MgDomainFederationConfiguration",
		"-DomainId 'demo.gatehouse.test'",
		"-IssuerUri 'https://sso.demo.gatehouse.test/demo.gatehouse.test'",
		"-PassiveSignInUri 'https://sso.demo.gatehouse.test/wsfed'",
		"-ActiveSignInUri 'https://sso.demo.gatehouse.test/wstrust/13/usernamemixed'",
		"-MetadataExchangeUri 'https://sso.demo.gatehouse.test/wstrust/mex'",
		"-SigningCertificate '" + base64.StdEncoding.EncodeToString(block.Bytes) + "'",
		"-PreferredAuthenticationProtocol 'wsFed'",
		"-FederatedIdpMfaBehavior 'enforceMfaByFederatedIdp'",
		"-PromptLoginBehavior 'nativeSupport'",
		"Update-MgDomainFederationConfiguration",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("federation output lacks %q:\n%s", want, &out)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"entra", "preflight", "--config", cfgPath, "--user", "alice"}, &out, &errOut); code != 0 {
		t.Fatalf("preflight exit %d: %s\n%s", code, &out, &errOut)
	}
	if !strings.Contains(out.String(), "UPN claim:       alice@demo.gatehouse.test") || !strings.Contains(out.String(), "No problems found.") {
		t.Errorf("preflight:\n%s", &out)
	}
	out.Reset()
	if code := run(context.Background(), []string{"entra", "federation", "--config", cfgPath, "--domain", "other.test"}, &out, &errOut); code != 1 {
		t.Errorf("an unfederated domain: exit %d", code)
	}
}

func TestEntraEAMPrintsTheAppRegistrationAndTheMethodForTheTenant(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	const tenant, appID = "72f988bf-86f1-41af-91ab-2d7cd011db47", "0b5a6b4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b"
	y := "issuer: https://sso.corp.example.test\n" +
		"directory: {type: file, file: {path: " + filepath.Join(dir, "users.yaml") + "}}\n" +
		"apps: [{name: Entra MFA, type: entra-eam, client_id: gatehouse-entra, app_id: " + appID + ", tenant_id: " + tenant + "}]\n"
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"entra", "eam", "--config", cfgPath}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, &errOut)
	}
	for _, want := range []string{
		"Connect-MgGraph -TenantId '" + tenant + "'",
		"New-MgApplication -DisplayName 'Entra MFA (Gatehouse)' -SignInAudience 'AzureADMyOrg' -Web @{ RedirectUris = @('https://sso.corp.example.test/oauth2/authorize') }",
		"'@odata.type' = '#microsoft.graph.externalAuthenticationMethodConfiguration'",
		"appId = '" + appID + "'",
		"clientId = 'gatehouse-entra'",
		"discoveryUrl = 'https://sso.corp.example.test/.well-known/openid-configuration'",
		"New-MgPolicyAuthenticationMethodPolicyAuthenticationMethodConfiguration -BodyParameter $params",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "users.yaml")); err == nil {
		t.Error("printing the commands opened (and created) the directory")
	}
	out.Reset()
	if code := run(context.Background(), []string{"entra", "eam", "--config", cfgPath, "--app", "Other"}, &out, &errOut); code != 1 {
		t.Errorf("an unknown app: exit %d", code)
	}
}
