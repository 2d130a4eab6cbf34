package directorytest

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// Account is a user a harness created for one test.
type Account struct {
	Username string // sAMAccountName in AD
	UPN      string
	Mail     string
	Password string
}

// Harness gives the suite a directory and fresh users.
type Harness interface {
	Directory() directory.Directory
	// NewUser creates a unique, enabled user with password, a UPN and a
	// mail address, whose password may be changed at once (minimum age 0)
	// and whose policy has a history of at least 2 and complexity on.
	NewUser(t *testing.T, password string) Account
	Disable(t *testing.T, a Account)
	MustChange(t *testing.T, a Account)
	ExpireAccount(t *testing.T, a Account)
}

// LockHarness can lock a user out (for example by failing to sign in
// until the lockout threshold).
type LockHarness interface {
	LockOut(t *testing.T, a Account)
}

// ExpiredPasswordHarness can make a user's password expired.
type ExpiredPasswordHarness interface {
	ExpirePassword(t *testing.T, a Account)
}

// GroupHarness can create a user in a group that is itself a member of
// another group, returning both groups' DNs (direct, then outer).
type GroupHarness interface {
	NewUserInNestedGroup(t *testing.T, password string) (a Account, direct, outer string)
}

// Passwords the suite uses; all meet a 12-character complexity policy.
const (
	PasswordA = "Tr1cky-Horse-Battery"
	PasswordB = "Qu4ntum-Lemon-Stapler"
	PasswordC = "Vel0city-Garden-Pebble"
)

// Run runs the behaviour suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.Directory()

	t.Run("a correct password signs the user in with their attributes", func(t *testing.T) {
		a := h.NewUser(t, PasswordA)
		u, err := d.Authenticate(ctx, a.Username, PasswordA)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if !strings.EqualFold(u.SAMAccountName, a.Username) || !strings.EqualFold(u.UPN, a.UPN) || !strings.EqualFold(u.Mail, a.Mail) {
			t.Errorf("user attributes = %q %q %q, want %q %q %q", u.SAMAccountName, u.UPN, u.Mail, a.Username, a.UPN, a.Mail)
		}
		if u.ID == "" || u.DN == "" {
			t.Errorf("user has no ID or DN: %+v", u)
		}
		raw, err := base64.StdEncoding.DecodeString(u.ImmutableID)
		if err != nil || len(raw) == 0 {
			t.Errorf("ImmutableID %q is not base64 of raw bytes: %v", u.ImmutableID, err)
		}
		if u.State.Disabled || u.State.Locked || u.State.MustChange {
			t.Errorf("fresh user has a bad state: %+v", u.State)
		}
	})

	if il, ok := d.(directory.IDLookup); ok {
		t.Run("a user is found by their stable ID, and nobody by another", func(t *testing.T) {
			a := h.NewUser(t, PasswordA)
			want := mustLookup(t, d, a.Username)
			got, err := il.LookupUserByID(ctx, want.ID)
			if err != nil || got.DN != want.DN || got.ImmutableID != want.ImmutableID {
				t.Fatalf("LookupUserByID(%s) = %+v, %v; want %s", want.ID, got, err, want.DN)
			}
			for _, id := range []string{"", "zz", strings.Repeat("0", 32), want.ID + "00", "*"} {
				if _, err := il.LookupUserByID(ctx, id); !errors.Is(err, directory.ErrUserNotFound) {
					t.Errorf("LookupUserByID(%q) = %v; want ErrUserNotFound", id, err)
				}
			}
		})
	}

	t.Run("a user signs in by user name, UPN or mail, in any case", func(t *testing.T) {
		a := h.NewUser(t, PasswordA)
		for _, login := range []string{a.Username, a.UPN, a.Mail, strings.ToUpper(a.UPN)} {
			if _, err := d.Authenticate(ctx, login, PasswordA); err != nil {
				t.Errorf("Authenticate(%q): %v", login, err)
			}
		}
	})

	t.Run("a wrong password and an unknown user fail alike", func(t *testing.T) {
		a := h.NewUser(t, PasswordA)
		u, err := d.Authenticate(ctx, a.Username, PasswordB)
		if !errors.Is(err, directory.ErrInvalidCredentials) || u != nil {
			t.Errorf("wrong password: %v, %v", u, err)
		}
		u, err = d.Authenticate(ctx, "nobody-"+a.Username, PasswordA)
		if !errors.Is(err, directory.ErrInvalidCredentials) || u != nil {
			t.Errorf("unknown user: %v, %v", u, err)
		}
		if _, err := d.Authenticate(ctx, a.Username, ""); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("empty password must never sign in (an LDAP unauthenticated bind would succeed): %v", err)
		}
	})

	if ca, ok := d.(directory.CheckedAuthenticator); ok {
		t.Run("a check before the password sees the account's bad-password count, and its refusal keeps the password from the directory", func(t *testing.T) {
			a := h.NewUser(t, PasswordA)
			var seen []*directory.User
			look := func(_ context.Context, u *directory.User) error {
				seen = append(seen, u)
				return nil
			}
			if _, err := ca.AuthenticateWith(ctx, a.UPN, PasswordB, look); !errors.Is(err, directory.ErrInvalidCredentials) {
				t.Fatalf("wrong password: %v", err)
			}
			refused := errors.New("refused by the check")
			if _, err := ca.AuthenticateWith(ctx, a.Mail, PasswordC, func(_ context.Context, u *directory.User) error {
				seen = append(seen, u)
				return refused
			}); !errors.Is(err, refused) {
				t.Fatalf("a refusing check: %v, want its error", err)
			}
			u, err := ca.AuthenticateWith(ctx, strings.ToUpper(a.Username), PasswordA, look)
			if err != nil || u == nil {
				t.Fatalf("right password: %v, %v", u, err)
			}
			if len(seen) != 3 || seen[0].ID != u.ID || seen[1].ID != u.ID || seen[2].ID != u.ID {
				t.Fatalf("the check saw %d users, want the account three times", len(seen))
			}
			if seen[0].State.Lockout == nil {
				t.Fatal("the check saw no lockout policy")
			}
			// Active Directory counts wrong passwords only under a lockout
			// threshold.
			if seen[0].State.Lockout.Threshold > 0 && (seen[0].State.BadPasswordCount != 0 || seen[1].State.BadPasswordCount != 1 || seen[2].State.BadPasswordCount != 1) {
				t.Errorf("bad-password counts seen = %d, %d, %d; want 0, 1, 1 (the refused password never reached the directory)",
					seen[0].State.BadPasswordCount, seen[1].State.BadPasswordCount, seen[2].State.BadPasswordCount)
			}
			if after := mustLookup(t, d, a.Username); after.State.BadPasswordCount != 0 {
				t.Errorf("after the right password the count is %d, want 0", after.State.BadPasswordCount)
			}
			called := false
			if _, err := ca.AuthenticateWith(ctx, "nobody-"+a.Username, PasswordA, func(context.Context, *directory.User) error {
				called = true
				return nil
			}); !errors.Is(err, directory.ErrInvalidCredentials) || called {
				t.Errorf("unknown login: %v, check called %v; want ErrInvalidCredentials without the check", err, called)
			}
		})
	}

	t.Run("an LDAP filter in the login finds nobody", func(t *testing.T) {
		a := h.NewUser(t, PasswordA)
		for _, login := range []string{"*", a.Username[:3] + "*", "*)(sAMAccountName=*", a.Username + ")(|(objectClass=*", `\2a`, "\x00"} {
			if u, err := d.LookupUser(ctx, login); !errors.Is(err, directory.ErrUserNotFound) {
				t.Errorf("LookupUser(%q) = %v, %v; want ErrUserNotFound", login, u, err)
			}
			if _, err := d.Authenticate(ctx, login, PasswordA); !errors.Is(err, directory.ErrInvalidCredentials) {
				t.Errorf("Authenticate(%q) = %v; want ErrInvalidCredentials", login, err)
			}
		}
	})

	t.Run("a disabled account is refused as disabled", func(t *testing.T) {
		a := h.NewUser(t, PasswordA)
		h.Disable(t, a)
		if _, err := d.Authenticate(ctx, a.Username, PasswordA); !errors.Is(err, directory.ErrAccountDisabled) {
			t.Errorf("got %v, want ErrAccountDisabled", err)
		}
		u, err := d.LookupUser(ctx, a.Username)
		if err != nil || !u.State.Disabled {
			t.Errorf("LookupUser of a disabled user = %+v, %v", u, err)
		}
	})

	t.Run("an expired account is refused as expired", func(t *testing.T) {
		a := h.NewUser(t, PasswordA)
		h.ExpireAccount(t, a)
		if _, err := d.Authenticate(ctx, a.Username, PasswordA); !errors.Is(err, directory.ErrAccountExpired) {
			t.Errorf("got %v, want ErrAccountExpired", err)
		}
	})

	t.Run("a must-change user is told so and can change the password as themselves", func(t *testing.T) {
		a := h.NewUser(t, PasswordA)
		h.MustChange(t, a)
		u, err := d.Authenticate(ctx, a.Username, PasswordA)
		if !errors.Is(err, directory.ErrMustChangePassword) || u == nil {
			t.Fatalf("got %v, %v; want the user with ErrMustChangePassword", u, err)
		}
		if !u.State.MustChange {
			t.Errorf("State.MustChange is false")
		}
		if _, err := d.Authenticate(ctx, a.Username, PasswordB); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("a wrong password for a must-change user gave %v, want ErrInvalidCredentials", err)
		}
		changeAndSignIn(t, d, u, a, PasswordA, PasswordB)
	})

	t.Run("a change checks the old password and the policy", func(t *testing.T) {
		a := h.NewUser(t, PasswordA)
		u := mustAuth(t, d, a.Username, PasswordA)
		pc := d.(directory.PasswordChanger)
		if err := pc.ChangePassword(ctx, u, PasswordC, PasswordB); !errors.Is(err, directory.ErrWrongPassword) {
			t.Errorf("wrong old password: %v, want ErrWrongPassword", err)
		}
		var pe *directory.PolicyError
		if err := pc.ChangePassword(ctx, u, PasswordA, "Sh0rt!"); !errors.As(err, &pe) || !pe.Has(directory.ReasonTooShort) {
			t.Errorf("short password: %v, want PolicyError too_short", err)
		}
		if err := pc.ChangePassword(ctx, u, PasswordA, "alllowercaseletters"); !errors.As(err, &pe) || !pe.Has(directory.ReasonComplexity) {
			t.Errorf("simple password: %v, want PolicyError complexity", err)
		}
		if err := pc.ChangePassword(ctx, u, PasswordA, "X-"+a.Username+"-2026!"); !errors.As(err, &pe) || !pe.Has(directory.ReasonContainsName) {
			t.Errorf("password with the user name: %v, want PolicyError contains_name", err)
		}
		mustAuth(t, d, a.Username, PasswordA) // nothing was changed by the refusals
		changeAndSignIn(t, d, u, a, PasswordA, PasswordB)
		if err := pc.ChangePassword(ctx, u, PasswordB, PasswordA); !errors.As(err, &pe) || !pe.Has(directory.ReasonHistory) {
			t.Errorf("reused password: %v, want PolicyError history", err)
		}
		for _, v := range pe.Violations {
			if v.Message == "" || strings.Contains(v.Message, "0000") {
				t.Errorf("violation %+v is not worded for a user", v)
			}
		}
	})

	t.Run("a reset sets a new password without the old one and enforces the policy", func(t *testing.T) {
		a := h.NewUser(t, PasswordA)
		u := mustLookup(t, d, a.Username)
		pr := d.(directory.PasswordResetter)
		var pe *directory.PolicyError
		if err := pr.ResetPassword(ctx, u, "Sh0rt!"); !errors.As(err, &pe) || !pe.Has(directory.ReasonTooShort) {
			t.Errorf("short password: %v, want PolicyError too_short", err)
		}
		if err := pr.ResetPassword(ctx, u, PasswordC); err != nil {
			t.Fatalf("ResetPassword: %v", err)
		}
		mustAuth(t, d, a.Username, PasswordC)
		if _, err := d.Authenticate(ctx, a.Username, PasswordA); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("old password after reset: %v", err)
		}
	})

	t.Run("the policy is readable", func(t *testing.T) {
		a := h.NewUser(t, PasswordA)
		p, err := d.(directory.PolicyReader).PasswordPolicy(ctx, mustLookup(t, d, a.Username))
		if err != nil || p.MinLength < 1 || p.Source == "" {
			t.Errorf("PasswordPolicy = %+v, %v", p, err)
		}
	})

	if lh, ok := h.(LockHarness); ok {
		t.Run("a locked-out user is refused even with the right password, until unlocked", func(t *testing.T) {
			a := h.NewUser(t, PasswordA)
			lh.LockOut(t, a)
			if _, err := d.Authenticate(ctx, a.Username, PasswordA); !errors.Is(err, directory.ErrAccountLocked) {
				t.Fatalf("got %v, want ErrAccountLocked", err)
			}
			u := mustLookup(t, d, a.Username)
			if !u.State.Locked {
				t.Errorf("State.Locked is false for a locked user")
			}
			if err := d.(directory.Unlocker).Unlock(ctx, u); err != nil {
				t.Fatalf("Unlock: %v", err)
			}
			mustAuth(t, d, a.Username, PasswordA)
		})
	}

	if eh, ok := h.(ExpiredPasswordHarness); ok {
		t.Run("an expired password is reported as expired and can be changed", func(t *testing.T) {
			a := h.NewUser(t, PasswordA)
			eh.ExpirePassword(t, a)
			u, err := d.Authenticate(ctx, a.Username, PasswordA)
			if !errors.Is(err, directory.ErrPasswordExpired) || u == nil {
				t.Fatalf("got %v, %v; want the user with ErrPasswordExpired", u, err)
			}
			changeAndSignIn(t, d, u, a, PasswordA, PasswordB)
		})
	}

	if gh, ok := h.(GroupHarness); ok {
		t.Run("nested group membership is included", func(t *testing.T) {
			a, direct, outer := gh.NewUserInNestedGroup(t, PasswordA)
			u := mustAuth(t, d, a.Username, PasswordA)
			if !u.InGroup(direct) || !u.InGroup(outer) {
				t.Errorf("groups %v lack %s or %s", u.Groups, direct, outer)
			}
		})
	}
}

func mustAuth(t *testing.T, d directory.Directory, login, password string) *directory.User {
	t.Helper()
	u, err := d.Authenticate(context.Background(), login, password)
	if err != nil {
		t.Fatalf("Authenticate(%q): %v", login, err)
	}
	return u
}

func mustLookup(t *testing.T, d directory.Directory, login string) *directory.User {
	t.Helper()
	u, err := d.LookupUser(context.Background(), login)
	if err != nil {
		t.Fatalf("LookupUser(%q): %v", login, err)
	}
	return u
}

func changeAndSignIn(t *testing.T, d directory.Directory, u *directory.User, a Account, oldPW, newPW string) {
	t.Helper()
	if err := d.(directory.PasswordChanger).ChangePassword(context.Background(), u, oldPW, newPW); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	got := mustAuth(t, d, a.Username, newPW)
	if got.State.MustChange {
		t.Errorf("still must change after a change")
	}
	if _, err := d.Authenticate(context.Background(), a.Username, oldPW); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("old password still works after a change: %v", err)
	}
}
