package abuse

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// pso5 is the test domain's PSO: lockout at the fifth wrong password within
// 30 minutes, for 30 minutes.
var pso5 = &directory.LockoutPolicy{Threshold: 5, ObservationWindow: 30 * time.Minute, Duration: 30 * time.Minute}

func TestClientKeysAggregateIPv6ByPrefix(t *testing.T) {
	for _, tc := range []struct {
		name, ip string
		prefix   int
		want     string
	}{
		{"an IPv4 address is itself", "198.51.100.7", 64, "198.51.100.7"},
		{"an IPv4-mapped IPv6 address is the IPv4 address", "::ffff:198.51.100.7", 64, "198.51.100.7"},
		{"an IPv6 address is its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"},
		{"another address in the same /64 is the same client", "2001:db8:1:2::1", 64, "2001:db8:1:2::/64"},
		{"a configured /56 joins more", "2001:db8:1:2ff::1", 56, "2001:db8:1:200::/56"},
		{"a zone does not make another client", "fe80::1%eth0", 64, "fe80::/64"},
		{"an address that does not parse is unknown", "not-an-ip", 64, "unknown"},
		{"no address is unknown", "", 64, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClientKey(tc.ip, tc.prefix); got != tc.want {
				t.Errorf("ClientKey(%q, %d) = %q, want %q", tc.ip, tc.prefix, got, tc.want)
			}
		})
	}
}

func TestCanonicalLoginsJoinCaseAndTheNetBIOSDomain(t *testing.T) {
	for _, in := range []string{"alice", "ALICE", " Alice ", `CORP\alice`, `corp\ALICE`} {
		if got := CanonicalLogin(in); got != "alice" {
			t.Errorf("CanonicalLogin(%q) = %q, want alice", in, got)
		}
	}
	if CanonicalLogin("alice@corp.example.test") == CanonicalLogin("alice") {
		t.Error("a UPN is not the sAMAccountName before the directory says so")
	}
}

// spray sends one wrong password per login in logins, all at once: every
// bind waits until each attempt has either been refused or reached the
// bind, so every check is made before any password is counted by the DC —
// the order in which the old throttle let every request through.
func spray(t *testing.T, g *Guard, ad *fakeAD, attempts []Attempt) (refused map[string]int) {
	t.Helper()
	ad.gate = make(chan struct{})
	defer func() { ad.gate = nil }()
	ad.arrived.Store(0)
	errs := make(chan error, len(attempts))
	var wg sync.WaitGroup
	for i, a := range attempts {
		wg.Go(func() {
			_, _, err := g.Authenticate(context.Background(), a, fmt.Sprintf("Wrong-%d-%s", i, a.IP))
			errs <- err
		})
	}
	refused = map[string]int{}
	done := 0
	for done+int(ad.arrived.Load()) < len(attempts) {
		select {
		case err := <-errs:
			done++
			switch {
			case errors.Is(err, ErrThrottled):
				refused[scope(err)]++
			case errors.Is(err, directory.ErrInvalidCredentials):
				refused["unknown"]++ // a name the directory does not know: no bind
			default:
				t.Fatalf("an attempt came back before any bind: %v", err)
			}
		default:
			runtime.Gosched()
		}
	}
	close(ad.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		switch {
		case errors.Is(err, ErrThrottled):
			refused[scope(err)]++
		case !errors.Is(err, directory.ErrInvalidCredentials):
			t.Errorf("attempt: %v", err)
		}
	}
	return refused
}

func TestParallelWrongPasswordsInEveryLoginFormStayBelowTheLockoutThreshold(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			clk := newClock()
			ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
			alice := ad.add("alice", "Right-Horse-1", pso5)
			g, rec := newGuard(t, b.open(t), ad, clk.Now, nil)
			forms := []string{alice.sam, "ALICE", alice.upn, "Alice@Corp.Example.Test", alice.mail, `CORP\alice`}
			var attempts []Attempt
			for i := range 60 {
				attempts = append(attempts, Attempt{Login: forms[i%len(forms)], IP: fmt.Sprintf("198.51.100.%d", i)})
			}
			refused := spray(t, g, ad, attempts)
			bad, locked := ad.state(alice)
			if locked || bad != 3 || ad.binds.Load() != 3 {
				t.Errorf("after 60 parallel wrong passwords AD counted %d (locked %v) from %d binds; want exactly 3 (threshold 5, margin 2), not locked",
					bad, locked, ad.binds.Load())
			}
			// CORP\alice names nobody in AD's search: those attempts fail
			// as unknown (or on the name's budget) without a bind.
			if refused[ScopeAccount] == 0 || refused[ScopeAccount]+refused[ScopeLogin]+refused["unknown"] != 57 {
				t.Errorf("refusals by scope %v, want the other 57 refused, mostly for the account", refused)
			}
			// Later attempts, one by one, in every form AD resolves, do not
			// get through either.
			for i, login := range forms[:5] {
				_, _, err := g.Authenticate(context.Background(), Attempt{Login: login, IP: fmt.Sprintf("203.0.113.%d", i)}, "Another-wrong-1")
				if !errors.Is(err, ErrThrottled) {
					t.Errorf("%s after the spray: %v, want throttled", login, err)
				}
			}
			if _, locked := ad.state(alice); locked || ad.binds.Load() != 3 {
				t.Errorf("after more attempts: locked %v, %d binds", locked, ad.binds.Load())
			}
			if rec.count(audit.AbuseThrottled, ScopeAccount) != 1 {
				t.Errorf("%d abuse.throttled events for the account, want one while it lasts", rec.count(audit.AbuseThrottled, ScopeAccount))
			}
		})
	}
}

func TestTheRealUserSignsInFromAFamiliarBrowserDuringASpray(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", pso5)
	g, _ := newGuard(t, openSQLite(t), ad, clk.Now, nil)
	ctx := context.Background()
	home := Attempt{Login: alice.upn, IP: "192.0.2.10"}
	if _, _, err := g.Authenticate(ctx, home, alice.password); err != nil {
		t.Fatal(err)
	}
	token, err := g.RememberClient(ctx, alice.id, "")
	if err != nil || token == "" {
		t.Fatalf("RememberClient: %q, %v", token, err)
	}
	var attempts []Attempt
	for i := range 40 {
		attempts = append(attempts, Attempt{Login: alice.sam, IP: fmt.Sprintf("2001:db8:%x::1", i)})
	}
	spray(t, g, ad, attempts)

	unfamiliar := Attempt{Login: alice.upn, IP: "192.0.2.99"}
	if _, _, err := g.Authenticate(ctx, unfamiliar, alice.password); scope(err) != ScopeAccount {
		t.Errorf("the right password from an unfamiliar browser: %v, want refused for the account", err)
	}
	familiar := Attempt{Login: alice.upn, IP: "192.0.2.99", Device: token}
	u, res, err := g.Authenticate(ctx, familiar, alice.password)
	if err != nil || u == nil || !res.Familiar {
		t.Fatalf("the right password from the familiar browser: %v, %v (familiar %v)", u, err, res.Familiar)
	}
	if bad, locked := ad.state(alice); locked || bad != 0 {
		t.Errorf("AD count %d, locked %v", bad, locked)
	}
	// The spray goes on: the unfamiliar budget stays spent (the familiar
	// sign-in did not refill it), so AD's count stays at zero and the
	// familiar browser has room for typos.
	spray(t, g, ad, attempts)
	if bad, _ := ad.state(alice); bad != 0 {
		t.Errorf("the second wave reached AD: count %d", bad)
	}
	if _, res, err := g.Authenticate(ctx, familiar, "Right-Horse-2"); !errors.Is(err, directory.ErrInvalidCredentials) || !res.Familiar {
		t.Fatalf("a typo from the familiar browser: %v (familiar %v), want a wrong password", err, res.Familiar)
	}
	if _, _, err := g.Authenticate(ctx, familiar, alice.password); err != nil {
		t.Fatalf("the right password after the typo: %v", err)
	}
	// A token is no key to another account.
	bob := ad.add("bob", "Right-Lemon-1", pso5)
	for i := range 5 {
		_, res, err := g.Authenticate(ctx, Attempt{Login: bob.sam, IP: "192.0.2.99", Device: token}, fmt.Sprintf("Bob-wrong-%d", i))
		if res.Familiar {
			t.Fatal("alice's browser is familiar for bob")
		}
		if i >= 3 && scope(err) != ScopeAccount {
			t.Errorf("bob's wrong password %d with alice's token: %v, want refused for the account", i+1, err)
		}
	}
}

func TestAFamiliarBrowserNeverSendsThePasswordThatWouldLock(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", pso5)
	g, rec := newGuard(t, openSQLite(t), ad, clk.Now, func(l *Limits) { l.PerFamiliarClient = 20 })
	ctx := context.Background()
	token, err := g.RememberClient(ctx, alice.id, "")
	if err != nil {
		t.Fatal(err)
	}
	a := Attempt{Login: alice.sam, IP: "192.0.2.1", Device: token}
	for i := range 10 {
		_, _, err := g.Authenticate(ctx, a, fmt.Sprintf("Typo-%d", i))
		switch {
		case i < 4 && !errors.Is(err, directory.ErrInvalidCredentials):
			t.Fatalf("typo %d: %v, want a wrong password", i+1, err)
		case i >= 4 && scope(err) != ScopeDirectory:
			t.Fatalf("typo %d: %v, want held back by smart lockout", i+1, err)
		}
	}
	if bad, locked := ad.state(alice); bad != 4 || locked {
		t.Errorf("AD counted %d, locked %v; want 4 of 5, not locked", bad, locked)
	}
	if rec.count(audit.AbuseSmartLockout, "held_back") != 1 {
		t.Errorf("%d smart-lockout events, want one", rec.count(audit.AbuseSmartLockout, "held_back"))
	}
	_, _, err = g.Authenticate(ctx, a, alice.password)
	var th *Throttled
	if !errors.As(err, &th) || th.RetryAfter != 30*time.Minute {
		t.Fatalf("the right password once AD is at 4: %v, want held back for AD's observation window", err)
	}
	if s, ok := RetryAfter(err); !ok || s != 1800 {
		t.Errorf("RetryAfter = %d, %v", s, ok)
	}
	clk.Add(30 * time.Minute)
	if _, _, err := g.Authenticate(ctx, a, alice.password); err != nil {
		t.Errorf("after the observation window: %v", err)
	}
}

func TestWrongPasswordsCountedElsewhereLeaveTheMarginToTheUsersOtherClients(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", pso5)
	g, _ := newGuard(t, openSQLite(t), ad, clk.Now, nil)
	ctx := context.Background()
	// Outlook at the office sent two old passwords straight to a DC.
	for range 2 {
		if err := ad.bind(alice, "Old-Password-1"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatal(err)
		}
	}
	var reached int
	for i := range 5 {
		_, res, err := g.Authenticate(ctx, Attempt{Login: alice.sam, IP: fmt.Sprintf("198.51.100.%d", i)}, fmt.Sprintf("Guess-%d", i))
		if res.Sent {
			reached++
		}
		if i >= 1 && scope(err) != ScopeDirectory {
			t.Errorf("guess %d: %v, want held back", i+1, err)
		}
	}
	if bad, _ := ad.state(alice); reached != 1 || bad != 3 {
		t.Errorf("%d guesses reached AD, which counts %d; want 1 and 3 (two attempts left to other clients)", reached, bad)
	}
}

func TestTwentyRepeatsOfOneWrongPasswordReachADOnce(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", pso5)
	g, rec := newGuard(t, openSQLite(t), ad, clk.Now, nil)
	ctx := context.Background()
	phone := Attempt{Login: alice.upn, IP: "198.51.100.20", ByAddress: true}
	for i := range 20 {
		_, res, err := g.Authenticate(ctx, phone, "Old-Password-1")
		if !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("repeat %d: %v, want a wrong password", i+1, err)
		}
		if res.Repeat != (i > 0) {
			t.Errorf("repeat %d: Repeat = %v", i+1, res.Repeat)
		}
		clk.Add(time.Minute)
	}
	if bad, _ := ad.state(alice); ad.binds.Load() != 1 || bad != 1 {
		t.Errorf("%d binds, AD count %d; want the old password sent once", ad.binds.Load(), bad)
	}
	// Twenty minutes of repeats: one event per 15-minute window.
	if rec.count(audit.AbuseSmartLockout, "repeat") != 2 {
		t.Errorf("%d repeat events, want one per window (2)", rec.count(audit.AbuseSmartLockout, "repeat"))
	}
	// The user at a new browser still has the account's budget: the
	// phone's repeats took none of it.
	if _, _, err := g.Authenticate(ctx, Attempt{Login: alice.upn, IP: "192.0.2.50"}, alice.password); err != nil {
		t.Fatalf("the user from elsewhere: %v", err)
	}
	// An administrator sets the phone's password as the new one:
	// pwdLastSet moved, so it is no longer "known wrong".
	ad.setPassword(alice, "Old-Password-1")
	if _, _, err := g.Authenticate(ctx, phone, "Old-Password-1"); err != nil {
		t.Errorf("after the password changed to it: %v", err)
	}
}

func TestATransportErrorNeverCounts(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			clk := newClock()
			ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
			alice := ad.add("alice", "Right-Horse-1", pso5)
			g, _ := newGuard(t, b.open(t), ad, clk.Now, func(l *Limits) { l.PerAddress = 3 })
			ctx := context.Background()
			a := Attempt{Login: alice.sam, IP: "198.51.100.1"}
			ad.broken.Store(true)
			for i := range 10 {
				if _, _, err := g.Authenticate(ctx, a, fmt.Sprintf("Guess-%d", i)); !errors.Is(err, directory.ErrUnavailable) {
					t.Fatalf("attempt %d while the DC is unreachable: %v", i+1, err)
				}
			}
			ad.broken.Store(false)
			st, err := g.Status(ctx, alice.id)
			if err != nil {
				t.Fatal(err)
			}
			if st.WrongPasswords != 0 || st.PasswordsInFlight != 0 {
				t.Errorf("after ten transport errors: %+v, want nothing counted", st)
			}
			for i := range 3 {
				if _, _, err := g.Authenticate(ctx, a, fmt.Sprintf("Typo-%d", i)); !errors.Is(err, directory.ErrInvalidCredentials) {
					t.Errorf("typo %d after the outage: %v, want the full budget", i+1, err)
				}
			}
		})
	}
}

func TestAnUnknownNameRunsOutAfterAsManyAttemptsAsARealAccount(t *testing.T) {
	for _, tc := range []struct {
		name   string
		domain directory.LockoutPolicy
		want   int
	}{
		{"with a domain lockout threshold of 5", *pso5, 3},
		{"without a lockout threshold", directory.LockoutPolicy{}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			ad := newFakeAD(clk.Now, tc.domain)
			bob := ad.add("bob", "Right-Lemon-1", nil)
			g, _ := newGuard(t, openSQLite(t), ad, clk.Now, nil)
			tries := func(login string) int {
				for i := range 20 {
					_, _, err := g.Authenticate(context.Background(), Attempt{Login: login, IP: fmt.Sprintf("198.51.100.%d", i)}, fmt.Sprintf("Guess-%d", i))
					if errors.Is(err, ErrThrottled) {
						return i
					}
				}
				return 20
			}
			known, ghost := tries(bob.sam), tries("ghost")
			if known != tc.want || ghost != tc.want {
				t.Errorf("a real account took %d wrong passwords and an unknown name %d; want %d each", known, ghost, tc.want)
			}
			if _, locked := ad.state(bob); locked {
				t.Error("bob is locked")
			}
		})
	}
}

func TestOneIPv6NetworkIsOneClient(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	g, _ := newGuard(t, openSQLite(t), ad, clk.Now, func(l *Limits) { l.PerAddress = 10 })
	ctx := context.Background()
	for i := range 12 {
		_, _, err := g.Authenticate(ctx, Attempt{Login: fmt.Sprintf("user%d", i), IP: fmt.Sprintf("2001:db8:7:7::%x", i+1)}, "Guess-1")
		if want := i >= 10; errors.Is(err, ErrThrottled) != want || (want && scope(err) != ScopeAddress) {
			t.Errorf("attempt %d from the same /64: %v", i+1, err)
		}
	}
	if _, _, err := g.Authenticate(ctx, Attempt{Login: "user1", IP: "2001:db8:7:8::1"}, "Guess-2"); errors.Is(err, ErrThrottled) {
		t.Errorf("the next /64: %v", err)
	}
}

func TestARightPasswordStartsTheBudgetAgainAndDoesNotCountForItsAddress(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", nil)
	g, _ := newGuard(t, openSQLite(t), ad, clk.Now, func(l *Limits) { l.PerAddress = 4 })
	ctx := context.Background()
	office := Attempt{Login: alice.sam, IP: "192.0.2.1"}
	for round := range 5 {
		for i := range 3 {
			if _, _, err := g.Authenticate(ctx, office, fmt.Sprintf("Typo-%d-%d", round, i)); !errors.Is(err, directory.ErrInvalidCredentials) {
				t.Fatalf("round %d typo %d: %v", round, i, err)
			}
		}
		if _, _, err := g.Authenticate(ctx, office, alice.password); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		clk.Add(16 * time.Minute) // the address's window
	}
	if st, _ := g.Status(ctx, alice.id); st.WrongPasswords != 0 {
		t.Errorf("after a right password the account counts %d", st.WrongPasswords)
	}
}

func TestWSTrustFromAnAddressTheUserSignedInFromIsFamiliar(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", pso5)
	// A margin that leaves an attempt for a familiar address besides the
	// familiar browser's (TestAClientSharingTheUsersAddress…).
	g, _ := newGuard(t, openSQLite(t), ad, clk.Now, func(l *Limits) { l.DirectoryMargin = 3 })
	ctx := context.Background()
	if _, _, err := g.Authenticate(ctx, Attempt{Login: alice.upn, IP: "192.0.2.7"}, alice.password); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		_, _, _ = g.Authenticate(ctx, Attempt{Login: alice.upn, IP: fmt.Sprintf("203.0.113.%d", i), ByAddress: true}, fmt.Sprintf("Spray-%d", i))
	}
	u, res, err := g.Authenticate(ctx, Attempt{Login: alice.upn, IP: "192.0.2.7", ByAddress: true}, alice.password)
	if err != nil || u == nil || !res.Familiar {
		t.Errorf("Outlook at the user's address: %v (familiar %v)", err, res.Familiar)
	}
	// The address is familiar only over WS-Trust, and only for alice.
	if _, res, _ := g.Authenticate(ctx, Attempt{Login: alice.upn, IP: "192.0.2.7"}, "Spray-x"); res.Familiar {
		t.Error("a browser without the cookie counted as familiar by its address")
	}
	clk.Add(31 * 24 * time.Hour)
	if _, res, _ := g.Authenticate(ctx, Attempt{Login: alice.upn, IP: "192.0.2.7", ByAddress: true}, "Spray-y"); res.Familiar {
		t.Error("still familiar after familiar_for")
	}
}

func TestADirectoryWithoutTheCheckedCapabilityIsLookedUpFirst(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", pso5)
	g, _ := newGuard(t, openSQLite(t), plainDir{ad}, clk.Now, nil)
	for i := range 6 {
		_, _, _ = g.Authenticate(context.Background(), Attempt{Login: alice.upn, IP: "198.51.100.1"}, fmt.Sprintf("Guess-%d", i))
	}
	if bad, locked := ad.state(alice); bad != 3 || locked {
		t.Errorf("AD counted %d (locked %v), want 3", bad, locked)
	}
}

func TestTwoInstancesOnOnePostgreSQLShareTheirCounters(t *testing.T) {
	dsn := pgSchema(t)
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", pso5)
	g1, _ := newGuard(t, openPostgres(t, dsn), ad, clk.Now, nil)
	g2, _ := newGuard(t, openPostgres(t, dsn), ad, clk.Now, nil)
	var attempts []Attempt
	for i := range 30 {
		attempts = append(attempts, Attempt{Login: alice.upn, IP: fmt.Sprintf("198.51.100.%d", i)})
	}
	// Half the requests to each instance, all at once.
	ad.gate = make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(attempts))
	for i, a := range attempts {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		wg.Go(func() {
			_, _, err := g.Authenticate(context.Background(), a, fmt.Sprintf("Wrong-%d", i))
			errs <- err
		})
	}
	done := 0
	for done+int(ad.arrived.Load()) < len(attempts) {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrThrottled) {
				t.Errorf("an attempt came back before any bind: %v", err)
			}
			done++
		default:
			runtime.Gosched()
		}
	}
	close(ad.gate)
	wg.Wait()
	if bad, locked := ad.state(alice); bad != 3 || locked || ad.binds.Load() != 3 {
		t.Errorf("two instances let %d passwords through (AD counts %d, locked %v); want 3 between them", ad.binds.Load(), bad, locked)
	}
	st1, _ := g1.Status(context.Background(), alice.id)
	st2, _ := g2.Status(context.Background(), alice.id)
	if st1 != st2 || st1.WrongPasswords != 3 {
		t.Errorf("the instances see %+v and %+v", st1, st2)
	}
}

func TestAnAccountADHasLockedGetsADsAnswerAndCountsNothing(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", &directory.LockoutPolicy{Threshold: 2, ObservationWindow: 30 * time.Minute, Duration: 30 * time.Minute})
	for range 2 {
		_ = ad.bind(alice, "Outlook-Old-1") // locked by another service
	}
	g, _ := newGuard(t, openSQLite(t), ad, clk.Now, nil)
	for i := range 8 {
		if _, _, err := g.Authenticate(context.Background(), Attempt{Login: alice.sam, IP: "192.0.2.1"}, fmt.Sprintf("Any-%d", i)); !errors.Is(err, directory.ErrAccountLocked) {
			t.Fatalf("attempt %d: %v, want AD's locked", i+1, err)
		}
	}
	if st, _ := g.Status(context.Background(), alice.id); st.WrongPasswords != 0 || st.PasswordsInFlight != 0 {
		t.Errorf("counted %+v", st)
	}
}

// TestAClientSharingTheUsersAddressCannotTakeTheBrowsersLastAttempt: an
// attacker behind the user's address (a NAT) is familiar by address over
// WS-Trust; after a spray elsewhere it must not spend the one attempt
// below AD's threshold that the user's own browser keeps.
func TestAClientSharingTheUsersAddressCannotTakeTheBrowsersLastAttempt(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", pso5)
	g, _ := newGuard(t, openSQLite(t), ad, clk.Now, nil)
	ctx := context.Background()
	office := "192.0.2.7"
	if _, _, err := g.Authenticate(ctx, Attempt{Login: alice.upn, IP: office, ByAddress: true}, alice.password); err != nil {
		t.Fatal(err)
	}
	token, err := g.RememberClient(ctx, alice.id, "")
	if err != nil {
		t.Fatal(err)
	}
	var attempts []Attempt
	for i := range 20 {
		attempts = append(attempts, Attempt{Login: alice.sam, IP: fmt.Sprintf("203.0.113.%d", i)})
	}
	spray(t, g, ad, attempts)
	for i := range 3 { // the attacker at the office address, over WS-Trust, without the cookie
		_, _, _ = g.Authenticate(ctx, Attempt{Login: alice.upn, IP: office, ByAddress: true}, fmt.Sprintf("Office-%d", i))
	}
	if bad, locked := ad.state(alice); bad > 3 || locked {
		t.Fatalf("AD counted %d (locked %v): a client familiar by address took the browser's attempt", bad, locked)
	}
	if _, _, err := g.Authenticate(ctx, Attempt{Login: alice.upn, IP: office, Device: token}, alice.password); err != nil {
		t.Fatalf("the user's own browser after the attack: %v", err)
	}
}

// TestASprayAtOneAccountStopsReachingTheDirectoryAtAll: once the account's
// budget refuses a name, later attempts at that name are refused before
// the directory's search, not only before its bind.
func TestASprayAtOneAccountStopsReachingTheDirectoryAtAll(t *testing.T) {
	clk := newClock()
	ad := newFakeAD(clk.Now, directory.LockoutPolicy{})
	alice := ad.add("alice", "Right-Horse-1", pso5)
	g, _ := newGuard(t, openSQLite(t), ad, clk.Now, nil)
	for i := range 40 {
		_, _, _ = g.Authenticate(context.Background(), Attempt{Login: alice.sam, IP: fmt.Sprintf("203.0.113.%d", i)}, fmt.Sprintf("Spray-%d", i))
	}
	if n := ad.searches.Load(); n > int64(Defaults().PerAccount)+1 {
		t.Errorf("40 attempts at one name made %d directory searches; want the name's budget at most", n)
	}
	if bad, locked := ad.state(alice); bad > 3 || locked {
		t.Errorf("AD counted %d (locked %v)", bad, locked)
	}
}
