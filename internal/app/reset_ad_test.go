package app

import (
	"context"
	"errors"
	"html"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/notify/smtptest"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

var (
	flowIDRe = regexp.MustCompile(`flow(=|%3d)[A-Za-z0-9_-]+`)
	tokenRe  = regexp.MustCompile(`name="csrf_token" value="[^"]+"`)
	maskRe   = regexp.MustCompile(`[a-z]•••@[^ <]+`)
)

func normalise(page string) string {
	return maskRe.ReplaceAllString(tokenRe.ReplaceAllString(flowIDRe.ReplaceAllString(page, "flow=X"), "csrf"), "MASK")
}

func TestAForgottenADPasswordIsResetWithTheUsersOwnFactor(t *testing.T) {
	a, srv, mail := newADAppWithMail(t, nil)
	ctx := context.Background()
	const oldPW, newPW = "Old!Passw0rd-reset", "New!Passw0rd-reset"
	name := newADUser(t, oldPW)
	// The user has an authenticator app.
	u, secret := userWithTOTP(t, a, name, time.Now())
	// ...and a live session in another browser.
	other := signedInElsewhere(t, srv, name, oldPW)

	b := browse.New(t, srv.URL)
	b.Get("/password/reset")
	b.Submit(map[string]string{"login": name})
	known := sendEmailCode(t, b)
	if !strings.Contains(known, "We sent a code to") {
		t.Fatalf("no email step:\n%s", known)
	}

	// An unknown account sees the very same pages.
	c := browse.New(t, srv.URL)
	c.Get("/password/reset")
	c.Submit(map[string]string{"login": "nobody-" + name})
	unknown := sendEmailCode(t, c)
	if normalise(known) != normalise(unknown) {
		t.Fatalf("the pages differ for a known and an unknown account:\n%s\n----\n%s", normalise(known), normalise(unknown))
	}
	if n := len(mail.Messages()); n != 1 {
		t.Fatalf("want exactly one mail (to the real account), got %d", n)
	}
	// Nor do their flows differ to the store, which evicts flows that name
	// no user first: only a proved account is named.
	flowUser := func(br *browse.Browser) string {
		t.Helper()
		u, _ := url.Parse(br.URL)
		f, err := a.Store.GetFlow(ctx, u.Query().Get("flow"), time.Now())
		if err != nil {
			t.Fatalf("the reset flow at %s: %v", br.URL, err)
		}
		return f.UserID
	}
	if k, n := flowUser(b), flowUser(c); k != "" || n != "" {
		t.Fatalf("flows before verification name users %q and %q", k, n)
	}
	unknown = c.Submit(map[string]string{"method": "totp", "code": "123456"})
	if c.Status != 401 || !strings.Contains(unknown, "That code didn") {
		t.Fatalf("an unknown account's code: status %d", c.Status)
	}

	// One strong factor is enough: the TOTP code of the next step.
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	submitMethod(t, b, "totp", "000000")
	if b.Status != 401 {
		t.Fatalf("a wrong code was accepted")
	}
	page := submitMethod(t, b, "totp", code)
	if !strings.Contains(page, `name="new_password"`) || !strings.Contains(page, "At least 7 characters.") {
		t.Fatalf("no new-password page with the policy:\n%s", page)
	}
	if got := flowUser(b); got != u.ID {
		t.Errorf("the verified reset's flow names %q, want %q", got, u.ID)
	}
	page = b.Submit(map[string]string{"new_password": "Ab1!", "confirm_password": "Ab1!"})
	if b.Status != 422 || !strings.Contains(page, "Use at least 7 characters.") {
		t.Fatalf("a short password: %d", b.Status)
	}
	page = b.Submit(map[string]string{"new_password": newPW, "confirm_password": newPW})
	if !strings.Contains(page, "Your password was reset.") {
		t.Fatalf("reset failed:\n%s", page)
	}
	if _, err := a.Directory.Authenticate(ctx, name, newPW); err != nil {
		t.Fatalf("the new password does not bind: %v", err)
	}
	if _, err := a.Directory.Authenticate(ctx, name, oldPW); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("the old password still binds: %v", err)
	}
	if page := other.Get("/account"); strings.Contains(page, "Sign-in methods") {
		t.Fatal("the other browser's session survived the reset")
	}
	msgs := mail.Messages()
	if len(msgs) != 2 || msgs[1].To[0] != u.Mail || !strings.Contains(strings.ToLower(msgs[1].Text), "reset") {
		t.Fatalf("no reset notice to %s: %+v", u.Mail, msgs)
	}
}

// signedInElsewhere is another browser where name is signed in, on the
// account page.
func signedInElsewhere(t *testing.T, srv *httptest.Server, name, password string) *browse.Browser {
	t.Helper()
	other := browse.New(t, srv.URL)
	other.Get("/account")
	other.Submit(map[string]string{"login": name})
	if page := other.Submit(map[string]string{"password": password}); !strings.Contains(page, "Sign-in methods") {
		t.Fatalf("could not sign in first:\n%s", page)
	}
	return other
}

// newADAppWithMail is newADApp with a real SMTP server the tests read, and
// the authenticator app, email codes and recovery codes as factors.
func newADAppWithMail(t *testing.T, mod func(*config.Config)) (*App, *httptest.Server, *smtptest.Server) {
	t.Helper()
	mail := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
	a, srv := newADAppWith(t, func(c *config.Config) {
		c.SMTP = config.SMTP{Host: mail.Host, Port: mail.Port, From: "sso@corp.example.test", Security: "none"}
		c.MFA.Methods = []string{"totp", "email", "recovery"}
		if mod != nil {
			mod(c)
		}
	})
	return a, srv, mail
}

// submitMethod posts the code form of one method on a reset page, going
// to that method's page first when the page shows another.
func submitMethod(t *testing.T, b *browse.Browser, method, code string) string {
	t.Helper()
	if !strings.Contains(b.Last, `id="code_`+method+`"`) {
		showMethod(t, b, method)
	}
	i := strings.Index(b.Last, `id="code_`+method+`"`) // the code form, not email's send form
	if i < 0 {
		t.Fatalf("no %s form:\n%s", method, b.Last)
	}
	start := strings.LastIndex(b.Last[:i], "<form")
	b.Last = b.Last[start:] // make the method's form the first one
	return b.Submit(map[string]string{"code": code})
}

// showMethod opens the page of one method of a reset's verify step (the
// page shows one method at a time).
func showMethod(t *testing.T, b *browse.Browser, method string) string {
	t.Helper()
	u, err := url.Parse(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("method", method)
	u.RawQuery = q.Encode()
	return b.Get(u.String())
}

// sendEmailCode asks a reset's verify step for an email code and returns
// the answer.
func sendEmailCode(t *testing.T, b *browse.Browser) string {
	t.Helper()
	page := showMethod(t, b, "email")
	i := strings.Index(page, `name="send"`)
	if i < 0 {
		t.Fatalf("no email send form:\n%s", page)
	}
	b.Last = page[strings.LastIndex(page[:i], "<form"):]
	return b.Submit(nil)
}

func TestALockedOutADUserUnlocksWithTheirFactorAndKeepsThePassword(t *testing.T) {
	a, srv, mail := newADAppWithMail(t, nil)
	ctx := context.Background()
	const pw = "Locked!Passw0rd-1"
	name := newADUser(t, pw)
	testenv.ApplyADPSO(t, testenv.ADPSO{LockoutThreshold: 2, LockoutMinutes: 30}, name)
	u, secret := userWithTOTP(t, a, name, time.Now())
	for range 2 {
		_, _ = a.Directory.Authenticate(ctx, name, "Wrong!Passw0rd-9")
	}
	if _, err := a.Directory.Authenticate(ctx, name, pw); !errors.Is(err, directory.ErrAccountLocked) {
		t.Fatalf("the user is not locked out: %v", err)
	}

	b := browse.New(t, srv.URL)
	b.Get("/login?login_hint=" + name)
	// The right password gets a wrong one's answer (README, Self-service),
	// which offers unlocking.
	if page := b.Submit(map[string]string{"password": pw}); !strings.Contains(page, "The user name or password is incorrect.") || !strings.Contains(page, `href="/account/unlock"`) {
		t.Fatalf("the locked page does not offer unlocking:\n%s", page)
	}
	b.Get("/account/unlock")
	b.Submit(map[string]string{"login": name})
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	page := submitMethod(t, b, "totp", code)
	if !strings.Contains(page, "Your account is unlocked.") {
		t.Fatalf("not unlocked:\n%s", page)
	}
	if _, err := a.Directory.Authenticate(ctx, name, pw); err != nil {
		t.Fatalf("the unchanged password does not sign in after unlocking: %v", err)
	}
	if msgs := mail.Messages(); len(msgs) != 1 || msgs[0].To[0] != u.Mail {
		t.Fatalf("no unlock notice: %+v", msgs)
	}
}

func TestAMustChangeADUserChangesThePasswordInsideAnEntraSignInAndGetsTheToken(t *testing.T) {
	a, srv := newADAppWith(t, func(c *config.Config) {
		c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}}}
	})
	ctx := context.Background()
	const oldPW, newPW = "Must!Change-0ld", "Must!Change-N3w"
	name := newADUser(t, oldPW)
	testenv.MustChangeADPassword(t, name, oldPW)
	if _, err := a.Directory.Authenticate(ctx, name, oldPW); !errors.Is(err, directory.ErrMustChangePassword) {
		t.Fatalf("the user is not must-change: %v", err)
	}
	b := browse.New(t, srv.URL)
	b.Get("/wsfed?wa=wsignin1.0&wtrealm=urn:federation:MicrosoftOnline&wctx=mc&username=" + name + "@" + testenv.ADDNSDomain)
	page := b.Submit(map[string]string{"password": oldPW})
	if !strings.Contains(page, "You must choose a new password") {
		t.Fatalf("no change step for a must-change user (never \"invalid credentials\"):\n%s", page)
	}
	page = b.Submit(map[string]string{"new_password": oldPW, "confirm_password": oldPW})
	if !strings.Contains(page, "Choose a password you have not used before") {
		t.Fatalf("reusing the current password was not refused by AD's history:\n%s", page)
	}
	page = b.Submit(map[string]string{"new_password": newPW, "confirm_password": newPW})
	m := regexp.MustCompile(`name="wresult" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "https://login.microsoftonline.com/login.srf") {
		t.Fatalf("the sign-in did not continue to Microsoft 365 with a token:\n%s", page)
	}
	if _, err := a.Directory.Authenticate(ctx, name, newPW); err != nil {
		t.Fatalf("the new password does not bind: %v", err)
	}
}

func TestAUserWithoutFactorsIsSentToTheHelpdeskWhenEmailAloneIsNotAllowed(t *testing.T) {
	a, srv, mail := newADAppWithMail(t, func(c *config.Config) {
		c.SelfService.Fallback = "helpdesk"
		c.UI.Support = "the service desk (+49 30 1234-0)"
	})
	const pw = "Helpdesk!Passw0rd-1"
	name := newADUser(t, pw)
	b := browse.New(t, srv.URL)
	b.Get("/password/reset")
	b.Submit(map[string]string{"login": name})
	sendEmailCode(t, b)
	msgs := mail.Messages()
	if len(msgs) != 1 {
		t.Fatalf("want the code mail, got %d mails", len(msgs))
	}
	page := submitMethod(t, b, "email", mailCodeRe.FindStringSubmatch(msgs[0].Text)[1])
	if strings.Contains(page, `name="code"`) || strings.Contains(page, `name="new_password"`) ||
		!strings.Contains(html.UnescapeString(page), "Contact the service desk (+49 30 1234-0).") {
		t.Fatalf("a user with nothing but mail was not sent to the helpdesk:\n%s", page)
	}
	if _, err := a.Directory.Authenticate(context.Background(), name, pw); err != nil {
		t.Fatalf("the password changed: %v", err)
	}
}

func TestResetCodesGoToTheAlternateAddressAndTheNoticeToTheMailbox(t *testing.T) {
	a, srv, mail := newADAppWithMail(t, func(c *config.Config) {
		c.Directory.ActiveDirectory.AlternateEmailAttribute = "otherMailbox"
	})
	const oldPW, newPW = "Alternate!Passw0rd-1", "Alternate!Passw0rd-2x"
	name := newADUser(t, oldPW)
	private := "private-" + name + "@example.org"
	testenv.SetADAttribute(t, name, "otherMailbox", "not an address", private)
	u, err := a.Directory.LookupUser(context.Background(), name)
	if err != nil || u.AlternateMail != private {
		t.Fatalf("alternate address %q (%v), want %q", u.AlternateMail, err, private)
	}
	b := browse.New(t, srv.URL)
	b.Get("/password/reset")
	b.Submit(map[string]string{"login": name})
	page := sendEmailCode(t, b)
	if !strings.Contains(page, "p•••@e•••.org") {
		t.Fatalf("the masked destination is not the alternate address:\n%s", page)
	}
	msgs := mail.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != private {
		t.Fatalf("the code did not go to %s: %+v", private, msgs)
	}
	submitMethod(t, b, "email", mailCodeRe.FindStringSubmatch(msgs[0].Text)[1])
	if page := b.Submit(map[string]string{"new_password": newPW, "confirm_password": newPW}); !strings.Contains(page, "Your password was reset.") {
		t.Fatalf("reset failed:\n%s", page)
	}
	if msgs = mail.Messages(); len(msgs) != 2 || msgs[1].To[0] != u.Mail {
		t.Fatalf("the notice did not go to the mailbox %s: %+v", u.Mail, msgs)
	}
}

// accountExpiredIn2012 is accountExpires (a FILETIME) for 1 January 2012.
const accountExpiredIn2012 = "129698496000000000"

func TestDisabledAndExpiredADAccountsWalkTheResetAndUnlockPagesOfAnUnknownOne(t *testing.T) {
	a, srv, mail := newADAppWithMail(t, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		make  func(t *testing.T, name string)
		check func(u *directory.User) bool
	}{
		{"a disabled account", func(t *testing.T, name string) { testenv.SambaTool(t, "user", "disable", name) },
			func(u *directory.User) bool { return u.State.Disabled }},
		{"an expired account", func(t *testing.T, name string) {
			testenv.SetADAttribute(t, name, "accountExpires", accountExpiredIn2012)
		},
			func(u *directory.User) bool {
				return !u.State.AccountExpires.IsZero() && u.State.AccountExpires.Before(time.Now())
			}},
	} {
		for _, path := range []string{"/password/reset", "/account/unlock"} {
			t.Run(tc.name+" at "+path+" gets no code and its own code fails", func(t *testing.T) {
				const pw = "Gone!Passw0rd-1"
				name := newADUser(t, pw)
				_, secret := userWithTOTP(t, a, name, time.Now())
				tc.make(t, name)
				if u, err := a.Directory.LookupUser(ctx, name); err != nil || !tc.check(u) {
					t.Fatalf("the account is not in the state under test: %+v, %v", u, err)
				}
				sent := len(mail.Messages())
				walk := func(login string) (*browse.Browser, string) {
					b := browse.New(t, srv.URL)
					b.Get(path)
					b.Submit(map[string]string{"login": login})
					return b, sendEmailCode(t, b)
				}
				b, known := walk(name)
				_, unknown := walk("nobody-" + name)
				if normalise(known) != normalise(unknown) {
					t.Fatalf("the pages differ from an unknown account's:\n%s\n----\n%s", normalise(known), normalise(unknown))
				}
				if n := len(mail.Messages()); n != sent {
					t.Fatalf("%d code mails sent to an account that may not be recovered", n-sent)
				}
				code, _ := totp.GenerateCode(secret, time.Now())
				page := submitMethod(t, b, "totp", code)
				if b.Status != 401 || !strings.Contains(page, "That code didn") || strings.Contains(page, `name="new_password"`) {
					t.Fatalf("the account's own authenticator code: status %d, want 401 like a wrong one:\n%s", b.Status, page)
				}
			})
		}
	}
}

// flakyStore is the real store whose DeleteUserSessions, and appending a
// password reset's audit, fail the first failures times.
type flakyStore struct {
	store.Store
	failures int

	mu              sync.Mutex
	sessions, audit int
}

var errFlaky = errors.New("flaky store: the database is not answering")

func (s *flakyStore) fail(n *int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	*n++
	return *n <= s.failures
}

func (s *flakyStore) DeleteUserSessions(ctx context.Context, userID string) (int64, error) {
	if s.fail(&s.sessions) {
		return 0, errFlaky
	}
	return s.Store.DeleteUserSessions(ctx, userID)
}

func (s *flakyStore) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	if e.Type == audit.PasswordReset && e.Result == "ok" && s.fail(&s.audit) {
		return 0, errFlaky
	}
	return s.Store.AppendAudit(ctx, e)
}

func (s *flakyStore) AppendAudits(ctx context.Context, es []store.AuditEvent) error {
	if slices.ContainsFunc(es, func(e store.AuditEvent) bool { return e.Type == audit.PasswordReset && e.Result == "ok" }) {
		return errFlaky // the recorder then appends them one by one
	}
	return s.Store.AppendAudits(ctx, es)
}

// newADAppOnFlakyStore is newADAppWithMail on a flakyStore around the real
// SQLite store, retrying after a directory write on a quick schedule. Its
// log is in the returned buffer.
func newADAppOnFlakyStore(t *testing.T, failures int) (*App, *httptest.Server, *smtptest.Server, *testenv.Buffer) {
	t.Helper()
	mail := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
	cfg := adTestConfig(t)
	cfg.SMTP = config.SMTP{Host: mail.Host, Port: mail.Port, From: "sso@corp.example.test", Security: "none"}
	cfg.MFA.Methods = []string{"totp", "email", "recovery"}
	logs := &testenv.Buffer{}
	a, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	// Everything that uses the store is built again on the flaky one.
	a.Store = &flakyStore{Store: a.Store, failures: failures}
	if err := a.buildWeb(); err != nil {
		t.Fatal(err)
	}
	if err := a.routes(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.afterWrite.Waits = []time.Duration{time.Millisecond}
	a.afterWrite.Backoff, a.afterWrite.MaxBackoff = time.Millisecond, 4*time.Millisecond
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return a, srv, mail, logs
}

func TestOnceADAcceptedAResetSessionsAuditAndNoticeFollowWhenTheStoreFails(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failures   int
		background bool
	}{
		{"a store that fails once is retried before the page answers", 1, false},
		{"a store that fails longer is retried in the background", 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, srv, mail, logs := newADAppOnFlakyStore(t, tc.failures)
			ctx := context.Background()
			const oldPW, newPW = "Flaky!Passw0rd-old", "Flaky!Passw0rd-n3w"
			name := newADUser(t, oldPW)
			u, secret := userWithTOTP(t, a, name, time.Now())
			other := signedInElsewhere(t, srv, name, oldPW)

			b := browse.New(t, srv.URL)
			b.Get("/password/reset")
			b.Submit(map[string]string{"login": name})
			submitMethod(t, b, "totp", totpCode(t, secret, 30*time.Second))
			if page := b.Submit(map[string]string{"new_password": newPW, "confirm_password": newPW}); !strings.Contains(page, "Your password was reset.") {
				t.Fatalf("the user was not told the reset worked (it did):\n%s", page)
			}
			if _, err := a.Directory.Authenticate(ctx, name, newPW); err != nil {
				t.Fatalf("the new password does not bind: %v", err)
			}
			if tc.background {
				if !strings.Contains(logs.String(), `"level":"ERROR","msg":"work after a directory write failed; retrying in the background"`) ||
					!strings.Contains(logs.String(), `"user_id":"`+u.ID+`"`) {
					t.Fatalf("no error naming the user was logged for the pending work:\n%s", logs.String())
				}
				a.afterWrite.Wait()
			}
			if page := other.Get("/account"); strings.Contains(page, "Sign-in methods") {
				t.Error("the other browser's session survived the reset")
			}
			evs, err := a.Store.QueryAudit(ctx, store.AuditQuery{UserID: u.ID, Type: audit.PasswordReset})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(slices.DeleteFunc(evs, func(e store.AuditEvent) bool { return e.Result != "ok" })); n != 1 {
				t.Errorf("%d audit events of the reset, want 1", n)
			}
			if msgs := mail.Messages(); len(msgs) != 1 || msgs[0].To[0] != u.Mail || !strings.Contains(strings.ToLower(msgs[0].Text), "reset") {
				t.Errorf("no reset notice to %s: %+v", u.Mail, msgs)
			}
		})
	}
}

// totpCode is the authenticator's code at now+skew.
func totpCode(t *testing.T, secret string, skew time.Duration) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now().Add(skew))
	if err != nil {
		t.Fatal(err)
	}
	return code
}
