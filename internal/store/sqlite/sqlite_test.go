package sqlite

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/internal/migrate"
	"github.com/gatehouse-sso/gatehouse/internal/store/storetest"
)

// openAt opens the database at path and closes it when t ends.
func openAt(t *testing.T, path string, opts store.Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func openFresh(t *testing.T) store.Store {
	return openAt(t, filepath.Join(t.TempDir(), "gatehouse.db"), store.Options{})
}

func TestConformance(t *testing.T) {
	storetest.Run(t, openFresh)
}

func TestConformanceOnOneSharedDatabase(t *testing.T) {
	shared := openAt(t, filepath.Join(t.TempDir(), "shared.db"), store.Options{})
	storetest.Run(t, func(*testing.T) store.Store { return shared })
}

func TestConcurrency(t *testing.T) {
	storetest.RunConcurrency(t, openFresh)
}

func TestObserve(t *testing.T) {
	storetest.RunObserve(t, func(t *testing.T, obs store.Observer) store.Store {
		return openAt(t, filepath.Join(t.TempDir(), "gatehouse.db"), store.Options{Observe: obs})
	})
}

func TestOpenCreatesAPrivateDirectoryAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "store")
	path := filepath.Join(dir, "gatehouse.db")
	s := openAt(t, path, store.Options{})
	// A write makes SQLite create the WAL file, which must be as private.
	if err := s.ResetCounter(t.Context(), "k"); err != nil {
		t.Fatalf("ResetCounter: %v", err)
	}
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700},
		{filepath.Dir(dir), 0o700},
		{path, 0o600},
		{path + "-wal", 0o600},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if got := fi.Mode().Perm(); got != tc.want {
			t.Errorf("%s has mode %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestOpenRefusesAnEmptyPath(t *testing.T) {
	if s, err := Open(t.Context(), "", store.Options{}); err == nil {
		s.Close()
		t.Fatal("Open(\"\") succeeded, want an error")
	}
}

// rawDB opens path without the store, to look at or tamper with the schema.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func appliedVersions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("query schema_migrations: %v", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestMigrationsApplyOnceAndReopeningKeepsData(t *testing.T) {
	all, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(t.Context(), path, store.Options{})
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	far := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.CreateSession(t.Context(), store.Session{ID: "s1", UserID: "u1", IdleExpiry: far, ExpiresAt: far}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	// Flows are kept in memory: a restart ends the ones in progress.
	if err := s.CreateFlow(t.Context(), store.Flow{ID: "f1", Kind: "signin", ExpiresAt: far}); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openAt(t, path, store.Options{})
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.GetSession(t.Context(), "s1", now); err != nil {
		t.Fatalf("GetSession after reopening: %v", err)
	}
	if _, err := s.GetFlow(t.Context(), "f1", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetFlow after reopening: %v, want not found (flows are in memory)", err)
	}
	got := appliedVersions(t, rawDB(t, path))
	if len(got) != len(all) {
		t.Fatalf("schema_migrations holds versions %v, want each of the %d migrations once", got, len(all))
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("schema_migrations holds versions %v, want 1…%d", got, len(all))
		}
	}
}

func TestADatabaseWithANewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(t.Context(), path, store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	if _, err := rawDB(t, path).ExecContext(t.Context(),
		`INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_from_the_future.sql')`); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), path, store.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer binary succeeded")
	}
	if !errors.Is(err, migrate.ErrSchemaTooNew) {
		t.Fatalf("Open error = %v, want ErrSchemaTooNew", err)
	}
}

// TestTwoStoresOnOneFileLoseNoUpdate stands in for two processes sharing a
// database (a rolling restart): their writers contend through SQLite's
// file locks and busy timeout rather than through one connection.
func TestTwoStoresOnOneFileLoseNoUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	a, b := openAt(t, path, store.Options{}), openAt(t, path, store.Options{})
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	sess := store.Session{ID: "s", CreatedAt: now, IdleExpiry: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour), Data: []byte("0")}
	if err := a.CreateSession(t.Context(), sess); err != nil {
		t.Fatal(err)
	}
	const perStore, each = 4, 25
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		for range perStore {
			wg.Go(func() {
				for range each {
					_, err := s.UpdateSession(t.Context(), "s", func(old store.Session) (store.Session, error) {
						n, err := strconv.Atoi(string(old.Data))
						old.Data = []byte(strconv.Itoa(n + 1))
						return old, err
					})
					if err != nil {
						t.Errorf("UpdateSession: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	got, err := b.GetSession(t.Context(), "s", now)
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(2 * perStore * each); string(got.Data) != want {
		t.Fatalf("counter = %s after %s updates from two stores", got.Data, want)
	}
}

func TestALookupByKeyUsesTheIndex(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+lookupQuery, "totp", "k")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "USING INDEX credentials_lookup_key") {
		t.Fatalf("the lookup does not use its index: %s", got)
	}
}
