package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

//go:embed locales/*.json
var localeFS embed.FS

// Catalog holds the message catalogs, one per language, and picks a
// language for each request from Accept-Language.
type Catalog struct {
	msgs    map[string]map[string]string
	tags    []language.Tag
	names   []string
	matcher language.Matcher
}

// LoadCatalog reads the embedded catalogs; def is the fallback language
// and comes first. Every catalog must have every key English has.
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
	for lang, m := range c.msgs {
		for k := range c.msgs["en"] {
			if _, ok := m[k]; !ok {
				return nil, fmt.Errorf("locale %s lacks %q", lang, k)
			}
		}
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

// T returns the message key in lang formatted with args; a missing key
// shows the key itself so it is noticed, never an empty string.
func (c *Catalog) T(lang, key string, args ...any) string {
	m, ok := c.msgs[lang][key]
	if !ok {
		if m, ok = c.msgs["en"][key]; !ok {
			return key
		}
	}
	if len(args) == 0 {
		return m
	}
	return fmt.Sprintf(m, args...)
}

// Languages lists the languages with a catalog, the default first.
func (c *Catalog) Languages() []string { return c.names }
