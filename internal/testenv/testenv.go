// Package testenv tells tests where the project's real test services are
// (Samba AD DC, PostgreSQL, …) and decides what happens when one is missing:
// a local run skips with a one-line reason, a CI run (CI=true) fails.
//
// It owns only the lookup of environment variables set by
// scripts/testenv/*; it must not start or stop services itself.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Environment variables exported by scripts/testenv/start.sh (and env.sh,
// which prints them again for services that are already running).
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

// The two-DC failover environment of scripts/testenv/samba2.sh: dc1 (the
// seeded directory) and dc2 (joined to it), replicating, inside a private
// network + mount namespace where dc1.corp.example.test is 127.0.0.1 and
// dc2.corp.example.test is 127.0.0.2. Only a process inside that namespace
// can reach them: `samba2.sh exec CMD` runs CMD there with these variables,
// ADCAFile, ADBindDN, ADBindPassword, ADBaseDN, ADAdminPassword and
// Failover=1 set; make test runs the failover tests that way (see
// RequireFailover).
const (
	Failover       = "GATEHOUSE_TEST_FAILOVER"        // "1" inside the namespace
	ADDC1URL       = "GATEHOUSE_TEST_AD_DC1_URL"      // ldaps://dc1.corp.example.test:636
	ADDC2URL       = "GATEHOUSE_TEST_AD_DC2_URL"      // ldaps://dc2.corp.example.test:636
	ADDC1SambaConf = "GATEHOUSE_TEST_AD_DC1_SMB_CONF" // dc1's smb.conf, for samba-tool/ldbsearch
	ADDC2SambaConf = "GATEHOUSE_TEST_AD_DC2_SMB_CONF" // dc2's smb.conf
	// ADFailoverCtl is scripts/testenv/samba2.sh: `CTL dc-stop dc1` stops
	// dc1 by its pid, `CTL dc-start dc1` starts it again.
	ADFailoverCtl = "GATEHOUSE_TEST_AD_FAILOVER_CTL"
)

// The directory that scripts/testenv/samba.sh seeds (scripts/testenv/README.md
// describes it). Every `make test` starts from exactly this state, but all
// test packages share one DC and run in parallel: treat the seeded users and
// groups as read-only, and create users of your own (for example with
// samba-tool -s $GATEHOUSE_TEST_AD_SMB_CONF) for tests that change passwords,
// lock accounts or alter the domain policy.
const (
	ADRealm       = "CORP.EXAMPLE.TEST"
	ADNetBIOS     = "CORP"
	ADDNSDomain   = "corp.example.test"
	ADStaffOU     = "OU=Staff,DC=corp,DC=example,DC=test"
	ADServiceOU   = "OU=Service Accounts,DC=corp,DC=example,DC=test"
	ADServiceUser = "svc-gatehouse" // DN in GATEHOUSE_TEST_AD_BIND_DN

	// Groups, all in ADStaffOU. Engineers and Sales are members of Staff-All,
	// so alice (Engineers) and carol (Sales) are nested members of it.
	ADGroupStaffAll   = "CN=Staff-All,OU=Staff,DC=corp,DC=example,DC=test"
	ADGroupEngineers  = "CN=Engineers,OU=Staff,DC=corp,DC=example,DC=test"
	ADGroupSales      = "CN=Sales,OU=Staff,DC=corp,DC=example,DC=test"
	ADGroupOperations = "CN=Operations,OU=Staff,DC=corp,DC=example,DC=test"
)

// ADUser is a user seeded into the test directory. Its CN is the display name
// ("Alice Smith"), as samba-tool and the AD tools make it; UPN and mail are
// SAMAccountName@corp.example.test.
type ADUser struct {
	SAMAccountName string
	GivenName      string
	Surname        string
	Password       string
	DN             string
	// Groups the user is a direct member of (DNs).
	Groups []string
}

// UPN returns the user's userPrincipalName.
func (u ADUser) UPN() string { return u.SAMAccountName + "@" + ADDNSDomain }

// Mail returns the user's mail attribute.
func (u ADUser) Mail() string { return u.SAMAccountName + "@" + ADDNSDomain }

// DisplayName returns "Given Surname", also the user's CN.
func (u ADUser) DisplayName() string { return u.GivenName + " " + u.Surname }

func seedUser(sam, given, sn, password string, groups ...string) ADUser {
	return ADUser{
		SAMAccountName: sam, GivenName: given, Surname: sn, Password: password,
		DN: "CN=" + given + " " + sn + "," + ADStaffOU, Groups: groups,
	}
}

// The seeded users (all in ADStaffOU).
var (
	// Alice is a normal user (title Engineer, department Engineering) in
	// Engineers, and so a nested member of Staff-All.
	Alice = seedUser("alice", "Alice", "Smith", "Al1ce!Passw0rd", ADGroupEngineers)
	// Bob is a normal user, a direct member of Staff-All and of Operations.
	Bob = seedUser("bob", "Bob", "Jones", "B0b!Passw0rd", ADGroupOperations, ADGroupStaffAll)
	// Carol is a normal user in Sales (nested member of Staff-All).
	Carol = seedUser("carol", "Carol", "White", "C4rol!Passw0rd", ADGroupSales)
	// Dave is disabled (userAccountControl 514): binds answer data 533.
	Dave = seedUser("dave", "Dave", "Brown", "D4ve!Passw0rd")
	// Erin must change her password (pwdLastSet 0): binds answer data 773.
	Erin = seedUser("erin", "Erin", "Green", "Er1n!Passw0rd")
	// Frank's account expired in 2012 (accountExpires): binds answer data 701.
	Frank = seedUser("frank", "Frank", "Black", "Fr4nk!Passw0rd")
	// SmokeProbe belongs to test/integration, which resets its password to
	// check the service account's rights; no other test may rely on it.
	SmokeProbe = seedUser("smoke", "Smoke", "Probe", "Sm0ke!Passw0rd")
)

// ADUsers returns every seeded user.
func ADUsers() []ADUser { return []ADUser{Alice, Bob, Carol, Dave, Erin, Frank, SmokeProbe} }

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

// RequireFailover is Require for tests that need the two-DC namespace of
// scripts/testenv/samba2.sh. Outside it (Failover unset) such a test is
// always skipped, under CI too: make test runs it separately, inside the
// namespace, where Failover=1 is set. Inside, a missing variable skips
// locally and fails under CI, as with Require.
func RequireFailover(tb testing.TB, names ...string) []string {
	tb.Helper()
	const how = "make test runs it there; by hand: scripts/testenv/failover-tests.sh"
	if os.Getenv(Failover) != "1" {
		tb.Skip("needs the two-DC namespace of scripts/testenv/samba2.sh (" + Failover + "=1): " + how)
	}
	vals := make([]string, len(names))
	var missing []string
	for i, n := range names {
		vals[i] = os.Getenv(n)
		if vals[i] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		Unavailable(tb, "two-DC environment not configured: "+strings.Join(missing, ", ")+
			" unset although "+Failover+"=1 (samba2.sh exec sets them; "+how+")")
	}
	return vals
}

// Get returns the value of one required variable; see Require.
func Get(tb testing.TB, name string) string {
	tb.Helper()
	return Require(tb, name)[0]
}

// Unavailable reports that something a test needs is missing: it skips the
// test locally and fails it under CI, with reason as the one-line message.
func Unavailable(tb testing.TB, reason string) {
	tb.Helper()
	if InCI() {
		tb.Fatal(reason)
	}
	tb.Skip(reason)
}

// LookPath returns the full path of the named program. When it is not on
// PATH the test is skipped locally and fails under CI (see Unavailable);
// install names what provides it, e.g. "scripts/testenv/install.sh".
func LookPath(tb testing.TB, name, install string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(tb, name+" not found on PATH (install it with "+install+")")
	}
	return p
}
