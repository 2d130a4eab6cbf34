package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-sso/gatehouse/internal/app"
	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// pgAdminSetup writes a configuration on a fresh PostgreSQL schema (dropped
// when t ends) with the demo's file directory, and returns it with a
// connection to the schema for tampering.
func pgAdminSetup(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	dsn := testenv.Get(t, testenv.PostgresDSN)
	schema := "gh_admin_" + strings.ToLower(rand.Text())
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(t.Context(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	_ = c.Close(context.Background())
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		dsn = u.String()
	} else {
		dsn += " search_path=" + schema
	}

	dir := t.TempDir()
	demo, err := app.DemoConfig(dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.PrepareDemo(demo, time.Now()); err != nil {
		t.Fatal(err)
	}
	dsnFile := filepath.Join(dir, "pg.dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	q := strconv.Quote
	y := "issuer: http://localhost:8080\n" +
		"storage: {type: postgres, postgres: {dsn_file: " + q(dsnFile) + "}}\n" +
		"secrets: {encryption_key_file: " + q(demo.Secrets.EncryptionKeyFile) + "}\n" +
		"signing: {key_file: " + q(demo.Signing.KeyFile) + ", cert_file: " + q(demo.Signing.CertFile) + "}\n" +
		"directory: {type: file, file: {path: " + q(demo.Directory.File.Path) + "}}\n"
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	serveOnce(t, cfgPath)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return cfgPath, conn
}

func TestAdminAuditVerifyOnPostgreSQLNamesTheFirstEventThatWasModifiedDeletedOrReordered(t *testing.T) {
	testenv.Get(t, testenv.PostgresDSN) // skip (or, under CI, fail) once, not per subtest
	for _, tc := range []struct {
		name   string
		tamper func(ids []int64) []string
		at     int
		what   string
	}{
		{"nothing changed", nil, -1, ""},
		{"a modified event", func(ids []int64) []string {
			return []string{fmt.Sprintf("UPDATE audit_events SET login = 'mallory' WHERE id = %d", ids[1])}
		}, 1, "was modified"},
		{"a deleted event", func(ids []int64) []string {
			return []string{fmt.Sprintf("DELETE FROM audit_events WHERE id = %d", ids[1])}
		}, 2, "does not follow"},
		{"reordered events", func(ids []int64) []string {
			return []string{"ALTER TABLE audit_events ALTER COLUMN id DROP IDENTITY",
				fmt.Sprintf("UPDATE audit_events SET id = (SELECT MAX(id) + 1 FROM audit_events) WHERE id = %d", ids[1])}
		}, 2, "does not follow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, conn := pgAdminSetup(t)
			recordEvents(t, cfg,
				audit.Event{Type: audit.SignInFailure, Login: "alice", Result: "invalid_credentials"},
				audit.Event{Type: audit.SignInFailure, Login: "alice", Result: "invalid_credentials"},
				audit.Event{Type: audit.SignInSuccess, Login: "alice", Result: "ok"},
			)
			rows, err := conn.Query(t.Context(), `SELECT id FROM audit_events WHERE login = 'alice' ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil || len(ids) != 3 {
				t.Fatalf("ids %v, %v", ids, err)
			}
			if tc.tamper != nil {
				for _, q := range append([]string{"DROP TRIGGER audit_events_append_only ON audit_events"}, tc.tamper(ids)...) {
					if _, err := conn.Exec(t.Context(), q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
			}
			code, out, errOut := admin(t, cfg, "audit", "--verify")
			if tc.tamper == nil {
				if code != 0 || !strings.Contains(out, "Audit trail intact: 3 events checked") {
					t.Fatalf("an untouched trail: exit %d\n%s%s", code, out, errOut)
				}
				return
			}
			named := fmt.Sprintf("event %d (", ids[tc.at])
			if code != 1 || !strings.Contains(errOut, "the audit trail is broken: "+named) || !strings.Contains(errOut, tc.what) {
				t.Fatalf("exit %d, want 1 naming event %d (%s); stdout:\n%s\nstderr:\n%s", code, ids[tc.at], tc.what, out, errOut)
			}
		})
	}
}
