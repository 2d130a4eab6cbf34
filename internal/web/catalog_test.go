package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sampleArgs gives each named argument a value like the real ones, so a
// rendered message reads as users see it.
var sampleArgs = map[string]any{
	"address": "a•••@contoso.example", "count": 3, "days": 2, "hours": 12, "helpdesk": "IT on 0800 123",
	"name": "Alice Example", "time": "14:05", "id": "8f3a1c2e", "method": "Authenticator app", "when": "5 minutes ago",
	"example": "name@contoso.example", "minutes": 5, "seconds": 30,
	"org": "Contoso", "date": "2 May 2026",
	"app": "Microsoft 365", "browser": "Firefox", "system": "Windows", "ip": "192.0.2.10", "zone": "Europe/Berlin",
	"day": "6", "month": "Dec", "year": "2026",
}

// argsFor lists name, value pairs for every placeholder of msg.
func argsFor(t *testing.T, msg string) []any {
	t.Helper()
	var args []any
	for _, name := range Placeholders(msg) {
		v, ok := sampleArgs[name]
		if !ok {
			t.Fatalf("no sample value for the argument {%s} (add one to sampleArgs)", name)
		}
		args = append(args, name, v)
	}
	return args
}

func TestEveryMessageOfEveryLanguageRendersCleanly(t *testing.T) {
	c, err := LoadCatalog("en")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Languages()) < 2 {
		t.Fatalf("languages: %v", c.Languages())
	}
	for _, lang := range c.Languages() {
		for _, key := range c.Keys() {
			got := c.T(lang, key, argsFor(t, c.msgs["en"][key])...)
			if strings.Contains(got, "%!") || placeholder.MatchString(got) || strings.TrimSpace(got) == "" || got == key {
				t.Errorf("%s %s renders as %q", lang, key, got)
			}
		}
	}
}

func TestTheCatalogRefusesWhatWouldLeak(t *testing.T) {
	good := map[string]string{"a.one": "Hello {name}.", "a.two": "Plain."}
	for _, tc := range []struct {
		name string
		de   map[string]string
		en   map[string]string
		want string
	}{
		{"a key missing in one language", map[string]string{"a.one": "Hallo {name}."}, good, `lacks "a.two"`},
		{"a key present in one language only", map[string]string{"a.one": "Hallo {name}.", "a.two": "Schlicht.", "a.three": "Neu."}, good, `has "a.three", which English lacks`},
		{"a translation that drops an argument", map[string]string{"a.one": "Hallo.", "a.two": "Schlicht."}, good, `takes {} but English takes {name}`},
		{"a translation that renames an argument", map[string]string{"a.one": "Hallo {user}.", "a.two": "Schlicht."}, good, `takes {user} but English takes {name}`},
		{"a fmt verb", map[string]string{"a.one": "Hallo {name}.", "a.two": "Noch %d."}, good, `fmt verb "%d"`},
		{"a fmt verb in English", map[string]string{"a.one": "Hallo {name}.", "a.two": "Schlicht."}, map[string]string{"a.one": "Hello {name}.", "a.two": "%s left"}, `fmt verb "%s"`},
		{"an empty message", map[string]string{"a.one": "Hallo {name}.", "a.two": " "}, good, `"a.two" is empty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Catalog{msgs: map[string]map[string]string{"en": tc.en, "de": tc.de}}
			err := c.check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("check() = %v, want an error with %q", err, tc.want)
			}
		})
	}
	c := &Catalog{msgs: map[string]map[string]string{"en": good, "de": {"a.one": "{name}, hallo. 100 % sicher.", "a.two": "Schlicht."}}}
	if err := c.check(); err != nil {
		t.Errorf("a good catalog was refused: %v", err)
	}
}

func TestArgumentMistakesShowOnThePage(t *testing.T) {
	c := &Catalog{msgs: map[string]map[string]string{"en": {"k": "Hello {name}, {count} left."}}}
	for _, tc := range []struct {
		name string
		args []any
		want string
	}{
		{"all arguments", []any{"name", "Al", "count", 2}, "Hello Al, 2 left."},
		{"a missing argument", []any{"name", "Al"}, "Hello Al, %!{count}(MISSING) left."},
		{"an extra argument", []any{"name", "Al", "count", 2, "x", 1}, "Hello Al, 2 left.%!(EXTRA x)"},
		{"an argument without a name", []any{"Al"}, "Hello %!{name}(MISSING), %!{count}(MISSING) left.%!(BADARGS Al)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.T("en", "k", tc.args...); got != tc.want {
				t.Errorf("T = %q, want %q", got, tc.want)
			}
		})
	}
}

// use is one place that renders a message.
type use struct {
	where  string
	key    string   // "" when the key is not a literal
	args   []string // the argument names passed; nil when none
	spread bool     // args... passed on: names unknown
}

// TestEveryCallPassesTheArgumentsItsMessageNames reads the Go code and the
// templates for every place that renders a message with T and checks the
// key exists and the named arguments passed are exactly the message's.
// A key written anywhere else in the code (a UserError's MessageKey, a
// page title, a notice) is rendered later without arguments, so its
// message must take none. And every message is used somewhere.
func TestEveryCallPassesTheArgumentsItsMessageNames(t *testing.T) {
	c, err := LoadCatalog("en")
	if err != nil {
		t.Fatal(err)
	}
	uses, literals := goUses(t, c)
	tmplUses, prefixes := templateUses(t)
	uses = append(uses, tmplUses...)
	if len(uses) < 40 {
		t.Fatalf("found only %d calls of T; the scan is broken", len(uses))
	}
	used := map[string]bool{}
	for _, u := range uses {
		if u.key == "" {
			if len(u.args) > 0 {
				t.Errorf("%s: a key that is not a literal is passed arguments %v; name the key so its arguments can be checked", u.where, u.args)
			}
			continue
		}
		used[u.key] = true
		if !c.Has(u.key) {
			t.Errorf("%s: no message %q", u.where, u.key)
			continue
		}
		if u.spread {
			t.Errorf("%s: %q gets its arguments spread (args...); pass name, value pairs", u.where, u.key)
			continue
		}
		got, want := slices.Clone(u.args), Placeholders(c.msgs["en"][u.key])
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q is passed arguments %v, its message takes %v", u.where, u.key, got, want)
		}
	}
	for key, where := range literals {
		used[key] = true
		if ph := Placeholders(c.msgs["en"][key]); len(ph) > 0 && !calledWith(uses, key) {
			t.Errorf("%s: %q is rendered later without arguments, but its message takes %v", where, key, ph)
		}
	}
	for _, key := range c.Keys() {
		if used[key] || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(key, p) }) {
			continue
		}
		t.Errorf("message %q is used nowhere; remove it from every catalog", key)
	}
}

func calledWith(uses []use, key string) bool {
	return slices.ContainsFunc(uses, func(u use) bool { return u.key == key })
}

// goUses parses the non-test Go files of the module's internal and cmd
// trees: calls of a method or function named T or t whose arguments hold a
// message key, and every other string literal that is a message key.
func goUses(t *testing.T, c *Catalog) (uses []use, literals map[string]string) {
	t.Helper()
	literals = map[string]string{}
	fset := token.NewFileSet()
	for _, root := range []string{"../../internal", "../../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			atCall := map[*ast.BasicLit]bool{}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || !isT(call.Fun) {
					return true
				}
				u := use{where: fset.Position(call.Pos()).String()}
				// T(lang, key, …) on a Catalog; T(key, …) on a Page;
				// t(r, key, …) helpers: the key is the first string literal
				// or, failing one, the last argument before the pairs.
				keyAt := -1
				for i, a := range call.Args {
					if s, ok := stringLit(a); ok && c.Has(s) {
						keyAt, u.key = i, s
						atCall[a.(*ast.BasicLit)] = true
						break
					}
				}
				if keyAt < 0 {
					// A key passed on by a wrapper, or chosen at run time:
					// those pass no names (checked above) unless spread.
					if call.Ellipsis.IsValid() {
						return true
					}
					for i := range call.Args {
						if s, ok := stringLit(call.Args[i]); ok && i > 0 {
							u.args = append(u.args, s)
						}
					}
					uses = append(uses, u)
					return true
				}
				u.spread = call.Ellipsis.IsValid()
				for i := keyAt + 1; i < len(call.Args); i += 2 {
					if s, ok := stringLit(call.Args[i]); ok {
						u.args = append(u.args, s)
					} else {
						u.args = append(u.args, "<not a literal>")
					}
				}
				uses = append(uses, u)
				return true
			})
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && !atCall[lit] {
					if s, ok := stringLit(lit); ok && c.Has(s) {
						literals[s] = fset.Position(lit.Pos()).String()
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return uses, literals
}

func isT(fun ast.Expr) bool {
	switch f := fun.(type) {
	case *ast.SelectorExpr:
		return f.Sel.Name == "T" || f.Sel.Name == "t"
	case *ast.Ident:
		return f.Name == "T" || f.Name == "t"
	}
	return false
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// templateUses lists the calls of T in the page templates; a key built
// with printf "prefix%s" covers every message under that prefix.
func templateUses(t *testing.T) (uses []use, prefixes []string) {
	t.Helper()
	for _, tmpl := range builtinTemplates(t) {
		calls, pre, err := templateCalls(tmpl.file, tmpl.body)
		if err != nil {
			t.Fatal(err)
		}
		prefixes = append(prefixes, pre...)
		for _, c := range calls {
			u := use{where: tmpl.file + ":" + strconv.Itoa(c.line), key: c.key}
			for _, a := range c.args {
				if a == "" {
					a = "<not a literal>"
				}
				u.args = append(u.args, a)
			}
			uses = append(uses, u)
		}
	}
	return uses, prefixes
}

// builtinTemplate is one file of templates/.
type builtinTemplate struct {
	file string
	body []byte
}

// builtinTemplates reads every built-in template.
func builtinTemplates(t *testing.T) []builtinTemplate {
	t.Helper()
	entries, err := templateFS.ReadDir("templates")
	if err != nil {
		t.Fatal(err)
	}
	var out []builtinTemplate
	for _, e := range entries {
		body, err := templateFS.ReadFile("templates/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, builtinTemplate{e.Name(), body})
	}
	return out
}
