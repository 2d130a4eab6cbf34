package ad

import (
	"context"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

func TestFileTimeDecoding(t *testing.T) {
	tests := []struct {
		name string
		ft   int64
		want time.Time
	}{
		{"0 is never", 0, time.Time{}},
		{"0x7FFFFFFFFFFFFFFF is never", math.MaxInt64, time.Time{}},
		{"a negative value is never", -1, time.Time{}},
		{"the Unix epoch", fileTimeEpoch, time.Unix(0, 0).UTC()},
		{"frank's accountExpires is in December 2012", 130000000000000000, time.Date(2012, 12, 14, 23, 6, 40, 0, time.UTC)},
		{"100 ns resolution is kept", fileTimeEpoch + 1, time.Unix(0, 100).UTC()},
		{"1601 itself", 1, time.Date(1601, 1, 1, 0, 0, 0, 100, time.UTC)},
		{"the largest real date does not overflow", math.MaxInt64 - 1, time.Date(30828, 9, 14, 2, 48, 5, 477580600, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fileTime(tt.ft); !got.Equal(tt.want) {
				t.Errorf("fileTime(%d) = %v, want %v", tt.ft, got, tt.want)
			}
		})
	}
}

func TestPolicyIntervalDecoding(t *testing.T) {
	tests := []struct {
		name string
		v    int64
		want time.Duration
	}{
		{"42 days, Samba's default maxPwdAge", -36288000000000, 42 * 24 * time.Hour},
		{"30 minutes", -18000000000, 30 * time.Minute},
		{"5 seconds", -50000000, 5 * time.Second},
		{"0 is none", 0, 0},
		{"MinInt64 is never / until an administrator unlocks", math.MinInt64, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := interval(tt.v); got != tt.want {
				t.Errorf("interval(%d) = %v, want %v", tt.v, got, tt.want)
			}
		})
	}
}

func TestPasswordIsQuotedUTF16LE(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		want []byte
	}{
		{"AD.md's example", "Secret!1", []byte{0x22, 0, 'S', 0, 'e', 0, 'c', 0, 'r', 0, 'e', 0, 't', 0, '!', 0, '1', 0, 0x22, 0}},
		{"a non-ASCII letter", "é", []byte{0x22, 0, 0xe9, 0, 0x22, 0}},
		{"a character outside the BMP becomes a surrogate pair", "😀", []byte{0x22, 0, 0x3d, 0xd8, 0x00, 0xde, 0x22, 0}},
		{"a quote inside is sent as is", `a"b`, []byte{0x22, 0, 'a', 0, 0x22, 0, 'b', 0, 0x22, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := []byte(EncodePassword(tt.pw)); string(got) != string(tt.want) {
				t.Errorf("EncodePassword(%q) = % x, want % x", tt.pw, got, tt.want)
			}
		})
	}
}

func TestUserFilterEscapesTheLogin(t *testing.T) {
	attrs := []string{"userPrincipalName", "sAMAccountName", "mail"}
	tests := []struct {
		login string
		want  string // the escaped value that must appear for every attribute
	}{
		{"alice", "alice"},
		{"*", `\2a`},
		{"*)(uid=*", `\2a\29\28uid=\2a`},
		{"alice)(|(objectClass=*", `alice\29\28|\28objectClass=\2a`},
		{`\2a`, `\5c2a`},
		{"\x00", `\00`},
		{"zoë", `zo\c3\ab`},
	}
	for _, tt := range tests {
		t.Run(tt.login, func(t *testing.T) {
			f := userFilter(attrs, tt.login)
			want := "(&(objectClass=user)(objectCategory=person)(|(userPrincipalName=" + tt.want +
				")(sAMAccountName=" + tt.want + ")(mail=" + tt.want + ")))"
			if f != want {
				t.Errorf("filter = %s\nwant     %s", f, want)
			}
			// It must compile, and into exactly one AND of two equalities and
			// an OR of len(attrs) equalities: nothing injected.
			p, err := ldap.CompileFilter(f)
			if err != nil {
				t.Fatalf("filter does not compile: %v", err)
			}
			if len(p.Children) != 3 || len(p.Children[2].Children) != len(attrs) {
				t.Errorf("filter structure changed: %d top-level, %d in the OR", len(p.Children), len(p.Children[2].Children))
			}
		})
	}
}

func TestLDAPInjectionFindsNobody(t *testing.T) {
	f := healthyFake("dc1")
	d, _ := newFakeDirectory(t, testConfig(), f)
	ctx := context.Background()
	for _, login := range []string{"*", "ali*", "*)(uid=*", "alice)(|(objectClass=*", `\2a`, "\x00", " "} {
		if u, err := d.LookupUser(ctx, login); !errors.Is(err, directory.ErrUserNotFound) {
			t.Errorf("LookupUser(%q) = %v, %v; want ErrUserNotFound", login, u, err)
		}
		if _, err := d.Authenticate(ctx, login, "Al1ce!Passw0rd"); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("Authenticate(%q) = %v; want ErrInvalidCredentials", login, err)
		}
	}
	if _, ub, _, _ := f.counts(); ub != 0 {
		t.Errorf("%d user binds for logins that match nobody", ub)
	}
}

func TestDecodeUser(t *testing.T) {
	t.Run("identity, names and a normal state", func(t *testing.T) {
		u, err := decodeUser(aliceEntry(), "objectGUID")
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != "39336ba28752a84b89b4cf89b6e4225f" {
			t.Errorf("ID = %s", u.ID)
		}
		if u.ImmutableID != base64.StdEncoding.EncodeToString(aliceGUID) {
			t.Errorf("ImmutableID = %s", u.ImmutableID)
		}
		if u.SAMAccountName != "alice" || u.UPN != "alice@corp.example.test" || u.Mail != "alice@corp.example.test" ||
			u.DisplayName != "Alice Smith" || u.GivenName != "Alice" || u.Surname != "Smith" || u.DN != aliceDN {
			t.Errorf("names: %+v", u)
		}
		s := u.State
		if s.Disabled || s.Locked || s.MustChange || !s.PasswordExpires.IsZero() || !s.AccountExpires.IsZero() ||
			!s.PasswordLastSet.Equal(fileTime(133000000000000000)) {
			t.Errorf("state: %+v", s)
		}
	})
	t.Run("ms-DS-ConsistencyGuid is used when set, whatever the case of its name", func(t *testing.T) {
		e := aliceEntry()
		cg := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
		e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: "mS-DS-ConsistencyGuid", ByteValues: [][]byte{cg}, Values: []string{string(cg)}})
		u, _ := decodeUser(e, "ms-DS-ConsistencyGuid")
		if u.ImmutableID != base64.StdEncoding.EncodeToString(cg) {
			t.Errorf("ImmutableID = %s", u.ImmutableID)
		}
	})
	t.Run("an empty ms-DS-ConsistencyGuid falls back to objectGUID, as Entra Connect does", func(t *testing.T) {
		u, _ := decodeUser(aliceEntry(), "ms-DS-ConsistencyGuid")
		if u.ImmutableID != base64.StdEncoding.EncodeToString(aliceGUID) {
			t.Errorf("ImmutableID = %s", u.ImmutableID)
		}
	})
	t.Run("disabled, locked, must change, expiring", func(t *testing.T) {
		e := ldap.NewEntry(aliceDN, map[string][]string{
			"objectGUID":                          {string(aliceGUID)},
			"userAccountControl":                  {"514"},
			"msDS-User-Account-Control-Computed":  {"8388624"}, // locked (16) + password expired (8388608)
			"pwdLastSet":                          {"0"},
			"msDS-UserPasswordExpiryTimeComputed": {"0"},
			"accountExpires":                      {"130000000000000000"},
		})
		u, err := decodeUser(e, "objectGUID")
		if err != nil {
			t.Fatal(err)
		}
		s := u.State
		if !s.Disabled || !s.Locked || !s.MustChange || !s.PasswordExpires.IsZero() || !s.PasswordLastSet.IsZero() ||
			!s.AccountExpires.Equal(time.Date(2012, 12, 14, 23, 6, 40, 0, time.UTC)) {
			t.Errorf("state: %+v", s)
		}
	})
	t.Run("an entry without objectGUID is refused", func(t *testing.T) {
		if _, err := decodeUser(ldap.NewEntry(aliceDN, nil), "objectGUID"); err == nil {
			t.Error("no error")
		}
	})
}

func TestNestedGroupsAreExpandedAndCached(t *testing.T) {
	f := healthyFake("dc1")
	d, _ := newFakeDirectory(t, testConfig(), f)
	ctx := context.Background()
	u, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CN=Engineers,OU=Staff,DC=corp,DC=example,DC=test", "CN=Staff-All,OU=Staff,DC=corp,DC=example,DC=test"}
	if strings.Join(u.Groups, ";") != strings.Join(want, ";") {
		t.Errorf("groups = %v, want %v", u.Groups, want)
	}
	_, _, searches, _ := f.counts()
	if _, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd"); err != nil {
		t.Fatal(err)
	}
	if _, _, s2, _ := f.counts(); s2-searches != 1 {
		t.Errorf("a second sign-in made %d searches, want 1 (groups from the cache)", s2-searches)
	}
}

func TestAmbiguousLoginIsInvalidCredentialsAndLogged(t *testing.T) {
	twin := aliceEntry()
	twin.DN = "CN=Alice Twin,OU=Staff,DC=corp,DC=example,DC=test"
	f := healthyFake("dc1")
	f.search = directoryHandler(aliceEntry(), twin)
	d, logs := newFakeDirectory(t, testConfig(), f)
	_, err := d.Authenticate(context.Background(), "alice@corp.example.test", "Al1ce!Passw0rd")
	if !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("Authenticate = %v, want ErrInvalidCredentials", err)
	}
	if _, err := d.LookupUser(context.Background(), "alice"); !errors.Is(err, directory.ErrAmbiguousUser) {
		t.Errorf("LookupUser = %v, want ErrAmbiguousUser", err)
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "ambiguous_login") || !strings.Contains(out, "count=2") {
		t.Errorf("no warning with the count:\n%s", out)
	}
	if strings.Contains(out, "Al1ce!Passw0rd") {
		t.Errorf("the password was logged:\n%s", out)
	}
	if _, ub, _, _ := f.counts(); ub != 0 {
		t.Errorf("an ambiguous login was bound %d times", ub)
	}
}

func TestEmptyPasswordNeverBinds(t *testing.T) {
	f := healthyFake("dc1")
	d, _ := newFakeDirectory(t, testConfig(), f)
	if _, err := d.Authenticate(context.Background(), "alice", ""); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("got %v", err)
	}
	if dials, ub, s, _ := f.counts(); dials+ub+s != 0 {
		t.Errorf("an empty password reached the DC: %d dials, %d binds, %d searches", dials, ub, s)
	}
}

func TestDomainRoot(t *testing.T) {
	tests := map[string]string{
		"DC=corp,DC=example,DC=test":                 "DC=corp,DC=example,DC=test",
		"OU=Staff,DC=corp,DC=example,DC=test":        "DC=corp,DC=example,DC=test",
		`OU=Smith\, John,OU=X,dc=corp,dc=example`:    "DC=corp,DC=example",
		"OU=Staff, DC=corp, DC=example":              "DC=corp,DC=example",
		"CN=Users,DC=corp,DC=example,DC=test,O=Ugly": "",
	}
	for in, want := range tests {
		got, err := domainRoot(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("domainRoot(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
