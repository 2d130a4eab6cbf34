// Package xmltest holds the helpers the protocol tests share for the XML
// documents Gatehouse emits: golden files with an -update switch, and
// reading a document back to assert on its elements.
package xmltest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/beevik/etree"
)

// Golden compares got with testdata/NAME.golden, rewriting the file first
// when update is set (the package's -update flag).
func Golden(t testing.TB, update bool, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil { // #nosec G306 -- test fixture.
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path) // #nosec G304 -- test fixture.
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n got: %s\nwant: %s", path, got, want)
	}
}

// Parse reads a marshalled document back and returns its root.
func Parse(t testing.TB, raw []byte) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatalf("output is not XML: %v\n%s", err, raw)
	}
	return doc.Root()
}

// One returns the single element at path under el, failing otherwise.
func One(t testing.TB, el *etree.Element, path string) *etree.Element {
	t.Helper()
	got := el.FindElements(path)
	if len(got) != 1 {
		t.Fatalf("want exactly one %s, found %d", path, len(got))
	}
	return got[0]
}
