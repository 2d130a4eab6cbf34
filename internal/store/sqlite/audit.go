package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// defaultAuditLimit is the number of events a query without a Limit returns.
const defaultAuditLimit = 100

const auditColumns = `id, event_time, type, user_id, login, ip, request_id, app, result, reason, familiar, actor, detail, prev_hash, hash`

func scanAudit(sc scanner) (store.AuditEvent, error) {
	var (
		e  store.AuditEvent
		at int64
	)
	if err := sc.Scan(&e.ID, &at, &e.Type, &e.UserID, &e.Login, &e.IP, &e.RequestID, &e.App, &e.Result,
		&e.Reason, &e.Familiar, &e.Actor, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return store.AuditEvent{}, err
	}
	e.Time, e.Detail, e.PrevHash, e.Hash = fromTM(at), nilIfEmpty(e.Detail), nilIfEmpty(e.PrevHash), nilIfEmpty(e.Hash)
	return e, nil
}

const (
	insertAudit = `INSERT INTO audit_events (event_time, type, user_id, login, ip, request_id, app, result, reason, familiar, actor, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	readChain = `SELECT legacy_until, anchor_id, anchor_hash, head_id, head_hash FROM audit_chain WHERE one = 1`
	moveHead  = `UPDATE audit_chain SET head_id = ?, head_hash = ? WHERE one = 1`
)

func scanChain(sc scanner) (store.AuditChain, error) {
	var c store.AuditChain
	err := sc.Scan(&c.LegacyUntil, &c.AnchorID, &c.AnchorHash, &c.HeadID, &c.HeadHash)
	return c, err
}

// appendChained chains es after the head and stores them in tx, which
// holds SQLite's one write lock, and returns their IDs.
func appendChained(ctx context.Context, tx *txn, op string, es []store.AuditEvent) ([]int64, error) {
	c, err := scanChain(tx.QueryRowContext(ctx, readChain))
	if err != nil {
		return nil, wrap(op, err)
	}
	ids := make([]int64, len(es))
	for i, e := range es {
		e = store.ChainAudit(c.HeadHash, e)
		r, err := tx.ExecContext(ctx, insertAudit, tm(e.Time), e.Type, e.UserID, e.Login, e.IP, e.RequestID, e.App, e.Result,
			e.Reason, e.Familiar, e.Actor, blob(e.Detail), e.PrevHash, e.Hash)
		if err != nil {
			return nil, wrap(op, err)
		}
		if ids[i], err = r.LastInsertId(); err != nil {
			return nil, wrap(op, err)
		}
		c.HeadID, c.HeadHash = ids[i], e.Hash
	}
	if len(es) > 0 {
		if _, err := tx.ExecContext(ctx, moveHead, c.HeadID, c.HeadHash); err != nil {
			return nil, wrap(op, err)
		}
	}
	return ids, nil
}

// AppendAudit chains and stores the event and returns the ID the store
// assigned.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (id int64, err error) {
	defer s.observe(ctx, "AppendAudit")(&err)
	err = s.writeTx(ctx, "AppendAudit", func(tx *txn) error {
		ids, err := appendChained(ctx, tx, "AppendAudit", []store.AuditEvent{e})
		if err == nil {
			id = ids[0]
		}
		return err
	})
	return id, err
}

// AppendAudits appends es in order in one transaction.
func (s *Store) AppendAudits(ctx context.Context, es []store.AuditEvent) (err error) {
	defer s.observe(ctx, "AppendAudits")(&err)
	return s.writeTx(ctx, "AppendAudits", func(tx *txn) error {
		_, err := appendChained(ctx, tx, "AppendAudits", es)
		return err
	})
}

// QueryAudit returns the events q selects, newest first.
func (s *Store) QueryAudit(ctx context.Context, q store.AuditQuery) (_ []store.AuditEvent, err error) {
	defer s.observe(ctx, "QueryAudit")(&err)
	var (
		where []string
		args  []any
	)
	var who []string
	if q.UserID != "" {
		who, args = append(who, "user_id = ?"), append(args, q.UserID)
	}
	for _, l := range q.Logins {
		who, args = append(who, "lower(login) = lower(?)"), append(args, l)
	}
	if len(who) > 0 {
		where = append(where, "("+strings.Join(who, " OR ")+")")
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

// PruneAudit deletes the start of the chain up to the first event at or
// after before, moves the anchor and records the pruning as an event.
func (s *Store) PruneAudit(ctx context.Context, before, now time.Time) (n int64, err error) {
	defer s.observe(ctx, "PruneAudit")(&err)
	err = s.writeTx(ctx, "PruneAudit", func(tx *txn) error {
		c, err := scanChain(tx.QueryRowContext(ctx, readChain))
		if err != nil {
			return wrap("PruneAudit", err)
		}
		// The first event to keep, walking the chain from its start; none
		// when every event is older.
		var keep int64
		err = tx.QueryRowContext(ctx, `SELECT id FROM audit_events WHERE event_time >= ? ORDER BY id LIMIT 1`, tm(before)).Scan(&keep)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			keep = c.HeadID + 1
		case err != nil:
			return wrap("PruneAudit", err)
		}
		var (
			lastID   int64
			lastHash []byte
		)
		err = tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_events WHERE id < ? ORDER BY id DESC LIMIT 1`, keep).Scan(&lastID, &lastHash)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // nothing to prune
		}
		if err != nil {
			return wrap("PruneAudit", err)
		}
		r, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE id < ?`, keep)
		if err != nil {
			return wrap("PruneAudit", err)
		}
		if n, err = r.RowsAffected(); err != nil {
			return wrap("PruneAudit", err)
		}
		if lastID > c.AnchorID { // a chained event was deleted, not only legacy ones
			c.AnchorID, c.AnchorHash = lastID, lastHash
			if _, err := tx.ExecContext(ctx, `UPDATE audit_chain SET anchor_id = ?, anchor_hash = ? WHERE one = 1`, c.AnchorID, c.AnchorHash); err != nil {
				return wrap("PruneAudit", err)
			}
		}
		_, err = appendChained(ctx, tx, "PruneAudit", []store.AuditEvent{store.PrunedEvent(now, before, n, c.AnchorID, c.AnchorHash)})
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// WalkAudit calls fn with the chain's state and every event in ID order, in one read transaction
// (one WAL snapshot), and returns the chain's state as of that snapshot.
func (s *Store) WalkAudit(ctx context.Context, fn func(store.AuditChain, store.AuditEvent) error) (_ store.AuditChain, err error) {
	defer s.observe(ctx, "WalkAudit")(&err)
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.AuditChain{}, wrap("WalkAudit", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	c, err := scanChain(tx.QueryRowContext(ctx, readChain))
	if err != nil {
		return store.AuditChain{}, wrap("WalkAudit", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events ORDER BY id`)
	if err != nil {
		return store.AuditChain{}, wrap("WalkAudit", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return store.AuditChain{}, wrap("WalkAudit", err)
		}
		if err := fn(c, e); err != nil {
			return store.AuditChain{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return store.AuditChain{}, wrap("WalkAudit", err)
	}
	return c, nil
}
