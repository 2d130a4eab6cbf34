package sqlite

import (
	"context"

	"github.com/gatehouse-sso/gatehouse/internal/store"
)

const linkColumns = `provider, subject, user_id, created_at`

func scanLink(sc scanner) (store.Link, error) {
	var (
		l       store.Link
		created int64
	)
	if err := sc.Scan(&l.Provider, &l.Subject, &l.UserID, &created); err != nil {
		return store.Link{}, err
	}
	l.CreatedAt = fromTM(created)
	return l, nil
}

// CreateLink stores a new link; ErrConflict when the outside account or
// the user is linked already at the provider.
func (s *Store) CreateLink(ctx context.Context, l store.Link) (err error) {
	defer s.observe(ctx, "CreateLink")(&err)
	_, err = s.w.ExecContext(ctx, `INSERT INTO links (`+linkColumns+`) VALUES (?, ?, ?, ?)`,
		l.Provider, l.Subject, l.UserID, tm(l.CreatedAt))
	return wrap("CreateLink", err)
}

// GetLink returns the link of the provider's subject.
func (s *Store) GetLink(ctx context.Context, provider, subject string) (_ store.Link, err error) {
	defer s.observe(ctx, "GetLink")(&err)
	l, err := scanLink(s.r.QueryRowContext(ctx, `SELECT `+linkColumns+` FROM links WHERE provider = ? AND subject = ?`, provider, subject))
	return l, wrap("GetLink", err)
}

// GetUserLink returns the user's link at the provider.
func (s *Store) GetUserLink(ctx context.Context, provider, userID string) (_ store.Link, err error) {
	defer s.observe(ctx, "GetUserLink")(&err)
	l, err := scanLink(s.r.QueryRowContext(ctx, `SELECT `+linkColumns+` FROM links WHERE provider = ? AND user_id = ?`, provider, userID))
	return l, wrap("GetUserLink", err)
}

// DeleteUserLinks removes every link of the user.
func (s *Store) DeleteUserLinks(ctx context.Context, userID string) (_ int64, err error) {
	defer s.observe(ctx, "DeleteUserLinks")(&err)
	res, err := s.w.ExecContext(ctx, `DELETE FROM links WHERE user_id = ?`, userID)
	if err != nil {
		return 0, wrap("DeleteUserLinks", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("DeleteUserLinks", err)
}
