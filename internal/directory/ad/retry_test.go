package ad

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

func TestRetryRules(t *testing.T) {
	ctx := context.Background()

	t.Run("a DC that refuses the connection is skipped", func(t *testing.T) {
		dc1, dc2 := healthyFake("dc1"), healthyFake("dc2")
		dc1.dialErr = syscall.ECONNREFUSED
		d, _ := newFakeDirectory(t, testConfig(), dc1, dc2)
		if _, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd"); err != nil {
			t.Fatal(err)
		}
		if _, ub, _, _ := dc2.counts(); ub != 1 {
			t.Errorf("dc2 got %d user binds, want 1", ub)
		}
		if dc1.isHealthyIn(d) {
			t.Error("dc1 is still in service")
		}
	})

	t.Run("a search that got no answer is retried once on another DC", func(t *testing.T) {
		dc1, dc2 := healthyFake("dc1"), healthyFake("dc2")
		dc1.search = func(*ldap.SearchRequest) (*ldap.SearchResult, error) { return nil, sentTransport() }
		d, _ := newFakeDirectory(t, testConfig(), dc1, dc2)
		u, err := d.LookupUser(ctx, "alice")
		if err != nil || u.SAMAccountName != "alice" {
			t.Fatalf("LookupUser = %v, %v", u, err)
		}
		if _, _, s, _ := dc1.counts(); s != 1 {
			t.Errorf("dc1 got %d searches, want 1", s)
		}
	})

	t.Run("an answered bind is never retried elsewhere", func(t *testing.T) {
		for _, code := range []string{"52e", "775", "533"} {
			dc1, dc2 := healthyFake("dc1"), healthyFake("dc2")
			dc1.bind = func(dn, pw string) error {
				if dn == testBindDN {
					return nil
				}
				return ldapErr(ldap.LDAPResultInvalidCredentials, "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data "+code+", v1db1")
			}
			d, _ := newFakeDirectory(t, testConfig(), dc1, dc2)
			_, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd")
			if err == nil || errors.Is(err, directory.ErrUnavailable) {
				t.Errorf("data %s: got %v", code, err)
			}
			if _, ub, _, _ := dc1.counts(); ub != 1 {
				t.Errorf("data %s: dc1 got %d user binds, want 1", code, ub)
			}
			if dials, ub, s, _ := dc2.counts(); dials+ub+s != 0 {
				t.Errorf("data %s: dc2 was used (%d dials, %d binds, %d searches)", code, dials, ub, s)
			}
			if !dc1.isHealthyIn(d) {
				t.Errorf("data %s: an answering DC was taken out", code)
			}
		}
	})

	t.Run("a bind that got no answer is retried once, and only once", func(t *testing.T) {
		lost := func(dn, pw string) error {
			if dn == testBindDN {
				return nil
			}
			return sentTransport()
		}
		dc1, dc2, dc3 := healthyFake("dc1"), healthyFake("dc2"), healthyFake("dc3")
		dc1.bind, dc2.bind = lost, lost
		d, _ := newFakeDirectory(t, testConfig(), dc1, dc2, dc3)
		_, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd")
		if !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("got %v, want ErrUnavailable", err)
		}
		_, b1, _, _ := dc1.counts()
		_, b2, _, _ := dc2.counts()
		_, b3, _, _ := dc3.counts()
		if b1 != 1 || b2 != 1 || b3 != 0 {
			t.Errorf("user binds per DC = %d, %d, %d; want 1, 1, 0", b1, b2, b3)
		}

		dc1, dc2 = healthyFake("dc1"), healthyFake("dc2")
		dc1.bind = lost
		d, _ = newFakeDirectory(t, testConfig(), dc1, dc2)
		if _, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd"); err != nil {
			t.Errorf("the retry on dc2 should have signed in: %v", err)
		}
	})

	t.Run("a password change that may have been applied is not resent", func(t *testing.T) {
		dc1, dc2 := healthyFake("dc1"), healthyFake("dc2")
		dc1.modify = func(*ldap.ModifyRequest) error { return sentTransport() }
		d, _ := newFakeDirectory(t, testConfig(), dc1, dc2)
		err := d.ChangePassword(ctx, aliceUser(), "Al1ce!Passw0rd", "N3w-Passw0rd!")
		if !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("got %v", err)
		}
		if _, _, _, m := dc2.counts(); m != 0 {
			t.Errorf("the change was resent to dc2")
		}
	})

	t.Run("a reset (idempotent) is retried once", func(t *testing.T) {
		dc1, dc2 := healthyFake("dc1"), healthyFake("dc2")
		dc1.modify = func(*ldap.ModifyRequest) error { return sentTransport() }
		d, _ := newFakeDirectory(t, testConfig(), dc1, dc2)
		if err := d.ResetPassword(ctx, aliceUser(), "N3w-Passw0rd!"); err != nil {
			t.Errorf("got %v", err)
		}
		if _, _, _, m := dc2.counts(); m != 1 {
			t.Errorf("dc2 got %d modifies", m)
		}
	})

	t.Run("a refused service bind is not tried on another DC, and is held", func(t *testing.T) {
		dc1, dc2 := healthyFake("dc1"), healthyFake("dc2")
		refuse := func(dn, pw string) error {
			return ldapErr(ldap.LDAPResultInvalidCredentials, "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1")
		}
		dc1.bind = refuse
		d, _ := newFakeDirectory(t, testConfig(), dc1, dc2)
		for range 3 {
			if _, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd"); !errors.Is(err, directory.ErrUnavailable) || !errors.Is(err, errServiceBind) {
				t.Errorf("got %v", err)
			}
		}
		if dc1.svcBinds != 1 {
			t.Errorf("the service account was bound %d times with a refused password, want 1", dc1.svcBinds)
		}
		if dials, _, _, _ := dc2.counts(); dials != 0 {
			t.Errorf("dc2 was dialed")
		}
	})

	t.Run("when every DC is down, they are still tried", func(t *testing.T) {
		dc1 := healthyFake("dc1")
		d, _ := newFakeDirectory(t, testConfig(), dc1)
		d.markDown(d.dcs[0], errors.New("test"))
		if _, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd"); err != nil {
			t.Fatal(err)
		}
		if !dc1.isHealthyIn(d) {
			t.Error("a DC that answered is still out of service")
		}
	})
}

func (f *fakeDC) isHealthyIn(d *Directory) bool {
	for _, c := range d.dcs {
		if strings.HasPrefix(c.t.name, f.name+":") {
			return c.isHealthy()
		}
	}
	panic("no such DC " + f.name)
}

func TestAHungDCDoesNotHangASignIn(t *testing.T) {
	dc1, dc2 := healthyFake("dc1"), healthyFake("dc2")
	dc1.hang = true
	cfg := testConfig()
	cfg.Timeout = 400 * time.Millisecond
	d, _ := newFakeDirectory(t, cfg, dc1, dc2)
	// It returns at all, through dc2: the hung DC's deadline fired (a hang
	// would end at the test's own timeout). No wall-clock assertion.
	if _, err := d.Authenticate(context.Background(), "alice", "Al1ce!Passw0rd"); err != nil {
		t.Fatal(err)
	}
	if dc1.isHealthyIn(d) {
		t.Error("the hung DC is still in service")
	}

	t.Run("a single hung DC fails within the timeout", func(t *testing.T) {
		h := healthyFake("hung")
		h.hang = true
		d, _ := newFakeDirectory(t, cfg, h)
		_, err := d.Authenticate(context.Background(), "alice", "Al1ce!Passw0rd")
		if !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("got %v", err)
		}
	})
}

func TestWarmSignInCostsTwoOperations(t *testing.T) {
	f := healthyFake("dc1")
	d, _ := newFakeDirectory(t, testConfig(), f)
	ctx := context.Background()
	if _, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd"); err != nil { // warms pools and group cache
		t.Fatal(err)
	}
	before := d.ops.Load()
	dialsBefore, _, _, _ := f.counts()
	for range 5 {
		if _, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd"); err != nil {
			t.Fatal(err)
		}
	}
	if got := d.ops.Load() - before; got != 10 {
		t.Errorf("5 warm sign-ins sent %d LDAP operations, want 10", got)
	}
	if dials, _, _, _ := f.counts(); dials != dialsBefore {
		t.Errorf("warm sign-ins dialed %d times", dials-dialsBefore)
	}
}

func TestProbeBringsADCBack(t *testing.T) {
	dc1, dc2 := healthyFake("dc1"), healthyFake("dc2")
	dc1.dialErr = syscall.ECONNREFUSED
	d, _ := newFakeDirectory(t, testConfig(), dc1, dc2)
	d.backoffBase, d.backoffMax = 5*time.Millisecond, 20*time.Millisecond
	if _, err := d.LookupUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if dc1.isHealthyIn(d) {
		t.Fatal("dc1 not taken out")
	}
	time.Sleep(50 * time.Millisecond) // a few failed probes
	dc1.set(func(f *fakeDC) { f.dialErr = nil })
	deadline := time.Now().Add(5 * time.Second)
	for !dc1.isHealthyIn(d) {
		if time.Now().After(deadline) {
			t.Fatal("dc1 never came back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, ub, _, _ := dc1.counts(); ub != 0 {
		t.Errorf("a probe bound as a user")
	}
}

func TestBackoffDoubles(t *testing.T) {
	d := &Directory{backoffBase: time.Second, backoffMax: time.Minute}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := d.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	dc1, dc2 := healthyFake("dc1"), healthyFake("dc2")
	dc1.hang = true
	cfg := testConfig()
	cfg.Timeout = 200 * time.Millisecond
	d, _ := newFakeDirectory(t, cfg, dc1, dc2)
	d.backoffBase = time.Millisecond
	if _, err := d.Authenticate(context.Background(), "alice", "Al1ce!Passw0rd"); err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
	_ = d.Close() // idempotent
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left after Close (before: %d):\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := d.Authenticate(context.Background(), "alice", "Al1ce!Passw0rd"); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("after Close: %v", err)
	}
}

func TestCheck(t *testing.T) {
	dc1, dc2 := healthyFake("dc1"), healthyFake("dc2")
	dc1.dialErr = syscall.ECONNREFUSED
	d, _ := newFakeDirectory(t, testConfig(), dc1, dc2)
	if err := d.Check(context.Background()); err != nil {
		t.Errorf("Check with one DC answering: %v", err)
	}
	dc2.set(func(f *fakeDC) { f.dialErr = syscall.ECONNREFUSED })
	d2, _ := newFakeDirectory(t, testConfig(), dc2)
	if err := d2.Check(context.Background()); !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("Check with no DC answering: %v", err)
	}
}
