package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/directory/ad"
	"github.com/gatehouse-sso/gatehouse/internal/testenv"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// The spray phase is a password spray at accounts under an AD lockout
// threshold: many different wrong passwords, at a few users, by UPN and
// sAMAccountName, from many client addresses (X-Forwarded-For, which the
// run's Gatehouse believes from 127.0.0.1 as it would from a reverse proxy
// in front of it). It measures what a rejected attempt costs Gatehouse and
// how many of them reach the DC: Gatehouse's abuse guard must send each
// account at most its smart-lockout allowance (the threshold less
// abuse.passwords.directory_margin) and refuse the rest before AD.

// sprayThreshold is the PSO's lockout threshold on the spray's targets, and
// sprayMargin Gatehouse's default abuse.passwords.directory_margin: an
// unfamiliar client may take AD's count of an account to 3.
const (
	sprayThreshold = 5
	sprayMargin    = 2
	sprayAllowance = sprayThreshold - sprayMargin
)

// sprayGuesses are what a spray tries: common passwords that pass AD's
// complexity rule, each with a few suffixes, so most attempts differ.
var sprayGuesses = []string{"Winter2026!", "Spring2026!", "Summer2026!", "Autumn2026!", "Welcome1!", "Passw0rd!",
	"Company123!", "Qwerty123!", "Football1!", "Monday123!", "January2026!", "Letmein1!", "Changeme1!", "P@ssword1"}

// sprayTarget is an account the spray aims at: created for it, never signed
// in (no familiar browser or address), under the spray's PSO.
type sprayTarget struct {
	sam, upn, dn string
}

// sprayPart is one channel of the spray: the sign-in page or WS-Trust.
type sprayPart struct {
	Channel     string
	Targets     []string // sAMAccountNames
	Concurrency int
	Attempts    int
	Refused     int // 429 on the sign-in page, a fault with Retry-After on WS-Trust
	Wrong       int // "wrong password": sent to AD, or a repeat answered without it
	Errors      int
	ErrorKinds  map[string]int
	Requests    int
	Wall        time.Duration
	Latency     summary // ms per attempt, its requests together
	GatehouseCPU,
	BenchCPU time.Duration
	LDAP      map[string]float64
	Store     map[string]float64
	BadPwd    map[string]int   // badPwdCount of each target after the part
	LockedOut map[string]int64 // lockoutTime, when not 0
}

// Binds is the passwords that reached the DC.
func (s sprayPart) Binds() float64 { return s.LDAP["bind"] }

// LDAPOps is every directory operation of the part, the pool's included.
func (s sprayPart) LDAPOps() float64 {
	var n float64
	for _, v := range s.LDAP {
		n += v
	}
	return n
}

// MaxBadPwd is the highest badPwdCount among the targets.
func (s sprayPart) MaxBadPwd() int {
	m := 0
	for _, v := range s.BadPwd {
		m = max(m, v)
	}
	return m
}

// SumBadPwd is AD's count of wrong passwords over the targets.
func (s sprayPart) SumBadPwd() int {
	n := 0
	for _, v := range s.BadPwd {
		n += v
	}
	return n
}

// createSprayTargets adds n users for the spray, a group of them and a PSO
// with a lockout threshold for the group.
func (d *runDirectory) createSprayTargets(runID string, n int) ([]*sprayTarget, error) {
	var targets []*sprayTarget
	members := make([]string, 0, n)
	for i := range n {
		sam := fmt.Sprintf("spray-%s-%02d", runID, i)
		t := &sprayTarget{sam: sam, upn: sam + "@" + testenv.ADDNSDomain, dn: "CN=" + sam + "," + d.OU}
		req := ldap.NewAddRequest(t.dn, nil)
		req.Attribute("objectClass", []string{"user"})
		req.Attribute("sAMAccountName", []string{sam})
		req.Attribute("userPrincipalName", []string{t.upn})
		req.Attribute("givenName", []string{"Spray"})
		req.Attribute("sn", []string{fmt.Sprintf("T%02d", i)})
		req.Attribute("unicodePwd", []string{ad.EncodePassword(newPassword())})
		req.Attribute("userAccountControl", []string{"512"})
		if err := d.a.add(req); err != nil {
			return targets, fmt.Errorf("create user %s: %w", sam, err)
		}
		d.created = append(d.created, t.dn)
		targets = append(targets, t)
		members = append(members, t.dn)
	}
	group, pso, err := d.groupWithPSO("spray-"+runID, members, sprayThreshold)
	if group != "" {
		d.created = append(d.created, group)
	}
	d.SprayPSO = pso
	if err != nil {
		return targets, err
	}
	return targets, nil
}

// lockoutState reads badPwdCount and lockoutTime of the targets from the DC.
func (a *admin) lockoutState(targets []*sprayTarget) (bad map[string]int, locked map[string]int64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	bad, locked = map[string]int{}, map[string]int64{}
	for _, t := range targets {
		res, err := a.c.Search(ldap.NewSearchRequest(t.dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{"badPwdCount", "lockoutTime"}, nil))
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", t.sam, err)
		}
		if len(res.Entries) != 1 {
			return nil, nil, fmt.Errorf("read %s: not found", t.sam)
		}
		e := res.Entries[0]
		n, _ := strconv.Atoi(e.GetAttributeValue("badPwdCount"))
		bad[t.sam] = n
		if lt, _ := strconv.ParseInt(e.GetAttributeValue("lockoutTime"), 10, 64); lt != 0 {
			locked[t.sam] = lt
		}
	}
	return bad, locked, nil
}

// sprayOutcome is how Gatehouse answered one attempt.
type sprayOutcome int

const (
	sprayRefused sprayOutcome = iota
	sprayWrong
	sprayOther
)

// runSpray sprays the targets through one channel ("signin" or "wstrust")
// on conc workers for d, and reads AD's counts of the targets afterwards.
func (r *runner) runSpray(ctx context.Context, adm *admin, channel string, targets []*sprayTarget, conc int, d time.Duration) (sprayPart, error) {
	res := sprayPart{Channel: channel, Concurrency: conc, ErrorKinds: map[string]int{}}
	for _, t := range targets {
		res.Targets = append(res.Targets, t.sam)
	}
	before, err := r.takeSnapshot(true)
	if err != nil {
		return res, err
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		wg       sync.WaitGroup
		requests atomic.Int64
		lat      []float64
	)
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil && time.Since(before.at) < d {
				i := next.Add(1) - 1
				t := targets[int(i)%len(targets)]
				// sAMAccountName, UPN, and the name in capitals, in turn.
				login := []string{t.sam, t.upn, strings.ToUpper(t.sam)}[int(i/int64(len(targets)))%3]
				guess := sprayGuesses[int(i)%len(sprayGuesses)]
				if k := i / int64(len(sprayGuesses)); k > 0 {
					guess += strconv.FormatInt(k, 10)
				}
				// A botnet: each attempt from another address.
				ip := fmt.Sprintf("2001:db8:%x:%x::1", (i>>16)&0xffff, i&0xffff)
				var out sprayOutcome
				var n int
				var err error
				start := time.Now()
				if channel == "wstrust" {
					out, n, err = r.sprayWSTrust(ip, login, guess)
				} else {
					// Half as Entra sends a federated user (the UPN typed
					// at Microsoft), half at /login with what was typed.
					page := "/login?login_hint=" + url.QueryEscape(login)
					if i%2 == 0 {
						page = signInPath(&user{upn: t.upn})
					}
					out, n, err = r.spraySignIn(ip, page, guess)
				}
				took := time.Since(start)
				requests.Add(int64(n))
				mu.Lock()
				res.Attempts++
				lat = append(lat, ms(took))
				switch {
				case err != nil:
					res.Errors++
					res.ErrorKinds[err.Error()]++
				case out == sprayRefused:
					res.Refused++
				case out == sprayWrong:
					res.Wrong++
				}
				stop := r.maxErrors > 0 && res.Errors >= r.maxErrors
				mu.Unlock()
				if stop {
					return
				}
			}
		})
	}
	wg.Wait()
	after, err := r.takeSnapshot(false)
	if err != nil {
		return res, err
	}
	res.Wall = after.at.Sub(before.at)
	res.Latency = summarize(lat)
	res.Requests = int(requests.Load())
	res.GatehouseCPU = after.gatehouse - before.gatehouse
	res.BenchCPU = after.bench - before.bench
	res.LDAP = diff(before.ldap, after.ldap)
	res.Store = diff(before.store, after.store)
	if res.BadPwd, res.LockedOut, err = adm.lockoutState(targets); err != nil {
		return res, err
	}
	return res, ctx.Err()
}

// spraySignIn is one wrong password on the sign-in page from ip: the page
// (Entra's WS-Fed request, or /login with a login hint), then the password
// POST. It returns the number of requests.
func (r *runner) spraySignIn(ip, page, guess string) (sprayOutcome, int, error) {
	b := browse.New(failer{}, r.base)
	tr := &http.Transport{MaxIdleConnsPerHost: 2}
	defer tr.CloseIdleConnections()
	var n atomic.Int64
	b.C.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
		n.Add(1)
		req = req.Clone(req.Context())
		req.Header.Set("X-Forwarded-For", ip)
		return tr.RoundTrip(req)
	})
	b.C.Timeout = r.requestTimeout
	out := sprayOther
	err := attempt(func() {
		b.Get(page)
		if !strings.Contains(b.Last, `name="password"`) {
			fail(b, "no password page")
		}
		b.Submit(map[string]string{"password": guess})
		switch b.Status {
		case http.StatusTooManyRequests:
			out = sprayRefused
		case http.StatusUnauthorized:
			out = sprayWrong
		default:
			fail(b, "neither refused nor a wrong password")
		}
	})
	return out, int(n.Load()), err
}

// sprayWSTrust is one wrong password posted to WS-Trust usernamemixed from
// ip, as Outlook or MSAL would post it.
func (r *runner) sprayWSTrust(ip, login, guess string) (sprayOutcome, int, error) {
	endpoint := r.base + "/wstrust/13/usernamemixed"
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(testenv.UsernameMixedRST(endpoint, login, guess, time.Now())))
	if err != nil {
		return sprayOther, 0, err
	}
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	req.Header.Set("X-Forwarded-For", ip)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: r.requestTimeout}
	resp, err := c.Do(req)
	if err != nil {
		return sprayOther, 1, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusInternalServerError && resp.Header.Get("Retry-After") != "":
		return sprayRefused, 1, nil
	case resp.StatusCode == http.StatusInternalServerError && strings.Contains(string(body), "FailedAuthentication"):
		return sprayWrong, 1, nil
	}
	return sprayOther, 1, journeyFailure{fmt.Sprintf("WS-Trust: status %d: %s", resp.StatusCode, shorten(string(body)))}
}

// roundTripFunc is a function as an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
