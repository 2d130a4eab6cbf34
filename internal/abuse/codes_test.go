package abuse

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// check runs one code check through the guard: right or wrong as said.
func check(t *testing.T, g *Guard, a CodeAttempt, right bool) error {
	t.Helper()
	c, err := g.BeginCode(context.Background(), a)
	if err != nil {
		return err
	}
	if right {
		c.Right(context.Background())
	} else {
		c.Wrong(context.Background())
	}
	return nil
}

func TestOneCodeBudgetPerUserAcrossMethods(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			clk := newClock()
			g, _ := newGuard(t, b.open(t), newFakeAD(clk.Now, directory.LockoutPolicy{}), clk.Now, nil)
			methods := []string{"totp", "recovery", "email", "totp", "recovery"}
			for i, m := range methods {
				if err := check(t, g, CodeAttempt{UserID: "u1", Method: m, IP: "192.0.2.1"}, false); err != nil {
					t.Fatalf("wrong code %d (%s): %v", i+1, m, err)
				}
			}
			for _, m := range []string{"totp", "recovery", "email"} {
				err := check(t, g, CodeAttempt{UserID: "u1", Method: m, IP: "192.0.2.1"}, true)
				var th *Throttled
				if !errors.As(err, &th) || th.Scope != ScopeCodes || th.RetryAfter != 15*time.Minute {
					t.Errorf("a %s code after five wrong codes of any method: %v, want refused (codes, 15m)", m, err)
				}
			}
			if err := check(t, g, CodeAttempt{UserID: "u2", Method: "totp"}, false); err != nil {
				t.Errorf("another user: %v", err)
			}
			clk.Add(15 * time.Minute)
			if err := check(t, g, CodeAttempt{UserID: "u1", Method: "totp"}, true); err != nil {
				t.Errorf("after the window: %v", err)
			}
			// A right code starts the count again.
			for i := range 5 {
				if err := check(t, g, CodeAttempt{UserID: "u1", Method: "recovery"}, false); err != nil {
					t.Errorf("wrong code %d after a right one: %v", i+1, err)
				}
			}
		})
	}
}

func TestAVoidCodeCheckDoesNotCount(t *testing.T) {
	clk := newClock()
	g, _ := newGuard(t, openSQLite(t), newFakeAD(clk.Now, directory.LockoutPolicy{}), clk.Now, nil)
	ctx := context.Background()
	for range 20 {
		c, err := g.BeginCode(ctx, CodeAttempt{UserID: "u1", Method: "email"})
		if err != nil {
			t.Fatal(err)
		}
		c.Void(ctx) // the store or the mail server failed
	}
	if st, _ := g.Status(ctx, "u1"); st.WrongCodes != 0 {
		t.Errorf("void checks counted %d", st.WrongCodes)
	}
}

func TestSelfServiceCodesDoNotTouchTheUsersSignInBudget(t *testing.T) {
	clk := newClock()
	g, _ := newGuard(t, openSQLite(t), newFakeAD(clk.Now, directory.LockoutPolicy{}), clk.Now, nil)
	for i := range 30 {
		_ = check(t, g, CodeAttempt{UserID: "u1", Method: "email", SelfService: true, IP: fmt.Sprintf("198.51.100.%d", i)}, false)
	}
	for i := range 5 {
		if err := check(t, g, CodeAttempt{UserID: "u1", Method: "totp", IP: "192.0.2.1"}, false); err != nil {
			t.Fatalf("the user's own wrong code %d after an anonymous attack: %v", i+1, err)
		}
	}
}

func TestSelfServiceBacksOffPerAddress(t *testing.T) {
	clk := newClock()
	g, _ := newGuard(t, openSQLite(t), newFakeAD(clk.Now, directory.LockoutPolicy{}), clk.Now, nil)
	a := CodeAttempt{SelfService: true, IP: "2001:db8:5:5::1", Method: "email"}
	burst := func(round int) int {
		passed := 0
		for i := range 15 {
			a.UserID = fmt.Sprintf("victim-%d-%d", round, i)
			a.IP = fmt.Sprintf("2001:db8:5:5::%x", i+1) // one /64
			err := check(t, g, a, false)
			switch {
			case err == nil:
				passed++
			case scope(err) != ScopeSelfServiceAddress:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		return passed
	}
	var waits []time.Duration
	for round := range 4 {
		if got := burst(round); got != 10 {
			t.Fatalf("round %d let %d wrong codes through, want 10", round, got)
		}
		_, err := g.BeginCode(context.Background(), a)
		var th *Throttled
		if !errors.As(err, &th) {
			t.Fatalf("round %d: not refused: %v", round, err)
		}
		waits = append(waits, th.RetryAfter)
		clk.Add(th.RetryAfter)
	}
	want := []time.Duration{15 * time.Minute, 30 * time.Minute, 60 * time.Minute, 120 * time.Minute}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("the waits were %v, want each twice the last: %v", waits, want)
			break
		}
	}
}

func TestSelfServiceStopsForAnAccountAfterAHundredFailuresInARowUntilItsUserSignsIn(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			clk := newClock()
			ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
			alice := ad.add("alice", "Right-Horse-1", nil)
			g, rec := newGuard(t, b.open(t), ad, clk.Now, nil)
			a := CodeAttempt{UserID: alice.id, SelfService: true, Method: "totp"}
			for i := range 100 {
				a.IP = fmt.Sprintf("10.%d.%d.1", i/200, i%200) // many addresses
				if err := check(t, g, a, false); err != nil {
					t.Fatalf("wrong code %d: %v", i+1, err)
				}
				clk.Add(time.Hour) // slowly: no window helps
			}
			a.IP = "192.0.2.200"
			err := check(t, g, a, true)
			var th *Throttled
			if !errors.As(err, &th) || th.Scope != ScopeSelfServiceAccount || th.RetryAfter != 0 {
				t.Fatalf("the 101st check, with the right code: %v, want self-service closed for the account", err)
			}
			if _, ok := RetryAfter(err); ok {
				t.Error("a closed self-service names a time")
			}
			if st, _ := g.Status(context.Background(), alice.id); !st.SelfServiceClosed || st.SelfServiceFailures != 100 {
				t.Errorf("status %+v", st)
			}
			if rec.count(audit.AbuseThrottled, ScopeSelfServiceAccount) != 1 {
				t.Errorf("%d events", rec.count(audit.AbuseThrottled, ScopeSelfServiceAccount))
			}
			// The user's own sign-in is not blocked by it…
			if err := check(t, g, CodeAttempt{UserID: alice.id, Method: "totp"}, true); err != nil {
				t.Errorf("the user's own code: %v", err)
			}
			// …and a sign-in with the right password opens self-service
			// again.
			if _, _, err := g.Authenticate(context.Background(), Attempt{Login: alice.sam, IP: "192.0.2.1"}, alice.password); err != nil {
				t.Fatal(err)
			}
			if err := check(t, g, a, true); err != nil {
				t.Errorf("after a sign-in: %v", err)
			}
		})
	}
}

func TestAnAdministratorsResetReopensEverything(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", nil)
	g, _ := newGuard(t, openSQLite(t), ad, clk.Now, func(l *Limits) { l.SelfServiceMaxFailures = 3 })
	ctx := context.Background()
	for i := range 5 {
		_, _, _ = g.Authenticate(ctx, Attempt{Login: alice.upn, IP: fmt.Sprintf("198.51.100.%d", i)}, fmt.Sprintf("Guess-%d", i))
		_ = check(t, g, CodeAttempt{UserID: alice.id, Method: "totp"}, false)
		_ = check(t, g, CodeAttempt{UserID: alice.id, Method: "totp", SelfService: true, IP: "192.0.2.9"}, false)
	}
	st, err := g.Status(ctx, alice.id)
	if err != nil || st.WrongPasswords != 5 || st.WrongCodes != 5 || !st.SelfServiceClosed {
		t.Fatalf("before the reset: %+v, %v", st, err)
	}
	u, err := ad.LookupUser(ctx, alice.sam)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.ResetAccount(ctx, u); err != nil {
		t.Fatal(err)
	}
	if st, _ := g.Status(ctx, alice.id); st != (AccountStatus{}) {
		t.Errorf("after the reset: %+v", st)
	}
	if _, _, err := g.Authenticate(ctx, Attempt{Login: alice.upn, IP: "192.0.2.77"}, alice.password); err != nil {
		t.Errorf("sign-in after the reset: %v", err)
	}
}
