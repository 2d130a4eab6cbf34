package ad

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// fakeDC is a hand-written stand-in for one domain controller. Its handlers
// answer requests; it records what it was sent.
type fakeDC struct {
	name string

	mu        sync.Mutex
	dialErr   error // dial fails with this (wrapped as a transport error)
	hang      bool  // dial blocks until the context ends
	plaintext bool  // dial hands out a connection without TLS
	dials     int
	userBinds []string // DNs of binds other than the service account's
	svcBinds  int
	searches  []*ldap.SearchRequest
	modifies  []*ldap.ModifyRequest

	bind   func(dn, password string) error
	search func(req *ldap.SearchRequest) (*ldap.SearchResult, error)
	modify func(req *ldap.ModifyRequest) error
}

func (f *fakeDC) set(fn func(f *fakeDC)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeDC) counts() (dials, userBinds, searches, modifies int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dials, len(f.userBinds), len(f.searches), len(f.modifies)
}

type fakeConn struct {
	dc        *fakeDC
	plaintext bool
	mu        sync.Mutex
	closed    bool
}

func (c *fakeConn) Bind(ctx context.Context, dn, password string) error {
	f := c.dc
	f.mu.Lock()
	if dn == testBindDN {
		f.svcBinds++
	} else {
		f.userBinds = append(f.userBinds, dn)
	}
	h := f.bind
	f.mu.Unlock()
	if dn == testBindDN && password == testBindPassword && h == nil {
		return nil
	}
	if h == nil {
		return ldapErr(ldap.LDAPResultInvalidCredentials, "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1")
	}
	return h(dn, password)
}

func (c *fakeConn) Search(ctx context.Context, req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	f := c.dc
	f.mu.Lock()
	f.searches = append(f.searches, req)
	h := f.search
	f.mu.Unlock()
	if h == nil {
		return &ldap.SearchResult{}, nil
	}
	return h(req)
}

func (c *fakeConn) Modify(ctx context.Context, req *ldap.ModifyRequest) error {
	f := c.dc
	f.mu.Lock()
	f.modifies = append(f.modifies, req)
	h := f.modify
	f.mu.Unlock()
	if h == nil {
		return nil
	}
	return h(req)
}

func (c *fakeConn) Encrypted() bool { return !c.plaintext }

func (c *fakeConn) Usable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed
}

func (c *fakeConn) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

const (
	testBindDN       = "CN=svc,OU=Service,DC=corp,DC=example,DC=test"
	testBindPassword = "svc-secret"
	testBaseDN       = "DC=corp,DC=example,DC=test"
)

func ldapErr(code uint16, msg string) error {
	return &ldap.Error{ResultCode: code, Err: errors.New(msg)}
}

// sentTransport is a failure after the request left: a reset connection.
func sentTransport() error { return &transportError{sent: true, err: io.ErrUnexpectedEOF} }

func testConfig() config.ActiveDirectory {
	return config.ActiveDirectory{
		BindDN:               testBindDN,
		BindPassword:         config.Secret(testBindPassword),
		BaseDN:               testBaseDN,
		LoginAttributes:      []string{"userPrincipalName", "sAMAccountName", "mail"},
		ImmutableIDAttribute: "objectGUID",
		Timeout:              2 * time.Second,
		PoolSize:             2,
	}
}

// logBuffer collects log output so tests can check what was (not) logged.
type logBuffer = testenv.Buffer

// newFakeDirectory opens a Directory over the fake DCs, in order.
func newFakeDirectory(t *testing.T, cfg config.ActiveDirectory, dcs ...*fakeDC) (*Directory, *logBuffer) {
	t.Helper()
	return newFakeDirectoryOpts(t, cfg, Options{}, dcs...)
}

// newFakeDirectoryOpts is newFakeDirectory with options (its Logger is
// replaced by one the test can read).
func newFakeDirectoryOpts(t *testing.T, cfg config.ActiveDirectory, opts Options, dcs ...*fakeDC) (*Directory, *logBuffer) {
	t.Helper()
	byName := map[string]*fakeDC{}
	var targets []*target
	for _, f := range dcs {
		tg := newTarget(f.name, "636", false, &tls.Config{MinVersion: tls.VersionTLS12})
		byName[tg.name] = f
		targets = append(targets, tg)
	}
	dial := func(ctx context.Context, tg *target) (ldapConn, error) {
		f := byName[tg.name]
		f.mu.Lock()
		f.dials++
		hang, err, plain := f.hang, f.dialErr, f.plaintext
		f.mu.Unlock()
		if hang {
			<-ctx.Done()
			return nil, &transportError{err: ctx.Err()}
		}
		if err != nil {
			return nil, &transportError{err: err}
		}
		return &fakeConn{dc: f, plaintext: plain}, nil
	}
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := newDirectory(cfg, opts, targets, dial)
	if err != nil {
		t.Fatalf("newDirectory: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d, logs
}

var aliceGUID = []byte{0x39, 0x33, 0x6b, 0xa2, 0x87, 0x52, 0xa8, 0x4b, 0x89, 0xb4, 0xcf, 0x89, 0xb6, 0xe4, 0x22, 0x5f}

const aliceDN = "CN=Alice Smith,OU=Staff,DC=corp,DC=example,DC=test"

func aliceEntry() *ldap.Entry {
	return ldap.NewEntry(aliceDN, map[string][]string{
		"objectGUID":                          {string(aliceGUID)},
		"sAMAccountName":                      {"alice"},
		"userPrincipalName":                   {"alice@corp.example.test"},
		"mail":                                {"alice@corp.example.test"},
		"displayName":                         {"Alice Smith"},
		"givenName":                           {"Alice"},
		"sn":                                  {"Smith"},
		"userAccountControl":                  {"512"},
		"msDS-User-Account-Control-Computed":  {"0"},
		"pwdLastSet":                          {"133000000000000000"},
		"accountExpires":                      {"9223372036854775807"},
		"msDS-UserPasswordExpiryTimeComputed": {"9223372036854775807"},
		"memberOf":                            {"CN=Engineers,OU=Staff,DC=corp,DC=example,DC=test"},
	})
}

// directoryHandler answers the searches Gatehouse makes against a small
// directory: alice in Engineers ⊂ Staff-All, and the domain policy.
func directoryHandler(users ...*ldap.Entry) func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	if len(users) == 0 {
		users = []*ldap.Entry{aliceEntry()}
	}
	groups := map[string][]string{
		"cn=engineers,ou=staff,dc=corp,dc=example,dc=test": {"CN=Staff-All,OU=Staff,DC=corp,DC=example,DC=test"},
		"cn=staff-all,ou=staff,dc=corp,dc=example,dc=test": nil,
	}
	return func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
		switch {
		case req.BaseDN == "":
			return &ldap.SearchResult{Entries: []*ldap.Entry{ldap.NewEntry("", map[string][]string{"defaultNamingContext": {testBaseDN}})}}, nil
		case strings.Contains(req.Filter, "objectCategory=person"):
			var out []*ldap.Entry
			for _, u := range users {
				for _, a := range []string{"sAMAccountName", "userPrincipalName", "mail"} {
					if v := u.GetAttributeValue(a); v != "" && strings.Contains(req.Filter, "("+a+"="+ldap.EscapeFilter(v)+")") {
						out = append(out, u)
						break
					}
				}
			}
			return &ldap.SearchResult{Entries: out}, nil
		case strings.Contains(req.Filter, "distinguishedName="):
			var out []*ldap.Entry
			for dn, parents := range groups {
				if strings.Contains(strings.ToLower(req.Filter), "(distinguishedname="+ldap.EscapeFilter(dn)+")") {
					out = append(out, ldap.NewEntry(dn, map[string][]string{"memberOf": parents}))
				}
			}
			return &ldap.SearchResult{Entries: out}, nil
		case req.Scope == ldap.ScopeBaseObject && strings.EqualFold(req.BaseDN, testBaseDN):
			return &ldap.SearchResult{Entries: []*ldap.Entry{ldap.NewEntry(testBaseDN, map[string][]string{
				"minPwdLength": {"7"}, "pwdProperties": {"1"}, "pwdHistoryLength": {"24"},
				"maxPwdAge": {"-36288000000000"}, "minPwdAge": {"0"}, "lockoutThreshold": {"0"},
				"lockoutDuration": {"-18000000000"}, "lockOutObservationWindow": {"-18000000000"},
			})}}, nil
		case req.Scope == ldap.ScopeBaseObject:
			for _, u := range users {
				if strings.EqualFold(u.DN, req.BaseDN) {
					return &ldap.SearchResult{Entries: []*ldap.Entry{u}}, nil
				}
			}
			return nil, ldapErr(ldap.LDAPResultNoSuchObject, "0000208D: no such object")
		}
		return &ldap.SearchResult{}, nil
	}
}

// aliceBind accepts alice's password and refuses anything else with 52e.
func aliceBind(dn, password string) error {
	if dn == testBindDN && password == testBindPassword {
		return nil
	}
	if dn == aliceDN && password == "Al1ce!Passw0rd" {
		return nil
	}
	return ldapErr(ldap.LDAPResultInvalidCredentials, "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1")
}

func healthyFake(name string) *fakeDC {
	return &fakeDC{name: name, bind: aliceBind, search: directoryHandler()}
}

func baseTLS() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }
