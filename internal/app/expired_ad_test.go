package app

import (
	"context"
	"errors"
	"html"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
	"github.com/gatehouse-sso/gatehouse/test/validators"
)

func TestAnExpiredADPasswordIsChangedAfterTheSecondFactorInsideAnEntraSignInThatEndsWithAToken(t *testing.T) {
	a, srv := newADAppWith(t, func(c *config.Config) {
		c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}, MFA: "required"}}
	})
	ctx := context.Background()
	const oldPW, shortPW, newPW = "Exp!red-Passw0rd", "Sh0rt!pw", "Vintage!Kettle-Orbit-47"
	name := newADUser(t, "Initial!Passw0rd-1")
	testenv.ExpireADPassword(t, name, oldPW)
	// The DC itself says 532 for the right password, and only for it.
	if _, err := a.Directory.Authenticate(ctx, name, oldPW); !errors.Is(err, directory.ErrPasswordExpired) {
		t.Fatalf("the DC does not answer \"expired\" (data 532) for the user: %v", err)
	}
	u, err := a.Directory.LookupUser(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	upn := name + "@" + testenv.ADDNSDomain
	const wctx = "LoginOptions=3&estsredirect=2&ctx=expired"
	start := "/wsfed?" + url.Values{"wa": {"wsignin1.0"}, "wtrealm": {"urn:federation:MicrosoftOnline"}, "wctx": {wctx}, "username": {upn}}.Encode()

	t.Run("a wrong password gets the uniform refusal, not a hint that the password expired", func(t *testing.T) {
		refusal := func(login string) string {
			t.Helper()
			b := browse.New(t, srv.URL)
			b.Get(strings.ReplaceAll(start, url.QueryEscape(upn), url.QueryEscape(login)))
			page := b.Submit(map[string]string{"password": "Wrong!Passw0rd-7"})
			if b.Status != 401 || !strings.Contains(page, "The user name or password is incorrect.") {
				t.Fatalf("%s: status %d, want 401 with the uniform message:\n%s", login, b.Status, page)
			}
			return normalise(strings.ReplaceAll(page, login, "LOGIN"))
		}
		expired, unknown := refusal(upn), refusal("nobody-"+upn)
		if low := strings.ToLower(expired); strings.Contains(low, "expired") || strings.Contains(low, "new_password") {
			t.Fatalf("the refusal leaks the expiry:\n%s", expired)
		}
		if expired != unknown {
			t.Fatalf("the refusal differs from an unknown account's:\n%s\n----\n%s", expired, unknown)
		}
	})

	b := browse.New(t, srv.URL)
	b.Get(start)
	page := b.Submit(map[string]string{"password": oldPW})
	if !strings.Contains(page, "Set up a second sign-in method") || strings.Contains(page, `name="new_password"`) {
		t.Fatalf("the right expired password did not lead to the second factor first:\n%s", page)
	}

	t.Run("the change step cannot be reached before the second factor", func(t *testing.T) {
		saved, savedURL := b.Last, b.URL
		defer func() { b.Last, b.URL = saved, savedURL }()
		page := b.Submit(map[string]string{"step": "change_password", "new_password": newPW, "confirm_password": newPW})
		if strings.Contains(page, `name="new_password"`) || !strings.Contains(page, "Set up a second sign-in method") {
			t.Fatalf("a forged change-step post was not sent back to the second factor:\n%s", page)
		}
		flow := strings.TrimPrefix(savedURL, srv.URL)
		if page := b.Get(flow); strings.Contains(page, `name="new_password"`) {
			t.Fatalf("the flow shows the change page before the second factor:\n%s", page)
		}
		if _, err := a.Directory.Authenticate(ctx, name, oldPW); !errors.Is(err, directory.ErrPasswordExpired) {
			t.Fatalf("the password changed before the second factor: %v", err)
		}
	})

	// Enrolment is forced (the app requires MFA and the user has none).
	page = chooseTOTP(t, b, page)
	m := secretRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no TOTP enrolment:\n%s", page)
	}
	code, _ := totp.GenerateCode(strings.ReplaceAll(m[1], " ", ""), time.Now())
	page = b.Submit(map[string]string{"code": code})
	if len(codesRe.FindAllString(page, -1)) != 10 {
		t.Fatalf("no recovery codes after enrolment:\n%s", page)
	}
	page = b.Submit(nil) // recovery codes seen: on to the change step, not to the token
	if strings.Contains(page, `name="wresult"`) {
		t.Fatalf("a token was issued for an expired password that was never changed:\n%s", page)
	}
	if !strings.Contains(page, "Your password has expired. Choose a new one to continue.") || !strings.Contains(page, "At least 10 characters.") {
		t.Fatalf("no change page with the PSO's rules after the second factor:\n%s", page)
	}
	page = b.Submit(map[string]string{"new_password": shortPW, "confirm_password": shortPW})
	if b.Status != 422 || !strings.Contains(page, "Use at least 10 characters.") || !strings.Contains(page, `name="new_password"`) {
		t.Fatalf("a password shorter than the PSO's minimum: status %d:\n%s", b.Status, page)
	}
	page = b.Submit(map[string]string{"new_password": newPW, "confirm_password": newPW})

	// The original request continues: the auto-POST to Entra with a token.
	if act := actionRe.FindStringSubmatch(page); act == nil || act[1] != "https://login.microsoftonline.com/login.srf" {
		t.Fatalf("the sign-in did not continue to login.srf:\n%s", page)
	}
	if got := html.UnescapeString(wctxRe.FindStringSubmatch(page)[1]); got != wctx {
		t.Errorf("wctx came back as %q", got)
	}
	wresult := html.UnescapeString(wresultRe.FindStringSubmatch(page)[1])
	wantIssuer := strings.TrimRight(a.Config.Issuer, "/") + "/" + testenv.ADDNSDomain
	for _, want := range []string{
		`Issuer="` + wantIssuer + `"`,
		`AuthenticationMethod="http://schemas.microsoft.com/claims/multipleauthn"`,
		`Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"`,
		`Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"`,
	} {
		if !strings.Contains(wresult, want) {
			t.Errorf("wresult lacks %s", want)
		}
	}
	res := validators.EntraToken(t, wresult, a.Signing.Cert.Raw, time.Now())
	if res.Issuer != wantIssuer {
		t.Fatalf("passport-wsfed-saml2 read issuer %q, want %q", res.Issuer, wantIssuer)
	}
	if got := res.Profile["http://schemas.xmlsoap.org/claims/UPN"]; got != upn {
		t.Errorf("UPN claim %v, want %s", got, upn)
	}
	if got := res.Profile["http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID"]; got != u.ImmutableID || u.ImmutableID == "" {
		t.Errorf("ImmutableID claim %v, want %q", got, u.ImmutableID)
	}

	if _, err := a.Directory.Authenticate(ctx, name, newPW); err != nil {
		t.Fatalf("the new password does not bind: %v", err)
	}
	if _, err := a.Directory.Authenticate(ctx, name, oldPW); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("the old password still binds: %v", err)
	}
}
