package postgres

import (
	"context"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/storetest"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

func BenchmarkStore(b *testing.B) {
	s, err := Open(b.Context(), benchSchemaDSN(b), store.Options{})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { _ = s.Close() })
	storetest.Bench(b, s)
}

// benchSchemaDSN is schemaDSN for a benchmark: the test database's DSN
// with search_path set to a schema of the benchmark's own, dropped when it
// ends.
func benchSchemaDSN(b *testing.B) string {
	b.Helper()
	dsn := testenv.Get(b, testenv.PostgresDSN)
	schema := "gh_bench_" + strings.ToLower(rand.Text())
	admin, err := pgx.Connect(b.Context(), dsn)
	if err != nil {
		b.Fatalf("connect to the test database: %v", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(b.Context(), `CREATE SCHEMA `+schema); err != nil {
		b.Fatalf("create schema: %v", err)
	}
	b.Cleanup(func() {
		ctx := context.Background() // b.Context is already canceled when cleanups run
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Errorf("connect to drop schema: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			b.Errorf("drop schema: %v", err)
		}
	})
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			b.Fatalf("parse %s: %v", testenv.PostgresDSN, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}
