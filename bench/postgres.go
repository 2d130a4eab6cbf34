package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// postgresSchema makes a schema of its own for the run in the test
// environment's PostgreSQL and writes a DSN that selects it to a file in
// dir, for storage.postgres.dsn_file. drop removes the schema.
func postgresSchema(ctx context.Context, dir, runID string) (dsnFile string, drop func() error, err error) {
	base := os.Getenv(testenv.PostgresDSN)
	if base == "" {
		return "", nil, fmt.Errorf("-store postgres needs %s (source .testenv/env.sh)", testenv.PostgresDSN)
	}
	schema := "bench_" + strings.ToLower(runID)
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("postgres: create schema: %w", err)
	}
	drop = func() error {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return fmt.Errorf("postgres: drop schema %s: %w", schema, err)
		}
		defer func() { _ = c.Close(context.Background()) }()
		_, err = c.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		return err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("postgres: %s is not a URL: %w", testenv.PostgresDSN, err), drop())
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsnFile = filepath.Join(dir, "postgres-dsn")
	if err := os.WriteFile(dsnFile, []byte(u.String()+"\n"), 0o600); err != nil { //nolint:gosec // dir is the run's own temporary directory
		return "", nil, errors.Join(err, drop())
	}
	return dsnFile, drop, nil
}
