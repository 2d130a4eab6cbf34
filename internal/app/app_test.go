package app

import (
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/notify/smtptest"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// newDemo builds the demo app on a fresh data directory and serves it.
func newDemo(t *testing.T) (*App, *httptest.Server) { return newDemoAt(t, time.Now) }

func newDemoAt(t *testing.T, now func() time.Time, mods ...func(*config.Config)) (*App, *httptest.Server) {
	t.Helper()
	cfg, err := DemoConfig(filepath.Join(t.TempDir(), "demo"), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		m(&cfg)
	}
	if _, err := PrepareDemo(cfg, time.Now()); err != nil {
		t.Fatal(err)
	}
	return startApp(t, cfg, now)
}

var (
	// secretRe finds an enrolment page's TOTP key: its copy button's,
	// which is the key the page shows in groups.
	secretRe = regexp.MustCompile(`data-copy="([A-Z2-7]+)"`)
	codesRe  = regexp.MustCompile(`<li>([a-z0-9]{5}-[a-z0-9]{5})</li>`)
)

func TestADemoUserEnrolsTOTPAndSignsInWithIt(t *testing.T) {
	_, srv := newDemo(t)
	alice := DemoUsers()[0]

	b := browse.New(t, srv.URL)
	b.Get("/login")
	b.Submit(map[string]string{"login": alice.Username})
	page := b.Submit(map[string]string{"password": alice.Password})
	page = chooseTOTP(t, b, page)
	m := secretRe.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `src="data:image/png;base64,`) {
		t.Fatalf("no TOTP enrolment with QR code and key:\n%s", page)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	page = b.Submit(map[string]string{"code": "000000"})
	if b.Status != 401 || secretRe.FindStringSubmatch(page)[1] != m[1] {
		t.Fatalf("a wrong code must keep the same key on the page (status %d)", b.Status)
	}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	page = b.Submit(map[string]string{"code": code})
	codes := codesRe.FindAllStringSubmatch(page, -1)
	if len(codes) != 10 {
		t.Fatalf("want 10 recovery codes shown once, got %d:\n%s", len(codes), page)
	}
	page = b.Submit(nil)
	if !strings.Contains(page, "signed in as Alice Smith") {
		t.Fatalf("not signed in:\n%s", page)
	}

	// A second browser: password, then the TOTP code; the enrolment code is
	// already used (replay), a fresh step's code works.
	b2 := browse.New(t, srv.URL)
	b2.Get("/login?login_hint=" + alice.Username)
	page = b2.Submit(map[string]string{"password": alice.Password})
	page = chooseTOTP(t, b2, page)
	if !strings.Contains(page, "Code from your authenticator app") {
		t.Fatalf("no TOTP challenge:\n%s", page)
	}
	b2.Submit(map[string]string{"code": code})
	if b2.Status != 401 {
		t.Fatalf("a replayed TOTP code was accepted (status %d)", b2.Status)
	}
	// Recovery code instead: it works once.
	b2.Get(strings.TrimPrefix(b2.URL, srv.URL) + "&method=recovery")
	page = b2.Submit(map[string]string{"code": strings.ToUpper(codes[0][1])})
	if !strings.Contains(page, "signed in as Alice Smith") {
		t.Fatalf("recovery code refused:\n%s", page)
	}
	b3 := browse.New(t, srv.URL)
	b3.Get("/login?login_hint=" + alice.Username)
	b3.Submit(map[string]string{"password": alice.Password})
	b3.Get(strings.TrimPrefix(b3.URL, srv.URL) + "&method=recovery")
	b3.Submit(map[string]string{"code": codes[0][1]})
	if b3.Status != 401 {
		t.Fatalf("a used recovery code was accepted again (status %d)", b3.Status)
	}
}

// clock is a settable clock for the app.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// chooseTOTP switches an enrolment page to the authenticator app (passkeys
// are offered first).
func chooseTOTP(t *testing.T, b *browse.Browser, page string) string {
	t.Helper()
	if !strings.Contains(page, "Set up a second sign-in method") || strings.Contains(page, `class="secret"`) {
		return page
	}
	return b.Get(strings.TrimPrefix(b.URL, b.Base) + "&method=totp")
}

var mailCodeRe = regexp.MustCompile(`\b(\d{6})\b`)

func TestASecondFactorByEmailCodeArrivesThroughSMTPAndWorksOnce(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
	_, srv := newDemoAt(t, time.Now, func(c *config.Config) {
		c.MFA.Methods = []string{"email", "totp", "recovery"}
		c.MFA.EmailAsSecondFactor = true
		c.SMTP = config.SMTP{Host: mail.Host, Port: mail.Port, From: "sso@demo.gatehouse.test", Security: "none"}
	})

	alice := DemoUsers()[0]
	b := browse.New(t, srv.URL)
	b.Get("/login?login_hint=" + alice.Username)
	page := b.Submit(map[string]string{"password": alice.Password})
	if !strings.Contains(page, "We sent a code to a•••@d•••") {
		t.Fatalf("no email challenge with a masked address:\n%s", page)
	}
	msgs := mail.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != alice.Mail {
		t.Fatalf("want one mail to %s, got %+v", alice.Mail, msgs)
	}
	code := mailCodeRe.FindStringSubmatch(msgs[0].Text)
	if code == nil {
		t.Fatalf("no code in the mail:\n%s", msgs[0].Text)
	}
	b.Submit(map[string]string{"code": "000000"})
	if b.Status != 401 {
		t.Fatalf("a wrong code: status %d", b.Status)
	}
	if len(mail.Messages()) != 1 {
		t.Fatal("showing the page again sent another code")
	}
	page = b.Submit(map[string]string{"code": code[1]})
	if !strings.Contains(page, "signed in as Alice Smith") {
		t.Fatalf("the mailed code did not sign in:\n%s", page)
	}
	// The same code does not work twice.
	b2 := browse.New(t, srv.URL)
	b2.Get("/login?login_hint=" + alice.Username)
	b2.Submit(map[string]string{"password": alice.Password})
	b2.Submit(map[string]string{"code": code[1]})
	if b2.Status != 401 {
		t.Fatalf("a used email code worked again (status %d)", b2.Status)
	}
}
