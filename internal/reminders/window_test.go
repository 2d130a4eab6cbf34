package reminders

import (
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

func TestTheSmallestWindowHoldingTheExpiryIsChosen(t *testing.T) {
	windows := []int{1, 7, 14}
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name   string
		left   time.Duration
		want   int
		wantOK bool
	}{
		{"15 days away is in no window yet", 15 * day, 0, false},
		{"just over 14 days away is in no window yet", 14*day + time.Second, 0, false},
		{"exactly 14 days away is the 14-day window", 14 * day, 14, true},
		{"10 days away is the 14-day window", 10 * day, 14, true},
		{"exactly 7 days away is the 7-day window", 7 * day, 7, true},
		{"6½ days away is the 7-day window", 6*day + 12*time.Hour, 7, true},
		{"a day and a minute away is the 7-day window", day + time.Minute, 7, true},
		{"exactly a day away is the 1-day window", day, 1, true},
		{"an hour away is the 1-day window", time.Hour, 1, true},
		{"expiring now is in no window", 0, 0, false},
		{"already expired is in no window", -time.Hour, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := window(windows, tc.left)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("window(%v) = %d, %v; want %d, %v", tc.left, got, ok, tc.want, tc.wantOK)
			}
		})
	}
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
