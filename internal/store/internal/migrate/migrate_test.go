package migrate

import (
	"errors"
	"testing"
	"testing/fstest"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []int
		wantErr bool
	}{
		{"files load in version order whatever order they are listed in", fstest.MapFS{
			"m/0002_b.sql": file("B"), "m/0001_a.sql": file("A"), "m/README.md": file("x"),
		}, []int{1, 2}, false},
		{"a gap in the versions is an error", fstest.MapFS{
			"m/0001_a.sql": file("A"), "m/0003_c.sql": file("C"),
		}, nil, true},
		{"a repeated version is an error", fstest.MapFS{
			"m/0001_a.sql": file("A"), "m/0001_b.sql": file("B"),
		}, nil, true},
		{"a name without a four-digit version is an error", fstest.MapFS{
			"m/1_a.sql": file("A"),
		}, nil, true},
		{"version zero is an error", fstest.MapFS{
			"m/0000_a.sql": file("A"),
		}, nil, true},
		{"an empty directory is an error", fstest.MapFS{
			"m/README.md": file("x"),
		}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(tc.files, "m")
			if (err != nil) != tc.wantErr {
				t.Fatalf("Load error = %v, want error %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Load returned %d migrations, want %d", len(got), len(tc.want))
			}
			for i, m := range got {
				if m.Version != tc.want[i] {
					t.Errorf("migration %d has version %d, want %d", i, m.Version, tc.want[i])
				}
			}
			if len(got) > 0 && got[0].SQL != "A" {
				t.Errorf("first migration SQL = %q, want the file's contents", got[0].SQL)
			}
		})
	}
}

func TestPending(t *testing.T) {
	all := []Migration{{Version: 1}, {Version: 2}, {Version: 3}}
	tests := []struct {
		name    string
		applied []int
		want    []int
		tooNew  bool
	}{
		{"a fresh database needs every migration", nil, []int{1, 2, 3}, false},
		{"a partly migrated database needs the rest", []int{1, 2}, []int{3}, false},
		{"a current database needs nothing", []int{1, 2, 3}, nil, false},
		{"a database from a newer binary is refused", []int{1, 2, 3, 4}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Pending(all, tc.applied)
			if errors.Is(err, ErrSchemaTooNew) != tc.tooNew {
				t.Fatalf("Pending error = %v, want ErrSchemaTooNew %v", err, tc.tooNew)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Pending returned %d migrations, want %d", len(got), len(tc.want))
			}
			for i, m := range got {
				if m.Version != tc.want[i] {
					t.Errorf("pending %d has version %d, want %d", i, m.Version, tc.want[i])
				}
			}
		})
	}
}
