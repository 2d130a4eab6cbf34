package assertion

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// TimeFormat is how every instant in a token is written: UTC with
// milliseconds, as AD FS writes them (xs:dateTime).
const TimeFormat = "2006-01-02T15:04:05.000Z"

// FormatTime writes t in TimeFormat.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Marshal writes el as a standalone document: no whitespace added, text and
// attribute values escaped as canonical XML escapes them (so CR, TAB and LF
// survive a parse), every non-ASCII character as a numeric character
// reference (old MSAL Python reads tokens as us-ascii; references are
// signature-safe), and with an XML declaration when decl is set. el is
// not changed.
func Marshal(el *etree.Element, decl bool) ([]byte, error) {
	doc := etree.NewDocument()
	doc.WriteSettings = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}
	if decl {
		doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	}
	doc.AddChild(el.Copy())
	var buf bytes.Buffer
	if _, err := doc.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("assertion: marshal <%s>: %w", el.Tag, err)
	}
	return asciiOnly(buf.Bytes()), nil
}

// asciiOnly replaces every non-ASCII character with a character reference.
// The documents Gatehouse writes have ASCII names only, so every such
// character is inside text or an attribute value, where a reference means
// the same.
func asciiOnly(b []byte) []byte {
	n := 0
	for _, c := range b {
		if c >= utf8.RuneSelf {
			n++
		}
	}
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n*6)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r < utf8.RuneSelf {
			out = append(out, b[0])
		} else {
			out = append(out, "&#x"...)
			out = strconv.AppendInt(out, int64(r), 16)
			out = append(out, ';')
		}
		b = b[size:]
	}
	return out
}

// CheckText reports whether s can be carried in a signed XML document
// unchanged: valid UTF-8, only characters XML 1.0 allows, and no carriage
// return (parsers turn a literal one into LF, and some canonicalizers, such
// as xml-crypto's, mishandle an escaped one, so the signature would fail
// there). what names the value in the error.
func CheckText(what, s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return fmt.Errorf("%s is not valid UTF-8", what)
			}
		}
		if r == '\r' {
			return fmt.Errorf("%s contains a carriage return", what)
		}
		if !isXMLChar(r) {
			return fmt.Errorf("%s contains character %U, which XML cannot carry", what, r)
		}
	}
	return nil
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}

// textField is one value a builder writes, named for its error messages.
type textField struct{ what, v string }

// checkFields checks every value with CheckText and, when required, that
// it is not blank.
func checkFields(required bool, fields ...textField) []error {
	var errs []error
	for _, f := range fields {
		if required && strings.TrimSpace(f.v) == "" {
			errs = append(errs, fmt.Errorf("%s is empty", f.what))
		} else if err := CheckText(f.what, f.v); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
