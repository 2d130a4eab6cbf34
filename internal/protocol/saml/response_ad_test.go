package saml

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory/ad"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/xmltest"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// TestAnADUsersNameIDAndGroupsAreWhatADShows reads Alice from the Samba
// DC and checks the response against what samba-tool says about her: the
// objectGUID NameID in Windows' form (AD stores the first three groups
// little-endian) and her groups, nested membership included.
func TestAnADUsersNameIDAndGroupsAreWhatADShows(t *testing.T) {
	v := testenv.Require(t, testenv.ADURL, testenv.ADCAFile, testenv.ADBindDN, testenv.ADBindPassword, testenv.ADBaseDN, testenv.ADSambaConf)
	cfg := config.Default().Directory.ActiveDirectory
	cfg.URLs, cfg.CAFile, cfg.BindDN, cfg.BindPassword, cfg.BaseDN = []string{v[0]}, v[1], v[2], config.Secret(v[3]), v[4]
	d, err := ad.Open(context.Background(), cfg, ad.Options{Logger: slog.New(slog.DiscardHandler), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	u, err := d.LookupUser(context.Background(), testenv.Alice.SAMAccountName)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^objectGUID: ([0-9a-f-]{36})$`).FindStringSubmatch(
		testenv.SambaTool(t, "user", "show", testenv.Alice.SAMAccountName, "--attributes=objectGUID"))
	if m == nil {
		t.Fatal("samba-tool printed no objectGUID")
	}
	sp := respWiki()
	sp.Attributes = []AttributeRule{{Name: "groups", Source: "groups"}, {Name: "memberOf", Source: "group_dns"}, {Name: "upn", Source: "upn"}}
	g := respWikiGrant(sp)
	g.User = u
	raw, nameID, err := respResponder(t, validators.FixedKey(t, "current"), respT0).Response(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	if nameID.Value != m[1] {
		t.Errorf("NameID %q, samba-tool shows objectGUID %s", nameID.Value, m[1])
	}
	attrs := respAttrs(t, xmltest.One(t, xmltest.Parse(t, raw), "saml:Assertion"))
	for _, want := range []string{"Engineers", "Staff-All"} {
		if !slices.Contains(attrs["groups"], want) {
			t.Errorf("groups %v lack %s", attrs["groups"], want)
		}
	}
	if !slices.Contains(attrs["memberOf"], testenv.ADGroupStaffAll) {
		t.Errorf("group DNs %v lack the nested %s", attrs["memberOf"], testenv.ADGroupStaffAll)
	}
	if fmt.Sprint(attrs["upn"]) != fmt.Sprint([]string{testenv.Alice.UPN()}) {
		t.Errorf("upn %v", attrs["upn"])
	}
}
