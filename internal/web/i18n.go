package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

//go:embed locales/*.json
var localeFS embed.FS

// Catalog holds the message catalogs, one per language, and picks a
// language for each request from Accept-Language.
//
// Messages take named arguments: "You are signed in as {name}." is
// rendered by T(lang, key, "name", "Alice"). A message never holds a fmt
// verb, every language has the same keys, and each message of a key names
// the same arguments in every language; LoadCatalog refuses a catalog that
// breaks one of these, so a translation cannot leak "%!(EXTRA …)" or lose
// an argument.
type Catalog struct {
	msgs    map[string]map[string]string
	tags    []language.Tag
	names   []string
	matcher language.Matcher
}

// placeholder is a named argument in a message: {name}.
var placeholder = regexp.MustCompile(`\{([a-z][a-z0-9_]*)\}`)

// fmtVerb is what a message written for fmt would hold.
var fmtVerb = regexp.MustCompile(`%(?:\[\d+\])?[-+#0]*\d*(?:\.\d+)?[a-zA-Z]`)

// Placeholders lists the named arguments message msg takes, sorted.
func Placeholders(msg string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(msg, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

// LoadCatalog reads the embedded catalogs; def is the fallback language
// and comes first.
func LoadCatalog(def string) (*Catalog, error) {
	entries, err := localeFS.ReadDir("locales")
	if err != nil {
		return nil, err
	}
	c := &Catalog{msgs: map[string]map[string]string{}}
	for _, e := range entries {
		raw, err := localeFS.ReadFile("locales/" + e.Name())
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("locale %s: %w", e.Name(), err)
		}
		c.msgs[strings.TrimSuffix(e.Name(), ".json")] = m
	}
	if _, ok := c.msgs[def]; !ok {
		return nil, fmt.Errorf("no catalog for default language %q", def)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	c.names = append(c.names, def)
	var rest []string
	for lang := range c.msgs {
		if lang != def {
			rest = append(rest, lang)
		}
	}
	sort.Strings(rest)
	c.names = append(c.names, rest...)
	for _, n := range c.names {
		c.tags = append(c.tags, language.MustParse(n))
	}
	c.matcher = language.NewMatcher(c.tags)
	return c, nil
}

// check holds the catalogs to one key set (English's) and one set of
// named arguments per key, with no fmt verbs and no empty message.
func (c *Catalog) check() error {
	en, ok := c.msgs["en"]
	if !ok {
		return fmt.Errorf("no English catalog (en.json), which every other is checked against")
	}
	var problems []string
	for lang, m := range c.msgs {
		for k := range en {
			if _, ok := m[k]; !ok {
				problems = append(problems, fmt.Sprintf("locale %s lacks %q", lang, k))
			}
		}
		for k, msg := range m {
			ref, ok := en[k]
			if !ok {
				problems = append(problems, fmt.Sprintf("locale %s has %q, which English lacks", lang, k))
				continue
			}
			if strings.TrimSpace(msg) == "" {
				problems = append(problems, fmt.Sprintf("locale %s: %q is empty", lang, k))
			}
			if v := fmtVerb.FindString(msg); v != "" {
				problems = append(problems, fmt.Sprintf("locale %s: %q holds the fmt verb %q; use a named argument like {count}", lang, k, v))
			}
			if got, want := strings.Join(Placeholders(msg), ","), strings.Join(Placeholders(ref), ","); got != want {
				problems = append(problems, fmt.Sprintf("locale %s: %q takes {%s} but English takes {%s}", lang, k, got, want))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("message catalog: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Language picks the best catalog for the request (a "lang" cookie set by
// the language switcher wins over Accept-Language).
func (c *Catalog) Language(r *http.Request) string {
	var prefs []string
	if ck, err := r.Cookie("gh_lang"); err == nil {
		prefs = append(prefs, ck.Value)
	}
	prefs = append(prefs, r.Header.Get("Accept-Language"))
	_, i := language.MatchStrings(c.matcher, prefs...)
	return c.names[i]
}

// Has reports whether key is a message.
func (c *Catalog) Has(key string) bool {
	_, ok := c.msgs["en"][key]
	return ok
}

// Keys lists every message key, sorted.
func (c *Catalog) Keys() []string {
	keys := make([]string, 0, len(c.msgs["en"]))
	for k := range c.msgs["en"] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// T returns message key in lang with its named arguments filled in from
// args, given as name, value pairs. A missing key shows the key itself so
// it is noticed, never an empty string; an argument the message lacks or
// a placeholder without an argument shows as "%!{name}(MISSING)" or
// "%!(EXTRA name)", which the page tests look for.
func (c *Catalog) T(lang, key string, args ...any) string {
	m, ok := c.msgs[lang][key]
	if !ok {
		if m, ok = c.msgs["en"][key]; !ok {
			return key
		}
	}
	if len(args) == 0 && !strings.Contains(m, "{") {
		return m
	}
	vals := map[string]string{}
	var bad []string
	for len(args) > 0 {
		name, ok := args[0].(string)
		if !ok || len(args) == 1 {
			bad = append(bad, fmt.Sprintf("%%!(BADARGS %v)", args[0]))
			args = args[1:]
			continue
		}
		vals[name] = fmt.Sprint(args[1])
		args = args[2:]
	}
	used := map[string]bool{}
	out := placeholder.ReplaceAllStringFunc(m, func(ph string) string {
		name := ph[1 : len(ph)-1]
		v, ok := vals[name]
		if !ok {
			return "%!" + ph + "(MISSING)"
		}
		used[name] = true
		return v
	})
	for name := range vals {
		if !used[name] {
			bad = append(bad, "%!(EXTRA "+name+")")
		}
	}
	sort.Strings(bad)
	return out + strings.Join(bad, "")
}

// Languages lists the languages with a catalog, the default first.
func (c *Catalog) Languages() []string { return c.names }
