package storetest

import (
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

func newLink() store.Link {
	return store.Link{Provider: "entra:" + uid("tenant"), Subject: uid("oid"), UserID: uid("user"), CreatedAt: t0}
}

var linkCases = []testCase{
	{"a link is found by its outside account and by its user", func(t *testing.T, st store.Store) {
		l := newLink()
		must(t, "CreateLink", st.CreateLink(t.Context(), l))
		got, err := st.GetLink(t.Context(), l.Provider, l.Subject)
		must(t, "GetLink", err)
		same(t, "GetLink", got, l)
		got, err = st.GetUserLink(t.Context(), l.Provider, l.UserID)
		must(t, "GetUserLink", err)
		same(t, "GetUserLink", got, l)
	}},
	{"an outside account that is not linked is not found", func(t *testing.T, st store.Store) {
		l := newLink()
		must(t, "CreateLink", st.CreateLink(t.Context(), l))
		_, err := st.GetLink(t.Context(), l.Provider, uid("oid"))
		wantErr(t, "GetLink of another subject", err, store.ErrNotFound)
		_, err = st.GetLink(t.Context(), "entra:"+uid("tenant"), l.Subject)
		wantErr(t, "GetLink at another provider", err, store.ErrNotFound)
		_, err = st.GetUserLink(t.Context(), "entra:"+uid("tenant"), l.UserID)
		wantErr(t, "GetUserLink at another provider", err, store.ErrNotFound)
	}},
	{"an outside account links to one user only", func(t *testing.T, st store.Store) {
		l := newLink()
		must(t, "CreateLink", st.CreateLink(t.Context(), l))
		other := l
		other.UserID = uid("user")
		wantErr(t, "CreateLink of the subject to another user", st.CreateLink(t.Context(), other), store.ErrConflict)
		got, err := st.GetLink(t.Context(), l.Provider, l.Subject)
		must(t, "GetLink", err)
		same(t, "GetLink after the refused link", got, l)
	}},
	{"a user links to one outside account per provider", func(t *testing.T, st store.Store) {
		l := newLink()
		must(t, "CreateLink", st.CreateLink(t.Context(), l))
		other := l
		other.Subject = uid("oid")
		wantErr(t, "CreateLink of the user to another subject", st.CreateLink(t.Context(), other), store.ErrConflict)
		elsewhere := l
		elsewhere.Provider = "entra:" + uid("tenant")
		must(t, "CreateLink of the user at another provider", st.CreateLink(t.Context(), elsewhere))
	}},
	{"deleting a user's links frees the user and the outside accounts", func(t *testing.T, st store.Store) {
		l := newLink()
		must(t, "CreateLink", st.CreateLink(t.Context(), l))
		elsewhere := l
		elsewhere.Provider = "entra:" + uid("tenant")
		must(t, "CreateLink at another provider", st.CreateLink(t.Context(), elsewhere))
		n, err := st.DeleteUserLinks(t.Context(), l.UserID)
		must(t, "DeleteUserLinks", err)
		if n != 2 {
			t.Fatalf("DeleteUserLinks = %d, want 2", n)
		}
		_, err = st.GetLink(t.Context(), l.Provider, l.Subject)
		wantErr(t, "GetLink after DeleteUserLinks", err, store.ErrNotFound)
		relinked := l
		relinked.Subject = uid("oid")
		must(t, "CreateLink of the user to a new subject", st.CreateLink(t.Context(), relinked))
	}},
}
