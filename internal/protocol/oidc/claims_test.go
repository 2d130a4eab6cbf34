package oidc

import (
	"slices"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
)

func TestSubjectsArePairwisePerSectorAndNeverTheLoginName(t *testing.T) {
	cs := testClients(t)
	grafana, _ := cs.ByID("grafana")
	gitlab, _ := cs.ByID("gitlab")
	cli, _ := cs.ByID("cli")
	s := Subjects{Key: []byte("pairwise key")}
	const alice, bob = "6f1a2b3c4d5e6f708192a3b4c5d6e7f8", "00112233445566778899aabbccddeeff"
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a user's subject is stable at one app", s.For(grafana, alice) == Subjects{Key: []byte("pairwise key")}.For(grafana, alice)},
		{"two apps on different hosts see different subjects", s.For(grafana, alice) != s.For(gitlab, alice)},
		{"two users differ at one app", s.For(grafana, alice) != s.For(grafana, bob)},
		{"another key gives other subjects", s.For(grafana, alice) != Subjects{Key: []byte("other")}.For(grafana, alice)},
		{"a pairwise subject is not the ID", s.For(grafana, alice) != alice},
		{"a public subject is the stable ID", s.For(cli, alice) == alice},
	} {
		if !tc.ok {
			t.Error(tc.name)
		}
	}
}

func TestClaimsComeFromTheDirectoryByScope(t *testing.T) {
	u := &directory.User{ID: "id", UPN: "alice@corp.example.test", SAMAccountName: "alice", Mail: "alice.smith@corp.example.test",
		DisplayName: "Alice Smith", GivenName: "Alice", Surname: "Smith",
		Groups: []string{"CN=Engineers,OU=Staff,DC=corp,DC=example,DC=test", `CN=R\,D,OU=Staff,DC=corp,DC=example,DC=test`, `CN=Caf\C3\A9,OU=Staff,DC=corp,DC=example,DC=test`, "plain"}}
	c := ClaimsOf(u)
	if !slices.Equal(c.Groups, []string{"Café", "Engineers", "R,D", "plain"}) {
		t.Errorf("groups %v", c.Groups)
	}
	for _, tc := range []struct {
		name   string
		scopes []string
		check  func(*oidc.UserInfo) bool
	}{
		{"openid alone says only who", []string{"openid"}, func(i *oidc.UserInfo) bool {
			return i.Subject == "sub" && i.Email == "" && i.Name == "" && i.Claims["groups"] == nil
		}},
		{"profile adds the names", []string{"openid", "profile"}, func(i *oidc.UserInfo) bool {
			return i.Name == "Alice Smith" && i.GivenName == "Alice" && i.FamilyName == "Smith" && i.PreferredUsername == "alice@corp.example.test" && i.Email == ""
		}},
		{"email adds the address", []string{"openid", "email"}, func(i *oidc.UserInfo) bool {
			return i.Email == "alice.smith@corp.example.test" && bool(i.EmailVerified) && i.Name == ""
		}},
		{"groups adds the groups", []string{"openid", "groups"}, func(i *oidc.UserInfo) bool {
			g, _ := i.Claims["groups"].([]string)
			return slices.Equal(g, []string{"Café", "Engineers", "R,D", "plain"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var info oidc.UserInfo
			c.fill(&info, "sub", tc.scopes)
			if !tc.check(&info) {
				t.Fatalf("userinfo %+v", info)
			}
		})
	}
	if got := ClaimsOf(&directory.User{SAMAccountName: "bob"}).PreferredUsername; got != "bob" {
		t.Errorf("without a UPN preferred_username is %q", got)
	}
}

func TestTheACRSaysWhatTheSignInProved(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mfa       bool
		requested []string
		want      string
	}{
		{"a password alone", false, nil, ACRPassword},
		{"a password alone, whatever was asked", false, []string{"mfa"}, ACRPassword},
		{"a second factor", true, nil, ACRMFA},
		{"a second factor, as asked", true, []string{"urn:x", "https://refeds.org/profile/mfa"}, "https://refeds.org/profile/mfa"},
	} {
		if got := acrFor(tc.mfa, tc.requested); got != tc.want {
			t.Errorf("%s: acr %q, want %q", tc.name, got, tc.want)
		}
	}
}
