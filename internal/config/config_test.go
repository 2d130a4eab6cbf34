package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
	return p
}

// validAD returns a minimal valid configuration using an AD directory.
func validAD(t *testing.T) (string, string) {
	dir := t.TempDir()
	pw := writeFile(t, dir, "bind", "s3cret\n", 0o600)
	return dir, fmt.Sprintf(`
issuer: https://sso.corp.example.com
listen: ":8443"
directory:
  type: activedirectory
  activedirectory:
    urls: [ldaps://dc1.corp.example.com, ldap://dc2.corp.example.com:389]
    bind_dn: CN=svc,DC=corp,DC=example,DC=com
    bind_password_file: %s
    base_dn: DC=corp,DC=example,DC=com
`, pw)
}

func problemPaths(t *testing.T, err error) []string {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v is not Problems", err)
	}
	paths := make([]string, len(ps))
	for i, p := range ps {
		paths[i] = p.Path
	}
	return paths
}

func hasProblem(t *testing.T, err error, path, substr string) {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v is not Problems", err)
	}
	for _, p := range ps {
		if p.Path == path && strings.Contains(p.Message, substr) {
			return
		}
	}
	t.Errorf("no problem at %q containing %q in:\n%v", path, substr, err)
}

func TestAValidFileLoadsWithDefaultsFilledIn(t *testing.T) {
	_, y := validAD(t)
	cfg, err := Parse([]byte(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	ad := cfg.Directory.ActiveDirectory
	if ad.BindPassword.Value() != "s3cret" {
		t.Errorf("bind password not read from file (trailing newline must be trimmed)")
	}
	if ad.Timeout != 10*time.Second || ad.PoolSize != 4 || ad.ImmutableIDAttribute != "objectGUID" {
		t.Errorf("defaults not applied: %+v", ad)
	}
	if cfg.Sessions.RecheckInterval != 5*time.Minute {
		t.Errorf("sessions.recheck_interval default %v, want 5m", cfg.Sessions.RecheckInterval)
	}
	if cfg.Storage.Type != "sqlite" || cfg.HTTP.MaxBodyBytes != 1<<20 {
		t.Errorf("defaults not applied: %+v %+v", cfg.Storage, cfg.HTTP)
	}
}

func TestPasswordExpiryClaimsAreOnForFourteenDaysUnlessTurnedOff(t *testing.T) {
	_, y := validAD(t)
	cfg, err := Parse([]byte(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Claims.PasswordExpiryWindow; got != 14*24*time.Hour {
		t.Errorf("default claims.password_expiry_window = %s, want 336h", got)
	}
	for _, off := range []struct{ yaml, env string }{{"claims: {password_expiry_window: 0s}\n", ""}, {"", "GATEHOUSE_CLAIMS_PASSWORD_EXPIRY_WINDOW=0"}} {
		var env []string
		if off.env != "" {
			env = []string{off.env}
		}
		cfg, err := Parse([]byte(y+off.yaml), env)
		if err != nil || cfg.Claims.PasswordExpiryWindow != 0 {
			t.Errorf("%q %q: window %s, err %v; want 0 (off)", off.yaml, off.env, cfg.Claims.PasswordExpiryWindow, err)
		}
	}
}

func TestEveryProblemIsReportedWithItsPath(t *testing.T) {
	dir := t.TempDir()
	y := `
issuer: https://sso.corp.example.com
listen: ":8443"
directory:
  type: activedirectory
  activedirectory:
    urls: ["ldaps://dc1.corp.example.com", "http//dc2"]
    bind_dn: CN=svc,DC=corp,DC=example,DC=com
    bind_password_file: ` + filepath.Join(dir, "missing") + `
    base_dn: DC=corp,DC=example,DC=com
    login_atributs: [mail]
`
	_, err := Parse([]byte(y), nil)
	if err == nil {
		t.Fatal("want problems")
	}
	hasProblem(t, err, "directory.activedirectory.login_atributs", `did you mean "login_attributes"`)
	hasProblem(t, err, "directory.activedirectory.urls[1]", "http//dc2")
	hasProblem(t, err, "directory.activedirectory.bind_password_file", "does not exist")
	if n := len(problemPaths(t, err)); n != 3 {
		t.Errorf("want exactly 3 problems, got %d:\n%v", n, err)
	}
}

func TestUnknownKeysAreFoundInNestedListsToo(t *testing.T) {
	_, y := validAD(t)
	y += `
apps:
  - name: Grafana
    type: oidc
    client_id: grafana
    redirect_uri: https://grafana.example.com/cb
`
	_, err := Parse([]byte(y), nil)
	hasProblem(t, err, "apps[0].redirect_uri", `did you mean "redirect_uris"`)
	hasProblem(t, err, "apps[0].redirect_uris", "required")
}

func TestAnInlineSecretIsRefusedWithAHint(t *testing.T) {
	_, y := validAD(t)
	y += "smtp:\n  password: hunter2\n"
	_, err := Parse([]byte(y), nil)
	hasProblem(t, err, "smtp.password", "set password_file")
	if strings.Contains(err.Error(), "hunter2") {
		t.Error("the error repeats the secret")
	}
}

func TestAnInlinePostgresDSNIsRefusedOnlyWhenItHoldsAPassword(t *testing.T) {
	for _, tc := range []struct {
		name, dsn string
		refused   bool
	}{
		{"a URL with a password in its user information", "postgres://gatehouse:hunter2@db:5432/gatehouse?sslmode=verify-full", true},
		{"a postgresql:// URL with a password", "postgresql://gatehouse:hunter2@db/gatehouse", true},
		{"a URL with a password parameter", "postgres://gatehouse@db/gatehouse?password=hunter2&sslmode=verify-full", true},
		{"a key=value string with a password", "host=db user=gatehouse password=hunter2 dbname=gatehouse", true},
		{"a key=value string with a quoted password and spaces around =", "host=db user=gatehouse password = 'hunter2 x' dbname=gatehouse", true},
		{"a key=value string whose quoted value only mentions password", "host=db application_name='password=x' user=gatehouse", false},
		{"a URL without a password", "postgres://gatehouse@db:5432/gatehouse?sslmode=verify-full", false},
		{"a URL with an empty password", "postgres://gatehouse:@db/gatehouse", false},
		{"a key=value string without a password", "host=/run/postgresql user=gatehouse dbname=gatehouse", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, y := validAD(t)
			y += "storage: {type: postgres, postgres: {dsn: \"" + tc.dsn + "\"}}\n"
			_, err := Parse([]byte(y), nil)
			if !tc.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			hasProblem(t, err, "storage.postgres.dsn", "set dsn_file")
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("the error repeats the password")
			}
		})
	}
	t.Run("the same DSN from the environment or a file is accepted", func(t *testing.T) {
		dir, y := validAD(t)
		const dsn = "postgres://gatehouse:hunter2@db/gatehouse"
		if _, err := Parse([]byte(y+"storage: {type: postgres}\n"), []string{"GATEHOUSE_STORAGE_POSTGRES_DSN=" + dsn}); err != nil {
			t.Errorf("from the environment: %v", err)
		}
		f := writeFile(t, dir, "dsn", dsn+"\n", 0o600)
		if _, err := Parse([]byte(y+"storage: {type: postgres, postgres: {dsn_file: "+f+"}}\n"), nil); err != nil {
			t.Errorf("from dsn_file: %v", err)
		}
	})
}

func TestAWorldReadableSecretFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "pw", "x", 0o644)
	if _, err := ReadSecretFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("want a chmod hint, got %v", err)
	}
	writeFile(t, dir, "empty", "\n", 0o600)
	if _, err := ReadSecretFile(filepath.Join(dir, "empty")); err == nil {
		t.Fatal("an empty secret file must be refused")
	}
}

func TestEnvironmentOverridesTheFile(t *testing.T) {
	_, y := validAD(t)
	env := []string{
		"GATEHOUSE_LISTEN=127.0.0.1:9000",
		"GATEHOUSE_DIRECTORY_ACTIVEDIRECTORY_URLS=ldaps://a.example.com, ldaps://b.example.com",
		"GATEHOUSE_DIRECTORY_ACTIVEDIRECTORY_TIMEOUT=3s",
		"GATEHOUSE_HTTP_MAX_BODY_BYTES=2048",
		"GATEHOUSE_REMINDERS_DAYS=10, 3",
		"GATEHOUSE_TEST_PG_DSN=ignored",
		"PATH=/bin",
	}
	cfg, err := Parse([]byte(y), env)
	if err != nil {
		t.Fatal(err)
	}
	ad := cfg.Directory.ActiveDirectory
	if cfg.Listen != "127.0.0.1:9000" || len(ad.URLs) != 2 || ad.URLs[1] != "ldaps://b.example.com" ||
		ad.Timeout != 3*time.Second || cfg.HTTP.MaxBodyBytes != 2048 || !slices.Equal(cfg.Reminders.Days, []int{10, 3}) {
		t.Errorf("overrides not applied: listen=%s urls=%v timeout=%s body=%d", cfg.Listen, ad.URLs, ad.Timeout, cfg.HTTP.MaxBodyBytes)
	}
}

func TestABadEnvironmentVariableIsAProblem(t *testing.T) {
	_, y := validAD(t)
	_, err := Parse([]byte(y), []string{"GATEHOUSE_LISTN=x", "GATEHOUSE_HTTP_IDLE_TIMEOUT=soon", "GATEHOUSE_REMINDERS_DAYS=7,soon"})
	hasProblem(t, err, "GATEHOUSE_LISTN", "unknown environment variable")
	hasProblem(t, err, "GATEHOUSE_HTTP_IDLE_TIMEOUT", "not a duration")
	hasProblem(t, err, "GATEHOUSE_REMINDERS_DAYS", "not a whole number")
}

func TestEnvNamesListsNestedSettings(t *testing.T) {
	names := strings.Join(EnvNames(), " ")
	for _, want := range []string{"GATEHOUSE_ISSUER", "GATEHOUSE_STORAGE_POSTGRES_DSN_FILE", "GATEHOUSE_DIRECTORY_ACTIVEDIRECTORY_BIND_PASSWORD_FILE"} {
		if !strings.Contains(names, want) {
			t.Errorf("EnvNames lacks %s", want)
		}
	}
	if strings.Contains(names, "GATEHOUSE_APPS") {
		t.Error("apps cannot be set from the environment")
	}
}

func TestValidationRules(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, path, msg string
	}{
		{"plain http is refused for a public issuer", "issuer: http://sso.example.com", "issuer", "must use https"},
		{"a listen address needs a port", "listen: localhost", "listen", "host:port"},
		{"an unknown storage type is refused", "storage: {type: mysql}", "storage.type", "sqlite or postgres"},
		{"postgres needs a dsn", "storage: {type: postgres}", "storage.postgres.dsn_file", "required"},
		{"a non-ldap URL is refused", "directory: {activedirectory: {urls: [https://dc1]}}", "directory.activedirectory.urls[0]", "ldaps://"},
		{"an immutable id attribute must be known", "directory: {activedirectory: {immutable_id_attribute: mail}}", "directory.activedirectory.immutable_id_attribute", "objectGUID"},
		{"a reset policy must be known", "self_service: {require: one}", "self_service.require", "strong"},
		{"a reset fallback must be known", "self_service: {fallback: sms}", "self_service.fallback", "helpdesk"},
		{"a time zone must be known", "ui: {time_zone: Mars/Olympus}", "ui.time_zone", "Europe/Berlin"},
		{"a strength score is 0 to 4", "passwords: {min_strength: 5}", "passwords.min_strength", "from 0 (off) to 4"},
		{"reminder days are positive", "reminders: {days: [14, 0]}", "reminders.days[1]", "from 1 to 365"},
		{"a trusted proxy must be an address", "trusted_proxies: [proxy.example.com]", "trusted_proxies[0]", "CIDR"},
		{"smtp without TLS only to localhost", "smtp: {host: mail.example.com, from: a@example.com, security: none}", "smtp.security", "localhost"},
		{"email codes need smtp", "mfa: {methods: [email]}", "mfa.methods", "smtp.host"},
		{"an OIDC redirect must be https", "apps: [{name: A, type: oidc, client_id: a, redirect_uris: [http://a.example.com/cb]}]", "apps[0].redirect_uris[0]", "https"},
		{"an unquoted DN split by YAML is refused, not matched to no group", "apps: [{name: W, type: entra, domains: [corp.example.com], groups: [CN=Staff,OU=Groups,DC=corp]}]", "apps[0].groups[0]", "quote the whole DN"},
		{"an unquoted DN in the MFA groups is refused too", "mfa: {required_groups: [CN=Admins,DC=corp]}", "mfa.required_groups[0]", "piece of a distinguished name"},
		{"a wsfed app needs its realm, not a metadata file", "apps: [{name: W, type: wsfed, metadata_file: /dev/null}]", "apps[0].entity_id", "required"},
		{"a wsfed app needs reply URLs", "apps: [{name: W, type: wsfed, entity_id: urn:w, metadata_file: /dev/null}]", "apps[0].reply_urls", "required"},
		{"a saml app needs its metadata", "apps: [{name: S, type: saml}]", "apps[0].metadata_file", "metadata_url, or entity_id with acs_urls"},
		{"a saml app takes one source of metadata", "apps: [{name: S, type: saml, metadata_file: /dev/null, metadata_url: https://s.example.com/md}]", "apps[0].metadata_url", "not both metadata_file and metadata_url"},
		{"a missing metadata file is named", "apps: [{name: S, type: saml, metadata_file: /nonexistent/sp.xml}]", "apps[0].metadata_file", "/nonexistent/sp.xml"},
		{"a metadata URL must be https", "apps: [{name: S, type: saml, metadata_url: http://s.example.com/md}]", "apps[0].metadata_url", "https"},
		{"a metadata URL has no user information", "apps: [{name: S, type: saml, metadata_url: https://u:p@s.example.com/md}]", "apps[0].metadata_url", "user information"},
		{"a metadata refresh of seconds is refused", "apps: [{name: S, type: saml, metadata_url: https://s.example.com/md, metadata_refresh: 5s}]", "apps[0].metadata_refresh", "at least 1m"},
		{"a metadata refresh needs a metadata URL", "apps: [{name: S, type: saml, metadata_file: /dev/null, metadata_refresh: 5m}]", "apps[0].metadata_refresh", "only with metadata_url"},
		{"a metadata certificate needs metadata", "apps: [{name: S, type: saml, entity_id: urn:s, acs_urls: [https://s.example.com/acs], metadata_cert_file: /dev/null}]", "apps[0].metadata_cert_file", "only with metadata_file or metadata_url"},
		{"an inline SP needs its entity ID", "apps: [{name: S, type: saml, acs_urls: [https://s.example.com/acs]}]", "apps[0].entity_id", "required with acs_urls"},
		{"an ACS URL must be https", "apps: [{name: S, type: saml, entity_id: urn:s, acs_urls: [https://s.example.com/acs, http://s.example.com/acs]}]", "apps[0].acs_urls[1]", "https"},
		{"an ACS URL has no fragment", "apps: [{name: S, type: saml, entity_id: urn:s, acs_urls: [\"https://s.example.com/acs#x\"]}]", "apps[0].acs_urls[0]", "fragment"},
		{"an SLO URL must be https", "apps: [{name: S, type: saml, entity_id: urn:s, acs_urls: [https://s.example.com/acs], slo_url: http://s.example.com/slo}]", "apps[0].slo_url", "https"},
		{"endpoints in the metadata are not also configured", "apps: [{name: S, type: saml, metadata_file: /dev/null, slo_url: https://s.example.com/slo}]", "apps[0].slo_url", "comes from the metadata"},
		{"a saml app lists ACS URLs, not reply URLs", "apps: [{name: S, type: saml, entity_id: urn:s, acs_urls: [https://s.example.com/acs], reply_urls: [https://s.example.com/acs]}]", "apps[0].reply_urls", "acs_urls"},
		{"signed requests of an inline SP need its certificate", "apps: [{name: S, type: saml, entity_id: urn:s, acs_urls: [https://s.example.com/acs], require_signed_requests: true}]", "apps[0].cert_file", "require_signed_requests"},
		{"a missing encryption certificate is named", "apps: [{name: S, type: saml, entity_id: urn:s, acs_urls: [https://s.example.com/acs], encryption_cert_file: /nonexistent/enc.pem}]", "apps[0].encryption_cert_file", "/nonexistent/enc.pem"},
		{"a NameID format must be known", "apps: [{name: S, type: saml, metadata_file: /dev/null, name_id: {format: x509}}]", "apps[0].name_id.format", "persistent, transient, email, unspecified"},
		{"a NameID source must be known", "apps: [{name: S, type: saml, metadata_file: /dev/null, name_id: {source: cn}}]", "apps[0].name_id.source", "objectguid"},
		{"a transient NameID has no source", "apps: [{name: S, type: saml, metadata_file: /dev/null, name_id: {format: transient, source: upn}}]", "apps[0].name_id.source", "no source"},
		{"what is signed must be known", "apps: [{name: S, type: saml, metadata_file: /dev/null, sign: nothing}]", "apps[0].sign", "assertion, response, both"},
		{"an attribute needs a name", "apps: [{name: S, type: saml, metadata_file: /dev/null, attributes: [{source: mail}]}]", "apps[0].attributes[0].name", "required"},
		{"an attribute is sent once", "apps: [{name: S, type: saml, metadata_file: /dev/null, attributes: [{name: a, source: mail}, {name: a, source: upn}]}]", "apps[0].attributes[1].name", "already sent"},
		{"an attribute needs a source or values", "apps: [{name: S, type: saml, metadata_file: /dev/null, attributes: [{name: a}]}]", "apps[0].attributes[0].source", "required"},
		{"an attribute takes a source or values, not both", "apps: [{name: S, type: saml, metadata_file: /dev/null, attributes: [{name: a, source: mail, values: [x]}]}]", "apps[0].attributes[0].values", "not both"},
		{"an attribute source must be known", "apps: [{name: S, type: saml, metadata_file: /dev/null, attributes: [{name: a, source: telephone}]}]", "apps[0].attributes[0].source", "displayname"},
		{"an AD attribute source names an attribute", "apps: [{name: S, type: saml, metadata_file: /dev/null, attributes: [{name: a, source: \"ad:bad name\"}]}]", "apps[0].attributes[0].source", "LDAP attribute name"},
		{"an attribute name format must be known", "apps: [{name: S, type: saml, metadata_file: /dev/null, attributes: [{name: a, source: mail, name_format: oid}]}]", "apps[0].attributes[0].name_format", "basic"},
		{"an unknown key of an attribute is named", "apps: [{name: S, type: saml, metadata_file: /dev/null, attributes: [{name: a, sorce: mail}]}]", "apps[0].attributes[0].sorce", "did you mean \"source\""},
		{"SAML settings on a wsfed app are refused", "apps: [{name: W, type: wsfed, entity_id: urn:w, reply_urls: [https://w.example.com/], sign: both}]", "apps[0].sign", "only for type saml"},
		{"idp_initiated is not for Entra", "apps: [{name: M, type: entra, domains: [a.com], protocol: saml, idp_initiated: true}]", "apps[0].idp_initiated", "only for type saml"},
		{"Entra's protocol must be known", "apps: [{name: M, type: entra, domains: [a.com], protocol: oidc}]", "apps[0].protocol", "wsfed, saml"},
		{"Entra's certificate is for SAML-P only", "apps: [{name: M, type: entra, domains: [a.com], cert_file: /dev/null}]", "apps[0].cert_file", "entra with protocol: saml"},
		{"Entra signs the assertion", "apps: [{name: M, type: entra, domains: [a.com], protocol: saml, sign: response}]", "apps[0].sign", "assertion, both"},
		{"Entra's signed requests need its certificate", "apps: [{name: M, type: entra, domains: [a.com], protocol: saml, require_signed_requests: true}]", "apps[0].cert_file", "Entra's request-signing certificate"},
		{"protocol is for Entra only", "apps: [{name: S, type: saml, metadata_file: /dev/null, protocol: saml}]", "apps[0].protocol", "only for type entra"},
		{"app names are unique", "apps: [{name: A, type: entra, domains: [a.com]}, {name: A, type: entra, domains: [b.com]}]", "apps[1].name", "already used"},
		{"one log format", "log: {format: xml}", "log.format", "text, json"},
		{"a session recheck interval of zero is refused", "sessions: {recheck_interval: 0s}", "sessions.recheck_interval", "greater than zero"},
		{"a concurrency limit is not negative", "http: {max_concurrent_requests: -1}", "http.max_concurrent_requests", "64 per CPU"},
		{"an IPv6 prefix is 32 to 128 bits", "abuse: {ipv6_prefix: 16}", "abuse.ipv6_prefix", "between 32 and 128"},
		{"a password window of zero is refused", "abuse: {passwords: {window: 0s}}", "abuse.passwords.window", "greater than zero"},
		{"an account gets at least one password", "abuse: {passwords: {per_account: 0}}", "abuse.passwords.per_account", "at least 1"},
		{"the directory margin is not negative", "abuse: {passwords: {directory_margin: -1}}", "abuse.passwords.directory_margin", "between 0 and 10"},
		{"remembering wrong passwords for a negative time is refused", "abuse: {passwords: {remember_wrong: -1s}}", "abuse.passwords.remember_wrong", "0s turns it off"},
		{"self-service stops after at most 100 failures", "abuse: {codes: {self_service_max_failures: 101}}", "abuse.codes.self_service_max_failures", "NIST"},
		{"a metrics address needs a port", "http: {metrics_listen: localhost}", "http.metrics_listen", "host:port"},
		{"a metrics address is not the main one", "listen: 127.0.0.1:8080\nhttp: {metrics_listen: 127.0.0.1:8080}", "http.metrics_listen", "differ"},
		{"an audit retention is not negative", "audit: {retention: -1h}", "audit.retention", "0s keeps"},
		{"a type error names its line", "http: {max_body_bytes: lots}", "", "line 1"},
		{"a list where a section belongs is refused", "- a\n- b", "", "mapping"},
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

func TestAnOversizedFileIsRefused(t *testing.T) {
	_, err := Parse(make([]byte, MaxFileSize+1), nil)
	if err == nil {
		t.Fatal("want an error")
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	s := Secret("hunter2")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %#v %+v", s, s, s, struct{ P Secret }{s})} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if s.Value() != "hunter2" {
		t.Error("Value must return the secret")
	}
}

func FuzzParse(f *testing.F) {
	_, y := validAD(&testing.T{})
	f.Add([]byte(y))
	f.Add([]byte("issuer: [a, b]\napps: {x: 1}\n"))
	f.Add([]byte("a: &a [*a, *a]"))
	f.Add([]byte("directory:\n  activedirectory:\n    urls: !!binary aGVsbG8=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, nil)
		if err == nil {
			// Whatever parses must also validate cleanly on its own.
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Parse accepted a config that Validate refuses: %v", verr)
			}
		}
	})
}

// settingPaths lists the YAML path of every setting under t: "a.b.c" for
// a value, and for a list of sections (apps) the list's path with "[]"
// mapped to the keys of one entry.
func settingPaths(t reflect.Type, prefix string, lists map[string][]string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		p := joinPath(prefix, name)
		switch {
		case f.Type.Kind() == reflect.Struct:
			out = append(out, settingPaths(f.Type, p, lists)...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			for j := range f.Type.Elem().NumField() {
				if k := yamlName(f.Type.Elem().Field(j)); k != "" {
					lists[p+"[]"] = append(lists[p+"[]"], k)
				}
			}
		default:
			out = append(out, p)
		}
	}
	return out
}

// TestEverySettingIsInTheREADMEConfigurationReference keeps the reference
// whole: each setting appears there as `path`, and each key of an apps
// entry in the apps[] row.
func TestEverySettingIsInTheREADMEConfigurationReference(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	start := strings.Index(doc, "### Configuration reference")
	if start < 0 {
		t.Fatal("README has no \"### Configuration reference\"")
	}
	ref := doc[start:]
	if end := strings.Index(ref[1:], "\n## "); end >= 0 {
		ref = ref[:end+1]
	}
	lists := map[string][]string{}
	for _, p := range settingPaths(reflect.TypeFor[Config](), "", lists) {
		if !strings.Contains(ref, "`"+p+"`") {
			t.Errorf("the configuration reference lacks `%s`", p)
		}
	}
	for list, keys := range lists {
		i := strings.Index(ref, "| `"+list+"` |")
		if i < 0 {
			t.Errorf("the configuration reference has no row for `%s`", list)
			continue
		}
		row, _, _ := strings.Cut(ref[i:], "\n")
		for _, k := range keys {
			if !strings.Contains(row, "`"+k+"`") {
				t.Errorf("the `%s` row lacks `%s`", list, k)
			}
		}
	}
}

// splitOutsideTicks splits s at ", " where it is not inside `code`.
func splitOutsideTicks(s string) []string {
	var parts []string
	in, last := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '`':
			in = !in
		case !in && strings.HasPrefix(s[i:], ", "):
			parts = append(parts, s[last:i])
			last = i + 2
		}
	}
	return append(parts, s[last:])
}

// fieldByPath finds the setting at a YAML path such as "http.idle_timeout".
func fieldByPath(v reflect.Value, path string) (reflect.Value, bool) {
	for _, name := range strings.Split(path, ".") {
		if v.Kind() != reflect.Struct {
			return v, false
		}
		found := false
		for i := range v.NumField() {
			if yamlName(v.Type().Field(i)) == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return v, false
		}
	}
	return v, true
}

// TestTheREADMEStatesTheDefaultsTheCodeApplies reads the default column
// of the configuration reference and compares each with Default(): "—"
// (or words without code) is the empty value, the first `code` otherwise.
func TestTheREADMEStatesTheDefaultsTheCodeApplies(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	ref := doc[strings.Index(doc, "### Configuration reference"):]
	if end := strings.Index(ref[1:], "\n## "); end >= 0 {
		ref = ref[:end+1]
	}
	tick := regexp.MustCompile("`([^`]*)`")
	def := reflect.ValueOf(Default())
	rows := 0
	for _, line := range strings.Split(ref, "\n") {
		cells := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| `") || len(cells) < 3 || strings.Contains(cells[0], "[]") {
			continue
		}
		var keys []string
		for _, m := range tick.FindAllStringSubmatch(cells[0], -1) {
			keys = append(keys, m[1])
		}
		parts := splitOutsideTicks(cells[1])
		for i, key := range keys {
			part := parts[0]
			if len(parts) == len(keys) {
				part = parts[i]
			}
			want := ""
			if m := tick.FindStringSubmatch(part); m != nil {
				want = m[1]
			}
			got, ok := fieldByPath(def, key)
			if !ok {
				t.Errorf("README lists `%s`, which is not a setting", key)
				continue
			}
			rows++
			if !sameDefault(got, want) {
				t.Errorf("README says `%s` defaults to %q; the code applies %v", key, want, got)
			}
		}
	}
	if rows < 50 {
		t.Fatalf("read only %d defaults from the README's configuration reference", rows)
	}
}

func sameDefault(got reflect.Value, want string) bool {
	switch {
	case got.Type() == durationType:
		if want == "" {
			return got.Int() == 0
		}
		d, err := time.ParseDuration(want)
		return err == nil && int64(d) == got.Int()
	case got.Kind() == reflect.Slice:
		var items []string
		if inner := strings.TrimSuffix(strings.TrimPrefix(want, "["), "]"); inner != "" {
			items = strings.Split(inner, ", ")
		}
		if len(items) != got.Len() {
			return false
		}
		for i, it := range items {
			if fmt.Sprint(got.Index(i).Interface()) != it {
				return false
			}
		}
		return true
	case got.Kind() == reflect.Bool:
		return fmt.Sprint(got.Bool()) == want || (want == "" && !got.Bool())
	case got.Kind() == reflect.Int || got.Kind() == reflect.Int64:
		return fmt.Sprint(got.Int()) == want || (want == "" && got.Int() == 0)
	default:
		return got.String() == want
	}
}

func TestASAMLAppGetsItsDefaults(t *testing.T) {
	dir, y := validAD(t)
	cert := writeFile(t, dir, "sp.pem", "-----BEGIN CERTIFICATE-----\n", 0o600)
	cfg, err := Parse([]byte(y+`
apps:
  - {name: Wiki, type: saml, metadata_url: "https://wiki.corp.example.com/saml/metadata"}
  - {name: Mail, type: saml, entity_id: urn:mail, acs_urls: [https://mail.corp.example.com/acs], name_id: {format: email}, cert_file: `+cert+`}
  - {name: Temp, type: saml, entity_id: urn:temp, acs_urls: [https://temp.corp.example.com/acs], name_id: {format: transient}, idp_initiated: false, sign: assertion}
  - {name: Microsoft 365, type: entra, domains: [corp.example.com], protocol: saml}
  - {name: Entra by WS-Fed, type: entra, domains: [example.org]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{
		"saml refresh=1h0m0s name_id={persistent objectguid} sign=both idp_initiated=true",
		"saml refresh=0s name_id={email mail} sign=both idp_initiated=true",
		"saml refresh=0s name_id={transient } sign=assertion idp_initiated=false",
		"entra/saml refresh=0s name_id={ } sign=assertion idp_initiated=<nil>",
		"entra/wsfed refresh=0s name_id={ } sign= idp_initiated=<nil>",
	} {
		a := cfg.Apps[i]
		idp := "<nil>"
		if a.IDPInitiated != nil {
			idp = fmt.Sprint(*a.IDPInitiated)
		}
		typ := a.Type
		if a.Protocol != "" {
			typ += "/" + a.Protocol
		}
		got := fmt.Sprintf("%s refresh=%s name_id=%v sign=%s idp_initiated=%s", typ, a.MetadataRefresh, a.NameID, a.Sign, idp)
		if got != want {
			t.Errorf("apps[%d] (%s): %s, want %s", i, a.Name, got, want)
		}
		if again := a.WithDefaults(); fmt.Sprint(again) != fmt.Sprint(a) {
			t.Errorf("apps[%d]: WithDefaults is not idempotent", i)
		}
	}
}
