package account

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTimesReadInTheReadersZoneAndLanguage(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 9, 10, 0, 0, 0, time.UTC)
	const nb = "\u00a0"
	for _, tc := range []struct {
		name   string
		at     time.Time
		en, de string
	}{
		{"an earlier day is a date", time.Date(2026, 12, 6, 18, 25, 0, 0, time.UTC),
			"6" + nb + "Dec" + nb + "2026, 19:25", "6." + nb + "Dez." + nb + "2026, 19:25"},
		{"today says so", time.Date(2026, 12, 9, 7, 5, 0, 0, time.UTC), "Today, 08:05", "Heute, 08:05"},
		{"yesterday says so", time.Date(2026, 12, 8, 22, 59, 0, 0, time.UTC), "Yesterday, 23:59", "Gestern, 23:59"},
		{"the day is counted in the reader's zone", time.Date(2026, 12, 8, 23, 30, 0, 0, time.UTC), "Today, 00:30", "Heute, 00:30"},
		{"March is März in German", time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
			"1" + nb + "Mar" + nb + "2025, 13:00", "1." + nb + "März" + nb + "2025, 13:00"},
		{"a time never set is never", time.Time{}, "Never", "Nie"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for lang, want := range map[string]string{"en": tc.en, "de": tc.de} {
				got := clock{p: pageIn(t, lang), loc: berlin, now: now}.format(tc.at)
				if got.Text != want {
					t.Errorf("%s: %q, want %q", lang, got.Text, want)
				}
				if !tc.at.IsZero() && got.ISO != tc.at.Format(time.RFC3339) {
					t.Errorf("%s: datetime %q", lang, got.ISO)
				}
				if strings.Contains(strings.SplitN(got.Text, ",", 2)[0], " ") {
					t.Errorf("%s: %q may break inside the date", lang, got.Text)
				}
			}
		})
	}
}

func TestTheBrowsersZoneIsUsedOnlyWhenItIsARealOne(t *testing.T) {
	var zones zoneCache
	for _, tc := range []struct {
		name, cookie, want string
	}{
		{"a zone name", "Asia/Tokyo", "Asia/Tokyo"},
		{"a zone with three parts", "America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"},
		{"UTC", "UTC", "UTC"},
		{"no such zone", "Mars/Olympus", ""},
		{"the server's own zone", "Local", ""},
		{"a path", "../../etc/passwd", ""},
		{"an absolute path", "/etc/localtime", ""},
		{"too long", "Europe/" + strings.Repeat("x", 80), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/account", nil)
			r.Header.Set("Cookie", TimeZoneCookie+"="+tc.cookie)
			loc, ok := zones.browserZone(r)
			got := ""
			if ok {
				got = loc.String()
			}
			if got != tc.want {
				t.Errorf("%q: %q, want %q", tc.cookie, got, tc.want)
			}
		})
	}
}
