package app

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// passwordField is what a test checks of a password field after a refusal.
type passwordField struct {
	value            string // the value shown again ("" for none)
	focused, invalid bool
}

// checkPasswordFields fails unless each field of the last page shows the
// wanted value, has the focus (autofocus) or not and is marked invalid or
// not — an invalid one described by its error message first.
func checkPasswordFields(t *testing.T, b *browse.Browser, want map[string]passwordField) {
	t.Helper()
	for id, w := range want {
		f := b.Field(id)
		if f == nil {
			t.Fatalf("no field %s on the page:\n%s", id, b.Last)
		}
		_, focused := f["autofocus"]
		if got := (passwordField{value: f["value"], focused: focused, invalid: f["aria-invalid"] == "true"}); got != w {
			t.Errorf("%s is %+v, want %+v", id, got, w)
		}
		if w.invalid {
			errID, _, _ := strings.Cut(f["aria-describedby"], " ")
			if errID == "" || !strings.Contains(b.Last, `class="field-error" id="`+errID+`"`) {
				t.Errorf("%s is not described by its error first (aria-describedby=%q)", id, f["aria-describedby"])
			}
		}
	}
}

func TestAFailedADPasswordChangeKeepsTheFieldsThatWereRightAndFocusesTheWrongOne(t *testing.T) {
	a, srv := newADApp(t)
	const current, next, short = "Keep!Passw0rd-1", "Harbor#Quilt-Nebula-85", "Ab1!x"
	name := newADUser(t, current)
	b := browse.New(t, srv.URL)
	b.Get("/password/change")
	b.Submit(map[string]string{"login": name})
	b.Submit(map[string]string{"password": current})
	checkPasswordFields(t, b, map[string]passwordField{
		"current_password": {focused: true}, "new_password": {}, "confirm_password": {},
	})
	form := b.Last
	for _, tc := range []struct {
		name                  string
		current, next, repeat string
		want                  map[string]passwordField
	}{
		{"a wrong current password is cleared and focused, the new ones kept", "Wrong!Passw0rd-2", next, next,
			map[string]passwordField{"current_password": {focused: true, invalid: true}, "new_password": {value: next}, "confirm_password": {value: next}}},
		{"an empty current password is focused, the new ones kept", "", next, next,
			map[string]passwordField{"current_password": {focused: true, invalid: true}, "new_password": {value: next}, "confirm_password": {value: next}}},
		{"a new password the policy refuses is cleared with its confirmation and focused, the current one kept", current, short, short,
			map[string]passwordField{"current_password": {value: current}, "new_password": {focused: true, invalid: true}, "confirm_password": {}}},
		{"one the DC refuses by its history alike", current, current, current,
			map[string]passwordField{"current_password": {value: current}, "new_password": {focused: true, invalid: true}, "confirm_password": {}}},
		{"a confirmation that does not match is cleared and focused, the others kept", current, next, next + "x",
			map[string]passwordField{"current_password": {value: current}, "new_password": {value: next}, "confirm_password": {focused: true, invalid: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.Last = form
			b.Submit(map[string]string{"current_password": tc.current, "new_password": tc.next, "confirm_password": tc.repeat})
			if b.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422:\n%s", b.Status, b.Last)
			}
			checkPasswordFields(t, b, tc.want)
		})
	}
	// What was kept goes back with the confirmation typed again.
	kept := b.Field("current_password")["value"]
	page := b.Submit(map[string]string{"current_password": kept, "new_password": b.Field("new_password")["value"], "confirm_password": next})
	if !strings.Contains(page, "Your password was changed.") {
		t.Fatalf("the change with the kept fields failed:\n%s", page)
	}
	if _, err := a.Directory.Authenticate(context.Background(), name, next); err != nil {
		t.Fatalf("the new password does not bind: %v", err)
	}
}
