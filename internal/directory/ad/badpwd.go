package ad

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// BadPasswordCount is what one domain controller counts of a user's wrong
// passwords. AD keeps badPwdCount and badPasswordTime per DC and never
// replicates them (the PDC emulator also counts the wrong passwords other
// DCs forward to it), so an administrator asks each DC.
type BadPasswordCount struct {
	DC    string    `json:"dc"`              // host:port
	Count int       `json:"count"`           // badPwdCount
	Last  time.Time `json:"last,omitzero"`   // badPasswordTime; zero: never
	Error string    `json:"error,omitempty"` // the DC did not answer
}

var badPasswordAttrs = []string{"badPwdCount", "badPasswordTime"}

// BadPasswordCounts reads u's badPwdCount and badPasswordTime on every
// configured DC, those taken out of service included (they may be
// answering again), in the configured order. A DC that does not answer is
// listed with its error. It is for gatehouse admin user status; smart
// lockout reads what it needs on its own.
func (d *Directory) BadPasswordCounts(ctx context.Context, u *directory.User) ([]BadPasswordCount, error) {
	if u == nil || u.DN == "" {
		return nil, fmt.Errorf("ad: bad password counts: no user given")
	}
	req := ldap.NewSearchRequest(u.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", badPasswordAttrs, nil)
	out := make([]BadPasswordCount, 0, len(d.dcs))
	for _, c := range d.dcs {
		r := BadPasswordCount{DC: c.t.name}
		cctx, cancel := d.callContext(ctx)
		err := d.attempt(cctx, c, runOpts{kind: servicePool, name: "read"}, func(ctx context.Context, conn ldapConn, _ *dc) error {
			res, err := conn.Search(ctx, req)
			if err != nil {
				return err
			}
			if len(res.Entries) != 1 {
				return fmt.Errorf("ad: %d entries for %s", len(res.Entries), u.DN)
			}
			e := res.Entries[0]
			r.Count, _ = strconv.Atoi(e.GetEqualFoldAttributeValue("badPwdCount"))
			r.Last = fileTime(attrInt(e, "badPasswordTime"))
			return nil
		})
		cancel()
		if err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	return out, nil
}
