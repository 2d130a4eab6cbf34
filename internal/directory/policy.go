package directory

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Check tests a proposed new password against the rules of p that can be
// checked without the directory (length, complexity, account or display
// name inside the password) and returns each broken rule with wording for
// the user. History and minimum age need the directory and are not checked.
//
// Complexity follows Active Directory: at least three of upper case, lower
// case, digits, and other characters, and no part of the account name or
// display name of three or more characters.
func (p Policy) Check(password string, u *User) []PolicyViolation {
	var v []PolicyViolation
	if n := utf8.RuneCountInString(password); p.MinLength > 0 && n < p.MinLength {
		v = append(v, PolicyViolation{ReasonTooShort, fmt.Sprintf("Use at least %d characters.", p.MinLength)})
	}
	if !p.Complexity {
		return v
	}
	if classes(password) < 3 {
		v = append(v, PolicyViolation{ReasonComplexity,
			"Use at least three of: upper-case letters, lower-case letters, digits, and symbols."})
	}
	if u != nil && containsName(password, u) {
		v = append(v, PolicyViolation{ReasonContainsName, "Don't use your name or user name in the password."})
	}
	return v
}

// Explain turns the reasons a directory gave (without words, as AD does)
// into violations worded from p.
func (p Policy) Explain(r Reason) PolicyViolation {
	switch r {
	case ReasonTooShort:
		return PolicyViolation{r, fmt.Sprintf("Use at least %d characters.", p.MinLength)}
	case ReasonComplexity:
		return PolicyViolation{r, "Use at least three of: upper-case letters, lower-case letters, digits, and symbols."}
	case ReasonContainsName:
		return PolicyViolation{r, "Don't use your name or user name in the password."}
	case ReasonHistory:
		if p.HistoryLength > 1 {
			return PolicyViolation{r, fmt.Sprintf("Choose a password you have not used before: the last %d can't be reused.", p.HistoryLength)}
		}
		return PolicyViolation{r, "Choose a password different from your current one."}
	case ReasonTooYoung:
		return PolicyViolation{r, fmt.Sprintf("Your password was changed recently; it can be changed again %s after the last change.", humanDuration(p.MinAge))}
	default:
		return PolicyViolation{ReasonUnknownRefusal, "The directory refused this password. Choose a longer, less common one."}
	}
}

func classes(s string) int {
	var upper, lower, digit, other bool
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	n := 0
	for _, b := range []bool{upper, lower, digit, other} {
		if b {
			n++
		}
	}
	return n
}

// containsName applies AD's rule: no name part may appear in the
// password, case-insensitively.
func containsName(password string, u *User) bool {
	pw := strings.ToLower(password)
	for _, part := range NameParts(u) {
		if strings.Contains(pw, part) {
			return true
		}
	}
	return false
}

// NameParts are the lower-cased parts of a user's names that AD's
// complexity rule forbids in a password: the sAMAccountName (if 3+
// characters) and every 3+ character part of the display name split at
// , . - _ # space and tab.
func NameParts(u *User) []string {
	var parts []string
	if n := strings.ToLower(u.SAMAccountName); utf8.RuneCountInString(n) >= 3 {
		parts = append(parts, n)
	}
	for _, part := range strings.FieldsFunc(strings.ToLower(u.DisplayName), func(r rune) bool {
		return strings.ContainsRune(",.-_# \t", r)
	}) {
		if utf8.RuneCountInString(part) >= 3 {
			parts = append(parts, part)
		}
	}
	return parts
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	default:
		return "a moment"
	}
}
