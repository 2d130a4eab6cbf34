package abuse

// Smart lockout against the real Samba AD DC of scripts/testenv: each test
// makes its own user with a PSO of lockout threshold 5 (the domain itself
// has none), so the tests run beside everyone else's.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/ad"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

const sambaPassword = "Tr1cky-Horse-Battery"

// sambaUser makes a user with a PSO locking at the fifth wrong password
// and returns its sAMAccountName.
func sambaUser(t *testing.T) string {
	t.Helper()
	sam := testenv.NewADUser(t, "gl", sambaPassword, "Lock", "Test")
	testenv.ApplyADPSO(t, testenv.ADPSO{LockoutThreshold: 5, LockoutMinutes: 30}, sam)
	testenv.SetADAttribute(t, sam, "mail", sambaMail(sam))
	return sam
}

// sambaMail is the user's mail address: not the UPN's spelling, so it is a
// login form of its own.
func sambaMail(sam string) string { return sam + ".lock@mail.example.org" }

func openSamba(t *testing.T) *ad.Directory {
	t.Helper()
	v := testenv.Require(t, testenv.ADURL, testenv.ADCAFile, testenv.ADBindDN, testenv.ADBindPassword, testenv.ADBaseDN, testenv.ADSambaConf)
	d, err := ad.Open(context.Background(), config.ActiveDirectory{
		URLs: []string{v[0]}, CAFile: v[1], BindDN: v[2], BindPassword: config.Secret(v[3]), BaseDN: v[4],
		LoginAttributes: []string{"userPrincipalName", "sAMAccountName", "mail"}, ImmutableIDAttribute: "objectGUID",
		Timeout: 20 * time.Second, PoolSize: 8,
	}, ad.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// sambaSpray sends wrong passwords for sam in every login form AD knows,
// all at once, through the guards in turn, and returns how many were
// refused.
func sambaSpray(t *testing.T, guards []*Guard, sam string, n int) (refused int) {
	t.Helper()
	forms := []string{sam, sam + "@" + testenv.ADDNSDomain, sambaMail(sam), sam + "@CORP.EXAMPLE.TEST", strings.ToUpper(sam)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := make(chan struct{})
	for i := range n {
		g := guards[i%len(guards)]
		wg.Go(func() {
			<-start
			_, _, err := g.Authenticate(context.Background(),
				Attempt{Login: forms[i%len(forms)], IP: fmt.Sprintf("2001:db8:%x::1", i)}, fmt.Sprintf("Wr0ng-Spray-%d!", i))
			switch {
			case errors.Is(err, ErrThrottled):
				mu.Lock()
				refused++
				mu.Unlock()
			case !errors.Is(err, directory.ErrInvalidCredentials):
				t.Errorf("attempt %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return refused
}

func TestSambaParallelWrongPasswordsInEveryLoginFormNeverLockTheAccount(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dir := openSamba(t)
			sam := sambaUser(t)
			g, _ := newGuard(t, b.open(t), dir, time.Now, nil)
			refused := sambaSpray(t, []*Guard{g}, sam, 80)
			lt, bad := testenv.ADLockoutState(t, sam)
			if lt != 0 || bad > 3 {
				t.Errorf("after 80 parallel wrong passwords: lockoutTime %d, badPwdCount %d; want no lockout and at most 3 counted", lt, bad)
			}
			if refused < 77 {
				t.Errorf("%d of 80 refused, want at least 77", refused)
			}
			// Refused for the account, or — once the account's refusals
			// have spent the name's budget — for the name, before the DC.
			if _, _, err := g.Authenticate(context.Background(), Attempt{Login: sam, IP: "192.0.2.1"}, sambaPassword); scope(err) != ScopeAccount && scope(err) != ScopeLogin {
				t.Errorf("the right password from an unfamiliar browser during the attack: %v, want refused", err)
			}
		})
	}
}

func TestSambaTwoInstancesOnPostgreSQLShareTheBudget(t *testing.T) {
	dsn := pgSchema(t)
	dir := openSamba(t)
	sam := sambaUser(t)
	g1, _ := newGuard(t, openPostgres(t, dsn), dir, time.Now, nil)
	g2, _ := newGuard(t, openPostgres(t, dsn), openSamba(t), time.Now, nil)
	sambaSpray(t, []*Guard{g1, g2}, sam, 80)
	if lt, bad := testenv.ADLockoutState(t, sam); lt != 0 || bad > 3 {
		t.Errorf("two instances: lockoutTime %d, badPwdCount %d; want no lockout and at most 3 counted", lt, bad)
	}
}

func TestSambaTwentyRepeatsOfOneWrongPasswordDoNotLock(t *testing.T) {
	dir := openSamba(t)
	sam := sambaUser(t)
	g, _ := newGuard(t, openSQLite(t), dir, time.Now, nil)
	phone := Attempt{Login: sambaMail(sam), IP: "198.51.100.44", ByAddress: true}
	for i := range 20 {
		if _, _, err := g.Authenticate(context.Background(), phone, "0ld-Passw0rd-2025"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("repeat %d: %v, want a wrong password", i+1, err)
		}
	}
	if lt, bad := testenv.ADLockoutState(t, sam); lt != 0 || bad != 1 {
		t.Errorf("after twenty repeats: lockoutTime %d, badPwdCount %d; want the password counted once", lt, bad)
	}
	if _, _, err := g.Authenticate(context.Background(), Attempt{Login: sam, IP: "192.0.2.3"}, sambaPassword); err != nil {
		t.Errorf("the user signs in meanwhile: %v", err)
	}
}

// timeoutAtBind lets the directory find the user and the guard take its
// budgets, then lets the call's deadline pass before the bind: a DC that
// stopped answering.
type timeoutAtBind struct{ *ad.Directory }

func (d timeoutAtBind) AuthenticateWith(ctx context.Context, login, password string, before func(context.Context, *directory.User) error) (*directory.User, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	return d.Directory.AuthenticateWith(ctx, login, password, func(ctx context.Context, u *directory.User) error {
		err := before(ctx, u)
		if err == nil {
			cancel(context.DeadlineExceeded)
		}
		return err
	})
}

func TestSambaATimeoutAtTheBindDoesNotCount(t *testing.T) {
	dir := openSamba(t)
	sam := sambaUser(t)
	st := openSQLite(t)
	down, _ := newGuard(t, st, timeoutAtBind{dir}, time.Now, nil)
	ctx := context.Background()
	for i := range 10 {
		_, res, err := down.Authenticate(ctx, Attempt{Login: sam, IP: "198.51.100.9"}, fmt.Sprintf("Wr0ng-Timeout-%d!", i))
		if err == nil || errors.Is(err, directory.ErrInvalidCredentials) || errors.Is(err, ErrThrottled) || !res.Sent {
			t.Fatalf("attempt %d while the DC times out: %v (sent %v), want a transport failure after the budget was taken", i+1, err, res.Sent)
		}
	}
	g, _ := newGuard(t, st, dir, time.Now, nil)
	u, err := dir.LookupUser(ctx, sam)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := g.Status(ctx, u.ID); err != nil || s.WrongPasswords != 0 || s.PasswordsInFlight != 0 {
		t.Errorf("after ten timeouts Gatehouse counts %+v, %v; want nothing", s, err)
	}
	for i := range 3 {
		if _, _, err := g.Authenticate(ctx, Attempt{Login: sam, IP: "198.51.100.9"}, fmt.Sprintf("Wr0ng-Typo-%d!", i)); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("typo %d once the DC answers: %v, want the whole budget left", i+1, err)
		}
	}
	if _, _, err := g.Authenticate(ctx, Attempt{Login: sam, IP: "198.51.100.9"}, sambaPassword); scope(err) != ScopeAccount {
		t.Errorf("a fourth attempt: %v, want refused", err)
	}
	if lt, bad := testenv.ADLockoutState(t, sam); lt != 0 || bad != 3 {
		t.Errorf("lockoutTime %d, badPwdCount %d; want 3 counted, no lockout", lt, bad)
	}
}
