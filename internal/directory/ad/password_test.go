package ad

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

func rootDSEWith(controls ...string) func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	inner := directoryHandler()
	return func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
		if req.BaseDN == "" {
			return &ldap.SearchResult{Entries: []*ldap.Entry{ldap.NewEntry("", map[string][]string{
				"supportedControl": append([]string{"1.2.840.113556.1.4.319", "1.2.840.113556.1.4.473"}, controls...),
			})}}, nil
		}
		return inner(req)
	}
}

func aliceUser() *directory.User {
	return &directory.User{DN: aliceDN, SAMAccountName: "alice", DisplayName: "Alice Smith"}
}

func TestResetSendsPolicyHintsWhenAdvertised(t *testing.T) {
	tests := []struct {
		name       string
		advertised []string
		wantOID    string
	}{
		{"the current control", []string{oidPolicyHints, oidPolicyHintsDeprecated}, oidPolicyHints},
		{"the older control when only it is listed", []string{oidPolicyHintsDeprecated}, oidPolicyHintsDeprecated},
		{"nothing when not advertised (Samba 4.17)", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := healthyFake("dc1")
			f.search = rootDSEWith(tt.advertised...)
			d, _ := newFakeDirectory(t, testConfig(), f)
			if err := d.ResetPassword(context.Background(), aliceUser(), "N3w-Passw0rd!"); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.modifies) != 1 {
				t.Fatalf("%d modifies", len(f.modifies))
			}
			req := f.modifies[0]
			if len(req.Changes) != 1 || req.Changes[0].Operation != ldap.ReplaceAttribute ||
				req.Changes[0].Modification.Type != "unicodePwd" ||
				req.Changes[0].Modification.Vals[0] != EncodePassword("N3w-Passw0rd!") {
				t.Errorf("not a unicodePwd replace: %+v", req.Changes)
			}
			if tt.wantOID == "" {
				if len(req.Controls) != 0 {
					t.Errorf("controls sent to a DC that does not list them: %v", req.Controls)
				}
				return
			}
			if len(req.Controls) != 1 || req.Controls[0].GetControlType() != tt.wantOID {
				t.Fatalf("controls = %v, want %s", req.Controls, tt.wantOID)
			}
			// On the wire: SEQUENCE { OID, critical TRUE, OCTET STRING { 30 03 02 01 01 } }
			// (asn1-ber writes TRUE as 01, valid BER).
			wire := req.Controls[0].Encode().Bytes()
			want := append([]byte{0x30, byte(2 + len(tt.wantOID) + 3 + 7), 0x04, byte(len(tt.wantOID))}, tt.wantOID...)
			want = append(want, 0x01, 0x01, 0x01, 0x04, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01)
			if !bytes.Equal(wire, want) {
				t.Errorf("control encodes as % x, want % x", wire, want)
			}
		})
	}
	t.Run("the RootDSE is read once per DC", func(t *testing.T) {
		f := healthyFake("dc1")
		f.search = rootDSEWith(oidPolicyHints)
		d, _ := newFakeDirectory(t, testConfig(), f)
		for range 3 {
			if err := d.ResetPassword(context.Background(), aliceUser(), "N3w-Passw0rd!"); err != nil {
				t.Fatal(err)
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		n := 0
		for _, s := range f.searches {
			if s.BaseDN == "" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("RootDSE read %d times", n)
		}
	})
}

func TestResetChecksHistoryOnlyWhereTheDCAdvertisesPolicyHints(t *testing.T) {
	for _, tt := range []struct {
		name       string
		advertised []string
		want       bool
	}{
		{"a DC listing the current control checks it", []string{oidPolicyHints}, true},
		{"a DC listing only the older control checks it", []string{oidPolicyHintsDeprecated}, true},
		{"a DC listing neither (Samba 4.17) does not", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := healthyFake("dc1")
			f.search = rootDSEWith(tt.advertised...)
			d, _ := newFakeDirectory(t, testConfig(), f)
			got, err := d.ResetChecksHistory(context.Background())
			if err != nil || got != tt.want {
				t.Fatalf("ResetChecksHistory = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	t.Run("an unreachable DC is an error, not a promise", func(t *testing.T) {
		f := healthyFake("dc1")
		f.search = func(*ldap.SearchRequest) (*ldap.SearchResult, error) { return nil, errors.New("connection reset") }
		d, _ := newFakeDirectory(t, testConfig(), f)
		if got, err := d.ResetChecksHistory(context.Background()); err == nil || got {
			t.Fatalf("ResetChecksHistory = %v, %v; want an error", got, err)
		}
	})
}

func TestChangeIsOneDeleteAddModify(t *testing.T) {
	f := healthyFake("dc1")
	d, _ := newFakeDirectory(t, testConfig(), f)
	if err := d.ChangePassword(context.Background(), aliceUser(), "Al1ce!Passw0rd", "N3w-Passw0rd!"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.modifies) != 1 {
		t.Fatalf("%d modifies", len(f.modifies))
	}
	c := f.modifies[0].Changes
	if len(c) != 2 || c[0].Operation != ldap.DeleteAttribute || c[1].Operation != ldap.AddAttribute ||
		c[0].Modification.Vals[0] != EncodePassword("Al1ce!Passw0rd") || c[1].Modification.Vals[0] != EncodePassword("N3w-Passw0rd!") ||
		len(f.modifies[0].Controls) != 0 {
		t.Errorf("changes = %+v", c)
	}
}

func TestNoPasswordIsWrittenWithoutTLS(t *testing.T) {
	t.Run("a DC connection that is not encrypted is never used", func(t *testing.T) {
		f := healthyFake("dc1")
		f.plaintext = true
		d, _ := newFakeDirectory(t, testConfig(), f)
		ctx := context.Background()
		if err := d.ChangePassword(ctx, aliceUser(), "Al1ce!Passw0rd", "N3w-Passw0rd!"); !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("ChangePassword = %v", err)
		}
		if err := d.ResetPassword(ctx, aliceUser(), "N3w-Passw0rd!"); !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("ResetPassword = %v", err)
		}
		if _, err := d.Authenticate(ctx, "alice", "Al1ce!Passw0rd"); !errors.Is(err, directory.ErrUnavailable) {
			t.Errorf("Authenticate = %v", err)
		}
		if _, ub, s, m := f.counts(); ub+s+m != 0 || f.svcBinds != 0 {
			t.Errorf("requests went over plain LDAP: %d binds, %d searches, %d modifies, %d service binds", ub, s, m, f.svcBinds)
		}
	})
	t.Run("the write itself checks again", func(t *testing.T) {
		f := &fakeDC{name: "dc1"}
		err := modifyEncrypted(context.Background(), &fakeConn{dc: f, plaintext: true}, ldap.NewModifyRequest(aliceDN, nil))
		if !errors.Is(err, errPlaintext) {
			t.Errorf("got %v", err)
		}
		if _, _, _, m := f.counts(); m != 0 {
			t.Errorf("%d modifies sent", m)
		}
	})
	t.Run("only ldaps:// and ldap:// with StartTLS exist", func(t *testing.T) {
		for _, raw := range []string{"ldapi:///run/ldapi", "cldap://dc1", "http://dc1", "dc1:389", "ldaps://", "ldaps://dc1/dc=x", "ldaps://u:p@dc1"} {
			if _, err := parseTarget(raw, baseTLS()); err == nil {
				t.Errorf("parseTarget(%q) accepted", raw)
			}
		}
		for raw, want := range map[string]target{
			"ldaps://dc1.corp.example.test":      {addr: "dc1.corp.example.test:636", name: "dc1.corp.example.test"},
			"LDAPS://dc1.corp.example.test:3269": {addr: "dc1.corp.example.test:3269", name: "dc1.corp.example.test"},
			"ldap://dc1.corp.example.test":       {addr: "dc1.corp.example.test:389", name: "dc1.corp.example.test", startTLS: true},
			"ldap://[::1]:1389/":                 {addr: "[::1]:1389", name: "::1", startTLS: true},
		} {
			got, err := parseTarget(raw, baseTLS())
			if err != nil || got.addr != want.addr || got.startTLS != want.startTLS {
				t.Errorf("parseTarget(%q) = %+v, %v", raw, got, err)
				continue
			}
			if got.tls.ServerName != want.name {
				t.Errorf("ServerName = %q for %s, want %q", got.tls.ServerName, raw, want.name)
			}
			if got.tls.MinVersion < tls.VersionTLS12 {
				t.Errorf("MinVersion = %x", got.tls.MinVersion)
			}
		}
	})
}

func TestPolicyRefusalsBecomeReasons(t *testing.T) {
	policyRefusal := ldapErr(ldap.LDAPResultConstraintViolation, "0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!")
	tests := []struct {
		name       string
		pwdLastSet string // alice's, as FILETIME
		minAge     string // domain minPwdAge
		history    string
		write      error
		newPW      string
		want       directory.Reason
		wantErr    error
		noWrite    bool
	}{
		{name: "a refusal with history on is the history", history: "24", write: policyRefusal, newPW: "N3w-Passw0rd!", want: directory.ReasonHistory},
		{name: "a refusal within the minimum age is too young", history: "24", minAge: "-864000000000", write: policyRefusal, newPW: "N3w-Passw0rd!", want: directory.ReasonTooYoung},
		{name: "Windows' wordless refusal is explained the same way", history: "24",
			write: ldapErr(19, "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)"),
			newPW: "N3w-Passw0rd!", want: directory.ReasonHistory},
		{name: "a refusal no rule explains is refused", history: "0", write: policyRefusal, newPW: "N3w-Passw0rd!", want: directory.ReasonUnknownRefusal},
		{name: "a short password is refused before writing", history: "24", newPW: "Sh0rt!", want: directory.ReasonTooShort, noWrite: true},
		{name: "a simple password is refused before writing", history: "24", newPW: "alllowercaseletters", want: directory.ReasonComplexity, noWrite: true},
		{name: "the account name inside is refused before writing (Samba would accept it)", history: "24", newPW: "X-alice-2026!", want: directory.ReasonContainsName, noWrite: true},
		{name: "a display-name part inside is refused before writing", history: "24", newPW: "Smith-2026-Xy!", want: directory.ReasonContainsName, noWrite: true},
		{name: "a wrong old password is ErrWrongPassword", history: "24",
			write: ldapErr(19, "00000056: Constraint violation - The old password specified doesn't match!"),
			newPW: "N3w-Passw0rd!", wantErr: directory.ErrWrongPassword},
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice := aliceEntry()
			// Password set an hour ago.
			set := now.Add(-time.Hour).UnixNano()/100 + fileTimeEpoch
			for _, a := range alice.Attributes {
				if a.Name == "pwdLastSet" {
					a.Values = []string{strconv.FormatInt(set, 10)}
				}
			}
			inner := directoryHandler(alice)
			f := healthyFake("dc1")
			f.search = func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
				res, err := inner(req)
				if err == nil && req.Scope == ldap.ScopeBaseObject && strings.EqualFold(req.BaseDN, testBaseDN) {
					e := res.Entries[0]
					for _, a := range e.Attributes {
						switch {
						case a.Name == "minPwdAge" && tt.minAge != "":
							a.Values = []string{tt.minAge}
						case a.Name == "pwdHistoryLength":
							a.Values = []string{tt.history}
						}
					}
				}
				return res, err
			}
			f.modify = func(*ldap.ModifyRequest) error { return tt.write }
			d, logs := newFakeDirectory(t, testConfig(), f)
			d.now = func() time.Time { return now }
			err := d.ChangePassword(context.Background(), aliceUser(), "Al1ce!Passw0rd", tt.newPW)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
			} else {
				var pe *directory.PolicyError
				if !errors.As(err, &pe) || !pe.Has(tt.want) {
					t.Fatalf("got %v, want a PolicyError with %s", err, tt.want)
				}
				for _, v := range pe.Violations {
					if v.Message == "" || strings.Contains(v.Message, "0000") || strings.Contains(v.Message, "check_password") {
						t.Errorf("violation %+v is not worded for a user", v)
					}
				}
			}
			if _, _, _, m := f.counts(); (m == 0) != tt.noWrite {
				t.Errorf("%d modifies, noWrite=%v", m, tt.noWrite)
			}
			if strings.Contains(logs.String(), tt.newPW) || strings.Contains(logs.String(), "Al1ce!Passw0rd") {
				t.Errorf("a password was logged:\n%s", logs)
			}
		})
	}
}

func TestUnlockReplacesLockoutTime(t *testing.T) {
	f := healthyFake("dc1")
	d, _ := newFakeDirectory(t, testConfig(), f)
	if err := d.Unlock(context.Background(), aliceUser()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.modifies[0].Changes
	if len(c) != 1 || c[0].Operation != ldap.ReplaceAttribute || c[0].Modification.Type != "lockoutTime" || c[0].Modification.Vals[0] != "0" {
		t.Errorf("changes = %+v", c)
	}
}
