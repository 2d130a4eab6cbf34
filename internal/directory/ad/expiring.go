package ad

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

var _ directory.ExpiryLister = (*Directory)(nil)

// pageSize is how many entries one page of a listing asks for. AD caps
// every page at its MaxPageSize (1000 by default) and a search without
// paging at its size limit, so a listing must page.
const pageSize = 500

// expiringFilter selects enabled users with a mail address whose password
// was set (pwdLastSet 0 is must-change) and can expire
// (userAccountControl without ACCOUNTDISABLE 0x2 and DONT_EXPIRE_PASSWORD
// 0x10000, tested bitwise with LDAP_MATCHING_RULE_BIT_AND).
// msDS-UserPasswordExpiryTimeComputed is constructed and cannot be
// filtered on: the expiry itself is checked on each entry.
const expiringFilter = "(&(objectCategory=person)(objectClass=user)(mail=*)(pwdLastSet>=1)" +
	"(!(userAccountControl:1.2.840.113556.1.4.803:=2))" +
	"(!(userAccountControl:1.2.840.113556.1.4.803:=65536)))"

// ListExpiring implements directory.ExpiryLister with one paged subtree
// search under the base DN. The expiry is msDS-UserPasswordExpiryTimeComputed,
// which AD and Samba return in a subtree search when it is asked for by
// name; when a DC leaves it out, it is worked out from pwdLastSet and the
// user's effective maximum age (PSO or domain). Its users carry no groups
// and no extra attributes: reminders need neither.
//
// Connecting is bounded by the configured timeout and so is each page; the
// listing as a whole only by ctx, since it grows with the directory. A DC
// that fails in the middle of the listing is left for another only while
// the connect timeout has not passed; after that the listing fails.
func (d *Directory) ListExpiring(ctx context.Context, from, until time.Time) ([]*directory.User, error) {
	attrs := slices.DeleteFunc(slices.Clone(d.userAttr), func(a string) bool {
		return a == "memberOf" || slices.Contains(d.extraAttr, a)
	})
	type uncomputed struct {
		u     *directory.User
		psoDN string
	}
	var (
		out     []*directory.User
		pending []uncomputed // the DC left the expiry out: needs the policy
	)
	cctx, cancel := d.callContext(ctx)
	defer cancel()
	err := d.run(cctx, runOpts{kind: servicePool, name: "list"}, func(_ context.Context, c ldapConn, _ *dc) error {
		out, pending = nil, nil
		return d.searchPaged(ctx, c, expiringFilter, attrs, func(e *ldap.Entry) {
			u, err := decodeUser(e, d.cfg.ImmutableIDAttribute)
			if err != nil {
				d.log.WarnContext(ctx, "user left out of the expiry listing", "event", "list_expiring", "dn", e.DN, "err", err)
				return
			}
			if e.GetEqualFoldAttributeValue("msDS-UserPasswordExpiryTimeComputed") == "" {
				pending = append(pending, uncomputed{u, e.GetEqualFoldAttributeValue("msDS-ResultantPSO")})
				return
			}
			if expiresBetween(u, from, until) {
				out = append(out, u)
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ad: list expiring passwords: %w", err)
	}
	if len(pending) > 0 {
		d.log.WarnContext(ctx, "the domain controller did not return msDS-UserPasswordExpiryTimeComputed; expiry worked out from pwdLastSet and the password policy",
			"event", "list_expiring", "users", len(pending))
	}
	for _, p := range pending {
		u := p.u
		pctx, cancel := d.callContext(ctx)
		pol, err := d.effectivePolicy(pctx, p.psoDN)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("ad: list expiring passwords: %w", err)
		}
		if pol.MaxAge > 0 && !u.State.PasswordLastSet.IsZero() {
			u.State.PasswordExpires = u.State.PasswordLastSet.Add(pol.MaxAge)
		}
		if expiresBetween(u, from, until) {
			out = append(out, u)
		}
	}
	slices.SortStableFunc(out, func(a, b *directory.User) int {
		return cmp.Or(a.State.PasswordExpires.Compare(b.State.PasswordExpires),
			cmp.Compare(strings.ToLower(a.SAMAccountName), strings.ToLower(b.SAMAccountName)))
	})
	return out, nil
}

// expiresBetween reports whether u can still sign in and its password
// expires in (from, until].
func expiresBetween(u *directory.User, from, until time.Time) bool {
	st := u.State
	switch {
	case st.Disabled, st.MustChange, u.Mail == "", st.PasswordExpires.IsZero():
		return false
	case !st.AccountExpires.IsZero() && !from.Before(st.AccountExpires):
		return false
	}
	return st.PasswordExpires.After(from) && !st.PasswordExpires.After(until)
}

// maxPages bounds a paged search: 20,000 pages of pageSize is far beyond
// any directory Gatehouse serves.
const maxPages = 20000

// abandonPaged tells the DC to drop the search's cursor (RFC 2696: a page
// size of 0 with the cookie), best effort and briefly.
func (d *Directory) abandonPaged(c ldapConn, req *ldap.SearchRequest, paging *ldap.ControlPaging) {
	ctx, cancel := context.WithTimeout(context.Background(), min(d.timeout, 2*time.Second))
	defer cancel()
	paging.PagingSize = 0
	_, _ = c.Search(ctx, req)
}

// searchPaged runs a subtree search under the base DN on c with the paged
// results control (RFC 2696), handing every entry to fn. The paging cookie
// belongs to the connection, so every page goes to c. Each page is bounded
// by the configured timeout, the whole search only by ctx. Referrals are
// ignored, never chased. A DC that does not page answers with its size
// limit exceeded once the directory outgrows it: that is an error, never a
// silently short list.
func (d *Directory) searchPaged(ctx context.Context, c ldapConn, filter string, attrs []string, fn func(*ldap.Entry)) error {
	paging := ldap.NewControlPaging(pageSize)
	req := ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter, attrs, []ldap.Control{paging})
	for page := 0; ; page++ {
		if page == maxPages { // a DC that keeps handing out cookies
			d.abandonPaged(c, req, paging)
			return fmt.Errorf("ad: the paged search did not end after %d pages of %d", maxPages, pageSize)
		}
		pctx, cancel := context.WithTimeout(ctx, d.timeout)
		req.TimeLimit = timeLimit(pctx)
		res, err := c.Search(pctx, req)
		cancel()
		if err != nil {
			if page > 0 {
				d.abandonPaged(c, req, paging)
			}
			return err
		}
		for _, e := range res.Entries {
			fn(e)
		}
		next, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(next.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(next.Cookie)
	}
}
