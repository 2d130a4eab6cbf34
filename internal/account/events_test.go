package account

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// pageIn is an empty page in lang, for the messages.
func pageIn(t *testing.T, lang string) *web.Page {
	t.Helper()
	r, err := web.NewRenderer(config.Default().UI)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/account", nil)
	req.Header.Set("Accept-Language", lang)
	p := r.NewPage(req, "account.title", nil)
	if p.Lang != lang {
		t.Fatalf("no %s catalog", lang)
	}
	return &p
}

// recorded is an event type and result the code records.
type recorded struct{ typ, result, where string }

// recordedEvents reads the module's Go code for every audit event it
// records: every event type constant of internal/audit, and each result
// written as a literal next to a type it can be resolved to — a constant
// (audit.PasswordReset), or a field (h.Event) whose every assignment of a
// constant (Event: audit.AccountUnlocked) counts.
func recordedEvents(t *testing.T) (types []string, pairs []recorded) {
	t.Helper()
	fset := token.NewFileSet()
	consts := map[string]string{} // "audit.X" → value
	// parseConsts reads the string constants of file into consts, those
	// of the const block whose doc comment starts with doc when set.
	parseConsts := func(path, pkg, doc string) {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST || (doc != "" && (g.Doc == nil || !strings.HasPrefix(g.Doc.Text(), doc))) {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) || !n.IsExported() {
						continue
					}
					switch v := vs.Values[i].(type) {
					case *ast.BasicLit:
						if s, err := strconv.Unquote(v.Value); err == nil && v.Kind == token.STRING {
							consts[pkg+"."+n.Name] = s
						}
					case *ast.SelectorExpr:
						if x, ok := v.X.(*ast.Ident); ok {
							consts[pkg+"."+n.Name] = consts[x.Name+"."+v.Sel.Name]
						}
					}
				}
			}
		}
	}
	parseConsts("../store/store.go", "store", "")
	parseConsts("../store/auditchain.go", "store", "")
	parseConsts("../audit/audit.go", "audit", "Event types.")
	for name, v := range consts {
		if strings.HasPrefix(name, "audit.") {
			types = append(types, v)
		}
	}
	slices.Sort(types)
	if len(types) < 20 {
		t.Fatalf("found only %d event types in internal/audit; the scan is broken", len(types))
	}

	// The literal results, by the type expression they go with.
	type use struct {
		typ    ast.Expr
		result string
		where  string
	}
	var uses []use
	fields := map[string][]string{} // field name → the audit constants assigned to it
	resolve := func(e ast.Expr) (string, bool) {
		if s, ok := e.(*ast.SelectorExpr); ok {
			if x, ok := s.X.(*ast.Ident); ok {
				v, ok := consts[x.Name+"."+s.Sel.Name]
				return v, ok
			}
		}
		return "", false
	}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				var typ ast.Expr
				result := ""
				for _, el := range n.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					key, _ := kv.Key.(*ast.Ident)
					if key == nil {
						continue
					}
					if v, ok := resolve(kv.Value); ok && slices.Contains(types, v) {
						fields[key.Name] = append(fields[key.Name], v)
					}
					switch key.Name {
					case "Type":
						typ = kv.Value
					case "Result":
						if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							result, _ = strconv.Unquote(lit.Value)
						}
					}
				}
				if typ != nil && result != "" {
					uses = append(uses, use{typ, result, fset.Position(n.Pos()).String()})
				}
			case *ast.AssignStmt:
				// ev.Type, ev.Result = audit.X, "result"
				var typ ast.Expr
				result := ""
				for i, l := range n.Lhs {
					s, ok := l.(*ast.SelectorExpr)
					if !ok || i >= len(n.Rhs) {
						continue
					}
					switch s.Sel.Name {
					case "Type":
						typ = n.Rhs[i]
					case "Result":
						if lit, ok := n.Rhs[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							result, _ = strconv.Unquote(lit.Value)
						}
					}
				}
				if typ != nil && result != "" {
					uses = append(uses, use{typ, result, fset.Position(n.Pos()).String()})
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range uses {
		if v, ok := resolve(u.typ); ok {
			pairs = append(pairs, recorded{v, u.result, u.where})
			continue
		}
		if s, ok := u.typ.(*ast.SelectorExpr); ok {
			for _, v := range fields[s.Sel.Name] {
				pairs = append(pairs, recorded{v, u.result, u.where})
			}
		}
	}
	if len(pairs) < 20 {
		t.Fatalf("found only %d recorded results; the scan is broken", len(pairs))
	}
	return types, pairs
}

// TestEveryEventTypeHasADescription walks every event type the code
// records, and every result it records with a literal, and fails on one
// /account would show as "other activity", or as its code; a result that
// is not the type's "ok" must not read as the "ok" (an unlock started is
// not an unlock).
func TestEveryEventTypeHasADescription(t *testing.T) {
	types, pairs := recordedEvents(t)
	withOK := map[string]bool{}
	for _, r := range pairs {
		if r.result == "ok" {
			withOK[r.typ] = true
		}
	}
	for _, lang := range []string{"en", "de"} {
		p := pageIn(t, lang)
		other := p.T("event.other")
		say := func(typ, result string) string {
			what, _ := describe(p, store.AuditEvent{Type: typ, Result: result, App: "Wiki"})
			return what
		}
		for _, typ := range types {
			if got := say(typ, "ok"); got == other || strings.Contains(got, typ) {
				t.Errorf("%s: the event type %q has no description (%q)", lang, typ, got)
			}
		}
		for _, r := range pairs {
			got := say(r.typ, r.result)
			switch {
			case got == other || strings.Contains(got, r.typ) || (strings.Contains(r.result, "_") && strings.Contains(got, r.result)):
				t.Errorf("%s: %s records %s (%s), which has no description (%q)", lang, r.where, r.typ, r.result, got)
			case r.result != "ok" && withOK[r.typ] && got == say(r.typ, "ok"):
				t.Errorf("%s: %s records %s (%s), which reads like its success: %q", lang, r.where, r.typ, r.result, got)
			}
		}
	}
}

func TestEventsReadAsSentencesInTheReadersLanguage(t *testing.T) {
	detail := func(kv ...string) []byte {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name     string
		ev       store.AuditEvent
		en, de   string
		namesApp bool
	}{
		{"a sign-in to an app names the app", store.AuditEvent{Type: "signin.success", Result: "ok", App: "Microsoft 365"},
			"Signed in to Microsoft 365", "Bei Microsoft 365 angemeldet", true},
		{"a sign-in to Gatehouse's own pages names none", store.AuditEvent{Type: "signin.success", Result: "ok", App: "account"},
			"Signed in", "Angemeldet", false},
		{"a wrong code at the second step", store.AuditEvent{Type: "signin.mfa_failure", Result: "wrong", Detail: detail("method", "totp")},
			"Wrong code at the second step", "Falscher Code beim zweiten Schritt", false},
		{"a wrong code while setting a method up", store.AuditEvent{Type: "signin.mfa_failure", Result: "wrong", Detail: detail("method", "totp", "step", "enrol")},
			"Setting up a sign-in method failed", "Einrichten einer Anmeldemethode fehlgeschlagen", false},
		{"an unlock started is not an unlock", store.AuditEvent{Type: "account.unlocked", Result: "started"},
			"Unlock started", "Entsperren begonnen", false},
		{"an unlock", store.AuditEvent{Type: "account.unlocked", Result: "ok"}, "Account unlocked", "Konto entsperrt", false},
		{"a password reset", store.AuditEvent{Type: "password.reset", Result: "ok"}, "Password reset", "Kennwort zurückgesetzt", false},
		{"a passkey added", store.AuditEvent{Type: "factor.enrolled", Result: "ok", Detail: detail("method", "webauthn")},
			"Passkey added", "Passkey hinzugefügt", false},
		{"the second step names its method in the reader's language", store.AuditEvent{Type: "mfa.used", Result: "ok", Detail: detail("method", "totp")},
			"Second step confirmed: Authenticator app", "Zweiter Schritt bestätigt: Authenticator-App", false},
		{"a wrong password", store.AuditEvent{Type: "signin.failure", Result: "invalid_credentials", App: "Wiki"},
			"Sign-in failed: wrong password", "Anmeldung fehlgeschlagen: falsches Kennwort", false},
		{"an app the policy refuses", store.AuditEvent{Type: "signin.failure", Result: "not_in_app_groups", App: "Wiki"},
			"Access to Wiki refused", "Zugriff auf Wiki abgelehnt", true},
		{"an unknown event type is other activity, never its code", store.AuditEvent{Type: "future.thing", Result: "ok"},
			"Other account activity", "Sonstige Kontoaktivität", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for lang, want := range map[string]string{"en": tc.en, "de": tc.de} {
				got, namesApp := describe(pageIn(t, lang), tc.ev)
				if got != want || namesApp != tc.namesApp {
					t.Errorf("%s: %q (names the app: %v), want %q (%v)", lang, got, namesApp, want, tc.namesApp)
				}
			}
		})
	}
}
