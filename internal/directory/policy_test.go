package directory

import (
	"testing"
	"time"
)

func TestPolicyCheckNamesEveryBrokenRule(t *testing.T) {
	p := Policy{MinLength: 12, Complexity: true}
	u := &User{SAMAccountName: "alice", DisplayName: "Alice Smith-Jones"}
	for _, tc := range []struct {
		name, password string
		want           []Reason
	}{
		{"a long complex password passes", "Tr1cky-Horse-Battery", nil},
		{"a short password is too short", "Ab1!", []Reason{ReasonTooShort}},
		{"two character classes are not complex", "abcdefghijklmn12", []Reason{ReasonComplexity}},
		{"the account name is refused in any case", "xxALICEyy1234!", []Reason{ReasonContainsName}},
		{"a display-name part is refused", "Jones#2024rocks", []Reason{ReasonContainsName}},
		{"short name parts are allowed", "Al-Sm-Jo-12345!x", nil},
		{"everything at once", "smith", []Reason{ReasonTooShort, ReasonComplexity, ReasonContainsName}},
		{"length counts characters, not bytes", "Äöü1Äöü1Äöü", []Reason{ReasonTooShort}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := p.Check(tc.password, u)
			if len(got) != len(tc.want) {
				t.Fatalf("Check(%q) = %v, want reasons %v", tc.password, got, tc.want)
			}
			for i := range got {
				if got[i].Reason != tc.want[i] || got[i].Message == "" {
					t.Errorf("violation %d = %+v, want %s", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestExplainWordsEachReasonFromThePolicy(t *testing.T) {
	p := Policy{MinLength: 14, HistoryLength: 24, MinAge: 24 * time.Hour}
	if m := p.Explain(ReasonTooShort).Message; m != "Use at least 14 characters." {
		t.Errorf("too short: %q", m)
	}
	if m := p.Explain(ReasonHistory).Message; m != "Choose a password you have not used before: the last 24 can't be reused." {
		t.Errorf("history: %q", m)
	}
	if m := p.Explain(ReasonTooYoung).Message; m != "Your password was changed recently; it can be changed again 24 hours after the last change." {
		t.Errorf("too young: %q", m)
	}
	if r := p.Explain("weird").Reason; r != ReasonUnknownRefusal {
		t.Errorf("unknown reason mapped to %s", r)
	}
}

func TestInGroupMatchesDNOrName(t *testing.T) {
	u := &User{Groups: []string{"CN=Engineers,OU=Staff,DC=corp,DC=example,DC=test"}}
	for _, g := range []string{"engineers", "CN=Engineers,OU=Staff,DC=corp,DC=example,DC=test", "cn=engineers,ou=staff,dc=corp,dc=example,dc=test"} {
		if !u.InGroup(g) {
			t.Errorf("InGroup(%q) = false", g)
		}
	}
	if u.InGroup("Eng") || u.InGroup("Staff") {
		t.Error("InGroup matched a partial name or an OU")
	}
}
