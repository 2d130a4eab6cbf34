package sqlite

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/internal/migrate"
	"github.com/gatehouse-sso/gatehouse/internal/store/storetest"
)

func TestTamperedAuditEventsAreFound(t *testing.T) {
	storetest.RunTamper(t, func(t *testing.T) (store.Store, func(string) error) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		s := openAt(t, path, store.Options{})
		db := rawDB(t, path)
		return s, func(q string) error { _, err := db.ExecContext(t.Context(), q); return err }
	}, "DROP TRIGGER audit_events_append_only")
}

func TestTwoStoresOnOneFileKeepOneAuditChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	storetest.RunConcurrentAppends(t, openAt(t, path, store.Options{}), openAt(t, path, store.Options{}))
}

func TestEventsFromBeforeTheChainAreLegacyAndTheChainStartsAfterThem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	// A database as the release before the chain left it, with two events.
	db := rawDB(t, path)
	all, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP) STRICT`}
	for _, m := range all {
		if strings.Contains(m.Name, "audit_chain") {
			break
		}
		stmts = append(stmts, m.SQL, `INSERT INTO schema_migrations (version, name) VALUES (`+itoa(m.Version)+`, '`+m.Name+`')`)
	}
	stmts = append(stmts,
		`INSERT INTO audit_events (event_time, type, user_id, login, ip, request_id, app, result, detail) VALUES (1, 'signin.success', 'u', 'alice', '', '', '', 'ok', x'')`,
		`INSERT INTO audit_events (event_time, type, user_id, login, ip, request_id, app, result, detail) VALUES (2, 'signout', 'u', 'alice', '', '', '', 'ok', x'')`)
	for _, q := range stmts {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	s := openAt(t, path, store.Options{})
	id, err := s.AppendAudit(t.Context(), store.AuditEvent{Time: time.Now(), Type: "signin.success", UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(t.Context(), s)
	if err != nil || rep.Problem != nil {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	if rep.Legacy != 2 || rep.Chained != 1 || rep.FirstID != id || rep.Chain.LegacyUntil != 2 || id != 3 {
		t.Fatalf("Verify = %+v; want the 2 old events legacy and the chain starting with event 3", rep)
	}
	// Pruning the old events leaves the chain's start where it was.
	if n, err := s.PruneAudit(t.Context(), time.UnixMicro(3), time.Now()); err != nil || n != 2 {
		t.Fatalf("PruneAudit = %d, %v; want the 2 legacy events", n, err)
	}
	if rep, err := audit.Verify(t.Context(), s); err != nil || rep.Problem != nil || rep.Legacy != 0 || rep.Chained != 2 {
		t.Fatalf("after pruning Verify = %+v, %v", rep, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
