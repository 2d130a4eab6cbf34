package ad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/directorytest"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

const day = 24 * time.Hour

func toFileTime(t time.Time) string { return strconv.FormatInt(t.UnixNano()/100+fileTimeEpoch, 10) }

// expiringEntry is a user entry as the listing search returns it. expires
// nil leaves msDS-UserPasswordExpiryTimeComputed out, as an old DC would.
func expiringEntry(n int, set time.Time, expires *time.Time, extra map[string][]string) *ldap.Entry {
	sam := fmt.Sprintf("user%02d", n)
	guid := make([]byte, 16)
	guid[15] = byte(n)
	attrs := map[string][]string{
		"objectGUID":         {string(guid)},
		"sAMAccountName":     {sam},
		"userPrincipalName":  {sam + "@corp.example.test"},
		"mail":               {sam + "@corp.example.test"},
		"displayName":        {"User " + sam},
		"userAccountControl": {"512"},
		"pwdLastSet":         {toFileTime(set)},
		"accountExpires":     {strconv.FormatInt(math.MaxInt64, 10)},
	}
	if expires != nil {
		attrs["msDS-UserPasswordExpiryTimeComputed"] = []string{toFileTime(*expires)}
	}
	for k, v := range extra {
		attrs[k] = v
	}
	return ldap.NewEntry("CN=User "+sam+",OU=Staff,"+testBaseDN, attrs)
}

func ptr(t time.Time) *time.Time { return &t }

func names(us []*directory.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.SAMAccountName
	}
	return out
}

func TestListExpiringFollowsThePagingCookieOnOneConnection(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	set := now.Add(-40 * day)
	pages := [][]*ldap.Entry{
		{expiringEntry(1, set, ptr(now.Add(5*day)), nil), expiringEntry(2, set, ptr(now.Add(30*day)), nil)},
		{expiringEntry(3, set, ptr(now.Add(2*day)), nil)},
		{expiringEntry(4, set, ptr(now.Add(14*day)), nil)},
	}
	var cookies []string
	f := &fakeDC{name: "dc1", search: func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
		if req.Scope != ldap.ScopeWholeSubtree || req.BaseDN != testBaseDN || req.SizeLimit != 0 {
			return nil, fmt.Errorf("unexpected search %+v", req)
		}
		if slices.Contains(req.Attributes, "memberOf") || !slices.Contains(req.Attributes, "msDS-UserPasswordExpiryTimeComputed") {
			return nil, fmt.Errorf("attributes %v", req.Attributes)
		}
		paging, ok := ldap.FindControl(req.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || paging.PagingSize != pageSize {
			return nil, errors.New("no paging control")
		}
		cookies = append(cookies, string(paging.Cookie))
		i := len(paging.Cookie) // "" → page 0, "p" → 1, "pp" → 2
		res := &ldap.SearchResult{Entries: pages[i], Referrals: []string{"ldaps://corp.example.test/CN=Configuration," + testBaseDN}}
		next := &ldap.ControlPaging{}
		if i+1 < len(pages) {
			next.SetCookie([]byte(strings.Repeat("p", i+1)))
		}
		res.Controls = []ldap.Control{next}
		return res, nil
	}}
	d, _ := newFakeDirectory(t, testConfig(), f)

	got, err := d.ListExpiring(t.Context(), now, now.Add(14*day))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"user03", "user01", "user04"}; !slices.Equal(names(got), want) {
		t.Errorf("ListExpiring = %v, want %v (soonest first, the 30-day one left out)", names(got), want)
	}
	if !slices.Equal(cookies, []string{"", "p", "pp"}) {
		t.Errorf("cookies sent %q, want every page asked for with the cookie of the one before", cookies)
	}
	if dials, _, searches, _ := f.counts(); dials != 1 || searches != 3 {
		t.Errorf("%d dials and %d searches, want all three pages on one connection", dials, searches)
	}
	if !strings.Contains(f.searches[0].Filter, "(!(userAccountControl:1.2.840.113556.1.4.803:=65536))") ||
		!strings.Contains(f.searches[0].Filter, "(mail=*)") || !strings.Contains(f.searches[0].Filter, "(pwdLastSet>=1)") {
		t.Errorf("filter %s", f.searches[0].Filter)
	}
	if _, err := ldap.CompileFilter(f.searches[0].Filter); err != nil {
		t.Errorf("filter does not compile: %v", err)
	}
}

func TestListExpiringKeepsOnlyUsersWhoCanActOnAReminder(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	set := now.Add(-40 * day)
	in := func(d time.Duration) *time.Time { return ptr(now.Add(d)) }
	entries := []*ldap.Entry{
		expiringEntry(1, set, in(3*day), nil),
		expiringEntry(2, set, in(3*day), map[string][]string{"userAccountControl": {"514"}}),                            // disabled
		expiringEntry(3, set, in(3*day), map[string][]string{"mail": nil}),                                              // no mail
		expiringEntry(4, set, in(3*day), map[string][]string{"accountExpires": {toFileTime(now.Add(-day))}}),            // account expired
		expiringEntry(5, set, in(-time.Hour), nil),                                                                      // already expired
		expiringEntry(6, set, in(0), nil),                                                                               // expires right now
		expiringEntry(7, set, nil, map[string][]string{"msDS-UserPasswordExpiryTimeComputed": {"9223372036854775807"}}), // never
		expiringEntry(8, set, in(3*day), map[string][]string{"objectGUID": {"short"}}),                                  // undecodable
		expiringEntry(9, set, in(3*day), map[string][]string{"accountExpires": {toFileTime(now.Add(day))}}),             // account still valid now
	}
	f := &fakeDC{name: "dc1", search: func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
		return &ldap.SearchResult{Entries: entries}, nil // a DC that does not page
	}}
	d, logs := newFakeDirectory(t, testConfig(), f)
	got, err := d.ListExpiring(t.Context(), now, now.Add(14*day))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"user01", "user09"}; !slices.Equal(names(got), want) {
		t.Errorf("ListExpiring = %v, want %v", names(got), want)
	}
	if !strings.Contains(logs.String(), "user left out of the expiry listing") {
		t.Errorf("the undecodable entry was not logged:\n%s", logs)
	}
}

func TestListExpiringWorksTheExpiryOutWhenTheDCLeavesItOut(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	const psoDN = "CN=Short,CN=Password Settings Container,CN=System," + testBaseDN
	entries := []*ldap.Entry{
		// Domain policy (42 days): set 40 days ago, expires in 2.
		expiringEntry(1, now.Add(-40*day), nil, nil),
		// PSO of 10 days: set 7 days ago, expires in 3.
		expiringEntry(2, now.Add(-7*day), nil, map[string][]string{"msDS-ResultantPSO": {psoDN}}),
		// Domain policy: set yesterday, expires in 41 days.
		expiringEntry(3, now.Add(-day), nil, nil),
	}
	f := &fakeDC{name: "dc1", search: func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
		switch {
		case req.Scope == ldap.ScopeWholeSubtree:
			return &ldap.SearchResult{Entries: entries}, nil
		case strings.EqualFold(req.BaseDN, testBaseDN):
			return &ldap.SearchResult{Entries: []*ldap.Entry{ldap.NewEntry(testBaseDN, map[string][]string{"maxPwdAge": {"-36288000000000"}})}}, nil
		case strings.EqualFold(req.BaseDN, psoDN):
			return &ldap.SearchResult{Entries: []*ldap.Entry{ldap.NewEntry(psoDN, map[string][]string{"msDS-MaximumPasswordAge": {adInterval(10 * day)}})}}, nil
		}
		return nil, ldapErr(ldap.LDAPResultNoSuchObject, "no such object")
	}}
	d, logs := newFakeDirectory(t, testConfig(), f)
	got, err := d.ListExpiring(t.Context(), now, now.Add(14*day))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"user01", "user02"}; !slices.Equal(names(got), want) {
		t.Fatalf("ListExpiring = %v, want %v", names(got), want)
	}
	if want := now.Add(2 * day); !got[0].State.PasswordExpires.Equal(want) {
		t.Errorf("domain policy: expires %v, want %v", got[0].State.PasswordExpires, want)
	}
	if want := now.Add(3 * day); !got[1].State.PasswordExpires.Equal(want) {
		t.Errorf("PSO: expires %v, want %v", got[1].State.PasswordExpires, want)
	}
	if !strings.Contains(logs.String(), "did not return msDS-UserPasswordExpiryTimeComputed") {
		t.Errorf("the fallback was not logged:\n%s", logs)
	}
}

func TestListExpiringFailsRatherThanReturnAShortList(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		firstPage bool // the first page is answered, the second fails
		err       error
	}{
		{"a DC that does not page stops at its size limit", false, ldapErr(ldap.LDAPResultSizeLimitExceeded, "size limit exceeded")},
		{"a DC that refuses the second page", true, ldapErr(ldap.LDAPResultUnwillingToPerform, "paged results cookie invalid")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDC{name: "dc1", search: func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
				paging, _ := ldap.FindControl(req.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
				if tc.firstPage && paging != nil && len(paging.Cookie) == 0 {
					next := &ldap.ControlPaging{}
					next.SetCookie([]byte("more"))
					return &ldap.SearchResult{Entries: []*ldap.Entry{expiringEntry(1, now.Add(-40*day), ptr(now.Add(day)), nil)},
						Controls: []ldap.Control{next}}, nil
				}
				return &ldap.SearchResult{Entries: []*ldap.Entry{expiringEntry(2, now.Add(-40*day), ptr(now.Add(day)), nil)}}, tc.err
			}}
			d, _ := newFakeDirectory(t, testConfig(), f)
			if got, err := d.ListExpiring(t.Context(), now, now.Add(14*day)); err == nil {
				t.Fatalf("ListExpiring = %v, nil; want an error", names(got))
			}
		})
	}
}

func TestAPagedSearchThatNeverEndsIsAbandoned(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var pages, abandons int
	f := &fakeDC{name: "dc1", search: func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
		paging, _ := ldap.FindControl(req.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if paging != nil && paging.PagingSize == 0 {
			abandons++
			return &ldap.SearchResult{}, nil
		}
		pages++
		next := &ldap.ControlPaging{}
		next.SetCookie([]byte("again"))
		return &ldap.SearchResult{Controls: []ldap.Control{next}}, nil
	}}
	d, _ := newFakeDirectory(t, testConfig(), f)
	_, err := d.ListExpiring(t.Context(), now, now.Add(14*day))
	if err == nil || !strings.Contains(err.Error(), "did not end") || pages != maxPages || abandons != 1 {
		t.Fatalf("err %v after %d pages and %d abandons; want an error after %d pages and one abandon", err, pages, abandons, maxPages)
	}
}

// TestSambaListsAPasswordThatExpiresSoon gives a user a PSO (through a
// group) with a 5-day maximum age and sets the password 3 days in the
// past, so it expires in about 2 days.
func TestSambaListsAPasswordThatExpiresSoon(t *testing.T) {
	env := requireAD(t)
	testenv.LookPath(t, "faketime", "scripts/testenv/install.sh")
	admin := env.admin(t)
	logs := &logBuffer{}
	d, err := Open(context.Background(), env.config(), Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })

	soon := env.newUser(t, admin, directorytest.PasswordA)
	never := env.newUser(t, admin, directorytest.PasswordA)
	later := env.newUser(t, admin, directorytest.PasswordA)
	const maxAge = 5 * day
	group := env.newGroup(t, admin, soon.dn, never.dn)
	psoDN := env.applyPSO(t, admin, pso{minLength: 7, history: 0, maxAge: maxAge}, group)
	// DONT_EXPIRE_PASSWORD: in the PSO's group too, but never reminded.
	replace(t, admin, never.dn, "userAccountControl", "66048")
	before := time.Now()
	setPasswordInThePast(t, env, soon.sam, directorytest.PasswordB, "-3d")
	setPasswordInThePast(t, env, never.sam, directorytest.PasswordB, "-3d")
	after := time.Now()

	now := time.Now()
	got, err := d.ListExpiring(t.Context(), now, now.Add(14*day))
	if err != nil {
		t.Fatal(err)
	}
	var found *directory.User
	for _, u := range got {
		switch strings.ToLower(u.SAMAccountName) {
		case soon.sam:
			found = u
		case never.sam:
			t.Errorf("%s has a password that never expires but was listed (expires %v)", never.sam, u.State.PasswordExpires)
		case later.sam:
			t.Errorf("%s expires under the domain policy, not within 14 days, but was listed (expires %v)", later.sam, u.State.PasswordExpires)
		}
		if !u.State.PasswordExpires.After(now) || u.State.PasswordExpires.After(now.Add(14*day)) {
			t.Errorf("%s expires %v: outside the interval", u.SAMAccountName, u.State.PasswordExpires)
		}
	}
	if found == nil {
		t.Fatalf("%s (PSO %s, password set 3 days ago) not listed among %v", soon.sam, psoDN, names(got))
	}
	// The expiry is pwdLastSet + the PSO's maximum age, and pwdLastSet is
	// "3 days ago" as faketime saw it between before and after.
	if !found.State.PasswordExpires.Equal(found.State.PasswordLastSet.Add(maxAge)) {
		t.Errorf("expires %v, want pwdLastSet %v + %v", found.State.PasswordExpires, found.State.PasswordLastSet, maxAge)
	}
	lo, hi := before.Add(-3*day+maxAge).Add(-time.Second), after.Add(-3*day+maxAge).Add(time.Second)
	if found.State.PasswordExpires.Before(lo) || found.State.PasswordExpires.After(hi) {
		t.Errorf("expires %v, want between %v and %v", found.State.PasswordExpires, lo, hi)
	}
	if found.Mail != soon.upn() || found.ID == "" || found.DN == "" {
		t.Errorf("user %+v", found)
	}
	if strings.Contains(logs.String(), "did not return") {
		t.Errorf("Samba left msDS-UserPasswordExpiryTimeComputed out of the subtree search:\n%s", logs)
	}

	t.Run("a window that ends before the expiry leaves the user out", func(t *testing.T) {
		got, err := d.ListExpiring(t.Context(), now, found.State.PasswordExpires.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(got, func(u *directory.User) bool { return strings.EqualFold(u.SAMAccountName, soon.sam) }) {
			t.Errorf("%s listed although it expires after the window", soon.sam)
		}
	})
}
