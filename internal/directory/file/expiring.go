package file

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

var _ directory.ExpiryLister = (*Directory)(nil)

// ListExpiring implements directory.ExpiryLister. A password expires
// policy.max_age after password_changed_at; with no max_age nothing does.
func (d *Directory) ListExpiring(_ context.Context, from, until time.Time) ([]*directory.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.load(); err != nil {
		return nil, err
	}
	var out []*directory.User
	for _, uf := range d.data.Users {
		u := d.toUser(uf)
		st := u.State
		switch {
		case st.Disabled, st.MustChange, u.Mail == "", st.PasswordExpires.IsZero():
			continue
		case !st.AccountExpires.IsZero() && !from.Before(st.AccountExpires):
			continue
		case !st.PasswordExpires.After(from), st.PasswordExpires.After(until):
			continue
		}
		out = append(out, u)
	}
	slices.SortStableFunc(out, func(a, b *directory.User) int {
		return cmp.Or(a.State.PasswordExpires.Compare(b.State.PasswordExpires), cmp.Compare(a.SAMAccountName, b.SAMAccountName))
	})
	return out, nil
}
