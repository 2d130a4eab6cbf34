package password

import (
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

func TestTheShippedListHoldsTheCommonPasswords(t *testing.T) {
	s, err := Breached()
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() < 100_000 {
		t.Fatalf("the shipped list has %d passwords; the floor is 100,000", s.Len())
	}
	// From the top, the middle and the tail of the source list.
	for _, p := range []string{"123456", "password", "qwerty", "iloveyou", "trustno1", "P@ssw0rd", "Password1"} {
		if !s.Contains(p) {
			t.Errorf("%q is not on the list", p)
		}
	}
	if s.Contains("Correct-Horse-Battery-9-Gatehouse") {
		t.Error("a long unusual password matched")
	}
}

func TestCheckRefusesBreachedAndWeakPasswords(t *testing.T) {
	s, err := Breached()
	if err != nil {
		t.Fatal(err)
	}
	c := &Checker{MinScore: 3, Breached: s, Context: []string{"contoso"}}
	u := &directory.User{SAMAccountName: "asmith", UPN: "alice.smith@corp.example.com", GivenName: "Alice", Surname: "Smith"}
	for _, tc := range []struct {
		name, pw string
		want     directory.Reason
	}{
		{"a breached password", "iloveyou", directory.ReasonBreached},
		{"a breached password in other case", "ILOVEYOU", directory.ReasonBreached},
		{"a season and year", "Summer2026!", directory.ReasonWeak},
		{"a German name and digits", "Müller12345", directory.ReasonWeak},
		{"a repeated accented letter", "éééééééééééé", directory.ReasonWeak},
		{"the user's own name and a year", "Alice2026!", directory.ReasonWeak},
		{"the organisation's name and a year", "Contoso2026", directory.ReasonWeak},
		{"a long passphrase", "copper kettle wanders north", ""},
		{"a random string", "Xk9#mQ2v!pLz", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := c.Check(tc.pw, u)
			switch {
			case tc.want == "" && len(v) > 0:
				t.Errorf("refused: %v", v)
			case tc.want != "" && (len(v) != 1 || v[0].Reason != tc.want || v[0].Message == ""):
				t.Errorf("got %v, want one %s", v, tc.want)
			}
		})
	}
}

func TestAZeroCheckerAcceptsEverything(t *testing.T) {
	var c *Checker
	if v := c.Check("123456", nil); v != nil {
		t.Errorf("nil checker refused: %v", v)
	}
	if v := (&Checker{}).Check("123456", nil); v != nil {
		t.Errorf("zero checker refused: %v", v)
	}
}

func TestAVeryLongPasswordIsScoredOnItsPrefix(t *testing.T) {
	long := ""
	for range 250 {
		long += "ab1!"
	}
	// zxcvbn on 1000 characters takes seconds; the prefix decides.
	if got, want := Score(long, nil), Score(long[:maxScored], nil); got != want {
		t.Errorf("score %d, want the first %d characters' %d", got, maxScored, want)
	}
}
