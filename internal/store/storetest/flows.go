package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

func newFlow() store.Flow {
	return store.Flow{
		ID:        uid("flow"),
		Kind:      "signin",
		UserID:    uid("user"),
		Step:      "password",
		Data:      []byte(`{"attempt":1}`),
		CreatedAt: t0,
		ExpiresAt: t0.Add(10 * time.Minute),
	}
}

func createFlow(t *testing.T, st store.Store, f store.Flow) {
	t.Helper()
	must(t, "CreateFlow", st.CreateFlow(t.Context(), f))
}

var flowCases = []testCase{
	{"a created flow reads back with every field", func(t *testing.T, st store.Store) {
		f := newFlow()
		createFlow(t, st, f)
		got, err := st.GetFlow(t.Context(), f.ID, t0)
		must(t, "GetFlow", err)
		same(t, "GetFlow", got, f)
	}},
	{"an unidentified flow without data reads back with empty user and nil data", func(t *testing.T, st store.Store) {
		for _, tc := range []struct {
			name string
			data []byte
		}{{"nil data", nil}, {"empty data", []byte{}}} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFlow()
				f.UserID, f.Data = "", tc.data
				createFlow(t, st, f)
				got, err := st.GetFlow(t.Context(), f.ID, t0)
				must(t, "GetFlow", err)
				same(t, "GetFlow", got, f)
			})
		}
	}},
	{"creating a flow with an existing ID is a conflict and keeps the first", func(t *testing.T, st store.Store) {
		f := newFlow()
		createFlow(t, st, f)
		dup := newFlow()
		dup.ID = f.ID
		wantErr(t, "second CreateFlow", st.CreateFlow(t.Context(), dup), store.ErrConflict)
		got, err := st.GetFlow(t.Context(), f.ID, t0)
		must(t, "GetFlow", err)
		same(t, "GetFlow", got, f)
	}},
	{"a missing flow is not found", func(t *testing.T, st store.Store) {
		_, err := st.GetFlow(t.Context(), uid("flow"), t0)
		wantErr(t, "GetFlow", err, store.ErrNotFound)
	}},
	{"a flow is found until it expires and not from then on", func(t *testing.T, st store.Store) {
		f := newFlow()
		createFlow(t, st, f)
		checkExpiry(t, func(now time.Time) error {
			_, err := st.GetFlow(t.Context(), f.ID, now)
			return err
		}, f.ExpiresAt)
	}},
	{"an update writes what fn returns and returns the flow as a get would", func(t *testing.T, st store.Store) {
		f := newFlow()
		createFlow(t, st, f)
		want := f
		want.Step, want.UserID, want.Data = "otp", uid("user"), []byte(`{"attempt":2}`)
		want.ExpiresAt = t0.Add(20 * time.Minute)
		got, err := st.UpdateFlow(t.Context(), f.ID, func(old store.Flow) (store.Flow, error) {
			same(t, "fn's argument", old, f)
			return want, nil
		})
		must(t, "UpdateFlow", err)
		same(t, "UpdateFlow", got, want)
		got, err = st.GetFlow(t.Context(), f.ID, t0)
		must(t, "GetFlow", err)
		same(t, "GetFlow after update", got, want)
	}},
	{"an update keeps the flow ID whatever fn returns", func(t *testing.T, st store.Store) {
		f := newFlow()
		createFlow(t, st, f)
		other := uid("flow")
		got, err := st.UpdateFlow(t.Context(), f.ID, func(old store.Flow) (store.Flow, error) {
			old.ID = other
			return old, nil
		})
		must(t, "UpdateFlow", err)
		same(t, "UpdateFlow", got, f)
		_, err = st.GetFlow(t.Context(), other, t0)
		wantErr(t, "GetFlow by fn's ID", err, store.ErrNotFound)
	}},
	{"an error from fn aborts the update and is returned unchanged", func(t *testing.T, st store.Store) {
		f := newFlow()
		createFlow(t, st, f)
		_, err := st.UpdateFlow(t.Context(), f.ID, func(old store.Flow) (store.Flow, error) {
			old.Step = "changed"
			return old, errBoom
		})
		if err != errBoom { //nolint:errorlint // the contract is the very same error, not a wrapper
			t.Fatalf("UpdateFlow error = %v, want fn's error itself", err)
		}
		got, err := st.GetFlow(t.Context(), f.ID, t0)
		must(t, "GetFlow", err)
		same(t, "GetFlow after aborted update", got, f)
	}},
	{"an update of a missing flow is not found and does not call fn", func(t *testing.T, st store.Store) {
		_, err := st.UpdateFlow(t.Context(), uid("flow"), func(old store.Flow) (store.Flow, error) {
			t.Error("fn called for a missing flow")
			return old, nil
		})
		wantErr(t, "UpdateFlow", err, store.ErrNotFound)
	}},
	{"deleting a flow removes it and deleting it again is not found", func(t *testing.T, st store.Store) {
		f := newFlow()
		createFlow(t, st, f)
		must(t, "DeleteFlow", st.DeleteFlow(t.Context(), f.ID))
		_, err := st.GetFlow(t.Context(), f.ID, t0)
		wantErr(t, "GetFlow after delete", err, store.ErrNotFound)
		wantErr(t, "second DeleteFlow", st.DeleteFlow(t.Context(), f.ID), store.ErrNotFound)
	}},
}
