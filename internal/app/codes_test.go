package app

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/notify/smtptest"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// passwordThenMFA signs b in as the demo user up to the second-factor
// page.
func passwordThenMFA(t *testing.T, b *browse.Browser, u DemoUser) string {
	t.Helper()
	b.Get("/login?login_hint=" + u.Username)
	return b.Submit(map[string]string{"password": u.Password})
}

func TestWrongCodesOfEveryMethodShareOneBudgetPerUser(t *testing.T) {
	a, srv := newDemo(t)
	alice := DemoUsers()[0]
	u, secret := userWithTOTP(t, a, alice.Username, time.Now())
	codes, err := a.Factors.Recovery.Generate(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := browse.New(t, srv.URL)
	if page := passwordThenMFA(t, b, alice); !strings.Contains(page, "Code from your authenticator app") {
		t.Fatalf("no TOTP step:\n%s", page)
	}
	totpPage := strings.TrimPrefix(b.URL, srv.URL)
	for i := range 3 {
		b.Submit(map[string]string{"code": "000000"})
		if b.Status != http.StatusUnauthorized {
			t.Fatalf("wrong TOTP code %d: status %d", i+1, b.Status)
		}
	}
	b.Get(totpPage + "&method=recovery")
	for i := range 2 {
		b.Submit(map[string]string{"code": "AAAAA-BBBBB"})
		if b.Status != http.StatusUnauthorized {
			t.Fatalf("wrong recovery code %d: status %d", i+1, b.Status)
		}
	}
	// Five wrong codes of any method spend the user's budget: a right
	// recovery code is refused now, and so is a right TOTP code.
	page := b.Submit(map[string]string{"code": codes[0]})
	if b.Status != http.StatusTooManyRequests || !strings.Contains(page, "Too many wrong codes") {
		t.Fatalf("a right recovery code after five wrong codes: status %d\n%s", b.Status, page)
	}
	if ra, err := strconv.Atoi(b.Header.Get("Retry-After")); err != nil || ra <= 0 || ra%60 != 0 {
		t.Errorf("the throttled answer's Retry-After is %q, want whole minutes", b.Header.Get("Retry-After"))
	}
	b.Get(totpPage + "&method=totp")
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	b.Submit(map[string]string{"code": code})
	if b.Status != http.StatusTooManyRequests {
		t.Fatalf("a right TOTP code after five wrong codes: status %d", b.Status)
	}
}

func TestWrongCodesInAPasswordResetDoNotBlockTheUsersOwnSignIn(t *testing.T) {
	a, srv := newDemo(t)
	alice := DemoUsers()[0]
	_, secret := userWithTOTP(t, a, alice.Username, time.Now())
	attacker := browse.New(t, srv.URL)
	attacker.Get("/password/reset")
	attacker.Submit(map[string]string{"login": alice.Username})
	for i := range 10 {
		submitMethod(t, attacker, "totp", "000000")
		if attacker.Status != http.StatusUnauthorized {
			t.Fatalf("wrong reset code %d: status %d\n%s", i+1, attacker.Status, attacker.Last)
		}
	}
	// The address's self-service budget is spent…
	if page := submitMethod(t, attacker, "totp", "000000"); attacker.Status != http.StatusTooManyRequests || !strings.Contains(page, "Too many wrong codes") {
		t.Fatalf("an eleventh reset code from the address: status %d\n%s", attacker.Status, page)
	}
	// …and the user's own sign-in, with their authenticator app, is
	// untouched by it.
	b := browse.New(t, srv.URL)
	passwordThenMFA(t, b, alice)
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if page := b.Submit(map[string]string{"code": code}); !strings.Contains(page, "signed in as Alice Smith") {
		t.Fatalf("the user's own sign-in after an anonymous attack: status %d\n%s", b.Status, page)
	}
}

func TestTheEmailSendLimitSaysCodesWereSentNotThatCodesWereWrong(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{Mode: smtptest.Plain})
	_, srv := newDemoAt(t, time.Now, func(c *config.Config) {
		c.MFA.Methods = []string{"email", "totp", "recovery"}
		c.MFA.EmailAsSecondFactor = true
		c.SMTP = config.SMTP{Host: mail.Host, Port: mail.Port, From: "sso@demo.gatehouse.test", Security: "none"}
	})
	alice := DemoUsers()[0]
	for i := range 5 { // the default: 5 codes an hour
		b := browse.New(t, srv.URL)
		if page := passwordThenMFA(t, b, alice); !strings.Contains(page, "We sent a code") {
			t.Fatalf("sign-in %d sent no code:\n%s", i+1, page)
		}
	}
	b := browse.New(t, srv.URL)
	page := passwordThenMFA(t, b, alice)
	if !strings.Contains(page, "Too many codes were sent to you lately") || strings.Contains(page, "Too many wrong codes") {
		t.Fatalf("the sixth code in an hour:\n%s", page)
	}
	b.Submit(map[string]string{"code": "000000"})
	if strings.Contains(b.Last, "Too many wrong codes") {
		t.Fatalf("one wrong code after the send limit says too many wrong codes:\n%s", b.Last)
	}
}
