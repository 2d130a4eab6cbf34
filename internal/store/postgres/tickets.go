package postgres

import (
	"context"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

const ticketColumns = `kind, id, user_id, data, created_at, expires_at`

func scanTicket(sc scanner) (store.Ticket, error) {
	var t store.Ticket
	if err := sc.Scan(&t.Kind, &t.ID, &t.UserID, &t.Data, &t.CreatedAt, &t.ExpiresAt); err != nil {
		return store.Ticket{}, err
	}
	t.Data, t.CreatedAt, t.ExpiresAt = nilIfEmpty(t.Data), norm(t.CreatedAt), norm(t.ExpiresAt)
	return t, nil
}

// CreateTicket stores a new ticket; ErrConflict when its (Kind, ID)
// exists, even expired.
func (s *Store) CreateTicket(ctx context.Context, t store.Ticket) (err error) {
	defer s.observe(ctx, "CreateTicket")(&err)
	_, err = s.pool.Exec(ctx, `INSERT INTO tickets (`+ticketColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Kind, t.ID, t.UserID, blob(t.Data), t.CreatedAt, t.ExpiresAt)
	return wrap("CreateTicket", err)
}

// ConsumeTicket deletes and returns the ticket in one statement;
// ErrNotFound when it is missing, consumed or expired at now. An expired
// ticket stays until GarbageCollect.
func (s *Store) ConsumeTicket(ctx context.Context, kind, id string, now time.Time) (_ store.Ticket, err error) {
	defer s.observe(ctx, "ConsumeTicket")(&err)
	t, err := scanTicket(s.pool.QueryRow(ctx,
		`DELETE FROM tickets WHERE kind = $1 AND id = $2 AND expires_at > $3 RETURNING `+ticketColumns, kind, id, now))
	return t, wrap("ConsumeTicket", err)
}
