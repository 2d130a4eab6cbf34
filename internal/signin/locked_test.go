package signin

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
)

func TestALockedAccountIsAnsweredAndTimedLikeAWrongPasswordWhateverThePassword(t *testing.T) {
	locked := func(u *file.UserFile) { u.LockedUntil = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) }
	e := newEnv(t, "none", user(t, "carol", alicePW, locked))
	var mu sync.Mutex
	pads := 0
	e.engine.delay = &delayer{wait: func(context.Context, time.Time, time.Duration) { mu.Lock(); pads++; mu.Unlock() }}
	flowRe := regexp.MustCompile(`flow(=|%3d)[A-Za-z0-9_-]+`)
	try := func(login, password string) (int, string, int) {
		mu.Lock()
		pads = 0
		mu.Unlock()
		b := e.browser()
		b.Get("/proto?app=Wiki&hint=" + login)
		page := b.Submit(map[string]string{"password": password})
		mu.Lock()
		defer mu.Unlock()
		return b.Status, csrfRe.ReplaceAllString(flowRe.ReplaceAllString(strings.ReplaceAll(page, login, "X"), ""), ""), pads
	}
	wantStatus, wantPage, wantPads := try("nobody", "Wrong-Password-1")
	if wantStatus != http.StatusUnauthorized || wantPads != 1 || !strings.Contains(wantPage, `href="/account/unlock"`) {
		t.Fatalf("an unknown user: status %d, padded %d times, want 401 padded once with the unlock link\n%s", wantStatus, wantPads, wantPage)
	}
	for _, tc := range []struct{ name, password string }{
		{"the right password", alicePW},
		{"a wrong password", "Wrong-Password-1"},
	} {
		t.Run("a locked account with "+tc.name, func(t *testing.T) {
			status, page, pads := try("carol", tc.password)
			if status != wantStatus || page != wantPage || pads != wantPads {
				t.Errorf("status %d, padded %d times; an unknown user's: %d, %d; pages equal: %v\n%s", status, pads, wantStatus, wantPads, page == wantPage, page)
			}
		})
	}
}
