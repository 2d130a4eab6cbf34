package ad

// Integration tests against the real Samba AD DC of scripts/testenv. They
// skip locally when the DC is not running and fail under CI=true.
//
// The seeded users and the domain policy are shared with every other test
// package: seeded users are only read (and bound with their right password);
// anything that changes a password, locks an account or needs a policy gets
// its own uniquely named user, groups and PSO, deleted afterwards. Lockout
// and password expiry use a PSO on the test user, not the domain policy, so
// these tests can run in parallel with everything else.
//
// Failover between two replicating DCs is in failover_test.go; it runs only
// inside the two-DC namespace of scripts/testenv/samba2.sh.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/directorytest"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

type realAD struct {
	url, startTLSURL, caFile, bindDN, bindPW, baseDN, adminPW, smbConf string
}

func requireAD(tb testing.TB) realAD {
	tb.Helper()
	v := testenv.Require(tb, testenv.ADURL, testenv.ADStartTLSURL, testenv.ADCAFile, testenv.ADBindDN,
		testenv.ADBindPassword, testenv.ADBaseDN, testenv.ADAdminPassword, testenv.ADSambaConf)
	return realAD{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}
}

func (e realAD) config() config.ActiveDirectory {
	return config.ActiveDirectory{
		URLs:                 []string{e.url},
		CAFile:               e.caFile,
		BindDN:               e.bindDN,
		BindPassword:         config.Secret(e.bindPW),
		BaseDN:               e.baseDN,
		LoginAttributes:      []string{"userPrincipalName", "sAMAccountName", "mail"},
		ImmutableIDAttribute: "objectGUID",
		Timeout:              10 * time.Second,
		PoolSize:             4,
	}
}

func openAD(tb testing.TB, cfg config.ActiveDirectory) *Directory {
	tb.Helper()
	d, err := Open(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(testWriter{tb}, nil))})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	return d
}

// testWriter sends log lines to the test log.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// admin opens an LDAPS connection bound as Administrator, for test setup.
func (e realAD) admin(tb testing.TB) *ldap.Conn {
	tb.Helper()
	pem, err := os.ReadFile(e.caFile)
	if err != nil {
		tb.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := ldap.DialURL(e.url, ldap.DialWithTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	if err != nil {
		tb.Fatalf("admin dial: %v", err)
	}
	c.SetTimeout(30 * time.Second)
	if err := c.Bind("CN=Administrator,CN=Users,"+e.baseDN, e.adminPW); err != nil {
		tb.Fatalf("admin bind: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// testUser is a user one test created (in OU=Staff, so the service account
// may reset and unlock it), deleted when the test ends.
type testUser struct {
	sam, dn, password string
}

func (u testUser) upn() string { return u.sam + "@" + testenv.ADDNSDomain }

func (e realAD) newUser(tb testing.TB, admin *ldap.Conn, password string) testUser {
	tb.Helper()
	sam := uniqueName("gt")
	display := "Test " + sam
	dn := "CN=" + display + "," + testenv.ADStaffOU
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"user"})
	req.Attribute("sAMAccountName", []string{sam})
	req.Attribute("userPrincipalName", []string{sam + "@" + testenv.ADDNSDomain})
	req.Attribute("mail", []string{sam + "@" + testenv.ADDNSDomain})
	req.Attribute("givenName", []string{"Test"})
	req.Attribute("sn", []string{sam})
	req.Attribute("displayName", []string{display})
	req.Attribute("unicodePwd", []string{EncodePassword(password)})
	req.Attribute("userAccountControl", []string{"512"})
	if err := admin.Add(req); err != nil {
		tb.Fatalf("create user %s: %v", sam, err)
	}
	tb.Cleanup(func() { e.remove(tb, dn) })
	return testUser{sam: sam, dn: dn, password: password}
}

// remove deletes dn on a fresh admin connection (the test's may be closed).
func (e realAD) remove(tb testing.TB, dn string) {
	c := e.admin(tb)
	if err := c.Del(ldap.NewDelRequest(dn, nil)); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		tb.Errorf("cleanup: delete %s: %v", dn, err)
	}
}

func replace(tb testing.TB, admin *ldap.Conn, dn, attr string, vals ...string) {
	tb.Helper()
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace(attr, vals)
	if err := admin.Modify(req); err != nil {
		tb.Fatalf("set %s on %s: %v", attr, dn, err)
	}
}

// pso describes a fine-grained password policy for one test.
type pso struct {
	minLength, history, lockoutThreshold int
	minAge, maxAge, lockoutDuration      time.Duration
}

func adInterval(d time.Duration) string {
	return strconv.FormatInt(-int64(d/100), 10)
}

// applyPSO creates a PSO for the given users and deletes it afterwards.
func (e realAD) applyPSO(tb testing.TB, admin *ldap.Conn, p pso, userDNS ...string) string {
	tb.Helper()
	dn := "CN=" + uniqueName("gt-pso-") + ",CN=Password Settings Container,CN=System," + e.baseDN
	if p.lockoutDuration == 0 {
		p.lockoutDuration = 30 * time.Minute
	}
	if p.maxAge == 0 {
		p.maxAge = 42 * 24 * time.Hour
	}
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"msDS-PasswordSettings"})
	req.Attribute("msDS-PasswordSettingsPrecedence", []string{"10"})
	req.Attribute("msDS-PasswordReversibleEncryptionEnabled", []string{"FALSE"})
	req.Attribute("msDS-PasswordHistoryLength", []string{strconv.Itoa(p.history)})
	req.Attribute("msDS-PasswordComplexityEnabled", []string{"TRUE"})
	req.Attribute("msDS-MinimumPasswordLength", []string{strconv.Itoa(p.minLength)})
	req.Attribute("msDS-MinimumPasswordAge", []string{adInterval(p.minAge)})
	req.Attribute("msDS-MaximumPasswordAge", []string{adInterval(p.maxAge)})
	req.Attribute("msDS-LockoutThreshold", []string{strconv.Itoa(p.lockoutThreshold)})
	req.Attribute("msDS-LockoutObservationWindow", []string{adInterval(p.lockoutDuration)})
	req.Attribute("msDS-LockoutDuration", []string{adInterval(p.lockoutDuration)})
	req.Attribute("msDS-PSOAppliesTo", userDNS)
	if err := admin.Add(req); err != nil {
		tb.Fatalf("create PSO: %v", err)
	}
	tb.Cleanup(func() { e.remove(tb, dn) })
	return dn
}

// newGroup creates a group in OU=Staff with the given members.
func (e realAD) newGroup(tb testing.TB, admin *ldap.Conn, members ...string) string {
	tb.Helper()
	name := uniqueName("gt-grp-")
	dn := "CN=" + name + "," + testenv.ADStaffOU
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"group"})
	req.Attribute("sAMAccountName", []string{name})
	if len(members) > 0 {
		req.Attribute("member", members)
	}
	if err := admin.Add(req); err != nil {
		tb.Fatalf("create group: %v", err)
	}
	tb.Cleanup(func() { e.remove(tb, dn) })
	return dn
}

// inChainGroups is the reference answer for nested membership: an
// LDAP_MATCHING_RULE_IN_CHAIN search over member.
func inChainGroups(tb testing.TB, c *ldap.Conn, base, userDN string) []string {
	tb.Helper()
	res, err := c.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=group)(member:1.2.840.113556.1.4.1941:="+ldap.EscapeFilter(userDN)+"))", []string{"dn"}, nil))
	if err != nil {
		tb.Fatalf("in-chain search: %v", err)
	}
	var out []string
	for _, e := range res.Entries {
		out = append(out, strings.ToLower(e.DN))
	}
	slices.Sort(out)
	return out
}

func lowerSorted(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	slices.Sort(out)
	return out
}

// --------------------------------------------------------------- the suite

// adHarness runs directorytest's behavior suite against the real DC.
type adHarness struct {
	env   realAD
	d     *Directory
	users map[string]testUser
}

func (h *adHarness) Directory() directory.Directory { return h.d }

func (h *adHarness) NewUser(t *testing.T, password string) directorytest.Account {
	u := h.env.newUser(t, h.env.admin(t), password)
	h.users[u.sam] = u
	return directorytest.Account{Username: u.sam, UPN: u.upn(), Mail: u.upn(), Password: password}
}

func (h *adHarness) dn(a directorytest.Account) string { return h.users[a.Username].dn }

func (h *adHarness) Disable(t *testing.T, a directorytest.Account) {
	replace(t, h.env.admin(t), h.dn(a), "userAccountControl", "514")
}

func (h *adHarness) MustChange(t *testing.T, a directorytest.Account) {
	replace(t, h.env.admin(t), h.dn(a), "pwdLastSet", "0")
}

func (h *adHarness) ExpireAccount(t *testing.T, a directorytest.Account) {
	past := time.Now().Add(-24*time.Hour).UnixNano()/100 + fileTimeEpoch
	replace(t, h.env.admin(t), h.dn(a), "accountExpires", strconv.FormatInt(past, 10))
}

// LockOut applies a PSO with a lockout threshold of 2 to the user and fails
// two binds.
func (h *adHarness) LockOut(t *testing.T, a directorytest.Account) {
	h.env.applyPSO(t, h.env.admin(t), pso{minLength: 7, history: 24, lockoutThreshold: 2}, h.dn(a))
	for range 2 {
		if _, err := h.d.Authenticate(context.Background(), a.Username, "Wr0ng-Passw0rd!"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("bad bind: %v", err)
		}
	}
}

// ExpirePassword applies a PSO with a 2-day maximum age and sets the
// password "3 days ago" (faketime), as AD.md describes.
func (h *adHarness) ExpirePassword(t *testing.T, a directorytest.Account) {
	h.env.applyPSO(t, h.env.admin(t), pso{minLength: 7, history: 24, maxAge: 48 * time.Hour}, h.dn(a))
	setPasswordInThePast(t, h.env, a.Username, a.Password, "-3d")
}

func setPasswordInThePast(tb testing.TB, env realAD, sam, password, offset string) {
	tb.Helper()
	if _, err := exec.LookPath("faketime"); err != nil {
		tb.Skip("faketime is not installed (scripts/testenv/install.sh installs it)")
	}
	cmd := exec.Command("faketime", "-f", offset, "samba-tool", "user", "setpassword", sam,
		"--newpassword="+password, "-s", env.smbConf)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("faketime samba-tool user setpassword: %v\n%s", err, out)
	}
}

func (h *adHarness) NewUserInNestedGroup(t *testing.T, password string) (directorytest.Account, string, string) {
	a := h.NewUser(t, password)
	admin := h.env.admin(t)
	inner := h.env.newGroup(t, admin, h.dn(a))
	outer := h.env.newGroup(t, admin, inner)
	return a, inner, outer
}

func TestSambaBehaviourSuite(t *testing.T) {
	env := requireAD(t)
	h := &adHarness{env: env, d: openAD(t, env.config()), users: map[string]testUser{}}
	directorytest.Run(t, h)
}

// ---------------------------------------------------- AD-specific behavior

func TestSambaSignIn(t *testing.T) {
	env := requireAD(t)
	d := openAD(t, env.config())
	ctx := context.Background()

	t.Run("by UPN, sAMAccountName and mail, with the seeded attributes", func(t *testing.T) {
		for _, login := range []string{testenv.Alice.UPN(), testenv.Alice.SAMAccountName, testenv.Alice.Mail(), strings.ToUpper(testenv.Alice.UPN())} {
			u, err := d.Authenticate(ctx, login, testenv.Alice.Password)
			if err != nil {
				t.Fatalf("Authenticate(%q): %v", login, err)
			}
			if u.DN != testenv.Alice.DN || u.SAMAccountName != "alice" || u.UPN != testenv.Alice.UPN() ||
				u.Mail != testenv.Alice.Mail() || u.DisplayName != "Alice Smith" || u.GivenName != "Alice" || u.Surname != "Smith" {
				t.Errorf("user = %+v", u)
			}
			if u.State.Disabled || u.State.Locked || u.State.MustChange || u.State.PasswordLastSet.IsZero() ||
				u.State.PasswordExpires.IsZero() || !u.State.AccountExpires.IsZero() {
				t.Errorf("state = %+v", u.State)
			}
		}
	})

	t.Run("each seeded account state maps to its error", func(t *testing.T) {
		tests := []struct {
			user     testenv.ADUser
			password string
			want     error
			withUser bool
		}{
			{testenv.Alice, "Wr0ng-Passw0rd!", directory.ErrInvalidCredentials, false},   // 52e
			{testenv.Dave, testenv.Dave.Password, directory.ErrAccountDisabled, false},   // 533
			{testenv.Frank, testenv.Frank.Password, directory.ErrAccountExpired, false},  // 701
			{testenv.Erin, testenv.Erin.Password, directory.ErrMustChangePassword, true}, // 773
		}
		for _, tt := range tests {
			u, err := d.Authenticate(ctx, tt.user.SAMAccountName, tt.password)
			if !errors.Is(err, tt.want) || (u != nil) != tt.withUser {
				t.Errorf("%s: got %v, %v; want %v (user returned: %v)", tt.user.SAMAccountName, u, err, tt.want, tt.withUser)
			}
		}
		u, err := d.LookupUser(ctx, "erin")
		if err != nil || !u.State.MustChange || !u.State.PasswordExpires.IsZero() {
			t.Errorf("erin: %+v, %v", u, err)
		}
		u, err = d.LookupUser(ctx, "frank")
		if err != nil || u.State.AccountExpires.Year() != 2012 {
			t.Errorf("frank: %+v, %v", u, err)
		}
		u, err = d.LookupUser(ctx, "dave")
		if err != nil || !u.State.Disabled {
			t.Errorf("dave: %+v, %v", u, err)
		}
	})

	t.Run("an unknown user is invalid credentials, and a lookup says not found", func(t *testing.T) {
		if _, err := d.Authenticate(ctx, "nobody-"+uniqueName(""), "Wr0ng-Passw0rd!"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("got %v", err)
		}
		if _, err := d.LookupUser(ctx, "nobody-"+uniqueName("")); !errors.Is(err, directory.ErrUserNotFound) {
			t.Errorf("got %v", err)
		}
	})

	t.Run("LDAP injection finds nobody", func(t *testing.T) {
		for _, login := range []string{"*", "ali*", "*)(uid=*", "*)(sAMAccountName=*", "alice)(|(objectClass=*", `\2a`, "\x00"} {
			if u, err := d.LookupUser(ctx, login); !errors.Is(err, directory.ErrUserNotFound) {
				t.Errorf("LookupUser(%q) = %v, %v", login, u, err)
			}
			if _, err := d.Authenticate(ctx, login, testenv.Alice.Password); !errors.Is(err, directory.ErrInvalidCredentials) {
				t.Errorf("Authenticate(%q) = %v", login, err)
			}
		}
	})

	t.Run("over StartTLS too", func(t *testing.T) {
		cfg := env.config()
		cfg.URLs = []string{env.startTLSURL}
		d := openAD(t, cfg)
		if _, err := d.Authenticate(ctx, "alice", testenv.Alice.Password); err != nil {
			t.Fatal(err)
		}
		if err := d.Check(ctx); err != nil {
			t.Errorf("Check: %v", err)
		}
	})

	t.Run("Check answers", func(t *testing.T) {
		if err := d.Check(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSambaIdentityAndGroups(t *testing.T) {
	env := requireAD(t)
	d := openAD(t, env.config())
	admin := env.admin(t)
	ctx := context.Background()

	t.Run("ID and ImmutableID come from the raw objectGUID", func(t *testing.T) {
		u, err := d.Authenticate(ctx, "alice", testenv.Alice.Password)
		if err != nil {
			t.Fatal(err)
		}
		res, err := admin.Search(ldap.NewSearchRequest(testenv.Alice.DN, ldap.ScopeBaseObject, 0, 1, 0, false,
			"(objectClass=*)", []string{"objectGUID"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		raw := res.Entries[0].GetRawAttributeValue("objectGUID")
		if u.ImmutableID != base64.StdEncoding.EncodeToString(raw) || u.ID != hex.EncodeToString(raw) {
			t.Errorf("ImmutableID %s / ID %s do not match objectGUID % x", u.ImmutableID, u.ID, raw)
		}
	})

	t.Run("ImmutableID comes from ms-DS-ConsistencyGuid when configured and set", func(t *testing.T) {
		tu := env.newUser(t, admin, directorytest.PasswordA)
		cfg := env.config()
		cfg.ImmutableIDAttribute = "ms-DS-ConsistencyGuid"
		d := openAD(t, cfg)
		before, err := d.LookupUser(ctx, tu.sam)
		if err != nil {
			t.Fatal(err)
		}
		guid, _ := hex.DecodeString(before.ID)
		if before.ImmutableID != base64.StdEncoding.EncodeToString(guid) {
			t.Errorf("without ms-DS-ConsistencyGuid: ImmutableID %s, want the objectGUID's", before.ImmutableID)
		}
		cg := make([]byte, 16)
		_, _ = rand.Read(cg)
		replace(t, admin, tu.dn, "mS-DS-ConsistencyGuid", string(cg))
		u, err := d.Authenticate(ctx, tu.upn(), directorytest.PasswordA)
		if err != nil {
			t.Fatal(err)
		}
		if u.ImmutableID != base64.StdEncoding.EncodeToString(cg) {
			t.Errorf("ImmutableID = %s, want %s", u.ImmutableID, base64.StdEncoding.EncodeToString(cg))
		}
		if u.ID != before.ID {
			t.Errorf("ID changed with the consistency GUID")
		}
	})

	t.Run("nested groups equal the in-chain answer", func(t *testing.T) {
		for _, su := range []testenv.ADUser{testenv.Alice, testenv.Bob, testenv.Carol} {
			u, err := d.Authenticate(ctx, su.SAMAccountName, su.Password)
			if err != nil {
				t.Fatal(err)
			}
			got, want := lowerSorted(u.Groups), inChainGroups(t, admin, env.baseDN, su.DN)
			if !slices.Equal(got, want) {
				t.Errorf("%s: groups %v, in-chain says %v", su.SAMAccountName, got, want)
			}
		}
		alice, _ := d.LookupUser(ctx, "alice")
		if !alice.InGroup(testenv.ADGroupStaffAll) || !alice.InGroup("Engineers") || alice.InGroup("Sales") {
			t.Errorf("alice's groups: %v", alice.Groups)
		}
	})

	t.Run("three levels of nesting, with a cycle", func(t *testing.T) {
		tu := env.newUser(t, admin, directorytest.PasswordA)
		g1 := env.newGroup(t, admin, tu.dn)
		g2 := env.newGroup(t, admin, g1)
		g3 := env.newGroup(t, admin, g2)
		req := ldap.NewModifyRequest(g1, nil)
		req.Add("member", []string{g3}) // g1 ⊂ g2 ⊂ g3 ⊂ g1
		if err := admin.Modify(req); err != nil {
			t.Fatal(err)
		}
		u, err := d.LookupUser(ctx, tu.sam)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := lowerSorted(u.Groups), lowerSorted([]string{g1, g2, g3}); !slices.Equal(got, want) {
			t.Errorf("groups %v, want %v", got, want)
		}
	})
}

func TestSambaLockoutAndUnlock(t *testing.T) {
	env := requireAD(t)
	d := openAD(t, env.config())
	admin := env.admin(t)
	ctx := context.Background()
	tu := env.newUser(t, admin, directorytest.PasswordA)
	psoDN := env.applyPSO(t, admin, pso{minLength: 7, history: 24, lockoutThreshold: 2, lockoutDuration: 30 * time.Minute}, tu.dn)

	pol, err := d.PasswordPolicy(ctx, &directory.User{DN: tu.dn})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(pol.Source, psoDN) || pol.LockoutThreshold != 2 || pol.LockoutDuration != 30*time.Minute || pol.HistoryLength != 24 {
		t.Errorf("policy from the PSO = %+v", pol)
	}

	for i := range 2 {
		if _, err := d.Authenticate(ctx, tu.sam, "Wr0ng-Passw0rd!"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("bad bind %d: %v", i+1, err)
		}
	}
	if _, err := d.Authenticate(ctx, tu.sam, directorytest.PasswordA); !errors.Is(err, directory.ErrAccountLocked) {
		t.Fatalf("right password while locked: %v, want ErrAccountLocked (775)", err)
	}
	u, err := d.LookupUser(ctx, tu.sam)
	if err != nil {
		t.Fatal(err)
	}
	if !u.State.Locked || u.State.LockedUntil.IsZero() {
		t.Fatalf("state = %+v", u.State)
	}
	if left := time.Until(u.State.LockedUntil); left < 29*time.Minute || left > 31*time.Minute {
		t.Errorf("LockedUntil is %v away, want about 30 minutes", left)
	}
	// A reset alone does not unlock (AD.md).
	if err := d.ResetPassword(ctx, u, directorytest.PasswordB); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, tu.sam, directorytest.PasswordB); !errors.Is(err, directory.ErrAccountLocked) {
		t.Errorf("after a reset: %v, want still locked", err)
	}
	if err := d.Unlock(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, tu.sam, directorytest.PasswordB); err != nil {
		t.Errorf("after unlock: %v", err)
	}
}

func TestSambaExpiredPassword(t *testing.T) {
	env := requireAD(t)
	d := openAD(t, env.config())
	admin := env.admin(t)
	ctx := context.Background()
	tu := env.newUser(t, admin, directorytest.PasswordA)
	env.applyPSO(t, admin, pso{minLength: 7, history: 24, maxAge: 48 * time.Hour}, tu.dn)
	setPasswordInThePast(t, env, tu.sam, directorytest.PasswordA, "-3d")

	u, err := d.Authenticate(ctx, tu.upn(), directorytest.PasswordA)
	if !errors.Is(err, directory.ErrPasswordExpired) || u == nil {
		t.Fatalf("got %v, %v; want the user with ErrPasswordExpired (532)", u, err)
	}
	if u.State.PasswordExpires.IsZero() || u.State.PasswordExpires.After(time.Now()) {
		t.Errorf("PasswordExpires = %v, want in the past", u.State.PasswordExpires)
	}
	if _, err := d.Authenticate(ctx, tu.upn(), directorytest.PasswordB); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("a wrong password for an expired user: %v", err)
	}
	if err := d.ChangePassword(ctx, u, directorytest.PasswordC, directorytest.PasswordB); !errors.Is(err, directory.ErrWrongPassword) {
		t.Errorf("change with a wrong old password: %v", err)
	}
	if err := d.ChangePassword(ctx, u, directorytest.PasswordA, directorytest.PasswordB); err != nil {
		t.Fatalf("change of an expired password: %v", err)
	}
	if _, err := d.Authenticate(ctx, tu.upn(), directorytest.PasswordB); err != nil {
		t.Errorf("after the change: %v", err)
	}
}

func TestSambaPasswordRules(t *testing.T) {
	env := requireAD(t)
	d := openAD(t, env.config())
	admin := env.admin(t)
	ctx := context.Background()

	t.Run("the domain policy is read from the domain root", func(t *testing.T) {
		p, err := d.PasswordPolicy(ctx, &directory.User{DN: testenv.Alice.DN})
		if err != nil {
			t.Fatal(err)
		}
		if p.Source != "domain" || p.MinLength != 7 || !p.Complexity || p.HistoryLength != 24 || p.MaxAge != 42*24*time.Hour {
			t.Errorf("domain policy = %+v", p)
		}
	})

	t.Run("a change within the minimum age is too young", func(t *testing.T) {
		tu := env.newUser(t, admin, directorytest.PasswordA)
		env.applyPSO(t, admin, pso{minLength: 7, history: 24, minAge: 24 * time.Hour}, tu.dn)
		err := d.ChangePassword(ctx, &directory.User{DN: tu.dn}, directorytest.PasswordA, directorytest.PasswordB)
		var pe *directory.PolicyError
		if !errors.As(err, &pe) || !pe.Has(directory.ReasonTooYoung) {
			t.Fatalf("got %v, want too_young", err)
		}
		if _, err := d.Authenticate(ctx, tu.sam, directorytest.PasswordA); err != nil {
			t.Errorf("the refused change changed something: %v", err)
		}
	})

	t.Run("a PSO's minimum length is the one enforced and explained", func(t *testing.T) {
		tu := env.newUser(t, admin, directorytest.PasswordA)
		env.applyPSO(t, admin, pso{minLength: 16, history: 2}, tu.dn)
		err := d.ResetPassword(ctx, &directory.User{DN: tu.dn}, "Sh0rter-Than16")
		var pe *directory.PolicyError
		if !errors.As(err, &pe) || !pe.Has(directory.ReasonTooShort) || !strings.Contains(pe.Error(), "16") {
			t.Fatalf("got %v, want too_short naming 16", err)
		}
	})

	t.Run("history is enforced on a change, not on a reset (Samba ignores policy hints)", func(t *testing.T) {
		tu := env.newUser(t, admin, directorytest.PasswordA)
		u := &directory.User{DN: tu.dn}
		if err := d.ChangePassword(ctx, u, directorytest.PasswordA, directorytest.PasswordB); err != nil {
			t.Fatal(err)
		}
		err := d.ChangePassword(ctx, u, directorytest.PasswordB, directorytest.PasswordA)
		var pe *directory.PolicyError
		if !errors.As(err, &pe) || !pe.Has(directory.ReasonHistory) {
			t.Fatalf("reuse on change: %v, want history", err)
		}
		if err := d.ResetPassword(ctx, u, directorytest.PasswordA); err != nil {
			t.Errorf("reset to an old password (Samba 4.17 does not enforce history on resets): %v", err)
		}
		if _, err := d.Authenticate(ctx, tu.sam, directorytest.PasswordA); err != nil {
			t.Errorf("after the reset: %v", err)
		}
	})

	t.Run("a must-change user changes on the service connection", func(t *testing.T) {
		tu := env.newUser(t, admin, directorytest.PasswordA)
		replace(t, admin, tu.dn, "pwdLastSet", "0")
		u, err := d.Authenticate(ctx, tu.sam, directorytest.PasswordA)
		if !errors.Is(err, directory.ErrMustChangePassword) {
			t.Fatalf("got %v", err)
		}
		if err := d.ChangePassword(ctx, u, directorytest.PasswordA, directorytest.PasswordB); err != nil {
			t.Fatal(err)
		}
		u, err = d.Authenticate(ctx, tu.sam, directorytest.PasswordB)
		if err != nil || u.State.MustChange {
			t.Errorf("after the change: %+v, %v", u, err)
		}
	})
}

func TestSambaSurvivesBadDCs(t *testing.T) {
	env := requireAD(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		first func(t *testing.T) (url string, accepted func() int)
	}{
		{"a closed port first", func(t *testing.T) (string, func() int) {
			return "ldaps://" + closedPort(t), func() int { return 0 }
		}},
		{"a listener that accepts TCP and never answers first", func(t *testing.T) (string, func() int) {
			addr, n := listenCounting(t, silent)
			return "ldaps://" + addr, n
		}},
		{"a StartTLS listener that never answers first", func(t *testing.T) (string, func() int) {
			addr, n := listenCounting(t, silent)
			return "ldap://" + addr, n
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := env.config()
			cfg.Timeout = 3 * time.Second
			first, accepted := tt.first(t)
			cfg.URLs = []string{first, env.url}
			d := openAD(t, cfg)
			d.backoffBase = time.Hour // no probe of the bad DC during the test
			// Returning at all means the bad DC's deadline fired; no
			// wall-clock assertion (a hang ends at the test's timeout).
			u, err := d.Authenticate(ctx, "alice", testenv.Alice.Password)
			if err != nil || u.SAMAccountName != "alice" {
				t.Fatalf("Authenticate: %v, %v", u, err)
			}
			if d.dcs[0].isHealthy() {
				t.Errorf("the bad DC is still in service")
			}
			// The bad DC is out: the next sign-ins go straight to the real one.
			before := accepted()
			for range 3 {
				if _, err := d.Authenticate(ctx, "alice", testenv.Alice.Password); err != nil {
					t.Fatal(err)
				}
			}
			if n := accepted() - before; n != 0 {
				t.Errorf("the bad DC was connected to %d more times while out of service", n)
			}
			if err := d.Check(ctx); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
	t.Run("a wrong password is tried on one DC only", func(t *testing.T) {
		// Both URLs are the same DC under different names; a retry would
		// show as a second bad-password count.
		admin := env.admin(t)
		tu := env.newUser(t, admin, directorytest.PasswordA)
		// Samba counts bad passwords only where a lockout threshold applies.
		env.applyPSO(t, admin, pso{minLength: 7, history: 24, lockoutThreshold: 5}, tu.dn)
		cfg := env.config()
		cfg.URLs = []string{env.url, env.startTLSURL}
		d := openAD(t, cfg)
		if _, err := d.Authenticate(ctx, tu.sam, "Wr0ng-Passw0rd!"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatal(err)
		}
		res, err := env.admin(t).Search(ldap.NewSearchRequest(tu.dn, ldap.ScopeBaseObject, 0, 1, 0, false,
			"(objectClass=*)", []string{"badPwdCount"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if n := res.Entries[0].GetAttributeValue("badPwdCount"); n != "1" {
			t.Errorf("badPwdCount = %s after one wrong password, want 1", n)
		}
	})
}

func TestSambaCloseLeavesNoGoroutines(t *testing.T) {
	env := requireAD(t)
	before := runtime.NumGoroutine()
	cfg := env.config()
	cfg.URLs = []string{env.url, env.startTLSURL}
	d, err := Open(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := d.Authenticate(context.Background(), "alice", testenv.Alice.Password); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
