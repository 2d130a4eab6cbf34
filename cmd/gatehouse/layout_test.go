package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTheCommandLineOnlyParsesLoadsAndRuns keeps the wiring in
// internal/app: the command reads flags, loads the configuration and hands
// over, so of Gatehouse's own packages it imports only these.
func TestTheCommandLineOnlyParsesLoadsAndRuns(t *testing.T) {
	const module = "github.com/gatehouse-sso/gatehouse/"
	allowed := map[string]bool{module + "internal/app": true, module + "internal/config": true, module + "internal/version": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, module) && !allowed[path] {
				t.Errorf("%s imports %s: wiring belongs in internal/app", name, path)
			}
		}
	}
}
