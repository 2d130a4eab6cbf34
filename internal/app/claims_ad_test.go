package app

import (
	"html"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/assertion"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

// TestAnEntraTokenWarnsOfAnADPasswordExpiringInFiveDaysByDefault signs a
// user whose password expires in five days (a PSO of ten days, the
// password set five days ago) in to Microsoft 365 with the default
// claims settings: the token carries passwordexpirationtime, the DC's own
// expiry, and passwordchangeurl, as an independent WS-Fed consumer reads
// them. With claims.password_expiry_window at 0s neither is sent.
func TestAnEntraTokenWarnsOfAnADPasswordExpiringInFiveDaysByDefault(t *testing.T) {
	const pw = "Expiring!Passw0rd-5"
	name := newADUser(t, "Initial!Passw0rd-5")
	testenv.ApplyADPSO(t, testenv.ADPSO{MaxAgeDays: 10}, name)
	testenv.SetADPasswordInThePast(t, name, pw, 5)
	upn := name + "@" + testenv.ADDNSDomain
	const (
		claimExpires   = assertion.NSWS201201 + "/" + assertion.AttrPwdExpiration
		claimChangeURL = assertion.NSWS201201 + "/" + assertion.AttrPwdChangeURL
	)
	signIn := func(t *testing.T, mod func(*config.Config)) (*App, validators.PassportResult) {
		t.Helper()
		a, srv := newADAppWith(t, func(c *config.Config) {
			c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}}}
			if mod != nil {
				mod(c)
			}
		})
		b := browse.New(t, srv.URL)
		b.Get("/wsfed?" + url.Values{"wa": {"wsignin1.0"}, "wtrealm": {"urn:federation:MicrosoftOnline"}, "username": {upn}}.Encode())
		page := b.Submit(map[string]string{"password": pw})
		m := wresultRe.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no token after the password:\n%s", page)
		}
		return a, validators.EntraToken(t, html.UnescapeString(m[1]), a.Signing.Cert.Raw, time.Now())
	}

	t.Run("the default configuration sends both claims", func(t *testing.T) {
		a, res := signIn(t, nil)
		u, err := a.Directory.LookupUser(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if exp := u.State.PasswordExpires; exp.IsZero() || exp.After(time.Now().Add(6*24*time.Hour)) {
			t.Fatalf("set-up: the DC says the password expires at %v, not in about five days", exp)
		}
		if got, want := res.Profile[claimExpires], assertion.FormatTime(u.State.PasswordExpires); got != want {
			t.Errorf("passwordexpirationtime = %v, want %s (the DC's expiry)", got, want)
		}
		if got, want := res.Profile[claimChangeURL], strings.TrimRight(a.Config.Issuer, "/")+"/password/change"; got != want {
			t.Errorf("passwordchangeurl = %v, want %s", got, want)
		}
	})

	t.Run("a window of 0s sends neither", func(t *testing.T) {
		_, res := signIn(t, func(c *config.Config) { c.Claims.PasswordExpiryWindow = 0 })
		for _, c := range []string{claimExpires, claimChangeURL} {
			if v, ok := res.Profile[c]; ok {
				t.Errorf("%s = %v with the window turned off", c, v)
			}
		}
	})
}
