package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/internal/migrate"
	"github.com/gatehouse-sso/gatehouse/internal/store/storetest"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// schemaDSN creates a schema of its own for t, dropped when t ends, and
// returns the test database's DSN with search_path set to it.
func schemaDSN(t *testing.T) string {
	t.Helper()
	dsn := testenv.Get(t, testenv.PostgresDSN)
	schema := "gh_test_" + strings.ToLower(rand.Text())
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(t.Context(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is already canceled when cleanups run.
		ctx := context.Background()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("connect to drop schema: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return withSearchPath(t, dsn, schema)
}

// withSearchPath adds search_path to a URL or key=value DSN.
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse %s: %v", testenv.PostgresDSN, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// openAt opens the store on dsn and closes it when t ends.
func openAt(t *testing.T, dsn string, opts store.Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openFresh(t *testing.T) store.Store {
	return openAt(t, schemaDSN(t), store.Options{})
}

func TestConformance(t *testing.T) {
	testenv.Get(t, testenv.PostgresDSN) // skip (or, under CI, fail) once, not per subtest
	storetest.Run(t, openFresh)
}

func TestConformanceOnOneSharedDatabase(t *testing.T) {
	testenv.Get(t, testenv.PostgresDSN) // skip (or, under CI, fail) once, not per subtest
	shared := openFresh(t)
	storetest.Run(t, func(*testing.T) store.Store { return shared })
}

func TestConcurrency(t *testing.T) {
	testenv.Get(t, testenv.PostgresDSN) // skip (or, under CI, fail) once, not per subtest
	storetest.RunConcurrency(t, openFresh)
}

func TestObserve(t *testing.T) {
	testenv.Get(t, testenv.PostgresDSN) // skip (or, under CI, fail) once, not per subtest
	storetest.RunObserve(t, func(t *testing.T, obs store.Observer) store.Store {
		return openAt(t, schemaDSN(t), store.Options{Observe: obs})
	})
}

func appliedVersions(t *testing.T, dsn string) []int {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	rows, err := c.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func wantAllVersionsOnce(t *testing.T, got []int) {
	t.Helper()
	all, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Fatalf("schema_migrations holds versions %v, want each of the %d migrations once", got, len(all))
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("schema_migrations holds versions %v, want 1…%d", got, len(all))
		}
	}
}

func TestMigrationsApplyOnceAndReopeningKeepsData(t *testing.T) {
	testenv.Get(t, testenv.PostgresDSN) // skip (or, under CI, fail) once, not per subtest
	dsn := schemaDSN(t)
	s, err := Open(t.Context(), dsn, store.Options{})
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	if err := s.ResetCounter(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudit(t.Context(), store.AuditEvent{Type: "kept", UserID: "u"}); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	s.Close()

	s = openAt(t, dsn, store.Options{})
	got, err := s.QueryAudit(t.Context(), store.AuditQuery{UserID: "u"})
	if err != nil || len(got) != 1 {
		t.Fatalf("QueryAudit after reopening = %v, %v; want the one event", got, err)
	}
	wantAllVersionsOnce(t, appliedVersions(t, dsn))
}

func TestConcurrentOpensMigrateOnce(t *testing.T) {
	testenv.Get(t, testenv.PostgresDSN) // skip (or, under CI, fail) once, not per subtest
	dsn := schemaDSN(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn, store.Options{})
			if err != nil {
				t.Errorf("concurrent Open: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	wantAllVersionsOnce(t, appliedVersions(t, dsn))
}

func TestADatabaseWithANewerSchemaIsRefused(t *testing.T) {
	testenv.Get(t, testenv.PostgresDSN) // skip (or, under CI, fail) once, not per subtest
	dsn := schemaDSN(t)
	openAt(t, dsn, store.Options{}).Close()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(t.Context(),
		`INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_from_the_future.sql')`); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), dsn, store.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer binary succeeded")
	}
	if !errors.Is(err, migrate.ErrSchemaTooNew) {
		t.Fatalf("Open error = %v, want ErrSchemaTooNew", err)
	}
}

func TestAnUnparsableDSNIsNotQuoted(t *testing.T) {
	const password = "s3cret-pa55"
	_, err := Open(t.Context(), "postgres://gatehouse:"+password+"@127.0.0.1:notaport/db", store.Options{})
	if err == nil {
		t.Fatal("Open with a bad port succeeded")
	}
	if strings.Contains(err.Error(), password) {
		t.Fatalf("Open error quotes the password: %v", err)
	}
}
