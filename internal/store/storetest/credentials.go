package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

func newCredential(userID, typ string) store.Credential {
	return store.Credential{
		ID:         uid("cred"),
		UserID:     userID,
		Type:       typ,
		Name:       "Phone",
		Secret:     []byte("sealed:opaque"),
		Data:       []byte{0xa5, 0x01, 0x02},
		CreatedAt:  t0,
		LastUsedAt: t0.Add(time.Hour),
	}
}

func createCredentials(t *testing.T, st store.Store, cs ...store.Credential) {
	t.Helper()
	for _, c := range cs {
		must(t, "CreateCredential", st.CreateCredential(t.Context(), c))
	}
}

var credentialCases = []testCase{
	{"a created credential reads back with every field", func(t *testing.T, st store.Store) {
		c := newCredential(uid("user"), "webauthn")
		c.LookupKey = uid("credid")
		createCredentials(t, st, c)
		got, err := st.GetCredential(t.Context(), c.ID)
		must(t, "GetCredential", err)
		same(t, "GetCredential", got, c)
	}},
	{"a never-used credential without data reads back with zero time and nil slices", func(t *testing.T, st store.Store) {
		for _, tc := range []struct {
			name         string
			secret, data []byte
		}{{"nil slices", nil, nil}, {"empty slices", []byte{}, []byte{}}} {
			t.Run(tc.name, func(t *testing.T) {
				c := newCredential(uid("user"), "recovery")
				c.Name, c.LastUsedAt, c.Secret, c.Data = "", time.Time{}, tc.secret, tc.data
				createCredentials(t, st, c)
				got, err := st.GetCredential(t.Context(), c.ID)
				must(t, "GetCredential", err)
				same(t, "GetCredential", got, c)
			})
		}
	}},
	{"creating a credential with an existing ID is a conflict", func(t *testing.T, st store.Store) {
		c := newCredential(uid("user"), "totp")
		createCredentials(t, st, c)
		dup := newCredential(uid("user"), "webauthn")
		dup.ID = c.ID
		wantErr(t, "second CreateCredential", st.CreateCredential(t.Context(), dup), store.ErrConflict)
	}},
	{"creating a credential whose lookup key its type already holds is a conflict", func(t *testing.T, st store.Store) {
		c := newCredential(uid("user"), "webauthn")
		c.LookupKey = uid("credid")
		createCredentials(t, st, c)
		dup := newCredential(uid("user"), "webauthn")
		dup.LookupKey = c.LookupKey
		wantErr(t, "CreateCredential with a taken lookup key", st.CreateCredential(t.Context(), dup), store.ErrConflict)
		_, err := st.GetCredential(t.Context(), dup.ID)
		wantErr(t, "GetCredential of the refused credential", err, store.ErrNotFound)
		got, err := st.GetCredentialByLookupKey(t.Context(), "webauthn", c.LookupKey)
		must(t, "GetCredentialByLookupKey", err)
		same(t, "GetCredentialByLookupKey", got, c)
	}},
	{"the same lookup key in two types is not a conflict", func(t *testing.T, st store.Store) {
		key := uid("key")
		a, b := newCredential(uid("user"), "webauthn"), newCredential(uid("user"), "passkey")
		a.LookupKey, b.LookupKey = key, key
		createCredentials(t, st, a, b)
	}},
	{"credentials without a lookup key never conflict", func(t *testing.T, st store.Store) {
		user := uid("user")
		createCredentials(t, st, newCredential(user, "totp"), newCredential(user, "totp"), newCredential(uid("user"), "totp"))
	}},
	{"a lookup finds a credential by its type and key only", func(t *testing.T, st store.Store) {
		c := newCredential(uid("user"), "webauthn")
		c.LookupKey = uid("credid")
		keyless := newCredential(uid("user"), "webauthn")
		createCredentials(t, st, c, keyless)
		for _, tc := range []struct {
			name, typ, key string
			want           error
		}{
			{"its type and key find it", "webauthn", c.LookupKey, nil},
			{"another type with its key finds nothing", "totp", c.LookupKey, store.ErrNotFound},
			{"an unknown key finds nothing", "webauthn", uid("credid"), store.ErrNotFound},
			{"an empty key finds nothing, though credentials without a key exist", "webauthn", "", store.ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := st.GetCredentialByLookupKey(t.Context(), tc.typ, tc.key)
				wantErr(t, "GetCredentialByLookupKey", err, tc.want)
				if tc.want == nil {
					same(t, "GetCredentialByLookupKey", got, c)
				}
			})
		}
	}},
	{"a missing credential is not found", func(t *testing.T, st store.Store) {
		_, err := st.GetCredential(t.Context(), uid("cred"))
		wantErr(t, "GetCredential", err, store.ErrNotFound)
	}},
	{"listing a user's credentials returns theirs, oldest first", func(t *testing.T, st store.Store) {
		user := uid("user")
		c0, c1, c2 := newCredential(user, "totp"), newCredential(user, "webauthn"), newCredential(user, "recovery")
		c0.CreatedAt, c1.CreatedAt, c2.CreatedAt = t0, t0.Add(time.Second), t0.Add(2*time.Second)
		// Two created in the same microsecond come in ID order.
		tieA, tieB := newCredential(user, "totp"), newCredential(user, "totp")
		tieA.CreatedAt, tieB.CreatedAt = t0.Add(3*time.Second), t0.Add(3*time.Second)
		if tieA.ID > tieB.ID {
			tieA, tieB = tieB, tieA
		}
		createCredentials(t, st, tieB, c2, c0, newCredential(uid("user"), "totp"), tieA, c1)
		got, err := st.ListCredentials(t.Context(), user)
		must(t, "ListCredentials", err)
		same(t, "ListCredentials", got, []store.Credential{c0, c1, c2, tieA, tieB})
	}},
	{"listing the credentials of a user without any returns nil", func(t *testing.T, st store.Store) {
		got, err := st.ListCredentials(t.Context(), uid("user"))
		must(t, "ListCredentials", err)
		if got != nil {
			t.Fatalf("ListCredentials = %#v, want nil", got)
		}
	}},
	{"an update writes what fn returns and returns the credential as a get would", func(t *testing.T, st store.Store) {
		c := newCredential(uid("user"), "totp")
		createCredentials(t, st, c)
		want := c
		want.Name, want.LastUsedAt, want.Data, want.Secret = "Tablet", t0.Add(2*time.Hour+7*time.Nanosecond), []byte("step=42"), []byte("sealed:rotated")
		got, err := st.UpdateCredential(t.Context(), c.ID, func(old store.Credential) (store.Credential, error) {
			same(t, "fn's argument", old, c)
			return want, nil
		})
		must(t, "UpdateCredential", err)
		same(t, "UpdateCredential", got, want)
		got, err = st.GetCredential(t.Context(), c.ID)
		must(t, "GetCredential", err)
		same(t, "GetCredential after update", got, want)
	}},
	{"an update that moves the lookup key makes the new key find it and the old one not", func(t *testing.T, st store.Store) {
		c := newCredential(uid("user"), "webauthn")
		c.LookupKey = uid("old")
		createCredentials(t, st, c)
		newKey := uid("new")
		_, err := st.UpdateCredential(t.Context(), c.ID, func(old store.Credential) (store.Credential, error) {
			old.LookupKey = newKey
			return old, nil
		})
		must(t, "UpdateCredential", err)
		_, err = st.GetCredentialByLookupKey(t.Context(), "webauthn", c.LookupKey)
		wantErr(t, "lookup by the old key", err, store.ErrNotFound)
		got, err := st.GetCredentialByLookupKey(t.Context(), "webauthn", newKey)
		must(t, "lookup by the new key", err)
		if got.ID != c.ID {
			t.Fatalf("lookup by the new key found %q, want %q", got.ID, c.ID)
		}
	}},
	{"an update to a lookup key its type already holds is a conflict and writes nothing", func(t *testing.T, st store.Store) {
		a, b := newCredential(uid("user"), "webauthn"), newCredential(uid("user"), "webauthn")
		a.LookupKey, b.LookupKey = uid("a"), uid("b")
		createCredentials(t, st, a, b)
		_, err := st.UpdateCredential(t.Context(), b.ID, func(old store.Credential) (store.Credential, error) {
			old.LookupKey, old.Name = a.LookupKey, "changed"
			return old, nil
		})
		wantErr(t, "UpdateCredential", err, store.ErrConflict)
		got, err := st.GetCredential(t.Context(), b.ID)
		must(t, "GetCredential", err)
		same(t, "GetCredential after refused update", got, b)
	}},
	{"an update keeps the credential ID whatever fn returns", func(t *testing.T, st store.Store) {
		c := newCredential(uid("user"), "totp")
		createCredentials(t, st, c)
		other := uid("cred")
		got, err := st.UpdateCredential(t.Context(), c.ID, func(old store.Credential) (store.Credential, error) {
			old.ID = other
			return old, nil
		})
		must(t, "UpdateCredential", err)
		same(t, "UpdateCredential", got, c)
		_, err = st.GetCredential(t.Context(), other)
		wantErr(t, "GetCredential by fn's ID", err, store.ErrNotFound)
	}},
	{"an error from fn aborts the update and is returned unchanged", func(t *testing.T, st store.Store) {
		c := newCredential(uid("user"), "totp")
		createCredentials(t, st, c)
		_, err := st.UpdateCredential(t.Context(), c.ID, func(old store.Credential) (store.Credential, error) {
			old.Name = "changed"
			return old, errBoom
		})
		if err != errBoom { //nolint:errorlint // the contract is the very same error, not a wrapper
			t.Fatalf("UpdateCredential error = %v, want fn's error itself", err)
		}
		got, err := st.GetCredential(t.Context(), c.ID)
		must(t, "GetCredential", err)
		same(t, "GetCredential after aborted update", got, c)
	}},
	{"an update of a missing credential is not found and does not call fn", func(t *testing.T, st store.Store) {
		_, err := st.UpdateCredential(t.Context(), uid("cred"), func(old store.Credential) (store.Credential, error) {
			t.Error("fn called for a missing credential")
			return old, nil
		})
		wantErr(t, "UpdateCredential", err, store.ErrNotFound)
	}},
	{"deleting a credential removes it and deleting it again is not found", func(t *testing.T, st store.Store) {
		c := newCredential(uid("user"), "webauthn")
		c.LookupKey = uid("credid")
		createCredentials(t, st, c)
		must(t, "DeleteCredential", st.DeleteCredential(t.Context(), c.ID))
		_, err := st.GetCredential(t.Context(), c.ID)
		wantErr(t, "GetCredential after delete", err, store.ErrNotFound)
		_, err = st.GetCredentialByLookupKey(t.Context(), c.Type, c.LookupKey)
		wantErr(t, "GetCredentialByLookupKey after delete", err, store.ErrNotFound)
		wantErr(t, "second DeleteCredential", st.DeleteCredential(t.Context(), c.ID), store.ErrNotFound)
		createCredentials(t, st, newCredential(c.UserID, c.Type)) // the key is free again
	}},
	{"deleting a user's credentials of one type or of every type counts what it removed", func(t *testing.T, st store.Store) {
		user, other := uid("user"), uid("user")
		totp1, totp2, wa := newCredential(user, "totp"), newCredential(user, "totp"), newCredential(user, "webauthn")
		theirs := newCredential(other, "totp")
		createCredentials(t, st, totp1, totp2, wa, theirs)
		steps := []struct {
			typ      string
			want     int64
			wantLeft []store.Credential
		}{
			{"totp", 2, []store.Credential{wa}},
			{"totp", 0, []store.Credential{wa}},
			{"", 1, nil},
			{"", 0, nil},
		}
		for _, s := range steps {
			n, err := st.DeleteUserCredentials(t.Context(), user, s.typ)
			must(t, "DeleteUserCredentials", err)
			if n != s.want {
				t.Fatalf("DeleteUserCredentials(%q) = %d, want %d", s.typ, n, s.want)
			}
			left, err := st.ListCredentials(t.Context(), user)
			must(t, "ListCredentials", err)
			same(t, "credentials left after DeleteUserCredentials("+s.typ+")", left, s.wantLeft)
		}
		got, err := st.ListCredentials(t.Context(), other)
		must(t, "ListCredentials of another user", err)
		same(t, "another user's credentials", got, []store.Credential{theirs})
	}},
}
