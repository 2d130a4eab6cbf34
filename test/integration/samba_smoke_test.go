// Package integration holds smoke tests of the test environment itself:
// they prove that the Samba AD DC started by scripts/testenv is reachable the
// way Gatehouse will reach it (LDAPS and StartTLS with real certificate
// verification), that the seeded directory is what internal/testenv says, and
// that the service account has exactly its delegated rights.
package integration

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

type adEnv struct {
	url, startTLSURL, caFile, bindDN, bindPassword, baseDN string
}

func requireAD(t *testing.T) adEnv {
	t.Helper()
	v := testenv.Require(t, testenv.ADURL, testenv.ADStartTLSURL, testenv.ADCAFile,
		testenv.ADBindDN, testenv.ADBindPassword, testenv.ADBaseDN)
	return adEnv{v[0], v[1], v[2], v[3], v[4], v[5]}
}

// tlsConfig trusts only the test CA and checks the name in rawURL.
func tlsConfig(t *testing.T, caFile, rawURL string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("read test CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: hostOf(t, rawURL), MinVersion: tls.VersionTLS12}
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse %q: %v", rawURL, err)
	}
	return u.Hostname()
}

func dial(t *testing.T, rawURL string, cfg *tls.Config) (*ldap.Conn, error) {
	t.Helper()
	conn, err := ldap.DialURL(rawURL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}), ldap.DialWithTLSConfig(cfg))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(15 * time.Second)
	t.Cleanup(func() { _ = conn.Close() })
	return conn, nil
}

// serviceConn returns an LDAPS connection bound as the service account.
func serviceConn(t *testing.T, env adEnv) *ldap.Conn {
	t.Helper()
	conn, err := dial(t, env.url, tlsConfig(t, env.caFile, env.url))
	if err != nil {
		t.Fatalf("dial %s with the test CA: %v", env.url, err)
	}
	if err := conn.Bind(env.bindDN, env.bindPassword); err != nil {
		t.Fatalf("bind as %s: %v", env.bindDN, err)
	}
	return conn
}

func findOne(t *testing.T, conn *ldap.Conn, baseDN, filter string, attrs ...string) *ldap.Entry {
	t.Helper()
	res, err := conn.Search(ldap.NewSearchRequest(baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, 10, false, filter, attrs, nil))
	if err != nil {
		t.Fatalf("search %s: %v", filter, err)
	}
	// Referrals (Configuration, DNS zones) come back from the domain root:
	// they are not entries and are ignored.
	if len(res.Entries) != 1 {
		t.Fatalf("search %s: %d entries, want 1", filter, len(res.Entries))
	}
	return res.Entries[0]
}

func TestLDAPSServiceAccountFindsAlice(t *testing.T) {
	env := requireAD(t)
	conn := serviceConn(t, env)
	if st, ok := conn.TLSConnectionState(); !ok || !st.HandshakeComplete {
		t.Fatal("LDAPS connection is not TLS")
	}
	a := testenv.Alice
	e := findOne(t, conn, env.baseDN, "(&(objectClass=user)(sAMAccountName="+ldap.EscapeFilter(a.SAMAccountName)+"))",
		"givenName", "sn", "displayName", "mail", "userPrincipalName", "memberOf", "userAccountControl",
		"title", "department", "objectGUID")
	if !strings.EqualFold(e.DN, a.DN) {
		t.Errorf("DN = %q, want %q", e.DN, a.DN)
	}
	for attr, want := range map[string]string{
		"givenName": a.GivenName, "sn": a.Surname, "displayName": a.DisplayName(), "mail": a.Mail(),
		"userPrincipalName": a.UPN(), "userAccountControl": "512", "title": "Engineer", "department": "Engineering",
	} {
		if got := e.GetAttributeValue(attr); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	if n := len(e.GetRawAttributeValue("objectGUID")); n != 16 {
		t.Errorf("objectGUID has %d bytes, want 16", n)
	}
	if got := e.GetAttributeValues("memberOf"); !slices.Equal(got, a.Groups) {
		t.Errorf("memberOf = %q, want %q", got, a.Groups)
	}
}

func TestSeededDirectory(t *testing.T) {
	env := requireAD(t)
	conn := serviceConn(t, env)

	for _, u := range testenv.ADUsers() {
		e := findOne(t, conn, env.baseDN, "(userPrincipalName="+ldap.EscapeFilter(u.UPN())+")", "memberOf")
		if !strings.EqualFold(e.DN, u.DN) {
			t.Errorf("%s: DN = %q, want %q", u.SAMAccountName, e.DN, u.DN)
		}
		got := e.GetAttributeValues("memberOf")
		slices.Sort(got)
		want := slices.Sorted(slices.Values(u.Groups))
		if !slices.Equal(got, want) {
			t.Errorf("%s: memberOf = %q, want %q", u.SAMAccountName, got, want)
		}
	}

	// Nested membership: alice is in Engineers, Engineers in Staff-All.
	nested := "(&(sAMAccountName=alice)(memberOf:1.2.840.113556.1.4.1941:=" + ldap.EscapeFilter(testenv.ADGroupStaffAll) + "))"
	findOne(t, conn, env.baseDN, nested, "cn")
	if slices.Contains(testenv.Alice.Groups, testenv.ADGroupStaffAll) {
		t.Fatal("alice must reach Staff-All only through Engineers")
	}

	// Account states: bind errors carry AD's data codes.
	for _, tc := range []struct {
		user testenv.ADUser
		data string // "" = bind succeeds
	}{
		{testenv.Alice, ""}, {testenv.Bob, ""}, {testenv.Carol, ""},
		{testenv.Dave, "data 533"}, {testenv.Erin, "data 773"}, {testenv.Frank, "data 701"},
	} {
		c, err := dial(t, env.url, tlsConfig(t, env.caFile, env.url))
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		err = c.Bind(tc.user.UPN(), tc.user.Password)
		switch {
		case tc.data == "" && err != nil:
			t.Errorf("bind %s: %v", tc.user.SAMAccountName, err)
		case tc.data != "" && (!ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) || !strings.Contains(err.Error(), tc.data)):
			t.Errorf("bind %s: err = %v, want result 49 with %q", tc.user.SAMAccountName, err, tc.data)
		}
	}

	// The policy the change tests rely on.
	root := findOne(t, conn, env.baseDN, "(objectClass=domainDNS)", "minPwdAge")
	if got := root.GetAttributeValue("minPwdAge"); got != "0" {
		t.Errorf("domain minPwdAge = %q, want 0", got)
	}
}

func TestLDAPSWithoutTestCAFailsVerification(t *testing.T) {
	env := requireAD(t)
	host := hostOf(t, env.url)

	// System roots only: the test CA is not among them.
	_, err := dial(t, env.url, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("dial with system roots: err = %v, want x509.UnknownAuthorityError", err)
	}

	// The test CA but a name the certificate does not carry.
	cfg := tlsConfig(t, env.caFile, env.url)
	cfg.ServerName = "dc9." + testenv.ADDNSDomain
	_, err = dial(t, env.url, cfg)
	var hostErr x509.HostnameError
	if !errors.As(err, &hostErr) {
		t.Fatalf("dial with a wrong server name: err = %v, want x509.HostnameError", err)
	}
}

func TestStartTLS(t *testing.T) {
	env := requireAD(t)
	conn, err := dial(t, env.startTLSURL, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", env.startTLSURL, err)
	}
	if err := conn.StartTLS(tlsConfig(t, env.caFile, env.startTLSURL)); err != nil {
		t.Fatalf("StartTLS with the test CA: %v", err)
	}
	if st, ok := conn.TLSConnectionState(); !ok || !st.HandshakeComplete {
		t.Fatal("no TLS after StartTLS")
	}
	if err := conn.Bind(env.bindDN, env.bindPassword); err != nil {
		t.Fatalf("bind after StartTLS: %v", err)
	}
	findOne(t, conn, env.baseDN, "(sAMAccountName=alice)", "cn")

	// StartTLS verifies too.
	plain, err := dial(t, env.startTLSURL, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", env.startTLSURL, err)
	}
	err = plain.StartTLS(&tls.Config{ServerName: hostOf(t, env.startTLSURL), MinVersion: tls.VersionTLS12})
	// go-ldap's StartTLS formats the handshake error into its message
	// (no %w), so the x509 type is not reachable through errors.As here.
	if err == nil || !strings.Contains(err.Error(), (x509.UnknownAuthorityError{}).Error()) {
		t.Fatalf("StartTLS with system roots: err = %v, want certificate signed by unknown authority", err)
	}
}

// unicodePwd encodes a password as AD wants it: quoted, UTF-16LE.
func unicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// TestServiceAccountRights checks the delegation on OU=Staff: the service
// account may reset passwords and write lockoutTime there, and nothing more.
// It changes only the smoke user, which exists for this test.
func TestServiceAccountRights(t *testing.T) {
	env := requireAD(t)
	conn := serviceConn(t, env)
	u := testenv.SmokeProbe

	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	newPW := "Sm0ke!" + hex.EncodeToString(buf)
	reset := ldap.NewModifyRequest(u.DN, nil)
	reset.Replace("unicodePwd", []string{unicodePwd(newPW)})
	if err := conn.Modify(reset); err != nil {
		t.Fatalf("reset %s's password as the service account: %v", u.SAMAccountName, err)
	}
	userConn, err := dial(t, env.url, tlsConfig(t, env.caFile, env.url))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := userConn.Bind(u.UPN(), newPW); err != nil {
		t.Fatalf("bind with the new password: %v", err)
	}

	unlock := ldap.NewModifyRequest(u.DN, nil)
	unlock.Replace("lockoutTime", []string{"0"})
	if err := conn.Modify(unlock); err != nil {
		t.Fatalf("write lockoutTime as the service account: %v", err)
	}

	other := ldap.NewModifyRequest(u.DN, nil)
	other.Replace("description", []string{"must not be writable"})
	if err := conn.Modify(other); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		t.Errorf("write description: err = %v, want insufficient access (50)", err)
	}

	admin := ldap.NewModifyRequest("CN=Administrator,CN=Users,"+env.baseDN, nil)
	admin.Replace("unicodePwd", []string{unicodePwd(newPW)})
	if err := conn.Modify(admin); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		t.Errorf("reset Administrator's password: err = %v, want insufficient access (50)", err)
	}
}
