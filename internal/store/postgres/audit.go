package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

// defaultAuditLimit is the number of events a query without a Limit returns.
const defaultAuditLimit = 100

const auditColumns = `id, event_time, type, user_id, login, ip, request_id, app, result, reason, familiar, actor, detail, prev_hash, hash`

func scanAudit(sc scanner) (store.AuditEvent, error) {
	var e store.AuditEvent
	if err := sc.Scan(&e.ID, &e.Time, &e.Type, &e.UserID, &e.Login, &e.IP, &e.RequestID, &e.App, &e.Result,
		&e.Reason, &e.Familiar, &e.Actor, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return store.AuditEvent{}, err
	}
	e.Time, e.Detail, e.PrevHash, e.Hash = norm(e.Time), nilIfEmpty(e.Detail), nilIfEmpty(e.PrevHash), nilIfEmpty(e.Hash)
	return e, nil
}

const (
	insertAudit = `INSERT INTO audit_events (event_time, type, user_id, login, ip, request_id, app, result, reason, familiar, actor, detail, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`
	chainColumns = `legacy_until, anchor_id, anchor_hash, head_id, head_hash`
)

func scanChain(sc scanner) (store.AuditChain, error) {
	var c store.AuditChain
	err := sc.Scan(&c.LegacyUntil, &c.AnchorID, &c.AnchorHash, &c.HeadID, &c.HeadHash)
	return c, err
}

// lockChain locks the chain's row until tx ends and returns its state.
// Every append and prune takes this lock first, so appends from every node
// take turns: the next one reads the head the last one wrote (READ
// COMMITTED reads it afresh once the lock is granted).
func lockChain(ctx context.Context, tx pgx.Tx) (store.AuditChain, error) {
	return scanChain(tx.QueryRow(ctx, `SELECT `+chainColumns+` FROM audit_chain WHERE one = 1 FOR UPDATE`))
}

// appendChained chains es after the head and stores them in tx, which
// holds the chain's lock, and returns their IDs.
func appendChained(ctx context.Context, tx pgx.Tx, op string, c store.AuditChain, es []store.AuditEvent) ([]int64, error) {
	ids := make([]int64, len(es))
	for i, e := range es {
		e = store.ChainAudit(c.HeadHash, e)
		if err := tx.QueryRow(ctx, insertAudit, e.Time, e.Type, e.UserID, e.Login, e.IP, e.RequestID, e.App, e.Result,
			e.Reason, e.Familiar, e.Actor, blob(e.Detail), e.PrevHash, e.Hash).Scan(&ids[i]); err != nil {
			return nil, wrap(op, err)
		}
		c.HeadID, c.HeadHash = ids[i], e.Hash
	}
	if len(es) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE audit_chain SET head_id = $1, head_hash = $2 WHERE one = 1`, c.HeadID, c.HeadHash); err != nil {
			return nil, wrap(op, err)
		}
	}
	return ids, nil
}

// AppendAudit chains and stores the event and returns the ID the store
// assigned.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (id int64, err error) {
	defer s.observe(ctx, "AppendAudit")(&err)
	err = s.tx(ctx, "AppendAudit", func(tx pgx.Tx) error {
		c, err := lockChain(ctx, tx)
		if err != nil {
			return wrap("AppendAudit", err)
		}
		ids, err := appendChained(ctx, tx, "AppendAudit", c, []store.AuditEvent{e})
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
	if len(es) == 0 {
		return nil // no need to wait for the chain's lock
	}
	return s.tx(ctx, "AppendAudits", func(tx pgx.Tx) error {
		c, err := lockChain(ctx, tx)
		if err != nil {
			return wrap("AppendAudits", err)
		}
		_, err = appendChained(ctx, tx, "AppendAudits", c, es)
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
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var who []string
	if q.UserID != "" {
		who = append(who, "user_id = "+arg(q.UserID))
	}
	for _, l := range q.Logins {
		who = append(who, "lower(login) = lower("+arg(l)+")")
	}
	if len(who) > 0 {
		where = append(where, "("+strings.Join(who, " OR ")+")")
	}
	if q.Type != "" {
		where = append(where, "type = "+arg(q.Type))
	}
	if !q.Since.IsZero() {
		where = append(where, "event_time >= "+arg(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "event_time < "+arg(q.Until))
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	rows, err := s.pool.Query(ctx, query+` ORDER BY event_time DESC, id DESC LIMIT `+arg(limit), args...)
	if err != nil {
		return nil, wrap("QueryAudit", err)
	}
	return collect(rows, "QueryAudit", scanAudit)
}

// PruneAudit deletes the start of the chain up to the first event at or
// after before, moves the anchor and records the pruning as an event.
func (s *Store) PruneAudit(ctx context.Context, before, now time.Time) (n int64, err error) {
	defer s.observe(ctx, "PruneAudit")(&err)
	err = s.tx(ctx, "PruneAudit", func(tx pgx.Tx) error {
		c, err := lockChain(ctx, tx)
		if err != nil {
			return wrap("PruneAudit", err)
		}
		// The first event to keep, walking the chain from its start; none
		// when every event is older.
		var keep int64
		err = tx.QueryRow(ctx, `SELECT id FROM audit_events WHERE event_time >= $1 ORDER BY id LIMIT 1`, before).Scan(&keep)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			keep = c.HeadID + 1
		case err != nil:
			return wrap("PruneAudit", err)
		}
		var (
			lastID   int64
			lastHash []byte
		)
		err = tx.QueryRow(ctx, `SELECT id, hash FROM audit_events WHERE id < $1 ORDER BY id DESC LIMIT 1`, keep).Scan(&lastID, &lastHash)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // nothing to prune
		}
		if err != nil {
			return wrap("PruneAudit", err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM audit_events WHERE id < $1`, keep)
		if err != nil {
			return wrap("PruneAudit", err)
		}
		n = tag.RowsAffected()
		if lastID > c.AnchorID { // a chained event was deleted, not only legacy ones
			c.AnchorID, c.AnchorHash = lastID, lastHash
			if _, err := tx.Exec(ctx, `UPDATE audit_chain SET anchor_id = $1, anchor_hash = $2 WHERE one = 1`, c.AnchorID, c.AnchorHash); err != nil {
				return wrap("PruneAudit", err)
			}
		}
		_, err = appendChained(ctx, tx, "PruneAudit", c, []store.AuditEvent{store.PrunedEvent(now, before, n, c.AnchorID, c.AnchorHash)})
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// WalkAudit calls fn with the chain's state and every event in ID order,
// in one read-only REPEATABLE READ transaction (one snapshot), and returns
// the chain's state as of that snapshot.
func (s *Store) WalkAudit(ctx context.Context, fn func(store.AuditChain, store.AuditEvent) error) (_ store.AuditChain, err error) {
	defer s.observe(ctx, "WalkAudit")(&err)
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return store.AuditChain{}, wrap("WalkAudit", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only: nothing to keep
	c, err := scanChain(tx.QueryRow(ctx, `SELECT `+chainColumns+` FROM audit_chain WHERE one = 1`))
	if err != nil {
		return store.AuditChain{}, wrap("WalkAudit", err)
	}
	rows, err := tx.Query(ctx, `SELECT `+auditColumns+` FROM audit_events ORDER BY id`)
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
