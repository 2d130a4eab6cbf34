package ad

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

func TestBindDataCodesMapToTypedErrors(t *testing.T) {
	msg := func(code string) error {
		return ldapErr(ldap.LDAPResultInvalidCredentials,
			"80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data "+code+", v1db1")
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"52e, a bad password, is invalid credentials", msg("52e"), directory.ErrInvalidCredentials},
		{"525, an unknown user, is invalid credentials", msg("525"), directory.ErrInvalidCredentials},
		{"530, a forbidden time, is not permitted", msg("530"), directory.ErrNotPermitted},
		{"531, a forbidden workstation, is not permitted", msg("531"), directory.ErrNotPermitted},
		{"532 is an expired password", msg("532"), directory.ErrPasswordExpired},
		{"533 is a disabled account", msg("533"), directory.ErrAccountDisabled},
		{"701 is an expired account", msg("701"), directory.ErrAccountExpired},
		{"773 is a password that must change", msg("773"), directory.ErrMustChangePassword},
		{"775 is a locked account", msg("775"), directory.ErrAccountLocked},
		{"upper-case hex still maps", msg("52E"), directory.ErrInvalidCredentials},
		{"an unknown data code is invalid credentials", msg("999"), directory.ErrInvalidCredentials},
		{"a 49 without a data field is invalid credentials", ldapErr(49, "invalid credentials"), directory.ErrInvalidCredentials},
		{"a wrapped answer still maps", fmt.Errorf("wrapped: %w", msg("775")), directory.ErrAccountLocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mapBindError(tt.err); !errors.Is(got, tt.want) {
				t.Errorf("mapBindError = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("other results are not mistaken for credentials", func(t *testing.T) {
		got := mapBindError(ldapErr(ldap.LDAPResultUnwillingToPerform, "00002035: unwilling"))
		for _, typed := range bindErrors {
			if errors.Is(got, typed) {
				t.Errorf("result 53 mapped to %v", typed)
			}
		}
		if !ldap.IsErrorWithCode(got, ldap.LDAPResultUnwillingToPerform) {
			t.Errorf("the LDAP error is not kept: %v", got)
		}
	})
	t.Run("a transport failure passes through untouched", func(t *testing.T) {
		err := sentTransport()
		if got := mapBindError(err); !errors.Is(got, err) || got.Error() != err.Error() {
			t.Errorf("got %v", got)
		}
	})
	t.Run("password-accepted codes are recognized by the flow", func(t *testing.T) {
		for _, code := range []string{"532", "773"} {
			if !directory.PasswordAccepted(mapBindError(msg(code))) {
				t.Errorf("%s: PasswordAccepted is false", code)
			}
		}
		for _, code := range []string{"52e", "533", "701", "775"} {
			if directory.PasswordAccepted(mapBindError(msg(code))) {
				t.Errorf("%s: PasswordAccepted is true", code)
			}
		}
	})
}

func TestPasswordWriteRefusalsAreClassifiedByCodeOnly(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want writeRefusal
	}{
		{"Samba's too short", ldapErr(19, "0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 7 characters!"), refusalPolicy},
		{"Samba's history", ldapErr(19, "0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!"), refusalPolicy},
		{"Windows' wording", ldapErr(19, "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)"), refusalPolicy},
		{"Windows' reset refusal as unwilling to perform", ldapErr(53, "0000052D: SvcErr: DSID-031A1248, problem 5003 (WILL_NOT_PERFORM), data 0"), refusalPolicy},
		{"a bare constraint violation", ldapErr(19, "constraint violation"), refusalPolicy},
		{"Samba's wrong old password", ldapErr(19, "00000056: Constraint violation - The old password specified doesn't match!"), refusalWrongOld},
		{"Windows' wrong old password", ldapErr(19, "00000056: AtrErr: DSID-03190F80, #1:\n\t0: 00000056: DSID-03190F80, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)"), refusalWrongOld},
		{"insufficient rights", ldapErr(50, "00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0"), refusalOther},
		{"not an LDAP answer", errors.New("boom"), refusalOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyWrite(tt.err); got != tt.want {
				t.Errorf("classifyWrite = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTransportClassification(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		transport bool
	}{
		{"an LDAP result is an answer", ldapErr(49, "data 52e"), false},
		{"go-ldap's network error is transport", ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection closed")), true},
		{"a read failure is transport", errors.New("unable to read LDAP response packet: read tcp: i/o timeout"), true},
		{"go-ldap's local empty-password refusal is not transport", ldap.NewError(ldap.ErrorEmptyPassword, errors.New("empty")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isTransport(classify(tt.err, true)); got != tt.transport {
				t.Errorf("isTransport(classify(%v)) = %v, want %v", tt.err, got, tt.transport)
			}
		})
	}
}

// FuzzBindAnswer feeds arbitrary diagnostics (they come from the network)
// to the parsers: they must not panic, and a result 49 must always map to a
// typed error.
func FuzzBindAnswer(f *testing.F) {
	f.Add(uint16(49), "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 773, v1db1")
	f.Add(uint16(19), "0000052D: Constraint violation")
	f.Add(uint16(49), "data ")
	f.Fuzz(func(t *testing.T, code uint16, msg string) {
		err := ldapErr(code, msg)
		mapped := mapBindError(err)
		_ = classifyWrite(err)
		if code != ldap.LDAPResultInvalidCredentials {
			return
		}
		typed := false
		for _, e := range bindErrors {
			typed = typed || errors.Is(mapped, e)
		}
		if !typed {
			t.Errorf("result 49 %q mapped to untyped %v", msg, mapped)
		}
	})
}
