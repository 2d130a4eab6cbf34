package ad

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// Account-state bits.
const (
	uacDisabled       = 0x2  // userAccountControl ACCOUNTDISABLE
	computedLockedOut = 0x10 // msDS-User-Account-Control-Computed UF_LOCKOUT
)

// searchLimit caps the user search; more than one entry is already an
// ambiguous login, the rest only makes the log line more useful.
const searchLimit = 10

// userAttributes is what a user search asks for. The computed attributes
// must be named: AD never returns them for "*".
func userAttributes(immutable string) []string {
	attrs := []string{
		"objectGUID", "sAMAccountName", "userPrincipalName", "mail", "displayName", "givenName", "sn",
		"memberOf", "userAccountControl", "msDS-User-Account-Control-Computed", "lockoutTime",
		"pwdLastSet", "msDS-UserPasswordExpiryTimeComputed", "accountExpires", "msDS-ResultantPSO",
		"badPwdCount", "badPasswordTime",
	}
	if !strings.EqualFold(immutable, "objectGUID") {
		attrs = append(attrs, immutable)
	}
	return attrs
}

// userFilter matches a person whose login attribute equals login exactly.
// The value is escaped (RFC 4515), so `*`, `(`, `)`, `\` and NUL in a login
// are literal characters: no wildcard, no filter injection. Account state is
// deliberately not filtered: disabled, locked, expired and must-change users
// are found, so the bind reports why they cannot sign in.
func userFilter(attrs []string, login string) string {
	v := ldap.EscapeFilter(login)
	var b strings.Builder
	b.WriteString("(&(objectClass=user)(objectCategory=person)(|")
	for _, a := range attrs {
		b.WriteString("(" + a + "=" + v + ")")
	}
	b.WriteString("))")
	return b.String()
}

// findUser searches for login with the service account: one LDAP search.
// Referrals in the answer (Configuration, DNS zones) are ignored, never
// chased.
func (d *Directory) findUser(ctx context.Context, login string) (*ldap.Entry, error) {
	if strings.TrimSpace(login) == "" {
		return nil, directory.ErrUserNotFound
	}
	return d.searchOne(ctx, userFilter(d.cfg.LoginAttributes, login), login)
}

// LookupUserByID implements directory.IDLookup: the ID is the hex of the
// objectGUID, searched as its escaped raw bytes.
func (d *Directory) LookupUserByID(ctx context.Context, id string) (*directory.User, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 16 {
		return nil, directory.ErrUserNotFound
	}
	var f strings.Builder
	f.WriteString("(&(objectCategory=person)(objectClass=user)(objectGUID=")
	for _, b := range raw {
		fmt.Fprintf(&f, "\\%02x", b)
	}
	f.WriteString("))")
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	e, err := d.searchOne(ctx, f.String(), id)
	if err != nil {
		return nil, err
	}
	return d.toUser(ctx, e)
}

// searchOne runs one user search with the service account; what names the
// search in logs.
func (d *Directory) searchOne(ctx context.Context, filter, what string) (*ldap.Entry, error) {
	login := what
	req := ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		searchLimit, timeLimit(ctx), false, filter, d.userAttr, nil)
	var entries []*ldap.Entry
	truncated := false
	err := d.run(ctx, runOpts{kind: servicePool, name: "search"}, func(ctx context.Context, c ldapConn, _ *dc) error {
		res, err := c.Search(ctx, req)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && res != nil && len(res.Entries) > 0 {
			err, truncated = nil, true
		}
		if err != nil {
			return err
		}
		entries = res.Entries
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ad: search user: %w", err)
	}
	switch {
	case len(entries) == 0:
		return nil, directory.ErrUserNotFound
	case len(entries) > 1:
		count := strconv.Itoa(len(entries))
		if truncated {
			count += "+"
		}
		d.log.WarnContext(ctx, "login matches more than one account; check login_attributes",
			"event", "ambiguous_login", "user", login, "count", count)
		return nil, fmt.Errorf("%w (%s accounts)", directory.ErrAmbiguousUser, count)
	}
	return entries[0], nil
}

// timeLimit is the server-side time limit for a search, in whole seconds.
func timeLimit(ctx context.Context) int {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(1, int(time.Until(dl).Seconds()+0.5))
}

// Authenticate looks the user up (one search) and binds as them (one bind,
// never retried once answered). With ErrPasswordExpired or
// ErrMustChangePassword it returns the user too.
func (d *Directory) Authenticate(ctx context.Context, login, password string) (*directory.User, error) {
	return d.AuthenticateWith(ctx, login, password, nil)
}

// AuthenticateWith implements directory.CheckedAuthenticator: Authenticate
// with before called between the search and the bind, so the check costs
// no LDAP operation of its own. The user before sees carries the account's
// badPwdCount and badPasswordTime from the search and its lockout policy
// (cached, see effectivePolicy).
func (d *Directory) AuthenticateWith(ctx context.Context, login, password string, before func(context.Context, *directory.User) error) (*directory.User, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	// An empty password would be an LDAP unauthenticated bind, which
	// succeeds: never send one.
	if login == "" || password == "" {
		return nil, fmt.Errorf("ad: authenticate: %w", directory.ErrInvalidCredentials)
	}
	e, err := d.findUser(ctx, login)
	switch {
	case errors.Is(err, directory.ErrUserNotFound), errors.Is(err, directory.ErrAmbiguousUser):
		d.log.DebugContext(ctx, "sign-in refused", "event", "auth", "user", login, "reason", err)
		return nil, fmt.Errorf("ad: authenticate: %w", directory.ErrInvalidCredentials)
	case err != nil:
		return nil, err
	}
	var u *directory.User
	if before != nil {
		// The user is decoded before the bind only when someone looks at
		// it: a plain Authenticate keeps the group expansion for after a
		// right password.
		if u, err = d.toUser(ctx, e); err != nil {
			return nil, err
		}
		if err := before(ctx, u); err != nil {
			return nil, err
		}
	}
	err = d.bindUser(ctx, e.DN, password)
	if err != nil && !directory.PasswordAccepted(err) {
		d.log.DebugContext(ctx, "sign-in refused", "event", "auth", "user", login, "reason", err)
		return nil, fmt.Errorf("ad: authenticate: %w", err)
	}
	if u == nil {
		var uerr error
		if u, uerr = d.toUser(ctx, e); uerr != nil {
			return nil, uerr
		}
	}
	if err != nil {
		return u, fmt.Errorf("ad: authenticate: %w", err)
	}
	return u, nil
}

// bindUser binds as dn on a connection of a bind pool. Only a failure before
// any answer moves to another DC; a bind that got an answer is final.
func (d *Directory) bindUser(ctx context.Context, dn, password string) error {
	err := d.run(ctx, runOpts{kind: bindPool, name: "bind"}, func(ctx context.Context, c ldapConn, _ *dc) error {
		return c.Bind(ctx, dn, password)
	})
	if err != nil && !isTransport(err) {
		return mapBindError(err)
	}
	return err
}

// LookupUser finds a user by any configured login attribute.
func (d *Directory) LookupUser(ctx context.Context, login string) (*directory.User, error) {
	ctx, cancel := d.callContext(ctx)
	defer cancel()
	e, err := d.findUser(ctx, login)
	if err != nil {
		return nil, err
	}
	return d.toUser(ctx, e)
}

// toUser decodes a user entry, expands its groups and, for a locked user,
// works out when the lockout ends.
// alternateMail is the configured alternate address attribute's value, if
// it looks like an address (otherMailbox may also hold other things).
func (d *Directory) alternateMail(e *ldap.Entry) string {
	if d.cfg.AlternateEmailAttribute == "" {
		return ""
	}
	for _, v := range e.GetEqualFoldAttributeValues(d.cfg.AlternateEmailAttribute) {
		if _, err := mail.ParseAddress(v); err == nil && !strings.ContainsAny(v, "<> ") {
			return v
		}
	}
	return ""
}

func (d *Directory) toUser(ctx context.Context, e *ldap.Entry) (*directory.User, error) {
	u, err := decodeUser(e, d.cfg.ImmutableIDAttribute)
	if err != nil {
		return nil, err
	}
	u.AlternateMail = d.alternateMail(e)
	u.Attributes = d.readExtra(ctx, e)
	u.Groups, err = d.expandGroups(ctx, e.GetEqualFoldAttributeValues("memberOf"))
	if err != nil {
		return nil, fmt.Errorf("ad: groups of %s: %w", u.DN, err)
	}
	pol, err := d.lockoutPolicy(ctx, e.GetEqualFoldAttributeValue("msDS-ResultantPSO"))
	if err != nil {
		d.log.WarnContext(ctx, "cannot read the lockout policy", "event", "policy", "user", u.SAMAccountName, "err", err)
	} else {
		lp := pol.Lockout()
		u.State.Lockout = &lp
	}
	if u.State.Locked && err == nil && pol.LockoutDuration > 0 {
		if at := fileTime(attrInt(e, "lockoutTime")); !at.IsZero() {
			u.State.LockedUntil = at.Add(pol.LockoutDuration)
		}
	}
	return u, nil
}

// lockoutPolicy is the policy of the user's PSO, or the domain's when the
// user has none — or when the PSO cannot be read: by default only domain
// administrators may read PSOs, and a service account that may read the
// user's msDS-ResultantPSO but not the PSO itself still gets a lockout
// rule (the domain's) rather than none.
func (d *Directory) lockoutPolicy(ctx context.Context, psoDN string) (directory.Policy, error) {
	pol, err := d.effectivePolicy(ctx, psoDN)
	if err != nil && psoDN != "" && !isTransport(err) {
		d.log.WarnContext(ctx, "cannot read the user's password settings object; using the domain policy",
			"event", "policy", "pso", psoDN, "err", err)
		return d.effectivePolicy(ctx, "")
	}
	return pol, err
}

// decodeUser fills a User from a user entry (without groups).
//
// ID is the lower-case hex of objectGUID's 16 bytes as stored. ImmutableID
// is the standard base64 of the raw bytes of the configured attribute; for
// ms-DS-ConsistencyGuid, an empty value falls back to objectGUID — exactly
// what Entra Connect uses as the source anchor (and then writes back) when
// ms-DS-ConsistencyGuid is empty, so the value matches Entra either way.
func decodeUser(e *ldap.Entry, immutableAttr string) (*directory.User, error) {
	guid := e.GetEqualFoldRawAttributeValue("objectGUID")
	if len(guid) != 16 {
		return nil, fmt.Errorf("ad: user %s has no 16-byte objectGUID", e.DN)
	}
	immutable := e.GetEqualFoldRawAttributeValue(immutableAttr)
	if len(immutable) == 0 {
		immutable = guid
	}
	uac := attrInt(e, "userAccountControl")
	computed := attrInt(e, "msDS-User-Account-Control-Computed")
	pwdLastSet, hasPwdLastSet := attrIntOK(e, "pwdLastSet")
	u := &directory.User{
		ID:             hex.EncodeToString(guid),
		DN:             e.DN,
		SAMAccountName: e.GetEqualFoldAttributeValue("sAMAccountName"),
		UPN:            e.GetEqualFoldAttributeValue("userPrincipalName"),
		Mail:           e.GetEqualFoldAttributeValue("mail"),
		DisplayName:    e.GetEqualFoldAttributeValue("displayName"),
		GivenName:      e.GetEqualFoldAttributeValue("givenName"),
		Surname:        e.GetEqualFoldAttributeValue("sn"),
		ImmutableID:    base64.StdEncoding.EncodeToString(immutable),
		State: directory.AccountState{
			Disabled:        uac&uacDisabled != 0,
			Locked:          computed&computedLockedOut != 0,
			MustChange:      hasPwdLastSet && pwdLastSet == 0,
			PasswordExpires: fileTime(attrInt(e, "msDS-UserPasswordExpiryTimeComputed")),
			AccountExpires:  fileTime(attrInt(e, "accountExpires")),
			PasswordLastSet: fileTime(pwdLastSet),
			// Per DC and not replicated: the count of the DC that answered.
			BadPasswordCount: int(attrInt(e, "badPwdCount")),
			BadPasswordTime:  fileTime(attrInt(e, "badPasswordTime")),
		},
	}
	return u, nil
}

func attrIntOK(e *ldap.Entry, name string) (int64, bool) {
	v := e.GetEqualFoldAttributeValue(name)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

func attrInt(e *ldap.Entry, name string) int64 {
	n, _ := attrIntOK(e, name)
	return n
}

// fileTimeEpoch is 1970-01-01 in FILETIME (100 ns since 1601-01-01 UTC).
const fileTimeEpoch = 116444736000000000

// fileTime decodes an AD FILETIME. 0 and 0x7FFFFFFFFFFFFFFF (and anything
// negative) mean "never" and decode to the zero time.
func fileTime(ft int64) time.Time {
	if ft <= 0 || ft == math.MaxInt64 {
		return time.Time{}
	}
	since := ft - fileTimeEpoch // no overflow: ft > 0
	sec, rest := since/1e7, since%1e7
	if rest < 0 {
		sec, rest = sec-1, rest+1e7
	}
	return time.Unix(sec, rest*100).UTC()
}

// interval decodes an AD policy interval: a negative count of 100 ns.
// math.MinInt64 (AD's "never"/"forever") and 0 decode to 0.
func interval(v int64) time.Duration {
	if v == math.MinInt64 || v == 0 {
		return 0
	}
	if v < 0 {
		v = -v
	}
	if v > math.MaxInt64/100 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(v * 100)
}
