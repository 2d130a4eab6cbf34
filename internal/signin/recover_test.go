package signin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// recoveringFactors adds recovery to fakeFactors: an authenticator code
// "123456" for a user who has "totp", and a passkey whose credential is
// "passkey:" and its owner's ID, answering a request the page showed.
type recoveringFactors struct {
	*fakeFactors
	mu       sync.Mutex
	requests int
}

func (f *recoveringFactors) RecoveryMethods() []string { return []string{"webauthn", "totp"} }

func (f *recoveringFactors) RecoveryEnrolled(ctx context.Context, u *directory.User) ([]string, error) {
	return f.Enrolled(ctx, u)
}

func (f *recoveringFactors) RecoveryChallenge(_ context.Context, _ *directory.User, method, _, _ string) ([]byte, string, error) {
	if method != "webauthn" {
		return nil, "", fmt.Errorf("no %s challenge", method)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	return []byte("request"), `{"publicKey":{"challenge":"c` + fmt.Sprint(f.requests) + `"}}`, nil
}

func (f *recoveringFactors) RecoveryVerify(ctx context.Context, r *http.Request, u *directory.User, method string, pending []byte) (string, error) {
	if f.gate != nil {
		f.gate()
	}
	has, _ := f.Enrolled(ctx, u)
	ok := slices.Contains(has, method)
	switch method {
	case "webauthn":
		ok = ok && string(pending) == "request" && r.PostFormValue("credential") == "passkey:"+u.ID
	case "totp":
		ok = ok && r.PostFormValue("code") == "123456"
	}
	if !ok {
		return "", UserError{Reason: "wrong", MessageKey: "mfa.invalid", Status: http.StatusUnauthorized}
	}
	return "hwk", nil
}

func (f *recoveringFactors) RecoveryDecoy(context.Context, *directory.User, string, string) ([]byte, error) {
	return []byte("decoy"), nil
}

// countingEnding records what it was asked to end.
type countingEnding struct {
	mu    sync.Mutex
	ended []string // user ID and verified methods
}

func (c *countingEnding) End(_ context.Context, _ *http.Request, u *directory.User, _ string, verified []string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = append(c.ended, u.ID+" "+strings.Join(verified, ","))
	return "unlock.done", nil
}

func (c *countingEnding) calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ended)
}

// recoveryEnv serves /login and an unlock at /account/unlock (a passkey or
// an authenticator code is enough) for alice, who has both, and bob, who
// has a passkey.
func recoveryEnv(t *testing.T) (*env, *recoveringFactors, *countingEnding, string) {
	t.Helper()
	e := newEnv(t, "none", user(t, "alice", alicePW, nil), user(t, "bob", alicePW, nil))
	e.factors.enrolled[fmt.Sprintf("%032x", "alice")] = []string{"webauthn", "totp"}
	e.factors.enrolled[fmt.Sprintf("%032x", "bob")] = []string{"webauthn"}
	rf := &recoveringFactors{fakeFactors: e.factors}
	e.engine.factors = rf
	e.engine.padWait = func(context.Context, time.Time, time.Duration) {} // no padding in unit tests
	end := &countingEnding{}
	mux := http.NewServeMux()
	e.engine.Mount(mux)
	e.engine.MountRecovery(mux, Recovery{Kind: "unlock", Path: "/account/unlock", Title: "unlock.title", Intro: "unlock.intro",
		Event: "account.unlocked", Purpose: "unlock", Policy: policy.Settings{}, DecoyKey: []byte("decoy"), Ending: end})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return e, rf, end, srv.URL
}

// verifyPage starts an unlock for login and returns its verify page: the
// choice of methods, or with a method that method's page.
func verifyPage(t *testing.T, base, login, method string) (*browse.Browser, string) {
	t.Helper()
	b := browse.New(t, base)
	b.Get("/account/unlock")
	page := b.Submit(map[string]string{"login": login})
	if method != "" {
		page = b.Get(b.URL + "&method=" + method)
	}
	return b, page
}

var optionsRe = regexp.MustCompile(`data-options="[^"]*"`)

// postPasskey posts the page's passkey form with credential.
func postPasskey(t *testing.T, b *browse.Browser, credential string) string {
	t.Helper()
	i := strings.Index(b.Last, `id="webauthn-form"`)
	if i < 0 {
		t.Fatalf("no passkey offered:\n%s", b.Last)
	}
	b.Last = b.Last[strings.LastIndex(b.Last[:i], "<form"):]
	return b.Submit(map[string]string{"credential": credential})
}

func TestARecoveryOffersAPasskeyToEveryAccountAndTakesOnlyTheAccountsOwn(t *testing.T) {
	_, _, end, base := recoveryEnv(t)
	aliceID, bobID := fmt.Sprintf("%032x", "alice"), fmt.Sprintf("%032x", "bob")
	same := func(p string) string {
		return optionsRe.ReplaceAllString(csrfRe.ReplaceAllString(regexp.MustCompile(`flow(=|%3d)[A-Za-z0-9_-]+`).ReplaceAllString(p, "flow="), ""), "")
	}
	_, knownChoice := verifyPage(t, base, "alice", "")
	_, unknownChoice := verifyPage(t, base, "nobody", "")
	if !strings.Contains(knownChoice, "method=webauthn") || same(knownChoice) != same(unknownChoice) {
		t.Fatalf("the choice of methods differs for a known and an unknown account:\n%s\n----\n%s", knownChoice, unknownChoice)
	}
	b, known := verifyPage(t, base, "alice", "webauthn")
	_, unknown := verifyPage(t, base, "nobody", "webauthn")
	if !strings.Contains(known, `data-webauthn="discover"`) || same(known) != same(unknown) {
		t.Fatalf("the passkey offer differs for a known and an unknown account:\n%s\n----\n%s", known, unknown)
	}
	if page := postPasskey(t, b, "passkey:"+bobID); b.Status != http.StatusUnauthorized || !strings.Contains(page, "That code didn") {
		t.Fatalf("someone else's passkey: status %d\n%s", b.Status, page)
	}
	if got := end.calls(); len(got) != 0 {
		t.Fatalf("ended with someone else's passkey: %v", got)
	}
	if page := postPasskey(t, b, "passkey:"+aliceID); !strings.Contains(page, "Your account is unlocked.") {
		t.Fatalf("the account's own passkey did not unlock it:\n%s", page)
	}
	if got := end.calls(); !slices.Equal(got, []string{aliceID + " webauthn"}) {
		t.Fatalf("ended %v, want alice's with her passkey", got)
	}
	// An unknown account: the passkey of a real one fails like any answer.
	c, _ := verifyPage(t, base, "nobody", "webauthn")
	if postPasskey(t, c, "passkey:"+aliceID); c.Status != http.StatusUnauthorized {
		t.Fatalf("a passkey unlocked an unknown account: status %d", c.Status)
	}
}

func TestARecoveryFlowAndASignInFlowAreNotEachOther(t *testing.T) {
	e, _, _, base := recoveryEnv(t)
	b, _ := verifyPage(t, base, "alice", "")
	u, _ := url.Parse(b.URL)
	unlockFlow := u.Query().Get("flow")
	if page := b.Get("/login?flow=" + unlockFlow); !strings.Contains(page, "has expired") {
		t.Errorf("/login took an unlock's flow:\n%s", page)
	}
	page := b.Get(strings.TrimPrefix(e.srv.URL, base) + "/login?login_hint=alice")
	signInFlow := strings.TrimPrefix(formRe.FindStringSubmatch(page)[1], "/login?flow=")
	if page := b.Get("/account/unlock?flow=" + signInFlow); !strings.Contains(page, "has expired") {
		t.Errorf("/account/unlock took a sign-in's flow:\n%s", page)
	}
}

func TestTheFlowNamesTheAccountOnlyOnceProved(t *testing.T) {
	e, _, _, base := recoveryEnv(t)
	b, page := verifyPage(t, base, "alice", "totp")
	u, _ := url.Parse(b.URL)
	id := u.Query().Get("flow")
	if f, err := e.store.GetFlow(context.Background(), id, e.clock()); err != nil || f.UserID != "" {
		t.Fatalf("before any answer the flow names %q (%v)", f.UserID, err)
	}
	if !strings.Contains(page, `id="code_totp"`) {
		t.Fatalf("no authenticator form:\n%s", page)
	}
	i := strings.Index(page, `id="code_totp"`)
	b.Last = page[strings.LastIndex(page[:i], "<form"):]
	b.Submit(map[string]string{"code": "000000"})
	if f, err := e.store.GetFlow(context.Background(), id, e.clock()); err != nil || f.UserID != "" {
		t.Fatalf("after a wrong answer the flow names %q (%v)", f.UserID, err)
	}
}

func TestConcurrentAnswersEndARecoveryOnce(t *testing.T) {
	_, rf, end, base := recoveryEnv(t)
	b, page := verifyPage(t, base, "alice", "totp")
	form := url.Values{"code": {"123456"}, "method": {"totp"}, web.CSRFField: {csrfRe.FindStringSubmatch(page)[1]}}
	action := b.URL
	const n = 8
	// Every request checks its answer before any ends the flow: the race
	// is on the claim. A request that never arrives lets the others go
	// after 10 s, and fails below.
	var arrived sync.WaitGroup
	arrived.Add(n)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	rf.gate = func() {
		arrived.Done()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
		}
	}
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			resp, err := b.C.PostForm(action, form)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s >= 500 {
			t.Errorf("a losing request got %d", s)
		}
	}
	if got := end.calls(); len(got) != 1 {
		t.Errorf("%d of %d concurrent answers ended the unlock, want 1", len(got), n)
	}
}

func TestStartingRecoveriesIsLimitedPerClientAddress(t *testing.T) {
	_, _, _, base := recoveryEnv(t)
	b := browse.New(t, base)
	b.Get("/account/unlock")
	identify := b.Last
	for i := range recoveryStarts + 1 {
		b.Last, b.URL = identify, base+"/account/unlock"
		page := b.Submit(map[string]string{"login": fmt.Sprintf("user%d", i)})
		if i < recoveryStarts && b.Status != http.StatusOK {
			t.Fatalf("start %d: status %d", i+1, b.Status)
		}
		if i == recoveryStarts && (b.Status != http.StatusTooManyRequests || !strings.Contains(page, "Too many attempts")) {
			t.Fatalf("start %d: status %d, want 429\n%s", i+1, b.Status, page)
		}
	}
}
