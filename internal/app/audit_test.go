package app

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

func TestASecondFactorUsedAtSignInIsAuditedWithItsMethodAndApp(t *testing.T) {
	c := &clock{t: time.Now()}
	a, srv := newDemoAt(t, c.now)
	bob := DemoUsers()[1]
	secret, _ := enrolAtAccount(t, browse.New(t, srv.URL), bob, c.now())
	c.add(time.Minute) // a fresh TOTP step

	b := browse.New(t, srv.URL)
	b.Get("/login?login_hint=" + bob.Username)
	chooseTOTP(t, b, b.Submit(map[string]string{"password": bob.Password}))
	code, _ := totp.GenerateCode(secret, c.now())
	if page := b.Submit(map[string]string{"code": code}); !strings.Contains(page, "signed in as") {
		t.Fatalf("not signed in:\n%s", page)
	}
	evs, err := a.Store.QueryAudit(t.Context(), store.AuditQuery{Type: audit.MFAUsed})
	if err != nil || len(evs) != 1 || evs[0].Login != bob.Username || !strings.Contains(string(evs[0].Detail), `"method":"totp"`) {
		t.Fatalf("mfa.used events %+v (%v), want one for bob's authenticator app", evs, err)
	}
	rep, err := audit.Verify(t.Context(), a.Store)
	if err != nil || rep.Problem != nil {
		t.Fatalf("the trail after a sign-in does not verify: %+v, %v", rep, err)
	}
}
