package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// enrolAtAccount opens /account in b and signs u in, enrolling an
// authenticator app (its first code taken at now); it returns the app's
// secret and the page showing the recovery codes.
func enrolAtAccount(t *testing.T, b *browse.Browser, u DemoUser, now time.Time) (secret, page string) {
	t.Helper()
	b.Get("/account")
	b.Submit(map[string]string{"login": u.Username})
	page = chooseTOTP(t, b, b.Submit(map[string]string{"password": u.Password}))
	secret = strings.ReplaceAll(secretRe.FindStringSubmatch(page)[1], " ", "")
	code, _ := totp.GenerateCode(secret, now)
	return secret, b.Submit(map[string]string{"code": code})
}

// TestNewRecoveryCodesAreMadeOnlyByAPostFromTheAccountPage checks that a
// GET of the recovery path, or a post from another site, changes nothing;
// only the account page's form replaces the codes.
func TestNewRecoveryCodesAreMadeOnlyByAPostFromTheAccountPage(t *testing.T) {
	a, srv := newDemo(t)
	bob := DemoUsers()[1]
	b := browse.New(t, srv.URL)
	_, page := enrolAtAccount(t, b, bob, time.Now())
	first := codesRe.FindAllStringSubmatch(page, -1)
	if len(first) != 10 {
		t.Fatalf("want 10 recovery codes at enrolment, got %d", len(first))
	}
	if page = b.Submit(nil); !strings.Contains(page, `action="/account/recovery"`) {
		t.Fatalf("the account page has no form for new recovery codes:\n%s", page)
	}
	u, err := a.Directory.LookupUser(t.Context(), bob.Username)
	if err != nil {
		t.Fatal(err)
	}
	// unchanged fails the test when the enrolment's codes were replaced:
	// the last of them must still work (and is used up by the check).
	left := len(first)
	unchanged := func(what string) {
		t.Helper()
		n, err := a.Factors.Recovery.Verify(t.Context(), u.ID, first[left-1][1])
		if err != nil {
			t.Fatalf("%s replaced the recovery codes: the old code fails (%v)", what, err)
		}
		left--
		if n != left {
			t.Fatalf("%s: %d codes left, want %d", what, n, left)
		}
	}

	t.Run("a GET of the old address shows the page and makes no codes", func(t *testing.T) {
		page := b.Get("/account/recovery")
		if b.Status != http.StatusOK || !strings.HasSuffix(b.URL, "/account") || len(codesRe.FindAllString(page, -1)) != 0 {
			t.Fatalf("GET /account/recovery: status %d at %s with %d codes:\n%s", b.Status, b.URL, len(codesRe.FindAllString(page, -1)), page)
		}
		unchanged("a GET")
	})

	t.Run("a post without the form's token is refused", func(t *testing.T) {
		resp, err := b.C.PostForm(srv.URL+"/account/recovery", url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
		unchanged("a post without a token")
	})

	t.Run("the page's form replaces the codes", func(t *testing.T) {
		b.Get("/account")
		page := b.SubmitForm("/account/recovery", nil)
		fresh := codesRe.FindAllStringSubmatch(page, -1)
		if len(fresh) != 10 || !strings.Contains(page, "Your new recovery codes replace the old ones.") {
			t.Fatalf("want 10 new codes, got %d:\n%s", len(fresh), page)
		}
		if _, err := a.Factors.Recovery.Verify(t.Context(), u.ID, first[0][1]); err == nil {
			t.Fatal("an old recovery code still works after new ones were made")
		}
		if _, err := a.Factors.Recovery.Verify(t.Context(), u.ID, fresh[0][1]); err != nil {
			t.Fatalf("a new recovery code fails: %v", err)
		}
	})
}
