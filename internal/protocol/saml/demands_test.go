package saml

import (
	"slices"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

const classKerberos = "urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos"

func TestRequestedAuthnContextBecomesThePolicysDemandAndTheStatedClass(t *testing.T) {
	for _, tc := range []struct {
		name       string
		classes    []string
		comparison string
		mfa, ok    bool
		// the class stated after a password only, and after MFA
		pwdClass, mfaClass string
	}{
		{"no request asks for nothing", nil, "", false, true, ClassPasswordProtectedTransport, ClassREFEDSMFA},
		{"an exact password class is met by a password and stated even after MFA", []string{ClassPasswordProtectedTransport}, "exact", false, true,
			ClassPasswordProtectedTransport, ClassPasswordProtectedTransport},
		{"an exact MFA class needs MFA and is echoed", []string{ClassMobileTwoFactor}, "", true, true, "", ClassMobileTwoFactor},
		{"Entra's multipleauthn needs MFA", []string{ClassMultipleAuthN}, "exact", true, true, "", ClassMultipleAuthN},
		{"a password or MFA class is met by a password", []string{ClassPassword, ClassREFEDSMFA}, "exact", false, true, ClassPassword, ClassREFEDSMFA},
		{"only an unknown class cannot be met", []string{classKerberos}, "exact", false, false, "", ""},
		{"a minimum of the MFA profile needs MFA", []string{ClassREFEDSMFA}, "minimum", true, true, "", ClassREFEDSMFA},
		{"a minimum of a password class is met by a password", []string{ClassPasswordProtectedTransport}, "minimum", false, true,
			ClassPasswordProtectedTransport, ClassPasswordProtectedTransport},
		{"better than a password needs MFA", []string{ClassPasswordProtectedTransport}, "better", true, true, "", ClassREFEDSMFA},
		{"better than MFA cannot be met", []string{ClassREFEDSMFA}, "better", true, false, "", ""},
		{"a maximum of a password class never claims MFA", []string{ClassPasswordProtectedTransport}, "maximum", false, true,
			ClassPasswordProtectedTransport, ClassPasswordProtectedTransport},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DemandsOf(tc.classes, tc.comparison)
			if d.MFA != tc.mfa || d.Satisfiable != tc.ok {
				t.Fatalf("DemandsOf = mfa %v satisfiable %v, want %v %v", d.MFA, d.Satisfiable, tc.mfa, tc.ok)
			}
			if !tc.ok {
				return
			}
			if !tc.mfa {
				if got := d.Class(false, false); got != tc.pwdClass {
					t.Errorf("class after a password = %s, want %s", got, tc.pwdClass)
				}
			}
			if got := d.Class(true, false); got != tc.mfaClass {
				t.Errorf("class after MFA = %s, want %s", got, tc.mfaClass)
			}
			if len(tc.classes) > 0 && !slices.Contains(tc.classes, d.Class(true, false)) && tc.comparison != "better" {
				t.Errorf("stated class %s is not one the request named", d.Class(true, false))
			}
		})
	}
	if got := DemandsOf(nil, "").Class(true, true); got != ClassMultipleAuthN {
		t.Errorf("Entra after MFA without a request: %s", got)
	}
}

func TestARequestsSubjectMustNameTheUserTheAssertionIsAbout(t *testing.T) {
	u := &directory.User{UPN: "alice@corp.example.com", Mail: "alice.smith@example.com", SAMAccountName: "alice"}
	persistent := NameID{Format: NameIDPersistent, Value: "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}
	for _, tc := range []struct {
		name    string
		subject NameID
		want    bool
	}{
		{"the NameID as issued", NameID{Format: NameIDPersistent, Value: persistent.Value}, true},
		{"the UPN, unspecified format", NameID{Value: "ALICE@corp.example.com"}, true},
		{"the user name, unspecified format", NameID{Format: NameIDUnspecified, Value: "alice"}, true},
		{"the mail address, email format", NameID{Format: NameIDEmail, Value: "alice.smith@example.com"}, true},
		{"the user name in email format is no address", NameID{Format: NameIDEmail, Value: "alice"}, false},
		{"another persistent ID", NameID{Format: NameIDPersistent, Value: "00000000-0000-0000-0000-000000000000"}, false},
		{"the UPN as a persistent ID", NameID{Format: NameIDPersistent, Value: "alice@corp.example.com"}, false},
		{"someone else", NameID{Value: "bob@corp.example.com"}, false},
	} {
		if got := subjectIs(tc.subject, persistent, u); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
