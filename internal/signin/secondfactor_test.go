package signin

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// The tests of a second-factor-only flow (Request.SecondFactorOnly): an app
// that checked the password itself (Entra's external authentication
// method) asks for the second factor alone. Whoever can make that app send
// the request knows the password Gatehouse never checked: the flow must
// not leave them with anything that counts as a Gatehouse sign-in.

// noPasswordField fails t when the last page asks for a password.
func noPasswordField(t *testing.T, b *browse.Browser) {
	t.Helper()
	if strings.Contains(b.Last, `type="password"`) || strings.Contains(b.Last, `name="password"`) {
		t.Fatalf("the page at %s asks for a password:\n%s", b.URL, b.Last)
	}
}

// hasSessionCookie reports whether b holds a Gatehouse session cookie.
func hasSessionCookie(t *testing.T, b *browse.Browser) bool {
	u, _ := url.Parse(b.Base)
	for _, c := range b.C.Jar.Cookies(u) {
		if strings.HasSuffix(c.Name, "gh_session") {
			return true
		}
	}
	return false
}

func TestASecondFactorOnlyFlowAsksNoPasswordAndLeavesNoSession(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	e.factors.enrolled[user(t, "alice", alicePW, nil).ID] = []string{"totp"}
	b := e.browser()
	page := b.Get("/second?user=alice@corp.example.test&inplace=1")
	noPasswordField(t, b)
	if !strings.Contains(page, `name="code"`) {
		t.Fatalf("no second-factor page:\n%s", page)
	}
	got := b.Submit(map[string]string{"code": "123456"})
	if got != "user=alice amr=otp,mfa mfa=yes password=no state=second:alice@corp.example.test" {
		t.Fatalf("the app got %q", got)
	}
	if hasSessionCookie(t, b) {
		t.Error("the second factor alone left a Gatehouse session cookie")
	}
	if page := b.Get("/proto?app=Wiki"); !strings.Contains(page, `name="login"`) {
		t.Errorf("an app of Gatehouse's own was answered without a password:\n%s", page)
	}
	evs, err := e.store.QueryAudit(context.Background(), store.AuditQuery{Type: audit.SignInSuccess})
	if err != nil || len(evs) != 1 || evs[0].App != "Entra MFA" || !strings.Contains(string(evs[0].Detail), `"first_factor":"app"`) {
		t.Errorf("audit = %+v, %v; want one sign-in to Entra MFA whose first factor the app checked", evs, err)
	}
}

func TestASecondFactorOnlyFlowNeitherUsesNorRaisesTheBrowsersSession(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	e.factors.enrolled[user(t, "alice", alicePW, nil).ID] = []string{"totp"}
	b := e.browser()
	b.Get("/proto?app=Wiki&hint=alice")
	b.Submit(map[string]string{"password": alicePW})
	// The password session is no answer: the second factor is asked.
	if page := b.Get("/second?user=alice&inplace=1"); !strings.Contains(page, `name="code"`) {
		t.Fatalf("a password session answered a second-factor-only request:\n%s", page)
	}
	if got := b.Submit(map[string]string{"code": "123456"}); !strings.HasPrefix(got, "user=alice amr=otp,mfa mfa=yes password=no") {
		t.Fatalf("the app got %q", got)
	}
	// The session is still the password-only one: an app that requires
	// MFA still asks for the second factor, and SSO still works.
	if page := b.Get("/proto?app=Strict"); !strings.Contains(page, `name="code"`) {
		t.Errorf("the second factor given to the app raised the Gatehouse session:\n%s", page)
	}
	if got := b.Get("/proto?app=Wiki"); got != "user=alice amr=pwd mfa=no state=" {
		t.Errorf("the browser's own session was replaced: %q", got)
	}
}

func TestAFinishedSecondFactorAnswersOnlyASecondFactorOnlyRequest(t *testing.T) {
	e := newEnv(t, "none", user(t, "alice", alicePW, nil))
	e.factors.enrolled[user(t, "alice", alicePW, nil).ID] = []string{"totp"}
	b := e.browser()
	b.Get("/second?user=alice")
	form := url.Values{"csrf_token": {csrfRe.FindStringSubmatch(b.Last)[1]}, "step": {StepMFA}, "method": {"totp"}, "code": {"123456"}}
	resp, err := b.C.PostForm(e.srv.URL+strings.ReplaceAll(b.Action(), "&amp;", "&"), form)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Query().Get(ResumeParam) == "" {
		t.Fatalf("the finished flow redirected to %q", resp.Header.Get("Location"))
	}
	id := back.Query().Get(ResumeParam)
	// Carried into a sign-in request, it is no sign-in.
	if page := b.Get("/proto?app=Entra+MFA&mfa=1&" + ResumeParam + "=" + id); !strings.Contains(page, `name="login"`) {
		t.Fatalf("a finished second factor answered a sign-in request:\n%s", page)
	}
	// Its own request takes it, once.
	if got := b.Get(back.String()); !strings.HasPrefix(got, "user=alice amr=otp,mfa mfa=yes password=no") {
		t.Fatalf("the second-factor-only request got %q", got)
	}
	if b.Get(back.String()); b.Status != http.StatusBadRequest {
		t.Errorf("the finished flow answered twice: status %d\n%s", b.Status, b.Last)
	}
}

func TestASecondFactorOnlyFlowOffersNoRememberedBrowserAndNoRecoveryCode(t *testing.T) {
	e := newEnvWith(t, "all", func(c *config.Config) { c.Sessions.RememberDevice = 720 * time.Hour }, user(t, "alice", alicePW, nil))
	e.factors.enrolled[user(t, "alice", alicePW, nil).ID] = []string{"recovery", "totp"}
	b := e.browser()
	page := b.Get("/second?user=alice&inplace=1")
	if strings.Contains(page, `name="remember"`) {
		t.Errorf("the second factor offers to remember the browser:\n%s", page)
	}
	if strings.Contains(page, "method=recovery") || strings.Contains(page, `value="recovery"`) {
		t.Errorf("a recovery code is offered:\n%s", page)
	}
	if page := b.Get("/login?flow=" + flowIDOf(t, b) + "&method=recovery"); strings.Contains(page, `value="recovery"`) {
		t.Errorf("a recovery code can be chosen:\n%s", page)
	}
}

// flowIDOf is the flow of the last page's first form.
func flowIDOf(t *testing.T, b *browse.Browser) string {
	t.Helper()
	u, err := url.Parse(strings.ReplaceAll(b.Action(), "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("flow")
}

func TestWhoMayNotAnswerASecondFactorOnlyRequestIsToldWhy(t *testing.T) {
	e := newEnv(t, "none",
		user(t, "alice", alicePW, nil),
		user(t, "bob", alicePW, nil),
		user(t, "carol", alicePW, func(u *file.UserFile) { u.Disabled = true }))
	e.factors.enrolled[user(t, "bob", alicePW, nil).ID] = []string{"recovery"}
	for _, tc := range []struct {
		name, user string
		status     int
		want       string
	}{
		{"a disabled account is refused", "carol", http.StatusForbidden, "Your account is disabled."},
		{"a user left with recovery codes alone is sent to add a method here", "bob", http.StatusForbidden, "Only recovery codes are left"},
		{"a user with no method enrols one", "alice", http.StatusOK, "Set up a second sign-in method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			page := b.Get("/second?inplace=1&user=" + tc.user)
			noPasswordField(t, b)
			if b.Status != tc.status || !strings.Contains(page, tc.want) {
				t.Fatalf("status %d, want %d with %q:\n%s", b.Status, tc.status, tc.want, page)
			}
		})
	}
	// Alice's enrolment ends with her recovery codes and the answer.
	b := e.browser()
	b.Get("/second?inplace=1&user=alice")
	page := b.Submit(map[string]string{"code": "123456"})
	noPasswordField(t, b)
	if !strings.Contains(page, "aaaaa-bbbbb") {
		t.Fatalf("no recovery codes after the first method:\n%s", page)
	}
	if got := b.Submit(nil); !strings.HasPrefix(got, "user=alice amr=otp,mfa mfa=yes password=no") {
		t.Fatalf("after enrolling the app got %q", got)
	}
}
