package testenv

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// SambaTool runs samba-tool against the test DC (it adds -s with the DC's
// smb.conf) and fails the test when it fails. It returns the output.
func SambaTool(tb testing.TB, args ...string) string {
	tb.Helper()
	conf := Get(tb, ADSambaConf)
	out, err := exec.Command("samba-tool", append(args, "-s", conf)...).CombinedOutput() // #nosec G204 -- test arguments.
	if err != nil {
		tb.Fatalf("samba-tool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sambaCleanup runs samba-tool at the end of the test, ignoring failures
// (the object may already be gone).
func sambaCleanup(tb testing.TB, args ...string) {
	conf := Get(tb, ADSambaConf)
	tb.Cleanup(func() { _ = exec.Command("samba-tool", append(args, "-s", conf)...).Run() }) // #nosec G204 -- test arguments.
}

// UniqueName is prefix and 8 random hex digits: AD names that concurrent
// tests and runs never share.
func UniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// NewADUser creates a throwaway user in OU=Staff named prefix+random (also
// its CN, so display names may repeat), with the given first and last
// name and the mail address name@corp.example.test, and deletes it at the
// end of the test. It returns the sAMAccountName.
func NewADUser(tb testing.TB, prefix, password, given, surname string) string {
	tb.Helper()
	name := UniqueName(prefix)
	SambaTool(tb, "user", "create", name, password, "--userou=OU=Staff", "--use-username-as-cn",
		"--given-name="+given, "--surname="+surname, "--mail-address="+name+"@"+ADDNSDomain)
	sambaCleanup(tb, "user", "delete", name)
	return name
}

// ADPSO is a fine-grained password policy for a test; zero fields keep
// the domain's setting.
type ADPSO struct {
	MaxAgeDays, MinLength, History   int
	LockoutThreshold, LockoutMinutes int
}

// ApplyADPSO puts users in a new group and applies a new PSO (precedence
// 10) to it; both are removed at the end of the test. It returns the PSO's
// name.
func ApplyADPSO(tb testing.TB, p ADPSO, users ...string) string {
	tb.Helper()
	group, pso := UniqueName("grp-"), UniqueName("pso-")
	SambaTool(tb, "group", "add", group, "--groupou=OU=Staff")
	sambaCleanup(tb, "group", "delete", group)
	if len(users) > 0 {
		SambaTool(tb, "group", "addmembers", group, strings.Join(users, ","))
	}
	args := []string{"domain", "passwordsettings", "pso", "create", pso, "10", "--min-pwd-age=0"}
	opt := func(flag string, v int) {
		if v > 0 {
			args = append(args, "--"+flag+"="+strconv.Itoa(v))
		}
	}
	opt("max-pwd-age", p.MaxAgeDays)
	opt("min-pwd-length", p.MinLength)
	opt("history-length", p.History)
	opt("account-lockout-threshold", p.LockoutThreshold)
	opt("account-lockout-duration", p.LockoutMinutes)
	opt("reset-account-lockout-after", p.LockoutMinutes)
	SambaTool(tb, args...)
	sambaCleanup(tb, "domain", "passwordsettings", "pso", "delete", pso)
	SambaTool(tb, "domain", "passwordsettings", "pso", "apply", pso, group)
	return pso
}

// SetADPasswordInThePast sets name's password as if it had been set days
// ago (faketime shifts samba-tool's clock, and pwdLastSet with it).
func SetADPasswordInThePast(tb testing.TB, name, password string, days int) {
	tb.Helper()
	faketime := LookPath(tb, "faketime", "scripts/testenv/install.sh (Debian package faketime)")
	conf := Get(tb, ADSambaConf)
	out, err := exec.Command(faketime, "-f", "-"+strconv.Itoa(days)+"d", "samba-tool", "user", "setpassword", name, // #nosec G204 -- test arguments.
		"--newpassword="+password, "-s", conf).CombinedOutput()
	if err != nil {
		tb.Fatalf("faketime samba-tool user setpassword: %v\n%s", err, out)
	}
}

// ExpireADPassword makes name's password expired (bind data 532), as AD.md
// describes: a PSO with a maximum age of 2 days (and a minimum length of
// 10, so pages show the PSO's rule rather than the domain's), and the
// password set 3 days ago.
func ExpireADPassword(tb testing.TB, name, password string) {
	tb.Helper()
	ApplyADPSO(tb, ADPSO{MaxAgeDays: 2, MinLength: 10, History: 24}, name)
	SetADPasswordInThePast(tb, name, password, 3)
}

// MustChangeADPassword sets name's password with pwdLastSet=0 (bind data
// 773).
func MustChangeADPassword(tb testing.TB, name, password string) {
	tb.Helper()
	SambaTool(tb, "user", "setpassword", name, "--newpassword="+password, "--must-change-at-next-login")
}

// SetADAttribute replaces an attribute of a user NewADUser made, through
// LDAPS as Administrator.
func SetADAttribute(tb testing.TB, name, attr string, values ...string) {
	tb.Helper()
	c, base := adminConn(tb)
	m := ldap.NewModifyRequest("CN="+ldap.EscapeDN(name)+",OU=Staff,"+base, nil)
	m.Replace(attr, values)
	if err := c.Modify(m); err != nil {
		tb.Fatalf("set %s of %s: %v", attr, name, err)
	}
}

// ADLockoutState reads a user's lockoutTime and badPwdCount as
// Administrator, straight from the DC.
func ADLockoutState(tb testing.TB, sam string) (lockoutTime int64, badPwdCount int) {
	tb.Helper()
	c, _ := adminConn(tb)
	res, err := c.Search(ldap.NewSearchRequest(ADStaffOU, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1, 0, false,
		"(sAMAccountName="+ldap.EscapeFilter(sam)+")", []string{"lockoutTime", "badPwdCount"}, nil))
	if err != nil || len(res.Entries) != 1 {
		tb.Fatalf("read %s: %v", sam, err)
	}
	lockoutTime, _ = strconv.ParseInt(res.Entries[0].GetAttributeValue("lockoutTime"), 10, 64)
	badPwdCount, _ = strconv.Atoi(res.Entries[0].GetAttributeValue("badPwdCount"))
	return lockoutTime, badPwdCount
}

// adminConn is an LDAPS connection to the test DC bound as Administrator,
// closed when the test ends, and the base DN.
func adminConn(tb testing.TB) (*ldap.Conn, string) {
	tb.Helper()
	v := Require(tb, ADURL, ADCAFile, ADBaseDN, ADAdminPassword)
	pem, err := os.ReadFile(v[1])
	if err != nil {
		tb.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := ldap.DialURL(v[0], ldap.DialWithTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	if err != nil {
		tb.Fatalf("admin dial: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	if err := c.Bind("CN=Administrator,CN=Users,"+v[2], v[3]); err != nil {
		tb.Fatalf("admin bind: %v", err)
	}
	return c, v[2]
}
