package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoPackageExportsAMutableVariable walks internal/: a package-level
// exported variable is a global any importer can change under everyone
// else (a limit, a list of users, a clock). Defaults are constants,
// functions returning fresh values, or configuration. Sentinel errors
// (errors.New) are the idiom and allowed; so are the link-time version
// and the test environment's seeded users.
func TestNoPackageExportsAMutableVariable(t *testing.T) {
	allowed := map[string]bool{
		"version.Version": true, // set by -ldflags -X, which needs a variable
	}
	root := filepath.Join("..")
	fset := token.NewFileSet()
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testenv" { // test support: the seeded AD users
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !n.IsExported() || allowed[f.Name.Name+"."+n.Name] || (i < len(vs.Values) && isErrorsNew(vs.Values[i])) {
						continue
					}
					found = append(found, fset.Position(n.Pos()).String()+": "+f.Name.Name+"."+n.Name)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Errorf("exported package variables (make them constants, functions or configuration):\n  %s", strings.Join(found, "\n  "))
	}
}

func isErrorsNew(e ast.Expr) bool {
	c, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	// A sentinel error, or one that wraps another (fmt.Errorf("%w: …")).
	return ok && (pkg.Name == "errors" && sel.Sel.Name == "New" || pkg.Name == "fmt" && sel.Sel.Name == "Errorf")
}
