package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/jackc/pgx/v5"
)

// defaultAuditLimit is the number of events a query without a Limit returns.
const defaultAuditLimit = 100

const auditColumns = `id, event_time, type, user_id, login, ip, request_id, app, result, detail`

func scanAudit(sc scanner) (store.AuditEvent, error) {
	var e store.AuditEvent
	if err := sc.Scan(&e.ID, &e.Time, &e.Type, &e.UserID, &e.Login, &e.IP, &e.RequestID, &e.App, &e.Result, &e.Detail); err != nil {
		return store.AuditEvent{}, err
	}
	e.Time, e.Detail = norm(e.Time), nilIfEmpty(e.Detail)
	return e, nil
}

// AppendAudit stores the event and returns the ID the store assigned; e.ID
// is ignored.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (_ int64, err error) {
	defer s.observe(ctx, "AppendAudit")(&err)
	var id int64
	err = s.pool.QueryRow(ctx, `INSERT INTO audit_events (event_time, type, user_id, login, ip, request_id, app, result, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		e.Time, e.Type, e.UserID, e.Login, e.IP, e.RequestID, e.App, e.Result, blob(e.Detail)).Scan(&id)
	if err != nil {
		return 0, wrap("AppendAudit", err)
	}
	return id, nil
}

// AppendAudits appends es in order in one transaction.
func (s *Store) AppendAudits(ctx context.Context, es []store.AuditEvent) (err error) {
	defer s.observe(ctx, "AppendAudits")(&err)
	return s.tx(ctx, "AppendAudits", func(tx pgx.Tx) error {
		for _, e := range es {
			if _, err := tx.Exec(ctx, `INSERT INTO audit_events (event_time, type, user_id, login, ip, request_id, app, result, detail)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				e.Time, e.Type, e.UserID, e.Login, e.IP, e.RequestID, e.App, e.Result, blob(e.Detail)); err != nil {
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
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if q.UserID != "" {
		add("user_id =", q.UserID)
	}
	if q.Type != "" {
		add("type =", q.Type)
	}
	if !q.Since.IsZero() {
		add("event_time >=", q.Since)
	}
	if !q.Until.IsZero() {
		add("event_time <", q.Until)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, query+` ORDER BY event_time DESC, id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, wrap("QueryAudit", err)
	}
	return collect(rows, "QueryAudit", scanAudit)
}

// PruneAudit deletes the events from before before and returns how many.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (_ int64, err error) {
	defer s.observe(ctx, "PruneAudit")(&err)
	return s.execCount(ctx, "PruneAudit", `DELETE FROM audit_events WHERE event_time < $1`, before)
}
