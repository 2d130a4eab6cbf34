package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"math"
	"path"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
)

// templateFS holds, per language, <kind>.txt (defining "subject" and
// "text") and <kind>.html (defining "content"), plus common.txt and
// common.html (the footer); layout.html wraps every HTML body.
//
//go:embed templates
var templateFS embed.FS

var kinds = []string{KindEmailCode, KindPasswordReset, KindPasswordExpiry, KindFactorAdded, KindAccountUnlocked}

// catalog is one language's parsed templates.
type catalog struct {
	lang string
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// Languages lists the languages mail can be written in.
func Languages() []string {
	entries, err := fs.ReadDir(templateFS, "templates")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

func loadCatalogs() (map[string]*catalog, error) {
	out := map[string]*catalog{}
	for _, lang := range Languages() {
		c := &catalog{lang: lang, text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
		funcs := funcsFor(lang)
		for _, k := range kinds {
			tt, err := texttemplate.New(k).Funcs(texttemplate.FuncMap(funcs)).ParseFS(templateFS,
				path.Join("templates", lang, "common.txt"), path.Join("templates", lang, k+".txt"))
			if err != nil {
				return nil, fmt.Errorf("notify: templates %s/%s: %w", lang, k, err)
			}
			ht, err := htmltemplate.New(k).Funcs(htmltemplate.FuncMap(funcs)).ParseFS(templateFS,
				"templates/layout.html", path.Join("templates", lang, "common.html"), path.Join("templates", lang, k+".html"))
			if err != nil {
				return nil, fmt.Errorf("notify: templates %s/%s: %w", lang, k, err)
			}
			c.text[k], c.html[k] = tt, ht
		}
		out[lang] = c
	}
	if _, ok := out["en"]; !ok {
		return nil, fmt.Errorf("notify: no English templates embedded")
	}
	return out, nil
}

// view is what every template sees.
type view struct {
	Product string
	Support string
	BaseURL string
	Name    string // recipient's display name
	Lang    string
	Now     time.Time
	Data    any
}

// render builds the message of kind for to.
func (n *Notifier) render(kind string, to Recipient, data any) (Message, error) {
	c := n.catalogFor(to.Lang)
	now := n.now().In(n.loc)
	v := view{Product: n.product, Support: n.support, BaseURL: n.baseURL, Name: to.Name, Lang: c.lang, Now: now, Data: localize(data, n.loc)}
	tt, ht := c.text[kind], c.html[kind]
	if tt == nil || ht == nil {
		return Message{}, fmt.Errorf("notify: no template for %q", kind)
	}
	var subject, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subject, "subject", v); err != nil {
		return Message{}, fmt.Errorf("notify: render %s subject: %w", kind, err)
	}
	if err := tt.ExecuteTemplate(&text, "text", v); err != nil {
		return Message{}, fmt.Errorf("notify: render %s text: %w", kind, err)
	}
	if err := ht.ExecuteTemplate(&html, "layout", v); err != nil {
		return Message{}, fmt.Errorf("notify: render %s html: %w", kind, err)
	}
	return Message{
		Kind:    kind,
		To:      to.Address,
		ToName:  to.Name,
		Subject: oneLine(subject.String()),
		Text:    strings.TrimSpace(text.String()) + "\n",
		HTML:    html.String(),
	}, nil
}

// catalogFor picks the recipient's language, then the default, then English.
func (n *Notifier) catalogFor(lang string) *catalog {
	for _, l := range []string{baseLang(lang), baseLang(n.lang), "en"} {
		if c, ok := n.catalogs[l]; ok {
			return c
		}
	}
	return nil // unreachable: New checks English is there
}

func baseLang(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	return tag
}

// localize moves the times in data into loc, so templates print local times.
func localize(data any, loc *time.Location) any {
	switch d := data.(type) {
	case PasswordReset:
		d.Time = d.Time.In(loc)
		return d
	case PasswordExpiry:
		d.Expires = d.Expires.In(loc)
		return d
	case FactorAdded:
		d.Time = d.Time.In(loc)
		return d
	case AccountUnlocked:
		d.Time = d.Time.In(loc)
		return d
	}
	return data
}

// oneLine makes a header-safe subject: no line breaks, single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var (
	germanMonths = [...]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"}
	germanDays   = [...]string{"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"}
)

// funcsFor returns the template functions for a language.
func funcsFor(lang string) map[string]any {
	datetime := func(t time.Time) string { return t.Format("Monday, 2 January 2006, 15:04 MST") }
	date := func(t time.Time) string { return t.Format("Monday, 2 January 2006") }
	if lang == "de" {
		date = func(t time.Time) string {
			return fmt.Sprintf("%s, %d. %s %d", germanDays[t.Weekday()], t.Day(), germanMonths[t.Month()-1], t.Year())
		}
		datetime = func(t time.Time) string { return date(t) + ", " + t.Format("15:04 MST") }
	}
	return map[string]any{
		"datetime": datetime,
		"date":     date,
		"minutes":  func(d time.Duration) int { return int(math.Ceil(d.Minutes())) },
		// daysUntil counts calendar days from now to t in t's time zone
		// (0: today, 1: tomorrow), at least 0.
		"daysUntil": func(now, t time.Time) int {
			y1, m1, d1 := now.In(t.Location()).Date()
			y2, m2, d2 := t.Date()
			days := time.Date(y2, m2, d2, 0, 0, 0, 0, time.UTC).Sub(time.Date(y1, m1, d1, 0, 0, 0, 0, time.UTC)).Hours() / 24
			return max(int(days), 0)
		},
	}
}
