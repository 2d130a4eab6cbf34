package directory

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCheckAttributeName(t *testing.T) {
	tests := []struct {
		name string
		attr string
		want error // nil: accepted
	}{
		{"a plain name is accepted", "department", nil},
		{"a name with a hyphen and digits is accepted", "ms-DS-ConsistencyGuid", nil},
		{"a binary attribute is accepted (it comes back base64)", "objectSid", nil},
		{"an empty name is refused", "", ErrAttributeName},
		{"a name starting with a digit is refused", "1department", ErrAttributeName},
		{"a name with an option is refused", "proxyAddresses;range=0-10", ErrAttributeName},
		{"a name with a space is refused", "given name", ErrAttributeName},
		{"a filter fragment is refused", "mail)(objectClass=*", ErrAttributeName},
		{"an OID is refused: AD answers with the name", "2.5.4.4", ErrAttributeName},
		{"the password hash of unicodePwd is refused", "unicodePwd", ErrSecretAttribute},
		{"a secret is refused in any case", "UNICODEPWD", ErrSecretAttribute},
		{"userPassword is refused", "userPassword", ErrSecretAttribute},
		{"the legacy LAPS password is refused", "ms-Mcs-AdmPwd", ErrSecretAttribute},
		{"the Windows LAPS password is refused", "msLAPS-Password", ErrSecretAttribute},
		{"the encrypted Windows LAPS password is refused", "msLAPS-EncryptedPassword", ErrSecretAttribute},
		{"a gMSA password is refused", "msDS-ManagedPassword", ErrSecretAttribute},
		{"the NT hash history is refused", "ntPwdHistory", ErrSecretAttribute},
		{"Kerberos keys are refused", "supplementalCredentials", ErrSecretAttribute},
		{"an LSA secret is refused", "currentValue", ErrSecretAttribute},
		{"a trust secret is refused", "trustAuthIncoming", ErrSecretAttribute},
		{"a PKCS#12 file is refused", "userPKCS12", ErrSecretAttribute},
		{"a BitLocker recovery password is refused", "msFVE-RecoveryPassword", ErrSecretAttribute},
		{"a name over 128 characters is refused", "a" + strings.Repeat("b", 128), ErrAttributeName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAttributeName(tt.attr)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("CheckAttributeName(%q) = %v, want %v", tt.attr, err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.attr) {
				t.Errorf("error %q does not name the attribute", err)
			}
		})
	}
}

func TestExtraAttributes(t *testing.T) {
	t.Run("collects each ad: source once, first spelling kept, other sources ignored", func(t *testing.T) {
		got, err := ExtraAttributes([]string{"upn", "ad:department", "groups", "ad:otherTelephone", "ad:Department", "", "mail", "ad:objectGUID"})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"department", "otherTelephone", "objectGUID"}; !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("no ad: source asks for nothing", func(t *testing.T) {
		if got, err := ExtraAttributes([]string{"upn", "groups"}); got != nil || err != nil {
			t.Errorf("got %q, %v", got, err)
		}
	})
	t.Run("reports every bad name in one error", func(t *testing.T) {
		got, err := ExtraAttributes([]string{"ad:department", "ad:unicodePwd", "ad:", "ad:bad name"})
		if !errors.Is(err, ErrSecretAttribute) || !errors.Is(err, ErrAttributeName) {
			t.Fatalf("err = %v", err)
		}
		for _, s := range []string{`"ad:unicodePwd"`, `"ad:"`, `"ad:bad name"`} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not name %s", err, s)
			}
		}
		if !slices.Equal(got, []string{"department"}) {
			t.Errorf("got %q", got)
		}
	})
}

func TestUserAttributeIgnoresCase(t *testing.T) {
	u := &User{Attributes: map[string][]string{"othertelephone": {"1", "2"}}}
	if got := u.Attribute("otherTelephone"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("got %q", got)
	}
	if got := (&User{}).Attribute("department"); got != nil {
		t.Errorf("got %q", got)
	}
}
