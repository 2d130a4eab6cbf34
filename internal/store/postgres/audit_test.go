package postgres

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/internal/migrate"
	"github.com/gatehouse-sso/gatehouse/internal/store/storetest"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// rawConn connects to dsn without the store, to tamper with its tables.
func rawConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestTamperedAuditEventsAreFound(t *testing.T) {
	testenv.Get(t, testenv.PostgresDSN) // skip (or, under CI, fail) once, not per subtest
	storetest.RunTamper(t, func(t *testing.T) (store.Store, func(string) error) {
		dsn := schemaDSN(t)
		s := openAt(t, dsn, store.Options{})
		c := rawConn(t, dsn)
		return s, func(q string) error { _, err := c.Exec(t.Context(), q); return err }
	}, "DROP TRIGGER audit_events_append_only ON audit_events")
}

func TestTwoInstancesAppendingAtOnceKeepOneAuditChain(t *testing.T) {
	testenv.Get(t, testenv.PostgresDSN)
	dsn := schemaDSN(t)
	storetest.RunConcurrentAppends(t, openAt(t, dsn, store.Options{}), openAt(t, dsn, store.Options{}))
}

func TestEventsFromBeforeTheChainAreLegacyAndTheChainStartsAfterThem(t *testing.T) {
	testenv.Get(t, testenv.PostgresDSN)
	dsn := schemaDSN(t)
	// A database as the release before the chain left it, with two events.
	c := rawConn(t, dsn)
	all, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE schema_migrations (version integer NOT NULL PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`}
	for _, m := range all {
		if strings.Contains(m.Name, "audit_chain") {
			break
		}
		stmts = append(stmts, m.SQL, `INSERT INTO schema_migrations (version, name) VALUES (`+strconv.Itoa(m.Version)+`, '`+m.Name+`')`)
	}
	for range 2 {
		stmts = append(stmts, `INSERT INTO audit_events (event_time, type, user_id, login, ip, request_id, app, result, detail)
			VALUES ('2020-01-01T00:00:00Z', 'signin.success', 'u', 'alice', '', '', '', 'ok', '\x')`)
	}
	for _, q := range stmts {
		if _, err := c.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	s := openAt(t, dsn, store.Options{})
	id, err := s.AppendAudit(t.Context(), store.AuditEvent{Time: time.Now(), Type: "signin.success", UserID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(t.Context(), s)
	if err != nil || rep.Problem != nil {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	if rep.Legacy != 2 || rep.Chained != 1 || rep.FirstID != id || rep.Chain.LegacyUntil != 2 {
		t.Fatalf("Verify = %+v; want the 2 old events legacy and the chain starting with event %d", rep, id)
	}
}
