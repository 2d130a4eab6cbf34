package main

import (
	"errors"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"

	"github.com/gatehouse-sso/gatehouse/internal/mfa/totp"
	"github.com/gatehouse-sso/gatehouse/internal/testenv/browse"
)

// user is one directory user the run created, with what a real user would
// hold: the password, the authenticator app (TOTP seed), and a browser with
// a live session for the SSO and password-change journeys.
type user struct {
	sam, upn, dn string

	// submit orders a user's code submissions: Gatehouse accepts only a
	// step after the last one used, so two codes of one user sent at once
	// could arrive in the wrong order (only the held sign-ins do that).
	submit sync.Mutex

	mu       sync.Mutex
	password string
	secret   string // TOTP seed, base32, as the enrolment page shows it
	// lastStep is the last TOTP time step this user sent: Gatehouse takes
	// each step once per credential and only steps after the last one used.
	lastStep uint64
	sso      *browse.Browser // signed in (the session from enrolment)
	ssoRec   *recorder
	broken   error // set when the user's state is unknown (a change failed midway)
}

var errNoStep = errors.New("no unused TOTP step left for this user in the accepted window")

func stepOf(t time.Time) uint64 {
	u := t.Unix()
	if u < 0 {
		return 0
	}
	return uint64(u) / uint64(totp.Period/time.Second)
}

// stepsLeft is how many more codes the user can send now: Gatehouse accepts
// the current step and the next one (the previous one too, but a code for
// it could arrive after the boundary, so the bench never uses it), each
// only if it is after the last one used.
func (u *user) stepsLeft(now time.Time) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return stepsLeft(u.lastStep, stepOf(now))
}

func stepsLeft(last, cur uint64) int {
	next := max(last+1, cur)
	if next > cur+1 {
		return 0
	}
	return int(cur + 2 - next) // #nosec G115 -- 1 or 2.
}

// nextCode uses up the earliest step Gatehouse will still accept and
// returns its code, as an authenticator app shows it.
func (u *user) nextCode(now time.Time) (string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	cur := stepOf(now)
	if stepsLeft(u.lastStep, cur) == 0 {
		return "", errNoStep
	}
	s := max(u.lastStep+1, cur)
	code, err := hotp.GenerateCodeCustom(u.secret, s, hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", err
	}
	u.lastStep = s
	return code, nil
}

func (u *user) currentPassword() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.password
}

// pool hands out users, one journey at a time each, so a user's password,
// session and TOTP steps are never raced by two journeys.
type pool struct {
	mu   sync.Mutex
	cond *sync.Cond
	free []*user // least recently released first
	now  func() time.Time
}

func newPool(users []*user) *pool {
	p := &pool{now: time.Now}
	p.cond = sync.NewCond(&p.mu)
	for _, u := range users {
		if u.broken == nil {
			p.free = append(p.free, u)
		}
	}
	return p
}

// acquire returns a free user; with needTOTP one that can still send a
// code now. It waits when there is none, and returns how long it waited:
// a phase that had to wait for the next TOTP step had too few users, and
// its journeys/s say less about Gatehouse.
func (p *pool) acquire(needTOTP bool) (*user, time.Duration) {
	start := p.now()
	waited := false
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		// With TOTP, the user whose last code is oldest, so that the
		// steps are spread over all users.
		pick, best, cur := -1, uint64(0), stepOf(p.now())
		for i, u := range p.free {
			if !needTOTP {
				pick = i
				break
			}
			u.mu.Lock()
			last, left := u.lastStep, stepsLeft(u.lastStep, cur)
			u.mu.Unlock()
			if left > 0 && (pick < 0 || last < best) {
				pick, best = i, last
			}
		}
		if pick >= 0 {
			u := p.free[pick]
			p.free = append(p.free[:pick], p.free[pick+1:]...)
			if !waited {
				return u, 0
			}
			return u, p.now().Sub(start)
		}
		waited = true
		if len(p.free) == 0 {
			p.cond.Wait()
			continue
		}
		// Users are free but out of steps until the next one begins.
		now := p.now()
		next := time.Unix(int64(stepOf(now)+1)*int64(totp.Period/time.Second), 0) // #nosec G115 -- a Unix step count fits.
		p.mu.Unlock()
		time.Sleep(next.Sub(now) + 20*time.Millisecond)
		p.mu.Lock()
	}
}

// release gives a user back; a broken one is dropped.
func (p *pool) release(u *user) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u.broken == nil {
		p.free = append(p.free, u)
	}
	p.cond.Signal()
}
