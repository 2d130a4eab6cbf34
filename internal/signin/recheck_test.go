package signin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// recheckDir is the user file with a switchboard on LookupUserByID, the
// call a session's recheck makes: it counts the calls, can fail them all
// (every DC down) and can change what they answer (what an administrator
// did in the directory since the sign-in).
type recheckDir struct {
	*file.Directory
	mu      sync.Mutex
	lookups int
	err     error
	edit    func(*directory.User) error
}

func (d *recheckDir) LookupUserByID(ctx context.Context, id string) (*directory.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	if d.err != nil {
		return nil, d.err
	}
	u, err := d.Directory.LookupUserByID(ctx, id)
	if err == nil && d.edit != nil {
		if err := d.edit(u); err != nil {
			return nil, err
		}
	}
	return u, err
}

func (d *recheckDir) set(err error, edit func(*directory.User) error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err, d.edit = err, edit
}

func (d *recheckDir) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookups
}

var aliceID = fmt.Sprintf("%032x", "alice")

// recheckEnv is alice signed in with her password on browser b, on an
// engine whose directory is a recheckDir.
func recheckEnv(t *testing.T, mod func(*config.Config)) (*env, *recheckDir, *browse.Browser) {
	t.Helper()
	e := newEnvWith(t, "none", mod, user(t, "alice", alicePW, nil))
	d := &recheckDir{Directory: e.engine.dir.(*file.Directory)}
	e.engine.dir, e.engine.sessions.dir = d, d
	return e, d, signInAlice(t, e)
}

func signInAlice(t *testing.T, e *env) *browse.Browser {
	t.Helper()
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=alice")
	if got := b.Submit(map[string]string{"password": alicePW}); !strings.HasPrefix(got, "user=alice") {
		t.Fatalf("sign-in: %q", got)
	}
	return b
}

// signedIn reports whether the browser's session still serves single
// sign-on; otherwise it must be at the sign-in page.
func signedIn(t *testing.T, b *browse.Browser) bool {
	t.Helper()
	got := b.Get("/proto?app=Wiki")
	if strings.HasPrefix(got, "user=alice") {
		return true
	}
	if !strings.Contains(got, `name="login"`) {
		t.Fatalf("neither signed in nor at the sign-in page:\n%s", got)
	}
	return false
}

func revocations(t *testing.T, e *env) []store.AuditEvent {
	t.Helper()
	evs, err := e.store.QueryAudit(t.Context(), store.AuditQuery{Type: audit.SessionRevoked})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestASessionEndsAtItsFirstUseAfterTheRecheckIntervalOnceTheDirectoryWithdrawsTheAccount(t *testing.T) {
	later := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, reason string
		edit         func(*directory.User) error
	}{
		{"a disabled account", "account_disabled", func(u *directory.User) error { u.State.Disabled = true; return nil }},
		{"a locked account", "account_locked", func(u *directory.User) error { u.State.Locked = true; return nil }},
		{"an account locked for a while", "account_locked", func(u *directory.User) error {
			u.State.Locked, u.State.LockedUntil = true, later
			return nil
		}},
		{"an expired account", "account_expired", func(u *directory.User) error {
			u.State.AccountExpires = time.Date(2026, 11, 25, 9, 1, 0, 0, time.UTC)
			return nil
		}},
		{"an expired password", "password_expired", func(u *directory.User) error {
			u.State.PasswordExpires = time.Date(2026, 11, 25, 9, 1, 0, 0, time.UTC)
			return nil
		}},
		{"a password that must change at the next sign-in", "password_must_change", func(u *directory.User) error {
			u.State.MustChange, u.State.PasswordLastSet = true, time.Time{}
			return nil
		}},
		{"a deleted account", "account_deleted", func(*directory.User) error { return directory.ErrUserNotFound }},
		{"a password changed elsewhere", "password_changed", func(u *directory.User) error {
			u.State.PasswordLastSet = time.Date(2026, 11, 25, 9, 2, 0, 0, time.UTC)
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, d, b := recheckEnv(t, nil)
			interval := e.engine.sessions.cfg.RecheckInterval
			d.set(nil, tc.edit)
			e.advance(interval - time.Second)
			if !signedIn(t, b) {
				t.Fatal("the session ended within the interval of the sign-in")
			}
			if d.count() != 0 {
				t.Fatalf("%d lookups within the interval of the sign-in, want none", d.count())
			}
			e.advance(time.Second)
			if signedIn(t, b) {
				t.Fatal("the session outlived the recheck interval")
			}
			if d.count() != 1 {
				t.Errorf("%d lookups, want 1", d.count())
			}
			if ss, _ := e.store.ListUserSessions(t.Context(), aliceID, e.clock()); len(ss) != 0 {
				t.Errorf("the session is still in the store: %+v", ss)
			}
			evs := revocations(t, e)
			if len(evs) != 1 || evs[0].Result != tc.reason || evs[0].UserID != aliceID {
				t.Fatalf("revocation audit %+v, want one for %s with %q", evs, aliceID, tc.reason)
			}
		})
	}
}

func TestALockoutThatHasRunOutEndsNoSession(t *testing.T) {
	e, d, b := recheckEnv(t, nil)
	d.set(nil, func(u *directory.User) error {
		u.State.Locked, u.State.LockedUntil = true, e.clock().Add(time.Minute)
		return nil
	})
	e.advance(e.engine.sessions.cfg.RecheckInterval)
	if signedIn(t, b) {
		t.Fatal("a locked account kept its session")
	}
	b2 := signInAlice(t, e) // the file itself has no lockout
	d.set(nil, func(u *directory.User) error {
		u.State.Locked, u.State.LockedUntil = true, e.clock().Add(-time.Second)
		return nil
	})
	e.advance(e.engine.sessions.cfg.RecheckInterval)
	if !signedIn(t, b2) {
		t.Fatal("a lockout that had run out ended the session")
	}
}

func TestTheSessionsOfAUserShareOneLookupPerInterval(t *testing.T) {
	e, d, b := recheckEnv(t, nil)
	b2 := signInAlice(t, e)
	interval := e.engine.sessions.cfg.RecheckInterval
	for i := range 3 {
		e.advance(interval)
		for _, br := range []*browse.Browser{b, b2, b} {
			if !signedIn(t, br) {
				t.Fatalf("round %d: signed out", i)
			}
		}
		if d.count() != i+1 {
			t.Fatalf("round %d: %d lookups, want %d", i, d.count(), i+1)
		}
	}
}

func TestADirectoryThatCannotBeAskedEndsNoSessionAndIsNotAskedOnEveryRequest(t *testing.T) {
	e, d, b := recheckEnv(t, nil)
	d.set(fmt.Errorf("ad: search user: %w", directory.ErrUnavailable), nil)
	e.advance(e.engine.sessions.cfg.RecheckInterval)
	for range 3 {
		if !signedIn(t, b) {
			t.Fatal("a directory outage ended the session")
		}
	}
	if d.count() != 1 {
		t.Fatalf("%d lookups during the outage, want 1 until the retry", d.count())
	}
	e.advance(recheckRetry)
	if !signedIn(t, b) || d.count() != 2 {
		t.Fatalf("after the retry time: %d lookups, want 2, and still signed in", d.count())
	}
	// The directory answers again, and the account is disabled by now.
	d.set(nil, func(u *directory.User) error { u.State.Disabled = true; return nil })
	e.advance(recheckRetry)
	if signedIn(t, b) {
		t.Fatal("the session outlived the outage although the account is disabled")
	}
	if evs := revocations(t, e); len(evs) != 1 || evs[0].Result != "account_disabled" {
		t.Fatalf("revocations %+v, want one, after the outage", evs)
	}
}

func TestTheSessionsCopyOfTheUserFollowsTheDirectory(t *testing.T) {
	e, d, b := recheckEnv(t, nil)
	d.set(nil, func(u *directory.User) error {
		u.Groups, u.DisplayName = []string{"CN=Finance,OU=Groups,DC=corp,DC=example,DC=test"}, "Alice Renamed"
		return nil
	})
	e.advance(e.engine.sessions.cfg.RecheckInterval)
	if !signedIn(t, b) {
		t.Fatal("signed out")
	}
	ss, err := e.store.ListUserSessions(t.Context(), aliceID, e.clock())
	if err != nil || len(ss) != 1 {
		t.Fatalf("sessions %v, %v", ss, err)
	}
	var sd sessionData
	if err := json.Unmarshal(ss[0].Data, &sd); err != nil {
		t.Fatal(err)
	}
	if sd.User.DisplayName != "Alice Renamed" || !sd.User.InGroup("Finance") {
		t.Fatalf("the session's user was not refreshed: %+v", sd.User)
	}
	if sd.PwdLastSet.IsZero() || !sd.User.State.PasswordLastSet.Equal(sd.PwdLastSet) {
		t.Fatalf("the refresh lost the password basis: %v, copy %v", sd.PwdLastSet, sd.User.State.PasswordLastSet)
	}
}

// rewriteUsers rewrites the engine's user file with fn applied to every
// user; the file directory reads it again on its next call.
func rewriteUsers(t *testing.T, e *env, fn func(*file.UserFile)) {
	t.Helper()
	raw, err := os.ReadFile(e.users)
	if err != nil {
		t.Fatal(err)
	}
	var f file.File
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	for i := range f.Users {
		fn(&f.Users[i])
	}
	out, _ := yaml.Marshal(f)
	if err := os.WriteFile(e.users, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAPasswordChangeAtSignInEndsTheOtherSessionsAndRememberedBrowsersButNotItsOwn(t *testing.T) {
	e, d, other := recheckEnv(t, func(c *config.Config) { c.Sessions.RememberDevice = 30 * 24 * time.Hour })
	e.factors.enrolled[aliceID] = []string{"totp"}
	// A remembered browser of alice's.
	remembered := e.browser()
	remembered.Get("/proto?app=Strict&hint=alice")
	remembered.Submit(map[string]string{"password": alicePW})
	if got := remembered.Submit(map[string]string{"code": "123456", "remember": "1"}); !strings.Contains(got, "mfa=yes") {
		t.Fatalf("got %q", got)
	}
	devices := func() int {
		cs, err := e.store.ListCredentials(t.Context(), aliceID)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range cs {
			if c.Type == DeviceType {
				n++
			}
		}
		return n
	}
	if devices() != 1 {
		t.Fatalf("%d remembered browsers, want 1", devices())
	}
	// The administrator makes alice change her password at the next sign-in.
	rewriteUsers(t, e, func(u *file.UserFile) { u.MustChange = true })
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=alice")
	b.Submit(map[string]string{"password": alicePW}) // her second factor comes before the change
	if page := b.Submit(map[string]string{"code": "123456"}); !strings.Contains(page, "You must choose a new password") {
		t.Fatalf("no change page:\n%s", page)
	}
	if got := b.Submit(map[string]string{"new_password": newPW, "confirm_password": newPW}); !strings.HasPrefix(got, "user=alice") {
		t.Fatalf("protocol got %q", got)
	}
	lookups := d.count()
	if signedIn(t, other) {
		t.Error("another browser's session survived the password change")
	}
	if devices() != 0 {
		t.Errorf("%d remembered browsers after the password change, want 0", devices())
	}
	if d.count() != lookups {
		t.Errorf("the other session was ended by a lookup (%d), not by the change", d.count()-lookups)
	}
	evs, _ := e.store.QueryAudit(t.Context(), store.AuditQuery{Type: audit.PasswordChanged})
	if len(evs) != 1 || !strings.Contains(string(evs[0].Detail), `"sessions_revoked":"2"`) {
		t.Fatalf("password change audit %+v, want one counting the 2 sessions ended", evs)
	}
	// The session the change ended in stays, at the next recheck too.
	for range 2 {
		if !signedIn(t, b) {
			t.Fatal("the session of the browser that changed the password ended")
		}
		e.advance(e.engine.sessions.cfg.RecheckInterval)
	}
	if len(revocations(t, e)) != 0 {
		t.Fatalf("revocations %+v", revocations(t, e))
	}
}

func TestTheRecheckCacheKeepsAtMostItsBoundAndDropsTheLeastRecentlyUsed(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	c := newRecheckCache(3, 1<<20)
	put := func(id string) {
		c.put(recheckEntry{userID: id, checkedAt: t0, user: &directory.User{ID: id}})
	}
	for _, id := range []string{"a", "b", "c"} {
		put(id)
	}
	if _, ok := c.get("a", t0, time.Minute); !ok { // a is now the most recently used
		t.Fatal("a missing")
	}
	put("d") // drops b
	put("e") // drops c
	if n, _ := c.len(); n != 3 {
		t.Fatalf("%d entries, want the bound 3", n)
	}
	for id, want := range map[string]bool{"a": true, "b": false, "c": false, "d": true, "e": true} {
		if _, ok := c.get(id, t0, time.Minute); ok != want {
			t.Errorf("%s kept: %v, want %v", id, ok, want)
		}
	}
	for i := range 1000 {
		put(fmt.Sprint("u", i))
	}
	if n, size := c.len(); n != 3 || len(c.items) != 3 || size != 3*entrySize(&directory.User{ID: "u999"}) {
		t.Fatalf("%d entries (%d indexed, %d bytes) after a flood, want 3", n, len(c.items), size)
	}
}

func TestTheRecheckCacheKeepsAtMostItsBytes(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	// A user in 200 groups, as some are.
	groups := make([]string, 200)
	for i := range groups {
		groups[i] = fmt.Sprintf("CN=Group %03d,OU=Groups,DC=corp,DC=example,DC=test", i)
	}
	big := func(id string) *directory.User { return &directory.User{ID: id, Groups: groups} }
	size := entrySize(big("u000"))
	c := newRecheckCache(1000, 10*size)
	for i := range 50 {
		c.put(recheckEntry{userID: fmt.Sprintf("u%03d", i), checkedAt: t0, user: big(fmt.Sprintf("u%03d", i))})
	}
	if n, bytes := c.len(); n != 10 || bytes != 10*size {
		t.Fatalf("%d users, %d bytes; want the 10 (%d bytes) that fit", n, bytes, 10*size)
	}
	if _, ok := c.get("u049", t0, time.Minute); !ok {
		t.Error("the newest user was dropped")
	}
	if _, ok := c.get("u039", t0, time.Minute); ok {
		t.Error("an old user was kept beyond the byte bound")
	}
	// Replacing an answer counts its new size, not both; forgetting frees it.
	c.put(recheckEntry{userID: "u049", checkedAt: t0.Add(time.Second), user: &directory.User{ID: "u049"}})
	if _, bytes := c.len(); bytes != 9*size+entrySize(&directory.User{ID: "u049"}) {
		t.Fatalf("%d bytes after replacing an answer with a smaller one", bytes)
	}
	c.forget("u049")
	if n, bytes := c.len(); n != 9 || bytes != 9*size {
		t.Fatalf("%d users, %d bytes after forgetting one", n, bytes)
	}
	// One answer larger than the whole bound is still kept, alone.
	tiny := newRecheckCache(10, 1)
	tiny.put(recheckEntry{userID: "a", checkedAt: t0, user: big("a")})
	tiny.put(recheckEntry{userID: "b", checkedAt: t0, user: big("b")})
	if n, _ := tiny.len(); n != 1 {
		t.Fatalf("%d users in a cache too small for one, want the newest alone", n)
	}
	if _, ok := tiny.get("b", t0, time.Minute); !ok {
		t.Error("the newest answer was not kept")
	}
}

func TestARecheckAnswerIsReusedOnlyWhileItIsFresh(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	const ttl = 5 * time.Minute
	for _, tc := range []struct {
		name string
		user *directory.User
		age  time.Duration
		want bool
	}{
		{"an answer younger than the interval is reused", &directory.User{ID: "x"}, ttl - time.Nanosecond, true},
		{"an answer as old as the interval is not", &directory.User{ID: "x"}, ttl, false},
		{"an answer from the future (the clock went back) is not", &directory.User{ID: "x"}, -time.Second, false},
		{"a failed lookup is not repeated for a while", nil, recheckRetry - time.Nanosecond, true},
		{"a failed lookup is repeated after the retry time", nil, recheckRetry, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRecheckCache(10, 1<<20)
			c.put(recheckEntry{userID: "x", checkedAt: t0, user: tc.user})
			if _, ok := c.get("x", t0.Add(tc.age), ttl); ok != tc.want {
				t.Fatalf("get at age %v = %v, want %v", tc.age, ok, tc.want)
			}
		})
	}
}

func TestAnOlderAnswerDoesNotReplaceANewerOne(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	c := newRecheckCache(10, 1<<20)
	c.put(recheckEntry{userID: "x", checkedAt: t0, user: &directory.User{ID: "x", DisplayName: "new"}})
	c.put(recheckEntry{userID: "x", checkedAt: t0.Add(-time.Minute), user: &directory.User{ID: "x", DisplayName: "old"}})
	if ent, ok := c.get("x", t0, time.Minute); !ok || ent.user.DisplayName != "new" {
		t.Fatalf("get = %+v, %v; want the newer answer", ent.user, ok)
	}
}
