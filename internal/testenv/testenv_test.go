package testenv

import "testing"

func TestInCIReadsTheCIVariable(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want bool
	}{{"true", true}, {"TRUE", true}, {"1", true}, {"", false}, {"false", false}} {
		t.Setenv("CI", tc.val)
		if got := InCI(); got != tc.want {
			t.Errorf("CI=%q: InCI() = %v, want %v", tc.val, got, tc.want)
		}
	}
}

func TestRequireReturnsSetValues(t *testing.T) {
	t.Setenv("GATEHOUSE_TEST_X", "x")
	if got := Get(t, "GATEHOUSE_TEST_X"); got != "x" {
		t.Fatalf("Get = %q, want x", got)
	}
}
