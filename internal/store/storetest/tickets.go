package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

func newTicket(kind string) store.Ticket {
	return store.Ticket{
		Kind:      kind,
		ID:        uid("tkt"),
		UserID:    uid("user"),
		Data:      []byte(`{"redirect_uri":"https://app.example.test/cb"}`),
		CreatedAt: t0,
		ExpiresAt: t0.Add(5 * time.Minute),
	}
}

func createTickets(t *testing.T, st store.Store, ts ...store.Ticket) {
	t.Helper()
	for _, tk := range ts {
		must(t, "CreateTicket", st.CreateTicket(t.Context(), tk))
	}
}

var ticketCases = []testCase{
	{"a consumed ticket comes back with every field", func(t *testing.T, st store.Store) {
		tk := newTicket("oidc.code")
		createTickets(t, st, tk)
		got, err := st.ConsumeTicket(t.Context(), tk.Kind, tk.ID, t0)
		must(t, "ConsumeTicket", err)
		same(t, "ConsumeTicket", got, tk)
	}},
	{"a ticket without user or data comes back with empty user and nil data", func(t *testing.T, st store.Store) {
		for _, tc := range []struct {
			name string
			data []byte
		}{{"nil data", nil}, {"empty data", []byte{}}} {
			t.Run(tc.name, func(t *testing.T) {
				tk := newTicket("saml.replay")
				tk.UserID, tk.Data = "", tc.data
				createTickets(t, st, tk)
				got, err := st.ConsumeTicket(t.Context(), tk.Kind, tk.ID, t0)
				must(t, "ConsumeTicket", err)
				same(t, "ConsumeTicket", got, tk)
			})
		}
	}},
	{"a ticket can be consumed only once", func(t *testing.T, st store.Store) {
		tk := newTicket("emailcode")
		createTickets(t, st, tk)
		_, err := st.ConsumeTicket(t.Context(), tk.Kind, tk.ID, t0)
		must(t, "first ConsumeTicket", err)
		_, err = st.ConsumeTicket(t.Context(), tk.Kind, tk.ID, t0)
		wantErr(t, "second ConsumeTicket", err, store.ErrNotFound)
	}},
	{"a missing ticket is not found", func(t *testing.T, st store.Store) {
		_, err := st.ConsumeTicket(t.Context(), "emailcode", uid("tkt"), t0)
		wantErr(t, "ConsumeTicket", err, store.ErrNotFound)
	}},
	{"a ticket is consumable until it expires and not from then on", func(t *testing.T, st store.Store) {
		for _, tc := range []struct {
			name string
			now  time.Time
			want error
		}{
			{"a microsecond before expiry it is consumed", t0.Add(5*time.Minute - time.Microsecond), nil},
			{"at expiry it is not found", t0.Add(5 * time.Minute), store.ErrNotFound},
			{"after expiry it is not found", t0.Add(time.Hour), store.ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tk := newTicket("reset")
				createTickets(t, st, tk)
				_, err := st.ConsumeTicket(t.Context(), tk.Kind, tk.ID, tc.now)
				wantErr(t, "ConsumeTicket", err, tc.want)
			})
		}
	}},
	{"an expired ticket that was not collected still blocks its kind and ID", func(t *testing.T, st store.Store) {
		tk := newTicket("saml.replay")
		tk.ExpiresAt = t0
		createTickets(t, st, tk)
		_, err := st.ConsumeTicket(t.Context(), tk.Kind, tk.ID, t0)
		wantErr(t, "ConsumeTicket of an expired ticket", err, store.ErrNotFound)
		wantErr(t, "CreateTicket again", st.CreateTicket(t.Context(), tk), store.ErrConflict)
	}},
	{"a duplicate kind and ID is a conflict while the same ID in another kind is not", func(t *testing.T, st store.Store) {
		tk := newTicket("oidc.code")
		createTickets(t, st, tk)
		dup := newTicket("oidc.code")
		dup.ID = tk.ID
		wantErr(t, "CreateTicket with the same kind and ID", st.CreateTicket(t.Context(), dup), store.ErrConflict)
		other := dup
		other.Kind = "emailcode"
		createTickets(t, st, other)
		got, err := st.ConsumeTicket(t.Context(), tk.Kind, tk.ID, t0)
		must(t, "ConsumeTicket", err)
		same(t, "ConsumeTicket keeps the first ticket", got, tk)
	}},
	{"a ticket is consumed only under its own kind", func(t *testing.T, st store.Store) {
		tk := newTicket("oidc.code")
		createTickets(t, st, tk)
		_, err := st.ConsumeTicket(t.Context(), "emailcode", tk.ID, t0)
		wantErr(t, "ConsumeTicket under another kind", err, store.ErrNotFound)
		_, err = st.ConsumeTicket(t.Context(), tk.Kind, tk.ID, t0)
		must(t, "ConsumeTicket under its kind", err)
	}},
}
