package ad

// Failover between two real, replicating domain controllers: the two-DC
// environment of scripts/testenv/samba2.sh, reachable only inside its
// private network namespace. `make test` runs these tests there after the
// main suite (scripts/testenv/failover-tests.sh, which builds this test
// binary, starts the DCs, runs it with `samba2.sh exec … -test.run
// ^TestFailover` and stops them); anywhere else they skip, under CI too
// (testenv.RequireFailover). By hand: scripts/testenv/failover-tests.sh.
//
// Replication takes seconds (up to ~15 s after a DC came back, AD.md), so
// whatever must have replicated is polled for with a generous deadline;
// no assertion depends on how long anything took.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/directorytest"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// replicationDeadline bounds every wait for replication or for the
// connector's health probe.
const replicationDeadline = 2 * time.Minute

type failoverEnv struct {
	dc1, dc2 realAD // the same domain, through each DC
	ctl      string // samba2.sh
}

func requireFailover(tb testing.TB) failoverEnv {
	tb.Helper()
	v := testenv.RequireFailover(tb, testenv.ADDC1URL, testenv.ADDC2URL, testenv.ADCAFile, testenv.ADBindDN,
		testenv.ADBindPassword, testenv.ADBaseDN, testenv.ADAdminPassword, testenv.ADDC1SambaConf,
		testenv.ADDC2SambaConf, testenv.ADFailoverCtl)
	dc := func(url, smbConf string) realAD {
		return realAD{url: url, caFile: v[2], bindDN: v[3], bindPW: v[4], baseDN: v[5], adminPW: v[6], smbConf: smbConf}
	}
	return failoverEnv{dc1: dc(v[0], v[7]), dc2: dc(v[1], v[8]), ctl: v[9]}
}

// control runs `samba2.sh dc-stop|dc-start NAME`: by the DC's pid, and
// returning only when it is down (ports closed) or answers LDAPS.
func (f failoverEnv) control(tb testing.TB, action, name string) {
	tb.Helper()
	start := time.Now()
	out, err := exec.Command(f.ctl, action, name).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s %s: %v\n%s", f.ctl, action, name, err, out)
	}
	tb.Logf("%s %s: %s(%v)", action, name, out, time.Since(start).Round(time.Millisecond))
}

// dcName is the label of a DC in logs and metrics: host:port of its URL.
func dcName(url string) string { return strings.TrimPrefix(url, "ldaps://") }

// opCounts is how many operations each DC finished, by "op/result".
type opCounts map[string]map[string]uint64

func countOps(t *testing.T, m *observe.Metrics) opCounts {
	t.Helper()
	out := opCounts{}
	for key, s := range series(t, m, "gatehouse_directory_operation_duration_seconds") {
		labels := map[string]string{}
		for _, kv := range strings.Split(strings.TrimSuffix(key, ","), ",") {
			k, v, _ := strings.Cut(kv, "=")
			labels[k] = v
		}
		if out[labels["dc"]] == nil {
			out[labels["dc"]] = map[string]uint64{}
		}
		out[labels["dc"]][labels["op"]+"/"+labels["result"]] = s.GetHistogram().GetSampleCount()
	}
	return out
}

// since returns the operations c counted after before, per DC.
func (c opCounts) since(before opCounts) opCounts {
	out := opCounts{}
	for dc, ops := range c {
		for k, n := range ops {
			if d := n - before[dc][k]; d > 0 {
				if out[dc] == nil {
					out[dc] = map[string]uint64{}
				}
				out[dc][k] = d
			}
		}
	}
	return out
}

func (c opCounts) String() string {
	var parts []string
	for dc, ops := range c {
		for k, n := range ops {
			parts = append(parts, fmt.Sprintf("%s %s×%d", dc, k, n))
		}
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, ", ") + "]"
}

// answered returns the operations of c on dc that got an answer (anything
// but a transport error).
func (c opCounts) answered(dc string) []string {
	var out []string
	for k, n := range c[dc] {
		if !strings.HasSuffix(k, "/transport_error") {
			out = append(out, fmt.Sprintf("%s×%d", k, n))
		}
	}
	sort.Strings(out)
	return out
}

// eventually polls cond until it returns nil, failing the test with its
// last error after replicationDeadline.
func eventually(tb testing.TB, what string, cond func() error) {
	tb.Helper()
	start := time.Now()
	deadline := start.Add(replicationDeadline)
	for {
		err := cond()
		if err == nil {
			tb.Logf("%s (after %v)", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("still not true after %v: %s: %v", replicationDeadline, what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readUser reads attributes of dn on one DC, as Administrator, on a fresh
// connection (one to a DC that was restarted would be dead).
func readUser(e realAD, dn string, attrs ...string) (*ldap.Entry, error) {
	pem, err := os.ReadFile(e.caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := ldap.DialURL(e.url, ldap.DialWithTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}),
		ldap.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}))
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }()
	c.SetTimeout(30 * time.Second)
	if err := c.Bind("CN=Administrator,CN=Users,"+e.baseDN, e.adminPW); err != nil {
		return nil, err
	}
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", attrs, nil))
	if err != nil {
		return nil, err
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("%d entries for %s", len(res.Entries), dn)
	}
	return res.Entries[0], nil
}

// badPwdCount is the user's bad-password count on one DC. It is kept per DC
// and never replicated: it shows which DC a wrong password reached.
func badPwdCount(tb testing.TB, e realAD, dn string) string {
	tb.Helper()
	entry, err := readUser(e, dn, "badPwdCount")
	if err != nil {
		tb.Fatalf("read badPwdCount on %s: %v", dcName(e.url), err)
	}
	if n := entry.GetAttributeValue("badPwdCount"); n != "" {
		return n
	}
	return "0"
}

func TestFailoverTwoDCs(t *testing.T) {
	f := requireFailover(t)
	ctx := context.Background()
	dc1, dc2 := dcName(f.dc1.url), dcName(f.dc2.url)

	// A user of this test's own, with a PSO whose lockout threshold makes
	// the DCs count bad passwords (Samba counts only where one applies).
	admin1 := f.dc1.admin(t)
	tu := f.dc1.newUser(t, admin1, directorytest.PasswordA)
	psoDN := f.dc1.applyPSO(t, admin1, pso{minLength: 7, history: 24, lockoutThreshold: 3, lockoutDuration: 30 * time.Minute}, tu.dn)
	// Registered after the user's and the PSO's cleanups, so it runs before
	// them: they delete on dc1.
	t.Cleanup(func() {
		out, err := exec.Command(f.ctl, "dc-start", "dc1").CombinedOutput()
		if err != nil {
			t.Errorf("cleanup: start dc1 again: %v\n%s", err, out)
		}
	})
	eventually(t, "the test user and its PSO replicated to dc2", func() error {
		e, err := readUser(f.dc2, tu.dn, "msDS-ResultantPSO")
		if err != nil {
			return err
		}
		if got := e.GetAttributeValue("msDS-ResultantPSO"); !strings.EqualFold(got, psoDN) {
			return fmt.Errorf("msDS-ResultantPSO on dc2 = %q", got)
		}
		return nil
	})

	m := observe.NewMetrics("test", "test")
	cfg := f.dc1.config()
	cfg.URLs = []string{f.dc1.url, f.dc2.url}
	d, err := Open(ctx, cfg, Options{Metrics: m, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	// Probe a DC that is out at least every 2 s (default: backing off to a
	// minute), so the test sees dc1's return without a long wait.
	d.backoffMax = 2 * time.Second

	// servedBy runs op and checks that dc answered it (want, an "op/result"
	// key, counted at least once) and that other got no request it answered.
	servedBy := func(t *testing.T, dc, other, want string, op func() error) {
		t.Helper()
		before := countOps(t, m)
		if err := op(); err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		got := countOps(t, m).since(before)
		if got[dc][want] == 0 {
			t.Errorf("%s was not answered by %s; operations: %v", want, dc, got)
		}
		if a := got.answered(other); len(a) > 0 {
			t.Errorf("%s answered %v; want nothing but transport errors (operations: %v)", other, a, got)
		}
	}

	if !t.Run("both DCs up: dc1 serves, a wrong password counts once", func(t *testing.T) {
		servedBy(t, dc1, dc2, "bind/ok", func() error {
			_, err := d.Authenticate(ctx, "alice", testenv.Alice.Password)
			return err
		})
		servedBy(t, dc1, dc2, "bind/invalid_credentials", func() error {
			_, err := d.Authenticate(ctx, tu.sam, "Wr0ng-Passw0rd!")
			if !errors.Is(err, directory.ErrInvalidCredentials) {
				return fmt.Errorf("got %w, want ErrInvalidCredentials", err)
			}
			return nil
		})
		if n1, n2 := badPwdCount(t, f.dc1, tu.dn), badPwdCount(t, f.dc2, tu.dn); n1 != "1" || n2 != "0" {
			t.Errorf("badPwdCount after one wrong password: dc1 %s, dc2 %s; want 1 and 0", n1, n2)
		}
	}) {
		t.FailNow()
	}

	if !t.Run("dc1 stopped mid-run: sign-ins keep working", func(t *testing.T) {
		// Sign-ins run continuously while dc1 is stopped by its pid; not
		// one may fail.
		var (
			wg        sync.WaitGroup
			done      = make(chan struct{})
			total     atomic.Int64
			afterStop atomic.Int64
			stopped   atomic.Bool
			mu        sync.Mutex
			failures  []error
		)
		var once sync.Once
		stopLoad := func() { once.Do(func() { close(done); wg.Wait() }) }
		defer stopLoad()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				_, err := d.Authenticate(ctx, "alice", testenv.Alice.Password)
				total.Add(1)
				if stopped.Load() {
					afterStop.Add(1)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}
		}()
		eventually(t, "sign-ins running on dc1", func() error {
			if n := total.Load(); n < 3 {
				return fmt.Errorf("%d sign-ins so far", n)
			}
			return nil
		})
		f.control(t, "dc-stop", "dc1")
		stopped.Store(true)
		eventually(t, "dc1 out of service, sign-ins continuing on dc2", func() error {
			if d.dcs[0].isHealthy() {
				return errors.New("dc1 is still in service")
			}
			if n := afterStop.Load(); n < 5 {
				return fmt.Errorf("%d sign-ins since dc1 stopped", n)
			}
			return nil
		})
		stopLoad()
		t.Logf("%d sign-ins, %d after dc1 stopped", total.Load(), afterStop.Load())
		if len(failures) > 0 {
			t.Errorf("%d of %d sign-ins failed while dc1 stopped; first: %v", len(failures), total.Load(), failures[0])
		}
		if g := series(t, m, "gatehouse_directory_dc_healthy")["dc="+dc1+","]; g.GetGauge().GetValue() != 0 {
			t.Errorf("dc1 health gauge = %v, want 0", g.GetGauge().GetValue())
		}
	}) {
		t.FailNow()
	}

	t.Run("dc1 down: every operation succeeds on dc2", func(t *testing.T) {
		var u *directory.User
		servedBy(t, dc2, dc1, "bind/ok", func() error {
			_, err := d.Authenticate(ctx, tu.upn(), directorytest.PasswordA)
			return err
		})
		servedBy(t, dc2, dc1, "search/ok", func() error {
			var err error
			u, err = d.LookupUser(ctx, tu.sam)
			if err == nil && !strings.EqualFold(u.DN, tu.dn) {
				err = fmt.Errorf("LookupUser found %s, want %s", u.DN, tu.dn)
			}
			return err
		})
		if u == nil {
			t.FailNow()
		}
		servedBy(t, dc2, dc1, "read/ok", func() error {
			p, err := d.PasswordPolicy(ctx, u)
			if err == nil && (!strings.EqualFold(p.Source, psoDN) || p.LockoutThreshold != 3) {
				err = fmt.Errorf("policy %+v, want the PSO with a lockout threshold of 3", p)
			}
			return err
		})
		servedBy(t, dc2, dc1, "check/ok", func() error { return d.Check(ctx) })
		servedBy(t, dc2, dc1, "change_password/ok", func() error {
			return d.ChangePassword(ctx, u, directorytest.PasswordA, directorytest.PasswordB)
		})
		servedBy(t, dc2, dc1, "bind/ok", func() error {
			_, err := d.Authenticate(ctx, tu.sam, directorytest.PasswordB)
			return err
		})
		servedBy(t, dc2, dc1, "reset_password/ok", func() error {
			return d.ResetPassword(ctx, u, directorytest.PasswordC)
		})
		servedBy(t, dc2, dc1, "bind/ok", func() error {
			_, err := d.Authenticate(ctx, tu.sam, directorytest.PasswordC)
			return err
		})

		// One wrong password is one count, on dc2, the DC that answered.
		servedBy(t, dc2, dc1, "bind/invalid_credentials", func() error {
			_, err := d.Authenticate(ctx, tu.sam, "Wr0ng-Passw0rd!")
			if !errors.Is(err, directory.ErrInvalidCredentials) {
				return fmt.Errorf("got %w, want ErrInvalidCredentials", err)
			}
			return nil
		})
		if n := badPwdCount(t, f.dc2, tu.dn); n != "1" {
			t.Errorf("badPwdCount on dc2 after one wrong password = %s, want 1", n)
		}

		// Two more reach the threshold of 3: locked out, on dc2.
		for range 2 {
			if _, err := d.Authenticate(ctx, tu.sam, "Wr0ng-Passw0rd!"); !errors.Is(err, directory.ErrInvalidCredentials) {
				t.Fatalf("wrong password: %v", err)
			}
		}
		servedBy(t, dc2, dc1, "bind/invalid_credentials", func() error {
			_, err := d.Authenticate(ctx, tu.sam, directorytest.PasswordC)
			if !errors.Is(err, directory.ErrAccountLocked) {
				return fmt.Errorf("right password after 3 wrong ones: %w, want ErrAccountLocked", err)
			}
			return nil
		})
		servedBy(t, dc2, dc1, "unlock/ok", func() error { return d.Unlock(ctx, u) })
		servedBy(t, dc2, dc1, "bind/ok", func() error {
			_, err := d.Authenticate(ctx, tu.sam, directorytest.PasswordC)
			return err
		})
	})

	t.Run("dc1 back: it is used again, with what dc2 wrote meanwhile", func(t *testing.T) {
		f.control(t, "dc-start", "dc1")
		eventually(t, "the health probe put dc1 back in service", func() error {
			if !d.dcs[0].isHealthy() {
				return errors.New("dc1 is still out of service")
			}
			return nil
		})
		if g := series(t, m, "gatehouse_directory_dc_healthy")["dc="+dc1+","]; g.GetGauge().GetValue() != 1 {
			t.Errorf("dc1 health gauge = %v, want 1", g.GetGauge().GetValue())
		}
		servedBy(t, dc1, dc2, "bind/ok", func() error {
			_, err := d.Authenticate(ctx, "alice", testenv.Alice.Password)
			return err
		})

		// The reset and the unlock done on dc2 reach dc1 by replication;
		// then the new password works there.
		eventually(t, "dc2's password reset replicated to dc1", func() error {
			e2, err := readUser(f.dc2, tu.dn, "pwdLastSet")
			if err != nil {
				return err
			}
			e1, err := readUser(f.dc1, tu.dn, "pwdLastSet", "lockoutTime")
			if err != nil {
				return err
			}
			if p1, p2 := e1.GetAttributeValue("pwdLastSet"), e2.GetAttributeValue("pwdLastSet"); p1 != p2 {
				return fmt.Errorf("pwdLastSet on dc1 %s, on dc2 %s", p1, p2)
			}
			if lt := e1.GetAttributeValue("lockoutTime"); lt != "" && lt != "0" {
				return fmt.Errorf("lockoutTime on dc1 = %s", lt)
			}
			return nil
		})
		servedBy(t, dc1, dc2, "bind/ok", func() error {
			_, err := d.Authenticate(ctx, tu.sam, directorytest.PasswordC)
			return err
		})
	})
}
