package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// ErrSchemaTooNew is returned when a database records a schema version that
// this binary does not know, which means a newer Gatehouse migrated it.
var ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")

// Migration is one versioned SQL script.
type Migration struct {
	Version int
	Name    string // file name, e.g. "0001_init.sql"
	SQL     string
}

// Load reads every *.sql file in dir of fsys, ordered by version. Files must
// be named NNNN_name.sql and numbered 1, 2, 3, … without gaps or repeats, so
// that a missing or misnamed file fails the build's tests rather than a
// production start.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", dir, err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || len(num) != 4 {
			return nil, fmt.Errorf("migrate: %s: name must be NNNN_name.sql with NNNN from 0001", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrate: %s: expected version %d (versions must run 1, 2, 3, … without gaps or repeats)", m.Name, i+1)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("migrate: no migrations in %s", dir)
	}
	return out, nil
}

// Pending returns the migrations of all that are not in applied, in order.
// It returns an error wrapping ErrSchemaTooNew when applied holds a version
// beyond the last of all.
func Pending(all []Migration, applied []int) ([]Migration, error) {
	latest := 0
	if len(all) > 0 {
		latest = all[len(all)-1].Version
	}
	done := make(map[int]bool, len(applied))
	for _, v := range applied {
		if v > latest {
			return nil, fmt.Errorf("%w: database is at version %d, this binary knows up to %d; upgrade Gatehouse (or restore a backup taken before the upgrade)",
				ErrSchemaTooNew, slices.Max(applied), latest)
		}
		done[v] = true
	}
	var out []Migration
	for _, m := range all {
		if !done[m.Version] {
			out = append(out, m)
		}
	}
	return out, nil
}
