package signin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

func TestARefusedPasswordFormKeepsOnlyWhatWasRight(t *testing.T) {
	typed := PasswordFields{Current: "Current-Typed-1", New: "New-Typed-2", Confirm: "Confirm-Typed-3"}
	long := strings.Repeat("x", maxPasswordLen+1)
	for _, tc := range []struct {
		name         string
		wrong        string
		typed        PasswordFields
		currentRight bool
		want         PasswordFields
	}{
		{"a wrong current password is cleared and the new ones are kept", FieldCurrent, typed, false,
			PasswordFields{New: typed.New, Confirm: typed.Confirm}},
		{"a refused new password clears itself and its confirmation and keeps the current one", FieldNew, typed, true,
			PasswordFields{Current: typed.Current}},
		{"a confirmation that does not match clears only itself", FieldConfirm, typed, true,
			PasswordFields{Current: typed.Current, New: typed.New}},
		{"a current password the directory has not accepted is never kept", FieldNew, typed, false,
			PasswordFields{}},
		{"nor with a mismatched confirmation", FieldConfirm, typed, false,
			PasswordFields{New: typed.New}},
		{"a value longer than a password may be is not kept", FieldCurrent, PasswordFields{New: long, Confirm: long}, false,
			PasswordFields{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Refill(tc.wrong, tc.typed, tc.currentRight); got != tc.want {
				t.Fatalf("Refill(%s) = %+v, want %+v", tc.wrong, got, tc.want)
			}
		})
	}
}

// fieldState is what a test checks of a password field after a refusal.
type fieldState struct {
	kept, focused, invalid bool
}

// checkFields fails unless each field of the last page is as wanted: its
// value kept or not, focused (autofocus) or not, marked invalid or not —
// and an invalid one is described by its error message, first.
func checkFields(t *testing.T, b *browse.Browser, want map[string]fieldState) {
	t.Helper()
	for id, w := range want {
		f := b.Field(id)
		if f == nil {
			t.Fatalf("no field %s on the page:\n%s", id, b.Last)
		}
		_, focused := f["autofocus"]
		got := fieldState{kept: f["value"] != "", focused: focused, invalid: f["aria-invalid"] == "true"}
		if got != w {
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

func TestAFailedInFlowChangeKeepsTheRightFieldsAndFocusesTheWrongOne(t *testing.T) {
	e := newEnv(t, "none", user(t, "carol", alicePW, func(u *file.UserFile) { u.MustChange = true }))
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=carol")
	b.Submit(map[string]string{"password": alicePW})
	checkFields(t, b, map[string]fieldState{FieldNew: {focused: true}, FieldConfirm: {}})
	change := b.Last
	for _, tc := range []struct {
		name         string
		newPW, again string
		want         map[string]fieldState
		value        string // the new password field's value, when kept
	}{
		{"a new password the policy refuses is cleared with its confirmation and focused", "short", "short",
			map[string]fieldState{FieldNew: {focused: true, invalid: true}, FieldConfirm: {}}, ""},
		{"a reused one the directory refuses is cleared alike", alicePW, alicePW,
			map[string]fieldState{FieldNew: {focused: true, invalid: true}, FieldConfirm: {}}, ""},
		{"an empty one is focused", "", "",
			map[string]fieldState{FieldNew: {focused: true, invalid: true}, FieldConfirm: {}}, ""},
		{"a confirmation that does not match is cleared and focused, the new one kept", newPW, newPW + "x",
			map[string]fieldState{FieldNew: {kept: true}, FieldConfirm: {focused: true, invalid: true}}, newPW},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.Last = change
			b.Submit(map[string]string{FieldNew: tc.newPW, FieldConfirm: tc.again})
			if b.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422:\n%s", b.Status, b.Last)
			}
			checkFields(t, b, tc.want)
			if got := b.Field(FieldNew)["value"]; got != tc.value {
				t.Errorf("the new password field shows %q, want %q", got, tc.value)
			}
		})
	}
	// Kept, the new password needs only its confirmation typed again.
	if got := b.Submit(map[string]string{FieldNew: b.Field(FieldNew)["value"], FieldConfirm: newPW}); got != "user=carol amr=pwd mfa=no state=saved:Wiki" {
		t.Fatalf("protocol got %q", got)
	}
}
