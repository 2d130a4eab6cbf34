package reminders

import (
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin without a zoneinfo database

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

func TestTheSmallestWindowHoldingTheExpiryIsChosenInCalendarDays(t *testing.T) {
	windows := []int{1, 7, 14}
	const day = 24 * time.Hour
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC) // a daily run at 08:00
	for _, tc := range []struct {
		name   string
		left   time.Duration
		want   int
		wantOK bool
	}{
		{"15 days away is in no window yet", 15 * day, 0, false},
		{"late on the 14th day is the 14-day window", 14*day + 15*time.Hour, 14, true},
		{"10 days away is the 14-day window", 10 * day, 14, true},
		{"7 days away is the 7-day window", 7 * day, 7, true},
		{"6½ days away is the 7-day window", 6*day + 12*time.Hour, 7, true},
		{"tomorrow just after the run's hour is the 1-day window", day + time.Minute, 1, true},
		{"tomorrow late is the 1-day window", day + 15*time.Hour, 1, true},
		{"the day after tomorrow is the 7-day window", 2 * day, 7, true},
		{"later today is the 1-day window", time.Hour, 1, true},
		{"expiring now is in no window", 0, 0, false},
		{"already expired is in no window", -time.Hour, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := window(windows, now, now.Add(tc.left))
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("window(now+%v) = %d, %v; want %d, %v", tc.left, got, ok, tc.want, tc.wantOK)
			}
		})
	}
	t.Run("days are counted where the users are", func(t *testing.T) {
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		// 23:30 UTC on 1 March is 00:30 on 2 March in Berlin: an expiry at
		// 20:00 UTC on 3 March is tomorrow there, the day after in UTC.
		runAt, exp := time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC), time.Date(2026, 3, 3, 20, 0, 0, 0, time.UTC)
		if w, _ := window([]int{1, 7}, runAt.In(berlin), exp.In(berlin)); w != 1 {
			t.Errorf("in Berlin: window = %d, want 1", w)
		}
		if w, _ := window([]int{1, 7}, runAt, exp); w != 7 {
			t.Errorf("in UTC: window = %d, want 7", w)
		}
	})
}

func TestWindowsAreSortedAndDeduplicatedAndMustBePositive(t *testing.T) {
	got, err := normalize([]int{7, 14, 1, 7})
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 7 || got[2] != 14 {
		t.Errorf("normalize = %v, %v; want [1 7 14]", got, err)
	}
	for _, bad := range [][]int{nil, {}, {7, 0}, {-1}} {
		if _, err := normalize(bad); err == nil {
			t.Errorf("normalize(%v) accepted", bad)
		}
	}
}

func TestANewPasswordGetsNewTickets(t *testing.T) {
	set := time.Date(2026, 1, 1, 9, 30, 0, 123456700, time.UTC)
	u := &directory.User{ID: "00ff", State: directory.AccountState{PasswordLastSet: set, PasswordExpires: set.Add(90 * 24 * time.Hour)}}
	if got, want := ticketID(u, 7), "00ff/2026-01-01T09:30:00.1234567Z/7d"; got != want {
		t.Errorf("ticketID = %q, want %q", got, want)
	}
	first := ticketID(u, 7)
	u.State.PasswordLastSet = set.Add(time.Hour)
	if ticketID(u, 7) == first {
		t.Error("a new password kept the old ticket ID")
	}
	if ticketID(u, 7) == ticketID(u, 1) {
		t.Error("two windows share a ticket ID")
	}
}
