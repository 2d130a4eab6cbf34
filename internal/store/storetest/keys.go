package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

func newKey() store.SigningKey {
	return store.SigningKey{
		ID:         uid("kid"),
		Algorithm:  "RS256",
		State:      "next",
		PrivateKey: []byte("sealed:pkcs8"),
		CertDER:    []byte{0x30, 0x82, 0x01, 0x0a},
		CreatedAt:  t0,
		NotAfter:   t0.AddDate(1, 0, 0),
	}
}

func keyID(k store.SigningKey) string { return k.ID }

func createKeys(t *testing.T, st store.Store, ks ...store.SigningKey) {
	t.Helper()
	for _, k := range ks {
		must(t, "CreateKey", st.CreateKey(t.Context(), k))
	}
}

// listKeys returns the keys with the given IDs, in ListKeys order; other
// tests' keys may share the table.
func listKeys(t *testing.T, st store.Store, keep ...string) []store.SigningKey {
	t.Helper()
	all, err := st.ListKeys(t.Context())
	must(t, "ListKeys", err)
	return only(all, keyID, keep...)
}

var keyCases = []testCase{
	{"a created key reads back with every field", func(t *testing.T, st store.Store) {
		k := newKey()
		createKeys(t, st, k)
		same(t, "ListKeys", listKeys(t, st, k.ID), []store.SigningKey{k})
	}},
	{"a key with empty bytes reads back with nil slices", func(t *testing.T, st store.Store) {
		a, b := newKey(), newKey()
		a.PrivateKey, a.CertDER = nil, nil
		b.PrivateKey, b.CertDER = []byte{}, []byte{}
		createKeys(t, st, a, b)
		same(t, "ListKeys", sortedByID(listKeys(t, st, a.ID, b.ID), keyID), sortedByID([]store.SigningKey{a, b}, keyID))
	}},
	{"creating a key with an existing ID is a conflict and keeps the first", func(t *testing.T, st store.Store) {
		k := newKey()
		createKeys(t, st, k)
		dup := newKey()
		dup.ID, dup.State = k.ID, "current"
		wantErr(t, "second CreateKey", st.CreateKey(t.Context(), dup), store.ErrConflict)
		same(t, "ListKeys", listKeys(t, st, k.ID), []store.SigningKey{k})
	}},
	{"keys are listed oldest first", func(t *testing.T, st store.Store) {
		k0, k1, tieA, tieB := newKey(), newKey(), newKey(), newKey()
		k0.CreatedAt, k1.CreatedAt = t0.Add(-48*time.Hour), t0.Add(-24*time.Hour)
		if tieA.ID > tieB.ID {
			tieA, tieB = tieB, tieA
		}
		createKeys(t, st, tieB, k1, tieA, k0)
		same(t, "ListKeys", listKeys(t, st, k0.ID, k1.ID, tieA.ID, tieB.ID), []store.SigningKey{k0, k1, tieA, tieB})
	}},
	{"an update writes what fn returns and returns the key as a list would", func(t *testing.T, st store.Store) {
		k := newKey()
		createKeys(t, st, k)
		want := k
		want.State, want.NotAfter = "current", t0.AddDate(2, 0, 0)
		got, err := st.UpdateKey(t.Context(), k.ID, func(old store.SigningKey) (store.SigningKey, error) {
			same(t, "fn's argument", old, k)
			return want, nil
		})
		must(t, "UpdateKey", err)
		same(t, "UpdateKey", got, want)
		same(t, "ListKeys after update", listKeys(t, st, k.ID), []store.SigningKey{want})
	}},
	{"an update keeps the key ID whatever fn returns", func(t *testing.T, st store.Store) {
		k := newKey()
		createKeys(t, st, k)
		other := uid("kid")
		got, err := st.UpdateKey(t.Context(), k.ID, func(old store.SigningKey) (store.SigningKey, error) {
			old.ID = other
			return old, nil
		})
		must(t, "UpdateKey", err)
		same(t, "UpdateKey", got, k)
		same(t, "ListKeys", listKeys(t, st, k.ID, other), []store.SigningKey{k})
	}},
	{"an error from fn aborts the update and is returned unchanged", func(t *testing.T, st store.Store) {
		k := newKey()
		createKeys(t, st, k)
		_, err := st.UpdateKey(t.Context(), k.ID, func(old store.SigningKey) (store.SigningKey, error) {
			old.State = "retired"
			return old, errBoom
		})
		if err != errBoom { //nolint:errorlint // the contract is the very same error, not a wrapper
			t.Fatalf("UpdateKey error = %v, want fn's error itself", err)
		}
		same(t, "ListKeys after aborted update", listKeys(t, st, k.ID), []store.SigningKey{k})
	}},
	{"an update of a missing key is not found and does not call fn", func(t *testing.T, st store.Store) {
		_, err := st.UpdateKey(t.Context(), uid("kid"), func(old store.SigningKey) (store.SigningKey, error) {
			t.Error("fn called for a missing key")
			return old, nil
		})
		wantErr(t, "UpdateKey", err, store.ErrNotFound)
	}},
	{"deleting a key removes it and deleting it again is not found", func(t *testing.T, st store.Store) {
		k := newKey()
		createKeys(t, st, k)
		must(t, "DeleteKey", st.DeleteKey(t.Context(), k.ID))
		if got := listKeys(t, st, k.ID); got != nil {
			t.Fatalf("ListKeys after delete still has %v", ids(got, keyID))
		}
		wantErr(t, "second DeleteKey", st.DeleteKey(t.Context(), k.ID), store.ErrNotFound)
	}},
}
