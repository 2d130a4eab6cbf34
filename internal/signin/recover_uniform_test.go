package signin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/directory/file"
	"github.com/gatehouse-sso/gatehouse/internal/mfa"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// mailingFactors adds email codes to recoveringFactors: an account with a
// mail address is sent one (or the send fails, with fail set); the decoy
// is counted.
type mailingFactors struct {
	*recoveringFactors
	mu           sync.Mutex
	fail         bool
	sent, decoys int
}

func (m *mailingFactors) RecoveryMethods() []string { return []string{"email", "totp"} }

func (m *mailingFactors) RecoveryChallenge(ctx context.Context, u *directory.User, method, purpose, lang string) ([]byte, string, error) {
	if method != "email" {
		return m.recoveringFactors.RecoveryChallenge(ctx, u, method, purpose, lang)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case u.Mail == "":
		return nil, "", mfa.ErrNotEnrolled
	case m.fail:
		return nil, "", errors.New("dial tcp: connection refused")
	}
	m.sent++
	return []byte("code"), notify.MaskAddress(u.Mail), nil
}

func (m *mailingFactors) RecoveryDecoy(context.Context, *directory.User, string, string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.decoys++
	return []byte("decoy"), nil
}

// padTargets records the target each padded step waited for, without
// waiting.
type padTargets struct {
	mu      sync.Mutex
	targets []time.Duration
}

func (p *padTargets) wait(_ context.Context, _ time.Time, target time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.targets = append(p.targets, target)
}

// take returns the targets recorded since the last take.
func (p *padTargets) take() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.targets
	p.targets = nil
	return t
}

// mailingEnv serves a reset whose methods are email codes and
// authenticator codes, for alice (with a mail address at corp.example.test)
// and bob (without one), padding through pads.
func mailingEnv(t *testing.T) (*mailingFactors, *padTargets, string) {
	t.Helper()
	withMail := func(u *file.UserFile) { u.Mail = u.Username + "@corp.example.test" }
	e := newEnv(t, "none", user(t, "alice", alicePW, withMail), user(t, "bob", alicePW, nil))
	mf := &mailingFactors{recoveringFactors: &recoveringFactors{fakeFactors: e.factors}}
	e.engine.factors = mf
	pads := &padTargets{}
	e.engine.padWait = pads.wait
	mux := http.NewServeMux()
	e.engine.MountRecovery(mux, Recovery{Kind: "reset", Path: "/password/reset", Title: "reset.title", Intro: "reset.intro",
		Event: "password.reset", Purpose: "reset", NewPassword: true, Policy: policy.Settings{}, DecoyKey: []byte("decoy"),
		MailDomain: "corp.example.test", Ending: &countingEnding{}})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return mf, pads, srv.URL
}

var (
	flowRe  = regexp.MustCompile(`flow(=|%3d)[A-Za-z0-9_-]+`)
	tokenRe = regexp.MustCompile(`name="csrf_token" value="[^"]+"`)
)

func TestEveryIdentifyAndEmailStepIsPaddedToTheSameTargetWhateverTheAccount(t *testing.T) {
	mf, pads, base := mailingEnv(t)
	walk := func(login string) (identify, send []time.Duration, page string) {
		b := browse.New(t, base)
		b.Get("/password/reset")
		pads.take()
		b.Submit(map[string]string{"login": login})
		identify = pads.take()
		b.Get(b.URL + "&method=email")
		page = b.Submit(map[string]string{"send": "1"})
		return identify, pads.take(), tokenRe.ReplaceAllString(flowRe.ReplaceAllString(page, "flow=X"), "csrf")
	}
	// A real account first: its lookup and its send move the targets.
	if id, send, _ := walk("alice"); len(id) != 1 || len(send) != 1 || id[0] < minIdentifyDelay || send[0] < minSendDelay {
		t.Fatalf("the real account's steps were padded to %v and %v, want once each, above the floors", id, send)
	}
	if mf.sent != 1 {
		t.Fatalf("alice was sent %d codes, want 1", mf.sent)
	}
	for _, tc := range []struct {
		name, login string
		// found: the directory found the account, whose lookup moves the
		// identify target in turn.
		found bool
	}{
		{"an unknown user name", "anna", false},
		{"an account without an address", "bob", true},
	} {
		t.Run(tc.name+" waits for the targets a real account waits for next, and sees its page", func(t *testing.T) {
			id, send, page := walk(tc.login)
			realID, realSend, realPage := walk("alice")
			if len(id) != 1 || len(send) != 1 {
				t.Fatalf("the steps were padded %d and %d times, want once each", len(id), len(send))
			}
			if send[0] != realSend[0] || (!tc.found && id[0] != realID[0]) {
				t.Errorf("padded to identify %v, send %v; the real account to %v, %v", id, send, realID, realSend)
			}
			if !tc.found && page != realPage {
				t.Errorf("the email step differs from a real account's:\n%s\n----\n%s", page, realPage)
			}
		})
	}
}

func TestWhileTheMailServerFailsEveryAccountIsToldTheCodeCouldNotBeSent(t *testing.T) {
	mf, _, base := mailingEnv(t)
	send := func(login string) (int, string) {
		b := browse.New(t, base)
		b.Get("/password/reset")
		b.Submit(map[string]string{"login": login})
		b.Get(b.URL + "&method=email")
		page := b.Submit(map[string]string{"send": "1"})
		return b.Status, tokenRe.ReplaceAllString(flowRe.ReplaceAllString(page, "flow=X"), "csrf")
	}
	mf.fail = true
	realStatus, realPage := send("alice")
	if realStatus != http.StatusServiceUnavailable || !regexp.MustCompile(`couldn&#39;t send the code`).MatchString(realPage) {
		t.Fatalf("a failed send: status %d\n%s", realStatus, realPage)
	}
	for _, login := range []string{"anna", "bob"} {
		if status, page := send(login); status != realStatus || page != realPage {
			t.Errorf("%s: status %d, want %d like a real account's failed send; pages equal: %v", login, status, realStatus, page == realPage)
		}
	}
	// A real send that goes out again makes the decoy say sent again.
	mf.fail = false
	if status, _ := send("alice"); status != http.StatusOK {
		t.Fatalf("a send after the mail server came back: status %d", status)
	}
	if status, page := send("anna"); status != http.StatusOK || !regexp.MustCompile(`We sent a code to a•••@c•••\.test`).MatchString(page) {
		t.Errorf("the decoy after the mail server came back: status %d\n%s", status, page)
	}
}

func TestTheDecoyAddressIsShapedLikeARealAccountsOfThatLogin(t *testing.T) {
	h := &recoveryFlow{Recovery: Recovery{DecoyKey: []byte("k"), MailDomain: "Corp.Example.test"}}
	for _, tc := range []struct{ login, want string }{
		{"alice", "a•••@c•••.test"},
		{"Alice", "a•••@c•••.test"},
		{`CORP\alice`, "a•••@c•••.test"},
		{"alice@partner.example.org", "a•••@p•••.org"},
	} {
		if got := h.decoy(tc.login); got != tc.want {
			t.Errorf("decoy(%q) = %q, want %q", tc.login, got, tc.want)
		}
	}
	// Without a mail domain one is made up, stable per login.
	h.MailDomain = ""
	if a, b := h.decoy("alice"), h.decoy("alice"); a != b || !regexp.MustCompile(`^a•••@[a-z]•••\.com$`).MatchString(a) {
		t.Errorf("decoy without a mail domain: %q, %q", a, b)
	}
}

func TestTheSendTargetFollowsRealSendsAboveItsFloor(t *testing.T) {
	d := newSendDelayer(nil)
	for range 50 {
		d.success(10 * time.Millisecond)
	}
	if got := d.target(); got != minSendDelay {
		t.Errorf("after fast sends the target is %v, want the floor %v", got, minSendDelay)
	}
	for range 50 {
		d.success(800 * time.Millisecond)
	}
	if got := d.target(); got < 800*time.Millisecond {
		t.Errorf("after sends of 800ms the target is %v, want at least that", got)
	}
}
