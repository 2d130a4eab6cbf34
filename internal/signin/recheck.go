package signin

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// Sessions follow the directory. A session is issued on the directory's
// word at sign-in; every later use of it (single sign-on for a protocol,
// /account, /password/change) asks the directory again, by the user's ID,
// when its last answer for the user is older than
// sessions.recheck_interval, and ends the session when the account is
// disabled, locked, expired, gone, has a password that expired or must
// change, or a password set after the one the session is based on (the
// pwdLastSet recorded at sign-in). Answers are kept per user in the process
// (recheckCache), so most uses make no LDAP call and the sessions of one
// user share a lookup.
//
// A directory that cannot be asked (every DC down, a timeout) ends no
// session: the session goes on with the directory's last word, the failure
// is logged, and the user's lookup is not repeated for recheckRetry (asking
// on every request would hold each single sign-on for the directory's
// timeout while it is down). Ending sessions then would sign everybody out
// exactly when nobody can sign in again.

const (
	// recheckCacheSize and recheckCacheBytes bound the answers kept: users,
	// and bytes of their names and groups (a user in hundreds of groups
	// takes tens of kilobytes). Past either, the least recently used user
	// is dropped, which costs that user one more lookup, never a check.
	recheckCacheSize  = 10_000
	recheckCacheBytes = 16 << 20
	// recheckRetry is how long a failed lookup is not repeated for a user.
	recheckRetry = time.Minute
	// maxClockSkew is how far a DC's clock may be from Gatehouse's: the
	// Kerberos tolerance AD domains keep to.
	maxClockSkew = 5 * time.Minute
)

// recheckEntry is the directory's answer for one user: the user as looked
// up at checkedAt, or nil when the directory could not be asked then.
type recheckEntry struct {
	userID    string
	checkedAt time.Time
	user      *directory.User // shared: never modified
	size      int             // what the entry counts against the byte bound
}

// entrySize estimates what an entry holds in memory: its user's encoding
// and a fixed overhead for the entry, the list element and the map slot.
func entrySize(u *directory.User) int {
	const overhead = 256
	if u == nil {
		return overhead
	}
	return overhead + len(mustJSON(u))
}

// recheckCache keeps the latest answer per user, dropping the least
// recently used beyond max. It is safe for concurrent use.
type recheckCache struct {
	mu       sync.Mutex
	max      int
	maxBytes int
	bytes    int                      // the sizes of the entries held
	items    map[string]*list.Element // of *recheckEntry, by user ID
	lru      *list.List               // most recently used first
}

func newRecheckCache(maxUsers, maxBytes int) *recheckCache {
	return &recheckCache{max: maxUsers, maxBytes: maxBytes, items: map[string]*list.Element{}, lru: list.New()}
}

// get returns the user's answer if it is younger than ttl (and than
// recheckRetry for a failed lookup). A clock that went back makes every
// answer stale.
func (c *recheckCache) get(userID string, now time.Time, ttl time.Duration) (recheckEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[userID]
	if !ok {
		return recheckEntry{}, false
	}
	ent := el.Value.(*recheckEntry)
	if ent.user == nil {
		ttl = min(ttl, recheckRetry)
	}
	if age := now.Sub(ent.checkedAt); age < 0 || age >= ttl {
		return recheckEntry{}, false
	}
	c.lru.MoveToFront(el)
	return *ent, true
}

// put keeps ent as its user's answer, unless the one kept is newer.
func (c *recheckCache) put(ent recheckEntry) {
	ent.size = entrySize(ent.user)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[ent.userID]; ok {
		c.lru.MoveToFront(el)
		old := el.Value.(*recheckEntry)
		if old.checkedAt.After(ent.checkedAt) {
			return
		}
		c.bytes += ent.size - old.size
		*old = ent
	} else {
		c.items[ent.userID] = c.lru.PushFront(&ent)
		c.bytes += ent.size
	}
	// The newest entry stays even alone over the byte bound: a user is
	// never refused an answer, only the others make room.
	for c.lru.Len() > c.max || (c.bytes > c.maxBytes && c.lru.Len() > 1) {
		c.remove(c.lru.Back())
	}
}

func (c *recheckCache) remove(el *list.Element) {
	ent := el.Value.(*recheckEntry)
	c.lru.Remove(el)
	delete(c.items, ent.userID)
	c.bytes -= ent.size
}

// forget drops the user's answer: the next use of any of their sessions
// asks the directory.
func (c *recheckCache) forget(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[userID]; ok {
		c.remove(el)
	}
}

// directorySaid keeps what the directory answered for u at now (at a
// password check, say), so the sessions that follow need not ask again
// before the interval. The cache gets its own copy: the caller's may change.
func (ss *Sessions) directorySaid(u *directory.User, now time.Time) {
	c := *u
	c.Groups = slices.Clone(u.Groups)
	ss.rechecks.put(recheckEntry{userID: c.ID, checkedAt: now, user: &c})
}

// len returns how many users and bytes the cache holds.
func (c *recheckCache) len() (users, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}

// followsDirectory reports whether session s (its data sd) may serve the
// request by the directory's word on the account. A session the directory
// no longer backs is ended and audited; one it backs may get its copy of
// the user refreshed (groups, names, password expiry), in sd too.
func (ss *Sessions) followsDirectory(ctx context.Context, s *store.Session, sd *sessionData) bool {
	ids, ok := ss.dir.(directory.IDLookup)
	if !ok {
		return true // both of Gatehouse's directories have it; one without cannot be asked
	}
	now := ss.now()
	ent, known := ss.accountNow(ctx, ids, s.UserID, now)
	if !known {
		return true
	}
	reason := "account_deleted"
	if ent.user != nil {
		reason = accountProblem(ent.user.State, now)
		if reason == "" && ent.user.State.PasswordLastSet.After(sd.passwordBasis()) {
			reason = "password_changed"
		}
	}
	if reason != "" {
		if reason != "password_changed" { // the account itself: no session of it may use this answer
			ss.rechecks.forget(s.UserID)
		}
		ss.revoke(ctx, s, reason)
		return false
	}
	ss.refreshUser(ctx, s, sd, ent)
	return true
}

// accountNow returns the directory's answer for the user, asking it when
// the cached one is stale. known is false when the directory could not be
// asked; a user it does not find is known with a nil user.
func (ss *Sessions) accountNow(ctx context.Context, ids directory.IDLookup, userID string, now time.Time) (_ recheckEntry, known bool) {
	if ent, ok := ss.rechecks.get(userID, now, ss.cfg.RecheckInterval); ok {
		return ent, ent.user != nil
	}
	u, err := ids.LookupUserByID(ctx, userID)
	switch {
	case errors.Is(err, directory.ErrUserNotFound):
		ss.rechecks.forget(userID)
		return recheckEntry{userID: userID, checkedAt: now}, true
	case err != nil:
		ss.log.WarnContext(ctx, "cannot re-check a session's account in the directory; the session goes on",
			"event", "session_recheck", "user", userID, "err", err)
		if ctx.Err() == nil { // the client left: that says nothing about the directory
			ss.rechecks.put(recheckEntry{userID: userID, checkedAt: now})
		}
		return recheckEntry{}, false
	}
	ent := recheckEntry{userID: userID, checkedAt: now, user: u}
	ss.rechecks.put(ent)
	return ent, true
}

// accountProblem is why an account in state st may not keep a session at
// now, or "": the one judgement of an account's state, which a passkey
// sign-in, a bind the DC accepted (passwordState) and recovery
// (recoverable) read too. A lockout that has run out by now no longer
// counts (a cached answer may be older than its end).
func accountProblem(st directory.AccountState, now time.Time) string {
	switch {
	case st.Disabled:
		return "account_disabled"
	case !st.AccountExpires.IsZero() && !now.Before(st.AccountExpires):
		return "account_expired"
	case st.Locked && (st.LockedUntil.IsZero() || now.Before(st.LockedUntil)):
		return "account_locked"
	case st.MustChange:
		return "password_must_change"
	case !st.PasswordExpires.IsZero() && !now.Before(st.PasswordExpires):
		return "password_expired"
	}
	return ""
}

// passwordBasis is the pwdLastSet the session is based on. Sessions from
// before it was recorded fall back to their copy of the user, which was
// taken at sign-in.
func (sd *sessionData) passwordBasis() time.Time {
	if !sd.PwdLastSet.IsZero() {
		return sd.PwdLastSet
	}
	return sd.User.State.PasswordLastSet
}

// setUser replaces the session's copy of the user with u, keeping the
// session's password basis, also in the copy: a flow started from the
// session (a step-up) takes the copy into the session it ends in.
func (sd *sessionData) setUser(u directory.User, basis time.Time) {
	u.Groups = slices.Clone(u.Groups)
	u.State.PasswordLastSet = basis
	sd.User, sd.PwdLastSet = u, basis
}

// refreshUser writes the directory's current copy of the user into the
// session when it differs from the session's (a group left, a name
// changed), so tokens follow the directory too. A failure only leaves the
// old copy.
func (ss *Sessions) refreshUser(ctx context.Context, s *store.Session, sd *sessionData, ent recheckEntry) {
	want := *sd
	want.setUser(*ent.user, sd.passwordBasis())
	// Compared as stored: a copy read back from the store is equal to the
	// directory's in JSON, not always in Go (time zones, nil slices).
	if string(mustJSON(sd.User)) == string(mustJSON(want.User)) {
		return
	}
	updated, err := ss.store.UpdateSession(ctx, s.ID, func(old store.Session) (store.Session, error) {
		var d sessionData
		if err := json.Unmarshal(old.Data, &d); err != nil {
			return old, err
		}
		d.setUser(*ent.user, d.passwordBasis())
		data, err := json.Marshal(d)
		if err != nil {
			return old, err
		}
		old.Data = data
		return old, nil
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			ss.log.WarnContext(ctx, "refreshing a session's copy of the user", "err", err)
		}
		return
	}
	var d sessionData
	if err := json.Unmarshal(updated.Data, &d); err == nil {
		*s, *sd = updated, d
	}
}

func mustJSON(v any) []byte {
	raw, _ := json.Marshal(v)
	return raw
}

// revoke ends a session the directory no longer backs and audits why.
func (ss *Sessions) revoke(ctx context.Context, s *store.Session, reason string) {
	err := ss.store.DeleteSession(ctx, s.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return // a concurrent request ended it, and audited that
	case err != nil:
		// Not served either way; the next use checks again.
		ss.log.ErrorContext(ctx, "ending a session the directory no longer backs", "err", err)
	}
	ss.audit.Record(ctx, audit.Event{Type: audit.SessionRevoked, UserID: s.UserID, Login: s.Login, Result: reason})
	ss.ended(ctx, Ended{UserID: s.UserID, SIDs: []string{sidOf(s)}, All: true})
}

// basisAfterChange is the pwdLastSet a session should be based on after
// the user changed their password through Gatehouse (old was the user's
// before), and the directory's fresh copy of the user (nil when it could
// not be read). When the directory does not show a newer pwdLastSet —
// unreachable, or answered by a DC the change has not replicated to yet —
// the basis is now plus the clock skew a DC may have, so the recheck does
// not take this very change for one made elsewhere; a change elsewhere in
// those minutes then goes unnoticed by this session.
func (ss *Sessions) basisAfterChange(ctx context.Context, u *directory.User) (*directory.User, time.Time) {
	if ids, ok := ss.dir.(directory.IDLookup); ok {
		fresh, err := ids.LookupUserByID(ctx, u.ID)
		if err == nil && fresh.State.PasswordLastSet.After(u.State.PasswordLastSet) {
			ss.directorySaid(fresh, ss.now())
			return fresh, fresh.State.PasswordLastSet
		}
		ss.log.WarnContext(ctx, "the directory does not show the changed password yet; basing the session on the clock",
			"event", "session_recheck", "user", u.ID, "err", err)
	}
	return nil, ss.now().Add(maxClockSkew)
}

// endOthers ends every session of the user but keep ("" ends them all)
// and forgets every remembered browser of theirs. It returns how many
// sessions it ended.
func (ss *Sessions) endOthers(ctx context.Context, userID, keep string) (int64, error) {
	ended := ss.ending(ctx, userID, keep)
	n, err := ss.store.DeleteUserSessionsExcept(ctx, userID, keep)
	if err == nil {
		ss.ended(ctx, ended)
	}
	if ferr := ss.ForgetDevices(ctx, userID); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return n, err
}

var errNotTheUsers = errors.New("signin: the session is another user's")

// PasswordChanged ends what a password change by the user ends, once the
// directory has accepted it: every other session of theirs and every
// remembered browser. The session of r, when it is the user's, goes on,
// based on the new password so the recheck does not end it. It returns
// how many sessions it ended; an error says some of it was not done (the
// recheck still ends the other sessions, which are based on the old
// password).
func (ss *Sessions) PasswordChanged(ctx context.Context, r *http.Request, u *directory.User) (int64, error) {
	fresh, basis := ss.basisAfterChange(ctx, u)
	var errs []error
	keep := ""
	if c, err := r.Cookie(ss.sessionCookie()); err == nil && c.Value != "" && len(c.Value) <= 64 {
		key := sessionKey(c.Value)
		_, err := ss.store.UpdateSession(ctx, key, func(s store.Session) (store.Session, error) {
			if s.UserID != u.ID {
				return s, errNotTheUsers
			}
			var d sessionData
			if err := json.Unmarshal(s.Data, &d); err != nil {
				return s, err
			}
			if fresh != nil {
				d.setUser(*fresh, basis)
			} else {
				d.setUser(d.User, basis)
			}
			data, err := json.Marshal(d)
			if err != nil {
				return s, err
			}
			s.Data = data
			return s, nil
		})
		switch {
		case err == nil:
			keep = key
		case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, errNotTheUsers):
			errs = append(errs, err)
		}
	}
	n, err := ss.endOthers(ctx, u.ID, keep)
	return n, errors.Join(append(errs, err)...)
}
