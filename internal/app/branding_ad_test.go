package app

import (
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// TestTheSignInExampleNamesTheDomainADUsersHave: derived from the base DN
// of the real DC, the example's domain is the UPN suffix its users sign
// in with.
func TestTheSignInExampleNamesTheDomainADUsersHave(t *testing.T) {
	_, srv := newADApp(t)
	const pw = "Example!Passw0rd-h"
	name := newADUser(t, pw)
	b := browse.New(t, srv.URL)
	example := signInExample(t, b)
	_, domain, ok := strings.Cut(example, "@")
	if !ok {
		t.Fatalf("the example %q names no domain", example)
	}
	page := b.Submit(map[string]string{"login": name + "@" + domain})
	if !strings.Contains(page, `id="password"`) {
		t.Fatalf("%s@%s, written like the example, is not a sign-in name:\n%s", name, domain, page)
	}
	page = b.Submit(map[string]string{"password": pw})
	if b.Status != 200 || strings.Contains(page, `id="password"`) {
		t.Errorf("%s@%s did not get past the password (status %d):\n%s", name, domain, b.Status, page)
	}
}
