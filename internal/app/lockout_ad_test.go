package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// fromAddress makes every request of b come from ip, as a trusted reverse
// proxy would say (X-Forwarded-For).
func fromAddress(b *browse.Browser, ip string) *browse.Browser {
	next := b.C.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	b.C.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("X-Forwarded-For", ip)
		return next.RoundTrip(r)
	})
	return b
}

// wsTrust posts a usernamemixed request from ip and returns the status,
// the Retry-After header and the body.
func wsTrust(t *testing.T, a *App, srv string, ip, login, password string) (int, string, string) {
	t.Helper()
	endpoint := a.Config.Issuer + "/wstrust/13/usernamemixed"
	req, err := http.NewRequest(http.MethodPost, srv+"/wstrust/13/usernamemixed", strings.NewReader(testenv.UsernameMixedRST(endpoint, login, password, time.Now())))
	if err != nil {
		t.Error(err)
		return 0, "", ""
	}
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, "", ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
}

// TestASprayOverTheSignInPageAndWSTrustLocksNoADAccount is the attack of
// issue 14, at scale: thousands of wrong passwords at several users with a
// lockout threshold of 5, in parallel, from many addresses, through /login
// and WS-Trust usernamemixed, mixing UPN, sAMAccountName and mail. No
// account may get a lockoutTime, and the real user keeps signing in from
// their familiar browser and their office's Outlook while it goes on.
func TestASprayOverTheSignInPageAndWSTrustLocksNoADAccount(t *testing.T) {
	a, srv := newADAppWith(t, func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.1/32", "::1/128"}
		c.Apps = []config.App{{Name: "Microsoft 365", Type: "entra", Domains: []string{testenv.ADDNSDomain}}}
		// A margin of 3 leaves one attempt for Outlook at a known address
		// besides the familiar browser's (with 2, the one spare attempt
		// under a threshold of 5 is the browser's alone: README).
		c.Abuse.Passwords.DirectoryMargin = 3
	})
	const pw = "Spray!Victim-Passw0rd1"
	var users []string
	for range 5 {
		users = append(users, newADUser(t, pw))
	}
	mail := func(sam string) string { return sam + ".private@mail.example.org" }
	for _, u := range users {
		testenv.SetADAttribute(t, u, "mail", mail(u))
	}
	testenv.ApplyADPSO(t, testenv.ADPSO{LockoutThreshold: 5, LockoutMinutes: 30}, users...)
	victim := users[0]

	// Before the attack the victim signs in at home in a browser, and
	// Outlook at the office signs in over WS-Trust.
	home := fromAddress(browse.New(t, srv.URL), "192.0.2.10")
	signInPasswordOnly(t, home, victim, pw)
	const office = "198.51.100.20"
	if code, _, body := wsTrust(t, a, srv.URL, office, victim+"@"+testenv.ADDNSDomain, pw); code != http.StatusOK {
		t.Fatalf("Outlook before the attack: %d\n%.300s", code, body)
	}
	base, _ := url.Parse(srv.URL)
	var familiar *http.Cookie
	for _, c := range home.C.Jar.Cookies(base) {
		if c.Name == "gh_familiar" {
			familiar = c
		}
	}
	if familiar == nil {
		t.Fatal("no familiar-browser cookie after a sign-in without \"remember this browser\"")
	}

	const attempts, workers = 2000, 16
	var (
		next, refused, wrong atomic.Int64
		retryAfter           atomic.Int64
		midway               = make(chan struct{})
		midOnce              sync.Once
		wg                   sync.WaitGroup
	)
	forms := func(sam string) []string {
		return []string{sam, sam + "@" + testenv.ADDNSDomain, mail(sam), strings.ToUpper(sam)}
	}
	for w := range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= attempts {
					return
				}
				if i == attempts/2 {
					midOnce.Do(func() { close(midway) })
				}
				u := users[int(i)%len(users)]
				login := forms(u)[int(i/int64(len(users)))%4]
				ip := fmt.Sprintf("2001:db8:%x:%x::1", w, i) // a botnet: every attempt from another /64
				guess := fmt.Sprintf("Spray-%d-Guess!", i)
				if i%2 == 0 {
					code, ra, body := wsTrust(t, a, srv.URL, ip, login, guess)
					switch {
					case code == http.StatusInternalServerError && ra != "":
						refused.Add(1)
						retryAfter.Add(1)
					case code == http.StatusInternalServerError && strings.Contains(body, "FailedAuthentication"):
						wrong.Add(1)
					default:
						t.Errorf("WS-Trust attempt %d: status %d, Retry-After %q\n%.300s", i, code, ra, body)
					}
					continue
				}
				b := fromAddress(browse.New(t, srv.URL), ip)
				b.Get("/login?login_hint=" + url.QueryEscape(login))
				b.Submit(map[string]string{"password": guess})
				switch b.Status {
				case http.StatusTooManyRequests:
					refused.Add(1)
				case http.StatusUnauthorized:
					wrong.Add(1)
				default:
					t.Errorf("/login attempt %d: status %d\n%.300s", i, b.Status, b.Last)
				}
			}
		})
	}

	<-midway
	// Mid-attack: the victim's familiar browser (its session gone, the
	// familiar cookie kept) signs in with the password…
	again := fromAddress(browse.New(t, srv.URL), "192.0.2.10")
	again.C.Jar.SetCookies(base, []*http.Cookie{familiar})
	signInPasswordOnly(t, again, victim, pw)
	// …Outlook at the office gets its token…
	if code, _, body := wsTrust(t, a, srv.URL, office, victim+"@"+testenv.ADDNSDomain, pw); code != http.StatusOK {
		t.Errorf("Outlook at the office during the attack: %d\n%.300s", code, body)
	}
	// …and a browser the victim never used is refused, even with the
	// right password: that is the attacker's budget, and it is spent.
	stranger := fromAddress(browse.New(t, srv.URL), "203.0.113.99")
	stranger.Get("/login?login_hint=" + victim)
	stranger.Submit(map[string]string{"password": pw})
	if stranger.Status != http.StatusTooManyRequests {
		t.Errorf("the right password from an unfamiliar browser during the attack: status %d, want 429", stranger.Status)
	}
	wg.Wait()

	for _, u := range users {
		if lt := adLockout(t, u); lt != 0 {
			t.Errorf("%s got lockoutTime %d", u, lt)
		}
	}
	// At most 3 wrong passwords per account (threshold 5, margin 2) reach
	// AD from the spray: everything else was refused before it.
	if w := wrong.Load(); w > int64(3*len(users)) || refused.Load() < attempts-int64(3*len(users)) {
		t.Errorf("%d wrong passwords reached AD and %d were refused; want at most %d and the rest refused", w, refused.Load(), 3*len(users))
	}
	if retryAfter.Load() == 0 {
		t.Error("no throttled WS-Trust answer carried Retry-After")
	}
	if _, err := a.Directory.Authenticate(context.Background(), victim, pw); err != nil {
		t.Errorf("after the attack the victim's password still works at AD: %v", err)
	}

	// The audit tells the victim's familiar sign-ins from the attack's
	// refusals, and records each limit running out once, not per attempt.
	u := lookup(t, a, victim)
	evs, err := a.Store.QueryAudit(context.Background(), store.AuditQuery{UserID: u.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range evs {
		count[e.Type+" "+e.Result+" "+e.Reason+" "+e.Familiar]++
	}
	if count["signin.success ok  familiar"] < 2 || count["signin.failure throttled account unfamiliar"] == 0 ||
		count["abuse.throttled refused account "+string(audit.Unfamiliar)] != 1 {
		t.Errorf("the victim's audit: %v", count)
	}
}

// TestParallelWrongCurrentPasswordsOnTheChangePageLockNothing: AD counts a
// wrong current password too; fifteen submitted at once by a signed-in
// attacker (or a stale tab) must not all reach it.
func TestParallelWrongCurrentPasswordsOnTheChangePageLockNothing(t *testing.T) {
	_, srv := newADApp(t)
	const pw = "Change!Passw0rd-1"
	name := newADUser(t, pw)
	testenv.ApplyADPSO(t, testenv.ADPSO{LockoutThreshold: 5, LockoutMinutes: 30}, name)
	b := browse.New(t, srv.URL)
	b.Get("/password/change")
	b.Submit(map[string]string{"login": name})
	b.Submit(map[string]string{"password": pw})
	form := b.Get("/password/change")
	token := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(form)
	if token == nil {
		t.Fatalf("no change form:\n%s", form)
	}
	var wg sync.WaitGroup
	statuses := make(chan int, 15)
	for i := range 15 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := url.Values{"csrf_token": {token[1]}, "current_password": {fmt.Sprintf("Wrong!Passw0rd-%02d", i)},
				"new_password": {"Harbor#Quilt-Nebula-84"}, "confirm_password": {"Harbor#Quilt-Nebula-84"}}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/password/change", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", srv.URL)
			resp, err := b.C.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusUnprocessableEntity && s != http.StatusTooManyRequests {
			t.Errorf("a wrong current password got status %d", s)
		}
	}
	if lt := adLockout(t, name); lt != 0 {
		t.Fatalf("the account was locked in AD (lockoutTime %d)", lt)
	}
}

// adLockout is the user's lockoutTime in AD.
func adLockout(t *testing.T, sam string) int64 {
	t.Helper()
	lt, _ := testenv.ADLockoutState(t, sam)
	return lt
}
