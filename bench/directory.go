package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory/ad"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// adEnv is the test environment's DC, as scripts/testenv exports it.
type adEnv struct {
	URL, CAFile, BindDN, BindPassword, BaseDN, AdminPassword string
}

func adEnvFromEnvironment() (adEnv, error) {
	e := adEnv{
		URL: os.Getenv(testenv.ADURL), CAFile: os.Getenv(testenv.ADCAFile), BindDN: os.Getenv(testenv.ADBindDN),
		BindPassword: os.Getenv(testenv.ADBindPassword), BaseDN: os.Getenv(testenv.ADBaseDN),
		AdminPassword: os.Getenv(testenv.ADAdminPassword),
	}
	var missing []string
	for name, v := range map[string]string{
		testenv.ADURL: e.URL, testenv.ADCAFile: e.CAFile, testenv.ADBindDN: e.BindDN,
		testenv.ADBindPassword: e.BindPassword, testenv.ADBaseDN: e.BaseDN, testenv.ADAdminPassword: e.AdminPassword,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return e, fmt.Errorf("the test environment is not loaded (source .testenv/env.sh): %s unset", strings.Join(missing, ", "))
	}
	return e, nil
}

// admin is an LDAPS connection bound as Administrator, for creating and
// removing the run's users. samba-tool would do the same through Python at
// about half a second per user; over LDAP it is a few milliseconds.
type admin struct {
	env adEnv
	mu  sync.Mutex
	c   *ldap.Conn
}

func dialAdmin(env adEnv) (*admin, error) {
	pem, err := os.ReadFile(env.CAFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", env.CAFile)
	}
	c, err := ldap.DialURL(env.URL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return nil, fmt.Errorf("admin dial %s: %w", env.URL, err)
	}
	c.SetTimeout(60 * time.Second)
	if err := c.Bind("CN=Administrator,CN=Users,"+env.BaseDN, env.AdminPassword); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("admin bind: %w", err)
	}
	return &admin{env: env, c: c}, nil
}

func (a *admin) Close() { _ = a.c.Close() }

func (a *admin) add(req *ldap.AddRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c.Add(req)
}

// remove deletes dn and, with tree, everything below it.
func (a *admin) remove(dn string, tree bool) error {
	var controls []ldap.Control
	if tree {
		controls = append(controls, ldap.NewControlSubtreeDelete())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.c.Del(ldap.NewDelRequest(dn, controls))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil
	}
	return err
}

// minPasswordAge reads the domain's minPwdAge.
func (a *admin) minPasswordAge() (time.Duration, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	res, err := a.c.Search(ldap.NewSearchRequest(a.env.BaseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"minPwdAge"}, nil))
	if err != nil {
		return 0, err
	}
	if len(res.Entries) != 1 {
		return 0, errors.New("domain object not found")
	}
	n, err := strconv.ParseInt(res.Entries[0].GetAttributeValue("minPwdAge"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("minPwdAge: %w", err)
	}
	return time.Duration(-n) * 100, nil
}

// newPassword returns a long random password that meets AD's complexity
// rule (four character classes) and any strength check: 144 random bits.
func newPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return "Bz7!" + base64.RawURLEncoding.EncodeToString(b)
}

// runDirectory is what a run created in AD: one OU below OU=Staff (so the
// service account's delegated rights apply, as for real staff), its users,
// and, when the domain's minimum password age would block the change
// journey, a group and a PSO that lift it for them.
type runDirectory struct {
	a     *admin
	OU    string
	Group string
	PSO   string
	// SprayPSO puts the spray's targets under a lockout threshold.
	SprayPSO string
	created  []string
}

func newRunDirectory(a *admin, runID string) (*runDirectory, error) {
	d := &runDirectory{a: a, OU: "OU=bench-" + runID + "," + testenv.ADStaffOU}
	req := ldap.NewAddRequest(d.OU, nil)
	req.Attribute("objectClass", []string{"organizationalUnit"})
	req.Attribute("description", []string{"Gatehouse bench run " + runID + "; removed at the end of the run"})
	if err := a.add(req); err != nil {
		return nil, fmt.Errorf("create %s: %w", d.OU, err)
	}
	return d, nil
}

// createUsers adds n users named bench-<runid>-NNNN with random passwords,
// one after another on the admin connection (Samba serialises writes).
func (d *runDirectory) createUsers(runID string, n int) ([]*user, error) {
	users := make([]*user, 0, n)
	for i := range n {
		sam := fmt.Sprintf("bench-%s-%04d", runID, i)
		upn := sam + "@" + testenv.ADDNSDomain
		dn := "CN=" + sam + "," + d.OU
		pw := newPassword()
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"user"})
		req.Attribute("sAMAccountName", []string{sam})
		req.Attribute("userPrincipalName", []string{upn})
		req.Attribute("mail", []string{upn})
		req.Attribute("givenName", []string{"Bench"})
		req.Attribute("sn", []string{fmt.Sprintf("N%04d", i)})
		req.Attribute("displayName", []string{fmt.Sprintf("Bench N%04d", i)})
		req.Attribute("unicodePwd", []string{ad.EncodePassword(pw)})
		req.Attribute("userAccountControl", []string{"512"})
		if err := d.a.add(req); err != nil {
			return users, fmt.Errorf("create user %s: %w", sam, err)
		}
		d.created = append(d.created, dn)
		users = append(users, &user{sam: sam, upn: upn, dn: dn, password: pw})
	}
	return users, nil
}

// liftMinimumAge creates a group of the users and a PSO for it with no
// minimum age and no history, so each user can change the password again
// and again; the rest follows the domain's defaults.
func (d *runDirectory) liftMinimumAge(runID string, users []*user) error {
	members := make([]string, len(users))
	for i, u := range users {
		members[i] = u.dn
	}
	var err error
	if d.Group, d.PSO, err = d.groupWithPSO("bench-"+runID, members, 0); err != nil {
		return err
	}
	return nil
}

// groupWithPSO creates the group name (in the run's OU) of members and a
// PSO of the same name for it: no minimum age, no history, lockout after
// threshold wrong passwords (0: none) in a 30-minute window. It returns
// the group's and the PSO's DNs; the PSO's is "" when it was not created.
func (d *runDirectory) groupWithPSO(name string, members []string, threshold int) (group, pso string, err error) {
	group = "CN=" + name + "," + d.OU
	req := ldap.NewAddRequest(group, nil)
	req.Attribute("objectClass", []string{"group"})
	req.Attribute("sAMAccountName", []string{name})
	req.Attribute("member", members)
	if err := d.a.add(req); err != nil {
		return "", "", fmt.Errorf("create group %s: %w", name, err)
	}
	interval := func(dur time.Duration) string { return strconv.FormatInt(-int64(dur/100), 10) }
	pso = "CN=" + name + ",CN=Password Settings Container,CN=System," + d.a.env.BaseDN
	req = ldap.NewAddRequest(pso, nil)
	req.Attribute("objectClass", []string{"msDS-PasswordSettings"})
	req.Attribute("msDS-PasswordSettingsPrecedence", []string{"10"})
	req.Attribute("msDS-PasswordReversibleEncryptionEnabled", []string{"FALSE"})
	req.Attribute("msDS-PasswordHistoryLength", []string{"0"})
	req.Attribute("msDS-PasswordComplexityEnabled", []string{"TRUE"})
	req.Attribute("msDS-MinimumPasswordLength", []string{"7"})
	req.Attribute("msDS-MinimumPasswordAge", []string{"0"})
	req.Attribute("msDS-MaximumPasswordAge", []string{interval(42 * 24 * time.Hour)})
	req.Attribute("msDS-LockoutThreshold", []string{strconv.Itoa(threshold)})
	req.Attribute("msDS-LockoutObservationWindow", []string{interval(30 * time.Minute)})
	req.Attribute("msDS-LockoutDuration", []string{interval(30 * time.Minute)})
	req.Attribute("msDS-PSOAppliesTo", []string{group})
	if err := d.a.add(req); err != nil {
		return group, "", fmt.Errorf("create PSO %s: %w", name, err)
	}
	return group, pso, nil
}

// remove deletes the PSO and the OU with everything in it (tree delete),
// falling back to one object at a time.
func (d *runDirectory) remove() error {
	var errs []error
	for _, pso := range []string{d.PSO, d.SprayPSO} {
		if pso == "" {
			continue
		}
		if err := d.a.remove(pso, false); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", pso, err))
		}
	}
	if err := d.a.remove(d.OU, true); err == nil {
		return errors.Join(errs...)
	}
	for _, dn := range append(d.created, d.Group) {
		if dn == "" {
			continue
		}
		if err := d.a.remove(dn, false); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", dn, err))
		}
	}
	if err := d.a.remove(d.OU, false); err != nil {
		errs = append(errs, fmt.Errorf("delete %s: %w", d.OU, err))
	}
	return errors.Join(errs...)
}
