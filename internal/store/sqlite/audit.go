package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// defaultAuditLimit is the number of events a query without a Limit returns.
const defaultAuditLimit = 100

const auditColumns = `id, event_time, type, user_id, login, ip, request_id, app, result, detail`

func scanAudit(sc scanner) (store.AuditEvent, error) {
	var (
		e  store.AuditEvent
		at int64
	)
	if err := sc.Scan(&e.ID, &at, &e.Type, &e.UserID, &e.Login, &e.IP, &e.RequestID, &e.App, &e.Result, &e.Detail); err != nil {
		return store.AuditEvent{}, err
	}
	e.Time, e.Detail = fromTM(at), nilIfEmpty(e.Detail)
	return e, nil
}

const insertAudit = `INSERT INTO audit_events (event_time, type, user_id, login, ip, request_id, app, result, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

// AppendAudit stores the event and returns the ID the store assigned; e.ID
// is ignored.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (_ int64, err error) {
	defer s.observe(ctx, "AppendAudit")(&err)
	r, err := s.w.ExecContext(ctx, insertAudit,
		tm(e.Time), e.Type, e.UserID, e.Login, e.IP, e.RequestID, e.App, e.Result, blob(e.Detail))
	if err != nil {
		return 0, wrap("AppendAudit", err)
	}
	id, err := r.LastInsertId()
	return id, wrap("AppendAudit", err)
}

// AppendAudits appends es in order in one transaction.
func (s *Store) AppendAudits(ctx context.Context, es []store.AuditEvent) (err error) {
	defer s.observe(ctx, "AppendAudits")(&err)
	return s.writeTx(ctx, "AppendAudits", func(tx *txn) error {
		for _, e := range es {
			if _, err := tx.ExecContext(ctx, insertAudit,
				tm(e.Time), e.Type, e.UserID, e.Login, e.IP, e.RequestID, e.App, e.Result, blob(e.Detail)); err != nil {
				return wrap("AppendAudits", err)
			}
		}
		return nil
	})
}

// QueryAudit returns the events q selects, newest first.
func (s *Store) QueryAudit(ctx context.Context, q store.AuditQuery) (_ []store.AuditEvent, err error) {
	defer s.observe(ctx, "QueryAudit")(&err)
	var (
		where []string
		args  []any
	)
	if q.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, q.UserID)
	}
	if q.Type != "" {
		where, args = append(where, "type = ?"), append(args, q.Type)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "event_time >= ?"), append(args, tm(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = append(where, "event_time < ?"), append(args, tm(q.Until))
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	rows, err := s.r.QueryContext(ctx, query+` ORDER BY event_time DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, wrap("QueryAudit", err)
	}
	return collect(rows, "QueryAudit", scanAudit)
}

// PruneAudit deletes the events from before before and returns how many.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (_ int64, err error) {
	defer s.observe(ctx, "PruneAudit")(&err)
	return s.execCount(ctx, "PruneAudit", `DELETE FROM audit_events WHERE event_time < ?`, tm(before))
}
