package ad

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/directorytest"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestExtraAttributeValuesAreTextOrBase64AndCapped(t *testing.T) {
	many := make([][]byte, directory.MaxAttributeValues+6)
	for i := range many {
		many[i] = []byte(fmt.Sprintf("+49 30 %04d", i))
	}
	tests := []struct {
		name             string
		attr             string
		vals             [][]byte
		want             []string
		tooLong, tooMany int
	}{
		{"text stays text", "department", [][]byte{[]byte("Sales")}, []string{"Sales"}, 0, 0},
		{"every value of a multi-valued attribute is kept, in order", "othertelephone",
			[][]byte{[]byte("1"), []byte("2"), []byte("3")}, []string{"1", "2", "3"}, 0, 0},
		{"a known binary attribute is base64 even when its bytes are valid UTF-8", "objectguid",
			[][]byte{[]byte("0123456789abcdef")}, []string{b64("0123456789abcdef")}, 0, 0},
		{"invalid UTF-8 makes every value of the attribute base64", "extensionattribute1",
			[][]byte{[]byte("ok"), {0xff, 0xfe}}, []string{b64("ok"), b64("\xff\xfe")}, 0, 0},
		{"a character XML cannot carry makes it base64", "description",
			[][]byte{[]byte("a\x00b")}, []string{b64("a\x00b")}, 0, 0},
		{"tab, newline and non-ASCII letters are text", "info",
			[][]byte{[]byte("Zeile 1\n\tMüller")}, []string{"Zeile 1\n\tMüller"}, 0, 0},
		{"a value of exactly the limit is kept", "info",
			[][]byte{[]byte(strings.Repeat("x", directory.MaxAttributeValueLen))},
			[]string{strings.Repeat("x", directory.MaxAttributeValueLen)}, 0, 0},
		{"a value over the limit is left out, the others kept", "info",
			[][]byte{[]byte("short"), []byte(strings.Repeat("x", directory.MaxAttributeValueLen+1))}, []string{"short"}, 1, 0},
		{"the limit applies after base64", "thumbnailphoto",
			[][]byte{make([]byte, directory.MaxAttributeValueLen*3/4+1)}, nil, 1, 0},
		{"only the first values up to the cap are kept", "othertelephone", many,
			func() []string {
				var out []string
				for _, v := range many[:directory.MaxAttributeValues] {
					out = append(out, string(v))
				}
				return out
			}(), 0, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tooLong, tooMany := encodeValues(tt.attr, tt.vals)
			if !slices.Equal(got, tt.want) || tooLong != tt.tooLong || tooMany != tt.tooMany {
				t.Errorf("encodeValues = %q, %d too long, %d too many; want %q, %d, %d", got, tooLong, tooMany, tt.want, tt.tooLong, tt.tooMany)
			}
		})
	}
}

func TestExtraAttributeNamesAreCheckedAtOpen(t *testing.T) {
	tests := []struct {
		name  string
		extra []string
		want  string // "" for accepted
	}{
		{"plain names are accepted", []string{"department", "otherTelephone", "objectSid"}, ""},
		{"a password attribute is refused", []string{"department", "unicodePwd"}, `"unicodePwd": never read for an app`},
		{"an OID is refused", []string{"2.5.4.4"}, `"2.5.4.4": name the attribute by its LDAP name`},
		{"a filter fragment is refused", []string{"mail)(cn=*"}, `"mail)(cn=*": not an LDAP attribute name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget("dc1", "636", false, baseTLS())
			d, err := newDirectory(testConfig(), Options{ExtraAttributes: tt.extra}, []*target{tg}, func(context.Context, *target) (ldapConn, error) {
				return nil, errors.New("no dial in this test")
			})
			if d != nil {
				_ = d.Close()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("newDirectory: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("newDirectory: %v, want an error with %s", err, tt.want)
			}
		})
	}
}

// recordingHandler is directoryHandler that remembers the attributes each
// user search and each listing asked for.
type recordingHandler struct {
	mu                   sync.Mutex
	userAttrs, listAttrs []string
	users                []*ldap.Entry
}

func (h *recordingHandler) search(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	h.mu.Lock()
	switch {
	case strings.Contains(req.Filter, "pwdLastSet>=1"):
		h.listAttrs = req.Attributes
		h.mu.Unlock()
		return &ldap.SearchResult{}, nil
	case strings.Contains(req.Filter, "objectCategory=person"):
		h.userAttrs = req.Attributes
	}
	h.mu.Unlock()
	return directoryHandler(h.users...)(req)
}

func TestExtraAttributesComeWithTheUserSearch(t *testing.T) {
	alice := aliceEntry()
	alice.Attributes = append(alice.Attributes,
		ldap.NewEntryAttribute("department", []string{"Engineering"}),
		// More values than MaxValRange: AD names the attribute with its range.
		ldap.NewEntryAttribute("proxyAddresses;range=0-1499", []string{"SMTP:alice@corp.example.test", "smtp:a@corp.example.test"}),
		ldap.NewEntryAttribute("telephoneNumber", []string{"+49 30 1234"}), // returned but not asked for
	)
	h := &recordingHandler{users: []*ldap.Entry{alice}}
	f := &fakeDC{name: "dc1", bind: aliceBind, search: h.search}
	d, _ := newFakeDirectoryOpts(t, testConfig(), Options{ExtraAttributes: []string{"Department", "proxyAddresses", "objectGUID", "mail", "otherTelephone"}}, f)
	ctx := context.Background()

	u, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"department":     {"Engineering"},
		"proxyaddresses": {"SMTP:alice@corp.example.test", "smtp:a@corp.example.test"},
		"objectguid":     {base64.StdEncoding.EncodeToString(aliceGUID)},
		"mail":           {"alice@corp.example.test"},
	}
	if fmt.Sprint(u.Attributes) != fmt.Sprint(want) {
		t.Errorf("Attributes = %q\nwant %q", u.Attributes, want)
	}
	h.mu.Lock()
	for _, a := range []string{"Department", "proxyAddresses", "otherTelephone"} {
		if !slices.Contains(h.userAttrs, a) {
			t.Errorf("the user search did not ask for %s: %v", a, h.userAttrs)
		}
	}
	for _, a := range []string{"objectGUID", "mail"} {
		if n := len(slices.DeleteFunc(slices.Clone(h.userAttrs), func(x string) bool { return !strings.EqualFold(x, a) })); n != 1 {
			t.Errorf("the user search asked for %s %d times", a, n)
		}
	}
	h.mu.Unlock()

	if _, err := d.ListExpiring(ctx, d.now(), d.now().Add(24*day)); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.listAttrs) == 0 || slices.Contains(h.listAttrs, "Department") || slices.Contains(h.listAttrs, "proxyAddresses") ||
		!slices.Contains(h.listAttrs, "mail") || !slices.Contains(h.listAttrs, "objectGUID") {
		t.Errorf("the listing asked for %v: want the user attributes without the extra ones", h.listAttrs)
	}
}

func TestNoExtraAttributesLeavesAttributesNil(t *testing.T) {
	d, _ := newFakeDirectory(t, testConfig(), healthyFake("dc1"))
	u, err := d.LookupUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.Attributes != nil {
		t.Errorf("Attributes = %q, want nil", u.Attributes)
	}
}

// TestSambaExtraAttributes reads extra attributes of a user this test
// creates from the real DC.
func TestSambaExtraAttributes(t *testing.T) {
	env := requireAD(t)
	admin := env.admin(t)
	ctx := context.Background()
	tu := env.newUser(t, admin, directorytest.PasswordA)
	replace(t, admin, tu.dn, "department", "Sales")
	replace(t, admin, tu.dn, "telephoneNumber", "+49 30 1234")
	replace(t, admin, tu.dn, "proxyAddresses", "SMTP:"+tu.upn(), "smtp:alias@"+testenv.ADDNSDomain, "sip:"+tu.upn())
	var phones []string
	for i := range directory.MaxAttributeValues + 6 {
		phones = append(phones, fmt.Sprintf("+49 30 9%03d", i))
	}
	replace(t, admin, tu.dn, "otherTelephone", phones...)
	// A "photo" whose bytes are valid UTF-8: base64 because the attribute
	// is binary, not because of its bytes.
	replace(t, admin, tu.dn, "thumbnailPhoto", "GIF89a")
	big := make([]byte, directory.MaxAttributeValueLen)
	_, _ = rand.Read(big)
	replace(t, admin, tu.dn, "jpegPhoto", "\xff\xd8\xff\xe0", string(big))

	res, err := admin.Search(ldap.NewSearchRequest(tu.dn, ldap.ScopeBaseObject, 0, 1, 0, false,
		"(objectClass=*)", []string{"objectSid"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	sid := res.Entries[0].GetRawAttributeValue("objectSid")

	extra := []string{"department", "telephoneNumber", "proxyAddresses", "otherTelephone", "objectGUID", "objectSid",
		"thumbnailPhoto", "jpegPhoto", "facsimileTelephoneNumber"}
	cfg := env.config()
	d := openAD(t, cfg)
	logs := &testenv.Buffer{}
	dx, err := Open(ctx, cfg, Options{ExtraAttributes: extra, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dx.Close() })

	check := func(t *testing.T, u *directory.User) {
		t.Helper()
		guid, _ := hex.DecodeString(u.ID)
		for _, c := range []struct {
			attr string
			want []string
		}{
			{"department", []string{"Sales"}},
			{"telephoneNumber", []string{"+49 30 1234"}},
			{"objectGUID", []string{base64.StdEncoding.EncodeToString(guid)}},
			{"objectSid", []string{base64.StdEncoding.EncodeToString(sid)}},
			{"thumbnailPhoto", []string{b64("GIF89a")}},
			// The random one is over the limit once base64.
			{"jpegPhoto", []string{b64("\xff\xd8\xff\xe0")}},
			{"facsimileTelephoneNumber", nil},
		} {
			if got := u.Attribute(c.attr); !slices.Equal(got, c.want) {
				t.Errorf("%s = %q, want %q", c.attr, got, c.want)
			}
		}
		if got, want := lowerSorted(u.Attribute("proxyAddresses")), lowerSorted([]string{"SMTP:" + tu.upn(), "smtp:alias@" + testenv.ADDNSDomain, "sip:" + tu.upn()}); !slices.Equal(got, want) {
			t.Errorf("proxyAddresses = %q, want %q", got, want)
		}
		got := u.Attribute("otherTelephone")
		if len(got) != directory.MaxAttributeValues {
			t.Errorf("otherTelephone has %d values, want the cap of %d", len(got), directory.MaxAttributeValues)
		}
		for _, v := range got {
			if !slices.Contains(phones, v) {
				t.Errorf("otherTelephone value %q was never set", v)
			}
		}
		for k := range u.Attributes {
			if k != strings.ToLower(k) {
				t.Errorf("key %q is not lower case", k)
			}
		}
	}

	t.Run("Authenticate, LookupUser and LookupUserByID return them", func(t *testing.T) {
		u, err := dx.Authenticate(ctx, tu.upn(), directorytest.PasswordA)
		if err != nil {
			t.Fatal(err)
		}
		check(t, u)
		u, err = dx.LookupUser(ctx, tu.sam)
		if err != nil {
			t.Fatal(err)
		}
		check(t, u)
		u, err = dx.LookupUserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		check(t, u)
	})

	t.Run("what was left out is logged", func(t *testing.T) {
		for _, want := range []string{"attribute=othertelephone too_long=0 too_many=6", "attribute=jpegphoto too_long=1 too_many=0"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("no log with %q in:\n%s", want, logs.String())
			}
		}
	})

	t.Run("at no extra LDAP operation", func(t *testing.T) {
		ops := func(d *Directory) int64 {
			// The first sign-in warms the policy cache.
			if _, err := d.Authenticate(ctx, tu.upn(), directorytest.PasswordA); err != nil {
				t.Fatal(err)
			}
			before := d.ops.Load()
			if _, err := d.Authenticate(ctx, tu.upn(), directorytest.PasswordA); err != nil {
				t.Fatal(err)
			}
			return d.ops.Load() - before
		}
		if with, without := ops(dx), ops(d); with != without {
			t.Errorf("a sign-in costs %d LDAP operations with extra attributes, %d without", with, without)
		}
	})

	t.Run("without extra attributes, none are read", func(t *testing.T) {
		u, err := d.LookupUser(ctx, tu.sam)
		if err != nil {
			t.Fatal(err)
		}
		if u.Attributes != nil {
			t.Errorf("Attributes = %q", u.Attributes)
		}
	})
}
