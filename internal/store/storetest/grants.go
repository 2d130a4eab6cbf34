package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

func newGrant(user string) store.Grant {
	return store.Grant{
		ID:        uid("grant"),
		ClientID:  "grafana",
		UserID:    user,
		SessionID: uid("sid"),
		Data:      []byte(`{"refresh":"5f0c…","scopes":["openid"]}`),
		CreatedAt: t0,
		ExpiresAt: t0.Add(30 * 24 * time.Hour),
	}
}

func createGrants(t *testing.T, st store.Store, gs ...store.Grant) {
	t.Helper()
	for _, g := range gs {
		must(t, "CreateGrant", st.CreateGrant(t.Context(), g))
	}
}

// errRotated stands for a compare-and-swap that finds the grant moved on.
var errRotated = errors.New("the refresh token was rotated already")

var grantCases = []testCase{
	{"a created grant comes back with every field", func(t *testing.T, st store.Store) {
		g := newGrant(uid("user"))
		createGrants(t, st, g)
		got, err := st.GetGrant(t.Context(), g.ID, t0)
		must(t, "GetGrant", err)
		same(t, "GetGrant", got, g)
	}},
	{"a grant without session or data comes back with an empty session and nil data", func(t *testing.T, st store.Store) {
		g := newGrant(uid("user"))
		g.SessionID, g.Data = "", nil
		createGrants(t, st, g)
		got, err := st.GetGrant(t.Context(), g.ID, t0)
		must(t, "GetGrant", err)
		same(t, "GetGrant", got, g)
	}},
	{"a second grant with the same ID conflicts", func(t *testing.T, st store.Store) {
		g := newGrant(uid("user"))
		createGrants(t, st, g)
		wantErr(t, "CreateGrant again", st.CreateGrant(t.Context(), g), store.ErrConflict)
	}},
	{"a grant is not found once it has expired", func(t *testing.T, st store.Store) {
		g := newGrant(uid("user"))
		createGrants(t, st, g)
		_, err := st.GetGrant(t.Context(), g.ID, g.ExpiresAt.Add(-time.Microsecond))
		must(t, "GetGrant a microsecond before expiry", err)
		_, err = st.GetGrant(t.Context(), g.ID, g.ExpiresAt)
		wantErr(t, "GetGrant at expiry", err, store.ErrNotFound)
		_, err = st.GetGrant(t.Context(), uid("grant"), t0)
		wantErr(t, "GetGrant of a missing grant", err, store.ErrNotFound)
	}},
	{"an update replaces every field but the ID and returns the grant as stored", func(t *testing.T, st store.Store) {
		g := newGrant(uid("user"))
		createGrants(t, st, g)
		want := store.Grant{ID: g.ID, ClientID: "gitlab", UserID: uid("user"), SessionID: "", Data: []byte("rotated"),
			CreatedAt: t0.Add(time.Second), ExpiresAt: t0.Add(time.Hour)}
		got, err := st.UpdateGrant(t.Context(), g.ID, func(old store.Grant) (store.Grant, error) {
			same(t, "the grant fn sees", old, g)
			next := want
			next.ID = uid("grant") // ignored: the grant keeps its ID
			return next, nil
		})
		must(t, "UpdateGrant", err)
		same(t, "UpdateGrant", got, want)
		read, err := st.GetGrant(t.Context(), g.ID, t0)
		must(t, "GetGrant", err)
		same(t, "GetGrant after UpdateGrant", read, want)
	}},
	{"an update whose function fails changes nothing and returns its error", func(t *testing.T, st store.Store) {
		g := newGrant(uid("user"))
		createGrants(t, st, g)
		_, err := st.UpdateGrant(t.Context(), g.ID, func(old store.Grant) (store.Grant, error) {
			old.Data = []byte("half-done")
			return old, errRotated
		})
		if err != errRotated { //nolint:errorlint // the very error, unwrapped
			t.Fatalf("UpdateGrant error = %v, want fn's error unchanged", err)
		}
		got, err := st.GetGrant(t.Context(), g.ID, t0)
		must(t, "GetGrant", err)
		same(t, "GetGrant after a failed update", got, g)
		_, err = st.UpdateGrant(t.Context(), uid("grant"), func(g store.Grant) (store.Grant, error) { return g, nil })
		wantErr(t, "UpdateGrant of a missing grant", err, store.ErrNotFound)
	}},
	{"a deleted grant is gone and deleting it again is not found", func(t *testing.T, st store.Store) {
		g := newGrant(uid("user"))
		createGrants(t, st, g)
		must(t, "DeleteGrant", st.DeleteGrant(t.Context(), g.ID))
		_, err := st.GetGrant(t.Context(), g.ID, t0)
		wantErr(t, "GetGrant after DeleteGrant", err, store.ErrNotFound)
		wantErr(t, "DeleteGrant again", st.DeleteGrant(t.Context(), g.ID), store.ErrNotFound)
	}},
	{"a user's live grants are listed oldest first, without expired ones or other users'", func(t *testing.T, st store.Store) {
		user := uid("user")
		older, newer, expired, other := newGrant(user), newGrant(user), newGrant(user), newGrant(uid("user"))
		older.CreatedAt, newer.CreatedAt = t0.Add(-time.Hour), t0.Add(-time.Minute)
		expired.ExpiresAt = t0
		createGrants(t, st, newer, expired, other, older)
		got, err := st.ListUserGrants(t.Context(), user, t0)
		must(t, "ListUserGrants", err)
		same(t, "ListUserGrants", got, []store.Grant{older, newer})
		got, err = st.ListUserGrants(t.Context(), uid("user"), t0)
		must(t, "ListUserGrants of a user with none", err)
		same(t, "ListUserGrants of a user with none", got, nil)
	}},
	{"deleting a user's grants deletes them all, expired too, and no one else's", func(t *testing.T, st store.Store) {
		user := uid("user")
		a, b, expired, other := newGrant(user), newGrant(user), newGrant(user), newGrant(uid("user"))
		expired.ExpiresAt = t0
		createGrants(t, st, a, b, expired, other)
		n, err := st.DeleteUserGrants(t.Context(), user)
		must(t, "DeleteUserGrants", err)
		if n != 3 {
			t.Fatalf("DeleteUserGrants = %d, want 3", n)
		}
		for _, g := range []store.Grant{a, b, expired} {
			wantErr(t, "DeleteGrant of a deleted grant", st.DeleteGrant(t.Context(), g.ID), store.ErrNotFound)
		}
		_, err = st.GetGrant(t.Context(), other.ID, t0)
		must(t, "GetGrant of another user's grant", err)
	}},
	{"garbage collection deletes the grants that have expired and counts them", func(t *testing.T, st store.Store) {
		// 1991 belongs to this test alone (see the store's garbage
		// collection test, which has 1990).
		g1 := time.Date(1991, 5, 17, 8, 0, 0, 0, time.UTC)
		old, live := newGrant(uid("user")), newGrant(uid("user"))
		old.CreatedAt, old.ExpiresAt = g1.Add(-time.Hour), g1
		live.CreatedAt, live.ExpiresAt = g1.Add(-time.Hour), g1.Add(time.Microsecond)
		createGrants(t, st, old, live)
		res, err := st.GarbageCollect(t.Context(), g1)
		must(t, "GarbageCollect", err)
		if res.Grants != 1 {
			t.Fatalf("GarbageCollect removed %d grants, want 1", res.Grants)
		}
		wantErr(t, "DeleteGrant of a collected grant", st.DeleteGrant(t.Context(), old.ID), store.ErrNotFound)
		must(t, "DeleteGrant of a live grant", st.DeleteGrant(t.Context(), live.ID))
	}},
}

// grantConcurrencyCases race on one grant: no update is lost, and of
// concurrent rotations of one refresh token exactly one wins.
var grantConcurrencyCases = []testCase{
	{"concurrent grant updates lose no increment", func(t *testing.T, st store.Store) {
		g := newGrant(uid("user"))
		g.Data = []byte("0")
		createGrants(t, st, g)
		hammer(t, func() error {
			_, err := st.UpdateGrant(t.Context(), g.ID, func(old store.Grant) (store.Grant, error) {
				d, err := bump(old.Data)
				old.Data = d
				return old, err
			})
			return err
		})
		got, err := st.GetGrant(t.Context(), g.ID, t0)
		must(t, "GetGrant", err)
		wantCount(t, "grant data", got.Data)
	}},
	{"of many concurrent rotations of one refresh token exactly one wins", func(t *testing.T, st store.Store) {
		for range races {
			g := newGrant(uid("user"))
			g.Data = []byte("token-1")
			createGrants(t, st, g)
			wins := race(t, errRotated, func() error {
				_, err := st.UpdateGrant(t.Context(), g.ID, func(old store.Grant) (store.Grant, error) {
					if !bytes.Equal(old.Data, []byte("token-1")) {
						return old, errRotated
					}
					old.Data = []byte("token-2")
					return old, nil
				})
				return err
			})
			if wins != 1 {
				t.Fatalf("%d rotations won, want exactly 1", wins)
			}
		}
	}},
}
