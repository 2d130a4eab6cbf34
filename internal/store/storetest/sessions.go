package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

func newSession(userID string) store.Session {
	return store.Session{
		ID:         uid("sess"),
		UserID:     userID,
		Login:      "alice@corp.example.test",
		Methods:    []string{"pwd", "otp", "mfa"},
		AuthTime:   t0,
		MFATime:    t0.Add(1500 * time.Millisecond),
		CreatedAt:  t0,
		LastSeenAt: t0.Add(2 * time.Second),
		IdleExpiry: t0.Add(30 * time.Minute),
		ExpiresAt:  t0.Add(8 * time.Hour),
		Data:       []byte{0, 1, 2, 0xff},
	}
}

func sessionID(s store.Session) string { return s.ID }

func createSessions(t *testing.T, st store.Store, ss ...store.Session) {
	t.Helper()
	for _, s := range ss {
		must(t, "CreateSession", st.CreateSession(t.Context(), s))
	}
}

func sortedByID[T any](recs []T, id func(T) string) []T {
	out := slices.Clone(recs)
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(id(a), id(b)) })
	return out
}

var sessionCases = []testCase{
	{"a created session reads back with every field", func(t *testing.T, st store.Store) {
		s := newSession(uid("user"))
		createSessions(t, st, s)
		got, err := st.GetSession(t.Context(), s.ID, t0)
		must(t, "GetSession", err)
		same(t, "GetSession", got, s)
	}},
	{"zero times and empty slices read back as zero and nil", func(t *testing.T, st store.Store) {
		for _, tc := range []struct {
			name    string
			methods []string
			data    []byte
		}{
			{"nil slices", nil, nil},
			{"empty slices", []string{}, []byte{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newSession(uid("user"))
				s.Login, s.MFATime, s.Methods, s.Data = "", time.Time{}, tc.methods, tc.data
				createSessions(t, st, s)
				got, err := st.GetSession(t.Context(), s.ID, t0)
				must(t, "GetSession", err)
				same(t, "GetSession", got, s)
				if !got.MFATime.IsZero() {
					t.Errorf("MFATime = %v, want the zero time", got.MFATime)
				}
			})
		}
	}},
	{"creating a session with an existing ID is a conflict and keeps the first", func(t *testing.T, st store.Store) {
		s := newSession(uid("user"))
		createSessions(t, st, s)
		dup := newSession(uid("user"))
		dup.ID = s.ID
		wantErr(t, "second CreateSession", st.CreateSession(t.Context(), dup), store.ErrConflict)
		got, err := st.GetSession(t.Context(), s.ID, t0)
		must(t, "GetSession", err)
		same(t, "GetSession", got, s)
	}},
	{"a missing session is not found", func(t *testing.T, st store.Store) {
		_, err := st.GetSession(t.Context(), uid("sess"), t0)
		wantErr(t, "GetSession", err, store.ErrNotFound)
	}},
	{"a session is found until its absolute expiry and not from then on", func(t *testing.T, st store.Store) {
		s := newSession(uid("user"))
		s.IdleExpiry = s.ExpiresAt.Add(time.Hour) // only the absolute expiry counts here
		createSessions(t, st, s)
		checkExpiry(t, func(now time.Time) error {
			_, err := st.GetSession(t.Context(), s.ID, now)
			return err
		}, s.ExpiresAt)
	}},
	{"a session is found until its idle expiry and not from then on", func(t *testing.T, st store.Store) {
		s := newSession(uid("user"))
		createSessions(t, st, s)
		checkExpiry(t, func(now time.Time) error {
			_, err := st.GetSession(t.Context(), s.ID, now)
			return err
		}, s.IdleExpiry)
	}},
	{"an update writes what fn returns and returns the session as a get would", func(t *testing.T, st store.Store) {
		s := newSession(uid("user"))
		createSessions(t, st, s)
		want := s
		want.Methods = []string{"pwd"}
		want.Login = "ALICE"
		want.LastSeenAt = t0.Add(time.Minute + 123*time.Nanosecond)
		want.IdleExpiry = want.LastSeenAt.Add(30 * time.Minute)
		want.Data = []byte("new")
		got, err := st.UpdateSession(t.Context(), s.ID, func(old store.Session) (store.Session, error) {
			same(t, "fn's argument", old, s)
			return want, nil
		})
		must(t, "UpdateSession", err)
		same(t, "UpdateSession", got, want)
		got, err = st.GetSession(t.Context(), s.ID, t0)
		must(t, "GetSession", err)
		same(t, "GetSession after update", got, want)
	}},
	{"an update keeps the session ID whatever fn returns", func(t *testing.T, st store.Store) {
		s := newSession(uid("user"))
		createSessions(t, st, s)
		other := uid("sess")
		got, err := st.UpdateSession(t.Context(), s.ID, func(old store.Session) (store.Session, error) {
			old.ID = other
			return old, nil
		})
		must(t, "UpdateSession", err)
		same(t, "UpdateSession", got, s)
		_, err = st.GetSession(t.Context(), s.ID, t0)
		must(t, "GetSession by the original ID", err)
		_, err = st.GetSession(t.Context(), other, t0)
		wantErr(t, "GetSession by fn's ID", err, store.ErrNotFound)
	}},
	{"an error from fn aborts the update and is returned unchanged", func(t *testing.T, st store.Store) {
		s := newSession(uid("user"))
		createSessions(t, st, s)
		_, err := st.UpdateSession(t.Context(), s.ID, func(old store.Session) (store.Session, error) {
			old.Login = "changed"
			return old, errBoom
		})
		if err != errBoom { //nolint:errorlint // the contract is the very same error, not a wrapper
			t.Fatalf("UpdateSession error = %v, want fn's error itself", err)
		}
		got, err := st.GetSession(t.Context(), s.ID, t0)
		must(t, "GetSession", err)
		same(t, "GetSession after aborted update", got, s)
	}},
	{"an update of a missing session is not found and does not call fn", func(t *testing.T, st store.Store) {
		_, err := st.UpdateSession(t.Context(), uid("sess"), func(old store.Session) (store.Session, error) {
			t.Error("fn called for a missing session")
			return old, nil
		})
		wantErr(t, "UpdateSession", err, store.ErrNotFound)
	}},
	{"an update applies to an expired session that is not yet collected", func(t *testing.T, st store.Store) {
		s := newSession(uid("user"))
		s.ExpiresAt = t0.Add(-time.Hour)
		createSessions(t, st, s)
		got, err := st.UpdateSession(t.Context(), s.ID, func(old store.Session) (store.Session, error) {
			old.ExpiresAt = t0.Add(time.Hour)
			return old, nil
		})
		must(t, "UpdateSession", err)
		if _, err := st.GetSession(t.Context(), s.ID, t0); err != nil {
			t.Fatalf("GetSession after extending expiry to %v: %v", got.ExpiresAt, err)
		}
	}},
	{"deleting a session removes it and deleting it again is not found", func(t *testing.T, st store.Store) {
		s := newSession(uid("user"))
		createSessions(t, st, s)
		must(t, "DeleteSession", st.DeleteSession(t.Context(), s.ID))
		_, err := st.GetSession(t.Context(), s.ID, t0)
		wantErr(t, "GetSession after delete", err, store.ErrNotFound)
		wantErr(t, "second DeleteSession", st.DeleteSession(t.Context(), s.ID), store.ErrNotFound)
	}},
	{"listing a user's sessions returns their live sessions only", func(t *testing.T, st store.Store) {
		user, other := uid("user"), uid("user")
		live1, live2 := newSession(user), newSession(user)
		live2.CreatedAt = t0.Add(time.Second)
		ended := newSession(user)
		ended.ExpiresAt = t0
		idle := newSession(user)
		idle.IdleExpiry = t0
		theirs := newSession(other)
		createSessions(t, st, live1, live2, ended, idle, theirs)
		got, err := st.ListUserSessions(t.Context(), user, t0)
		must(t, "ListUserSessions", err)
		same(t, "ListUserSessions", sortedByID(got, sessionID), sortedByID([]store.Session{live1, live2}, sessionID))
	}},
	{"listing the sessions of a user without any returns nil", func(t *testing.T, st store.Store) {
		got, err := st.ListUserSessions(t.Context(), uid("user"), t0)
		must(t, "ListUserSessions", err)
		if got != nil {
			t.Fatalf("ListUserSessions = %#v, want nil", got)
		}
	}},
	{"deleting a user's sessions removes all of them, expired ones too, and counts them", func(t *testing.T, st store.Store) {
		user, other := uid("user"), uid("user")
		a, b, ended := newSession(user), newSession(user), newSession(user)
		ended.ExpiresAt = t0.Add(-time.Hour)
		theirs := newSession(other)
		createSessions(t, st, a, b, ended, theirs)
		n, err := st.DeleteUserSessions(t.Context(), user)
		must(t, "DeleteUserSessions", err)
		if n != 3 {
			t.Errorf("DeleteUserSessions = %d, want 3", n)
		}
		for _, s := range []store.Session{a, b, ended} {
			wantErr(t, "DeleteSession of a deleted session", st.DeleteSession(t.Context(), s.ID), store.ErrNotFound)
		}
		if _, err := st.GetSession(t.Context(), theirs.ID, t0); err != nil {
			t.Fatalf("another user's session: %v", err)
		}
		n, err = st.DeleteUserSessions(t.Context(), user)
		must(t, "second DeleteUserSessions", err)
		if n != 0 {
			t.Errorf("second DeleteUserSessions = %d, want 0", n)
		}
	}},
	{"deleting a user's sessions except one keeps that one and another user's, and counts the rest", func(t *testing.T, st store.Store) {
		user, other := uid("user"), uid("user")
		keep, a, ended := newSession(user), newSession(user), newSession(user)
		ended.ExpiresAt = t0.Add(-time.Hour)
		theirs := newSession(other)
		createSessions(t, st, keep, a, ended, theirs)
		n, err := st.DeleteUserSessionsExcept(t.Context(), user, keep.ID)
		must(t, "DeleteUserSessionsExcept", err)
		if n != 2 {
			t.Errorf("DeleteUserSessionsExcept = %d, want 2", n)
		}
		for _, s := range []store.Session{a, ended} {
			wantErr(t, "DeleteSession of a deleted session", st.DeleteSession(t.Context(), s.ID), store.ErrNotFound)
		}
		for _, s := range []store.Session{keep, theirs} {
			if _, err := st.GetSession(t.Context(), s.ID, t0); err != nil {
				t.Fatalf("a session that should stay: %v", err)
			}
		}
		// Another user's session id keeps nothing of this user's.
		b := newSession(user)
		createSessions(t, st, b)
		n, err = st.DeleteUserSessionsExcept(t.Context(), user, theirs.ID)
		must(t, "DeleteUserSessionsExcept with another user's session", err)
		if n != 2 {
			t.Errorf("DeleteUserSessionsExcept with another user's session = %d, want 2 (keep and b)", n)
		}
		if _, err := st.GetSession(t.Context(), theirs.ID, t0); err != nil {
			t.Fatalf("another user's session: %v", err)
		}
		// Nothing left: zero, no error.
		n, err = st.DeleteUserSessionsExcept(t.Context(), user, "")
		must(t, "DeleteUserSessionsExcept of no sessions", err)
		if n != 0 {
			t.Errorf("DeleteUserSessionsExcept of no sessions = %d, want 0", n)
		}
	}},
}

// checkExpiry checks that get succeeds a microsecond before exp and returns
// ErrNotFound at exp and after it.
func checkExpiry(t *testing.T, get func(now time.Time) error, exp time.Time) {
	t.Helper()
	for _, tc := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"a microsecond before expiry it is found", exp.Add(-time.Microsecond), nil},
		{"at expiry it is not found", exp, store.ErrNotFound},
		{"after expiry it is not found", exp.Add(time.Hour), store.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, "get at "+tc.now.String(), get(tc.now), tc.want) })
	}
}
