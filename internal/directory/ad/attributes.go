package ad

import (
	"context"
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// Extra attributes (Options.ExtraAttributes) are read by the user search
// itself — no extra round trip — and returned in User.Attributes under
// their names in lower case.
//
// A value is returned as text when it is text; otherwise as the standard
// base64 of its bytes. An attribute is binary when it is one of
// binaryAttributes (their values are bytes even when those bytes happen
// to be valid UTF-8, as a GUID's often are) or when any of its values is
// not valid UTF-8 or holds a character XML cannot carry (NUL and most
// other control characters): then every value of it is base64, so an app
// sees one encoding per attribute. Values longer than
// directory.MaxAttributeValueLen (as returned) are left out, and at most
// directory.MaxAttributeValues values are kept; both are logged.

// binaryAttributes are AD attributes, in lower case, whose syntax is an
// octet string (GUIDs, SIDs, photos, certificates, logon hours).
var binaryAttributes = map[string]bool{
	"objectguid":               true,
	"objectsid":                true,
	"sidhistory":               true,
	"tokengroups":              true,
	"ms-ds-consistencyguid":    true,
	"msexchmailboxguid":        true,
	"msexcharchiveguid":        true,
	"msexchmasteraccountsid":   true,
	"thumbnailphoto":           true,
	"thumbnaillogo":            true,
	"jpegphoto":                true,
	"photo":                    true,
	"usercertificate":          true,
	"usersmimecertificate":     true,
	"cacertificate":            true,
	"logonhours":               true,
	"ntsecuritydescriptor":     true,
	"msds-generationid":        true,
	"msexchsaferecipientshash": true,
	"msexchsafesendershash":    true,
	"msexchblockedsendershash": true,
}

// extraAttributes adds the configured extra attributes to the attributes
// a user search asks for, each once. It returns the names it added (not
// already asked for) and the lower-case set of every extra name.
func extraAttributes(base, extra []string) (added []string, set map[string]bool) {
	if len(extra) == 0 {
		return nil, nil
	}
	asked := map[string]bool{}
	for _, a := range base {
		asked[strings.ToLower(a)] = true
	}
	set = map[string]bool{}
	for _, a := range extra {
		l := strings.ToLower(a)
		set[l] = true
		if !asked[l] {
			asked[l] = true
			added = append(added, a)
		}
	}
	return added, set
}

// readExtra returns the extra attributes of e, keyed in lower case; an
// empty map (not nil) when none has a value. An attribute AD returns in
// ranges ("proxyAddresses;range=0-1499", for more values than its
// MaxValRange) counts under its name: the cap keeps far fewer than one
// range anyway.
func (d *Directory) readExtra(ctx context.Context, e *ldap.Entry) map[string][]string {
	if d.extra == nil {
		return nil
	}
	raw := map[string][][]byte{}
	for _, a := range e.Attributes {
		name, _, _ := strings.Cut(a.Name, ";")
		if l := strings.ToLower(name); d.extra[l] {
			raw[l] = append(raw[l], a.ByteValues...)
		}
	}
	out := make(map[string][]string, len(raw))
	for name, vals := range raw {
		kept, tooLong, tooMany := encodeValues(name, vals)
		if tooLong > 0 || tooMany > 0 {
			d.log.WarnContext(ctx, "attribute values left out of the user's attributes for apps",
				"event", "attribute_capped", "user", e.GetEqualFoldAttributeValue("sAMAccountName"), "attribute", name,
				"too_long", tooLong, "too_many", tooMany,
				"max_values", directory.MaxAttributeValues, "max_bytes", directory.MaxAttributeValueLen)
		}
		if len(kept) > 0 {
			out[name] = kept
		}
	}
	return out
}

// encodeValues encodes the values of attribute name (lower case) as text
// or base64 and applies the caps, in the order the DC returned them.
func encodeValues(name string, vals [][]byte) (kept []string, tooLong, tooMany int) {
	binary := binaryAttributes[name]
	for _, v := range vals {
		if !binary && !isText(v) {
			binary = true
		}
	}
	for _, v := range vals {
		s := string(v)
		if binary {
			s = base64.StdEncoding.EncodeToString(v)
		}
		switch {
		case len(s) > directory.MaxAttributeValueLen:
			tooLong++
		case len(kept) == directory.MaxAttributeValues:
			tooMany++
		default:
			kept = append(kept, s)
		}
	}
	return kept, tooLong, tooMany
}

// isText reports whether v is valid UTF-8 made only of characters XML 1.0
// can carry (tab, newline, carriage return and everything from space up,
// except the surrogates and U+FFFE/U+FFFF).
func isText(v []byte) bool {
	if !utf8.Valid(v) {
		return false
	}
	for _, r := range string(v) {
		switch {
		case r == '\t', r == '\n', r == '\r':
		case r < 0x20, r == 0xFFFE, r == 0xFFFF:
			return false
		}
	}
	return true
}
