// Package testenv tells tests where the project's real test services are
// (Samba AD DC, PostgreSQL, …) and decides what happens when one is missing:
// a local run skips with a one-line reason, a CI run (CI=true) fails.
//
// It owns only the lookup of environment variables set by
// scripts/testenv/*; it must not start or stop services itself.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Environment variables exported by scripts/testenv/env.sh.
const (
	PostgresDSN     = "GATEHOUSE_TEST_PG_DSN"
	ADURL           = "GATEHOUSE_TEST_AD_URL"            // ldaps://127.0.0.1:636
	ADStartTLSURL   = "GATEHOUSE_TEST_AD_STARTTLS_URL"   // ldap://127.0.0.1:389
	ADCAFile        = "GATEHOUSE_TEST_AD_CA_FILE"        // PEM of the test CA
	ADBindDN        = "GATEHOUSE_TEST_AD_BIND_DN"        // service account DN
	ADBindPassword  = "GATEHOUSE_TEST_AD_BIND_PASSWORD"  // its password
	ADBaseDN        = "GATEHOUSE_TEST_AD_BASE_DN"        // DC=corp,DC=example,DC=test
	ADAdminPassword = "GATEHOUSE_TEST_AD_ADMIN_PASSWORD" // Administrator's password
	ADSambaConf     = "GATEHOUSE_TEST_AD_SMB_CONF"       // DIR/etc/smb.conf, for samba-tool in tests
)

// InCI reports whether the tests run under CI, where a missing service is a
// failure rather than a reason to skip.
func InCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v == "true" || v == "1"
}

// Require returns the value of each named variable. When any is unset it
// skips the test locally and fails it under CI, naming the missing variables
// and the command that sets them.
func Require(tb testing.TB, names ...string) []string {
	tb.Helper()
	vals := make([]string, len(names))
	var missing []string
	for i, n := range names {
		vals[i] = os.Getenv(n)
		if vals[i] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		msg := "test service not configured: " + strings.Join(missing, ", ") +
			" unset (run `make test`, or `eval $(scripts/testenv/start.sh)`)"
		if InCI() {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return vals
}

// Get returns the value of one required variable; see Require.
func Get(tb testing.TB, name string) string {
	tb.Helper()
	return Require(tb, name)[0]
}
