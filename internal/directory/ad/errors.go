package ad

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// dataCodeRE finds AD's reason in a result-49 diagnostic, e.g.
// "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 773, v1db1".
var dataCodeRE = regexp.MustCompile(`(?i)\bdata ([0-9a-f]+)\b`)

// bindDataCode returns the lower-case `data` code of a bind refusal, or "".
func bindDataCode(err error) string {
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode != ldap.LDAPResultInvalidCredentials || le.Err == nil {
		return ""
	}
	m := dataCodeRE.FindStringSubmatch(le.Err.Error())
	if m == nil {
		return ""
	}
	return strings.ToLower(m[1])
}

// bindErrors maps AD's data codes to the typed errors.
var bindErrors = map[string]error{
	"52e": directory.ErrInvalidCredentials, // bad password (or unknown user)
	"525": directory.ErrInvalidCredentials, // user not found
	"530": directory.ErrNotPermitted,       // not permitted at this time
	"531": directory.ErrNotPermitted,       // not permitted from this workstation
	"532": directory.ErrPasswordExpired,    // password right, expired
	"533": directory.ErrAccountDisabled,
	"701": directory.ErrAccountExpired,
	"773": directory.ErrMustChangePassword, // password right, must change
	"775": directory.ErrAccountLocked,
}

// mapBindError turns the answer to a user bind into a typed error. A result
// 49 with an unknown or missing data code is an invalid credential; any other
// result is returned wrapped, untyped.
func mapBindError(err error) error {
	if err == nil || isTransport(err) {
		return err
	}
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode != ldap.LDAPResultInvalidCredentials {
		return fmt.Errorf("ad: user bind: %w", err)
	}
	code := bindDataCode(err)
	if typed, ok := bindErrors[code]; ok {
		return fmt.Errorf("%w (AD data %s)", typed, code)
	}
	return fmt.Errorf("%w (AD data %q)", directory.ErrInvalidCredentials, code)
}

// AD's leading hex codes on a refused password write (Windows and Samba
// word the rest differently; only the code is matched).
const (
	codePolicy      = "0000052D" // ERROR_PASSWORD_RESTRICTION
	codeWrongOldPwd = "00000056" // ERROR_INVALID_PASSWORD
)

// writeRefusal classifies the answer to a unicodePwd write.
type writeRefusal int

const (
	refusalOther writeRefusal = iota
	refusalPolicy
	refusalWrongOld
)

func classifyWrite(err error) writeRefusal {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return refusalOther
	}
	msg := ""
	if le.Err != nil {
		msg = strings.ToUpper(strings.TrimSpace(le.Err.Error()))
	}
	switch {
	case strings.HasPrefix(msg, codeWrongOldPwd):
		return refusalWrongOld
	case strings.HasPrefix(msg, codePolicy):
		return refusalPolicy
	case le.ResultCode == ldap.LDAPResultConstraintViolation:
		return refusalPolicy
	}
	return refusalOther
}
