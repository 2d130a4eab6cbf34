package file

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestListExpiringReturnsOnlyReachableUsersWhosePasswordExpiresInTheInterval(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	maxAge := 90 * day
	// changed returns the password_changed_at that makes the password
	// expire at now+left.
	changed := func(left time.Duration) time.Time { return now.Add(left - maxAge) }
	user := func(name string, left time.Duration) UserFile {
		return UserFile{ID: newID(), Username: name, Mail: name + "@corp.example.test", DisplayName: name,
			PasswordHash: "unused", PasswordChangedAt: changed(left)}
	}
	users := []UserFile{
		user("in-ten-days", 10*day),
		user("in-two-days", 2*day),
		user("exactly-at-the-end", 14*day),
		user("just-after-the-end", 14*day+time.Second),
		user("exactly-now", 0),
		user("expired-yesterday", -day),
	}
	noMail := user("no-mail", 3*day)
	noMail.Mail = ""
	disabled := user("disabled", 3*day)
	disabled.Disabled = true
	mustChange := user("must-change", 3*day)
	mustChange.MustChange = true
	accountGone := user("account-expired", 3*day)
	accountGone.Expires = now.Add(-time.Hour)
	accountLater := user("account-expires-later", 3*day)
	accountLater.Expires = now.Add(30 * day)
	neverSet := user("never-set", 3*day)
	neverSet.PasswordChangedAt = time.Time{}
	users = append(users, noMail, disabled, mustChange, accountGone, accountLater, neverSet)

	path := filepath.Join(t.TempDir(), "users.yaml")
	out, err := yaml.Marshal(File{Policy: PolicyFile{MinLength: 12, MaxAge: maxAge}, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), path, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}

	got, err := d.ListExpiring(context.Background(), now, now.Add(14*day))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range got {
		names = append(names, u.SAMAccountName)
		if u.State.PasswordExpires.IsZero() || !u.State.PasswordLastSet.Add(maxAge).Equal(u.State.PasswordExpires) {
			t.Errorf("%s: PasswordExpires %v, PasswordLastSet %v", u.SAMAccountName, u.State.PasswordExpires, u.State.PasswordLastSet)
		}
		if u.Mail == "" || u.ID == "" {
			t.Errorf("%s: mail %q, id %q", u.SAMAccountName, u.Mail, u.ID)
		}
	}
	want := []string{"in-two-days", "account-expires-later", "in-ten-days", "exactly-at-the-end"}
	if !slices.Equal(names, want) {
		t.Errorf("ListExpiring = %v, want %v (soonest first)", names, want)
	}

	t.Run("without a maximum age nothing expires", func(t *testing.T) {
		out, _ := yaml.Marshal(File{Policy: PolicyFile{MinLength: 12}, Users: users})
		out = append(out, "# no max_age\n"...)
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := d.ListExpiring(context.Background(), now, now.Add(365*day))
		if err != nil || len(got) != 0 {
			t.Errorf("ListExpiring = %d users, %v; want none", len(got), err)
		}
	})
}
