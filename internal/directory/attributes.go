package directory

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// AttributeSourcePrefix marks an app's attribute rule whose values come
// from a directory attribute: "ad:department" reads department.
const AttributeSourcePrefix = "ad:"

// Limits on what User.Attributes carries, so that one huge attribute (a
// photo, thousands of proxy addresses) cannot blow up a token: at most
// MaxAttributeValues values per attribute, each at most
// MaxAttributeValueLen bytes as returned (after base64 for binary values).
const (
	MaxAttributeValues   = 64
	MaxAttributeValueLen = 4096
)

// maxAttributeNameLen bounds a name; AD's own names are far shorter.
const maxAttributeNameLen = 128

var (
	// ErrAttributeName is returned for a name that is not an LDAP
	// attribute name.
	ErrAttributeName = errors.New("not an LDAP attribute name")
	// ErrSecretAttribute is returned for an attribute that holds or
	// concerns a password or another secret: it is never read for an app.
	ErrSecretAttribute = errors.New("never read for an app: it holds or concerns a password or another secret")
)

var (
	descriptorRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
	oidRE        = regexp.MustCompile(`^[0-9]+(\.[0-9]+)+$`)
)

// secretAttributes are attributes, in lower case, that hold secrets
// without "pwd" or "password" in their names (those are refused by name):
// Kerberos keys, trust and LSA secrets, the key of the password
// encryption, DPAPI and credential roaming blobs, PKCS#12 files with
// private keys, TPM owner and BitLocker key material.
var secretAttributes = map[string]bool{
	"supplementalcredentials":    true,
	"priorvalue":                 true,
	"currentvalue":               true,
	"trustauthincoming":          true,
	"trustauthoutgoing":          true,
	"initialauthincoming":        true,
	"initialauthoutgoing":        true,
	"peklist":                    true,
	"userpkcs12":                 true,
	"mspkidpapimasterkeys":       true,
	"mspkiaccountcredentials":    true,
	"mspkiroamingtimestamp":      true,
	"mstpm-ownerinformation":     true,
	"mstpm-ownerinformationtemp": true,
	"msfve-keypackage":           true,
}

// CheckAttributeName reports whether name may be read from the directory
// for an app. It must be an LDAP attribute name (a letter, then letters,
// digits or hyphens), not an OID: AD answers with the attribute's name
// whatever it was asked with, and the refusal of secrets below knows
// names. Refused (ErrSecretAttribute), whatever the service account may
// read: any name containing "pwd" or "password" (unicodePwd, userPassword,
// ms-Mcs-AdmPwd, msLAPS-Password, msDS-ManagedPassword, ntPwdHistory, …,
// and with them harmless ones such as pwdLastSet) and the other
// secret-holding attributes (supplementalCredentials, trust secrets, …).
func CheckAttributeName(name string) error {
	switch {
	case oidRE.MatchString(name):
		return fmt.Errorf("%q: name the attribute by its LDAP name, not an OID: %w", name, ErrAttributeName)
	case len(name) > maxAttributeNameLen || !descriptorRE.MatchString(name):
		return fmt.Errorf("%q: %w (a letter, then letters, digits or hyphens)", name, ErrAttributeName)
	}
	l := strings.ToLower(name)
	if strings.Contains(l, "pwd") || strings.Contains(l, "password") || secretAttributes[l] {
		return fmt.Errorf("%q: %w", name, ErrSecretAttribute)
	}
	return nil
}

// ExtraAttributes returns the directory attributes that the given
// attribute-rule sources ask for: the <name> of every "ad:<name>", each
// once (compared case-insensitively, the first spelling kept), in order.
// Other sources (upn, groups, …) are ignored. Each name is checked with
// CheckAttributeName, and every problem is reported in one error.
//
// The directory returns the values in User.Attributes under the name in
// lower case; User.Attribute looks them up by any spelling.
func ExtraAttributes(sources []string) ([]string, error) {
	var (
		out  []string
		errs []error
	)
	seen := map[string]bool{}
	for _, s := range sources {
		name, ok := strings.CutPrefix(s, AttributeSourcePrefix)
		if !ok {
			continue
		}
		if err := CheckAttributeName(name); err != nil {
			errs = append(errs, fmt.Errorf("attribute source %q: %w", s, err))
			continue
		}
		if l := strings.ToLower(name); !seen[l] {
			seen[l] = true
			out = append(out, name)
		}
	}
	return out, errors.Join(errs...)
}

// Attribute returns the values of the extra attribute name (any case), or
// nil when the user has none or it was not asked for.
func (u *User) Attribute(name string) []string {
	return u.Attributes[strings.ToLower(name)]
}
