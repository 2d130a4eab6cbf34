package account

import (
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"
	_ "time/tzdata" // the browser's zone works on hosts without a zoneinfo database

	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// TimeZoneCookie holds the browser's IANA time zone (Europe/Berlin), which
// static/timezone.js sets on every page from
// Intl.DateTimeFormat().resolvedOptions().timeZone: times on /account are
// shown in it, and in ui.time_zone while the browser has not said.
const TimeZoneCookie = "gh_tz"

// zoneName is what an IANA zone name looks like; anything else in the
// cookie is not even looked up.
var zoneName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$`)

// zoneCache keeps the zones loaded from the cookie: only real zone names
// are kept, so it holds at most the few hundred of the database.
type zoneCache struct{ m sync.Map } // name → *time.Location

// browserZone returns the time zone the request's cookie names, when it is
// a real one.
func (zones *zoneCache) browserZone(r *http.Request) (*time.Location, bool) {
	c, err := r.Cookie(TimeZoneCookie)
	if err != nil || len(c.Value) > 64 || !zoneName.MatchString(c.Value) || c.Value == "Local" {
		return nil, false
	}
	if loc, ok := zones.m.Load(c.Value); ok {
		return loc.(*time.Location), true
	}
	loc, err := time.LoadLocation(c.Value)
	if err != nil {
		return nil, false
	}
	zones.m.Store(c.Value, loc)
	return loc, true
}

// when is a time as a page shows it: the machine-readable instant for
// <time datetime> and the text in the reader's zone and language.
type when struct {
	ISO, Text string
}

// clock formats times for one page: in one zone, in the page's language,
// with "today" and "yesterday" counted from now in that zone.
type clock struct {
	p   *web.Page
	loc *time.Location
	now time.Time
}

// monthKeys are the messages of the abbreviated month names, January
// first.
var monthKeys = [12]string{"account.month_01", "account.month_02", "account.month_03", "account.month_04",
	"account.month_05", "account.month_06", "account.month_07", "account.month_08", "account.month_09",
	"account.month_10", "account.month_11", "account.month_12"}

// format is t as the page shows it ("6 Dec 2026, 19:25", "Today, 08:05";
// "Never" for the zero time). The date's parts are joined by no-break
// spaces in the messages, so it never breaks inside.
func (c clock) format(t time.Time) when {
	if t.IsZero() {
		return when{Text: c.p.T("account.never")}
	}
	lt := t.In(c.loc)
	hm := lt.Format("15:04")
	w := when{ISO: t.UTC().Format(time.RFC3339)}
	today := c.now.In(c.loc)
	switch {
	case sameDay(lt, today):
		w.Text = c.p.T("account.today", "time", hm)
	case sameDay(lt, today.AddDate(0, 0, -1)):
		w.Text = c.p.T("account.yesterday", "time", hm)
	default:
		w.Text = c.date(t)
	}
	return w
}

// date is t as a date and time, never relative ("6 Dec 2026, 19:25"):
// for a sentence that says when.
func (c clock) date(t time.Time) string {
	lt := t.In(c.loc)
	return c.p.T("account.date", "day", strconv.Itoa(lt.Day()), "month", c.p.T(monthKeys[lt.Month()-1]),
		"year", strconv.Itoa(lt.Year()), "time", lt.Format("15:04"))
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}
