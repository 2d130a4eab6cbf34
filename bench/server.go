package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// gatehouseConfig is the configuration the run gives `gatehouse serve`: the
// test DC over LDAPS with the test CA, the store (%[9]s: SQLite in the
// run's directory or a PostgreSQL schema of its own), generated keys in
// the run's directory, MFA for everyone with the authenticator app,
// Microsoft 365 federated for the test domain (and, for the SAML
// journeys, samlAppConfig); %[8]s switches on the
// Server-Timing header (http.server_timing), which is off by default.
// 127.0.0.1 is a trusted proxy, as a reverse proxy in front of Gatehouse
// would be: the spray phase says where each attempt comes from with
// X-Forwarded-For (the other phases send none, so they come from
// 127.0.0.1 itself).
const gatehouseConfig = `# Written by the Gatehouse bench for one run.
issuer: http://%[1]s
listen: %[1]s
trusted_proxies: [127.0.0.1/32]
%[8]s%[9]ssecrets: {encryption_key_file: %[2]s/encryption.key}
signing: {key_file: %[2]s/signing.key, cert_file: %[2]s/signing.crt}
directory:
  type: activedirectory
  activedirectory:
    urls: [%[3]q]
    ca_file: %[4]q
    bind_dn: %[5]q
    bind_password_file: %[2]s/ad-bind-password
    base_dn: %[6]q
mfa:
  methods: [totp, recovery]
  required_for: all
  passwordless: false
apps:
  - name: Microsoft 365
    type: entra
    domains: [%[7]s]
    mfa: required
`

// oidcAppConfig is the OpenID Connect client of the oidc journey (%[1]s:
// the run's directory, %[2]s: the relying party's callback).
const oidcAppConfig = `  - name: Grafana
    type: oidc
    client_id: bench
    client_secret_file: %[1]s/oidc-client-secret
    redirect_uris: [%[2]q]
    mfa: required
`

// oidcClientSecret is the bench client's secret (its file is in the
// run's directory).
const oidcClientSecret = "bench-oidc-client-secret-0123456789abcdefgh" // #nosec G101 -- a throwaway client of a bench run.

// samlAppConfig is the SAML 2.0 service provider of the SAML journeys,
// added to the apps only when one of them runs (so that a build from
// before SAML can still be measured on the others): inline, MFA required,
// the UPN as an attribute (checkSAMLResponse looks for it), and the
// assertion signed, not the Response too, so that its token costs one
// signature, as WS-Fed's does.
const samlAppConfig = `  - name: Wiki
    type: saml
    entity_id: ` + samlSP + `
    acs_urls: [` + samlACS + `]
    sign: assertion
    attributes: [{name: upn, source: upn}]
    mfa: required
`

// server is a `gatehouse serve` child process.
type server struct {
	cmd    *exec.Cmd
	pid    int
	base   string
	config string
	log    string
	done   chan error
}

// serverTimingConfig turns on the Server-Timing header.
const serverTimingConfig = "http: {server_timing: true}\n"

// startServer writes the configuration into dir, checks it with `gatehouse
// config check`, starts `gatehouse serve` and waits until /readyz answers.
// A gatehouse that does not know http.server_timing yet runs without it
// (timing is then false): the report says there is no Server-Timing data.
func startServer(ctx context.Context, bin, dir string, env adEnv, storage, apps string, procs int) (s *server, timing bool, err error) {
	s, err = startServerWith(ctx, bin, dir, env, serverTimingConfig, storage, apps, procs)
	var unknown errUnknownTimingKey
	if errors.As(err, &unknown) {
		s, err = startServerWith(ctx, bin, dir, env, "", storage, apps, procs)
		return s, false, err
	}
	return s, err == nil, err
}

// errUnknownTimingKey is a config check that refused http.server_timing.
type errUnknownTimingKey struct{ error }

func startServerWith(ctx context.Context, bin, dir string, env adEnv, extra, storage, apps string, procs int) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ad-bind-password"), []byte(env.BindPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(gatehouseConfig, addr, dir, env.URL, env.CAFile, env.BindDN, env.BaseDN, testenv.ADDNSDomain, extra, storage) + apps
	s := &server{base: "http://" + addr, config: filepath.Join(dir, "gatehouse.yaml"), log: filepath.Join(dir, "gatehouse.log"), done: make(chan error, 1)}
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	check := exec.CommandContext(ctx, bin, "config", "check", "--config", s.config) // #nosec G204 -- our own binary and file.
	check.Env = childEnv(procs)
	if out, err := check.CombinedOutput(); err != nil {
		err = fmt.Errorf("gatehouse config check: %w\n%s", err, out)
		if extra != "" && strings.Contains(string(out), "server_timing: unknown key") {
			return nil, errUnknownTimingKey{err}
		}
		return nil, err
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) // #nosec G304 -- in the run's directory.
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, "serve", "--config", s.config) // #nosec G204 -- our own binary and file.
	s.cmd.Env = childEnv(procs)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.pid = s.cmd.Process.Pid
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz") // #nosec G107 -- the address we just chose.
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("gatehouse serve exited (%w); its log:\n%s", err, tail(s.log, 20))
		case <-ctx.Done():
			_ = s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.stop()
			return nil, fmt.Errorf("gatehouse serve not ready after 60s; its log:\n%s", tail(s.log, 20))
		}
	}
}

// childEnv is the bench's environment without GATEHOUSE_… variables:
// gatehouse refuses unknown ones, and the run's configuration is the file.
func childEnv(procs int) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") && (procs == 0 || !strings.HasPrefix(kv, "GOMAXPROCS=")) {
			out = append(out, kv)
		}
	}
	if procs > 0 {
		out = append(out, fmt.Sprintf("GOMAXPROCS=%d", procs))
	}
	return out
}

// gatehouseProcs describes the GOMAXPROCS gatehouse runs with, for the report.
func gatehouseProcs(procs int) string {
	if procs > 0 {
		return fmt.Sprintf("GOMAXPROCS=%d (-gomaxprocs)", procs)
	}
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		return "GOMAXPROCS=" + v + " (from the environment)"
	}
	return "Go's default GOMAXPROCS (the CPU count)"
}

// stop ends the server by its pid: SIGTERM (a graceful stop), then SIGKILL
// after 20 seconds.
func (s *server) stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case err := <-s.done:
		s.done <- err
		return nil // already gone
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("gatehouse serve: %w", err)
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		return errors.New("gatehouse serve did not stop in 20s; killed")
	}
}

// metrics fetches /metrics.
func (s *server) metrics() (string, error) {
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/metrics: %s", resp.Status)
	}
	return string(b), nil
}

// directoryOpsMetric counts every LDAP operation Gatehouse sends, by op
// (search, bind, read, change_password, …, and dial/service_bind when the
// pool opens a connection).
const directoryOpsMetric = "gatehouse_directory_operation_duration_seconds_count"

// storeOpsMetric counts every store operation (get_session, create_flow, …).
const storeOpsMetric = "gatehouse_store_operation_duration_seconds_count"

// counters returns the directory and store operations so far, by op.
func (s *server) counters() (ldap, store map[string]float64, err error) {
	text, err := s.metrics()
	if err != nil {
		return nil, nil, err
	}
	return sumBy(parseSamples(text, directoryOpsMetric), "op"), sumBy(parseSamples(text, storeOpsMetric), "op"), nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path) // #nosec G304 -- the server's log in the run's directory.
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
