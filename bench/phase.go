package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// runner holds what every journey needs.
type runner struct {
	srv            *server
	base           string
	requestTimeout time.Duration
	maxErrors      int // a phase stops after this many failed journeys
	pool           *pool
	users          []*user
	// oidcCallback is the relying party's redirect URI of the oidc
	// journey (a server in this process that answers 200).
	oidcCallback string
	ticks        float64
	saml         bool // the SAML SP is configured (a SAML journey runs)
	// entra is the stand-in Entra of the eam journey, and eamVerifier
	// checks Gatehouse's answers to it; nil when the journey does not run.
	entra       *entraStandIn
	eamVerifier *eamVerifier
}

// journeyKind is one of the measured journeys.
type journeyKind struct {
	Name, Title string
	NeedTOTP    bool
	SAML        bool // needs the SAML service provider (samlAppConfig)
	run         func(r *runner, u *user) (*recorder, error)
}

var journeyKinds = []journeyKind{
	{Name: "signin", Title: "Entra sign-in: password + TOTP → signed token", NeedTOTP: true,
		run: func(r *runner, u *user) (*recorder, error) { return r.signIn(u, nil) }},
	{Name: "saml", Title: "SAML 2.0 sign-in (SP-initiated): user name + password + TOTP → signed Response", NeedTOTP: true, SAML: true,
		run: func(r *runner, u *user) (*recorder, error) { return r.samlSignIn(u) }},
	{Name: "sso", Title: "Entra sign-in with a live session (SSO) → signed token",
		run: func(r *runner, u *user) (*recorder, error) { return r.sso(u) }},
	{Name: "saml-sso", Title: "SAML 2.0 sign-in with a live session (SSO) → signed Response", SAML: true,
		run: func(r *runner, u *user) (*recorder, error) { return r.samlSSO(u) }},
	{Name: "change", Title: "Password change of a signed-in user (written to AD)",
		run: func(r *runner, u *user) (*recorder, error) { return r.changePassword(u) }},
	{Name: "oidc", Title: "OpenID Connect code flow: password + TOTP → code → ID token", NeedTOTP: true,
		run: func(r *runner, u *user) (*recorder, error) { return r.oidcSignIn(u) }},
	{Name: "eam", Title: "Entra external authentication method: Entra's request → TOTP (no password) → id_token for Entra", NeedTOTP: true,
		run: func(r *runner, u *user) (*recorder, error) { return r.eamSignIn(u) }},
}

func kindByName(name string) (journeyKind, bool) {
	for _, k := range journeyKinds {
		if k.Name == name {
			return k, true
		}
	}
	return journeyKind{}, false
}

// snapshot is what the bench reads before and after a phase.
type snapshot struct {
	at          time.Time
	gatehouse   time.Duration // CPU of the gatehouse process
	bench       time.Duration // CPU of this process
	machineBusy float64       // ticks, all CPUs
	ldap        map[string]float64
	store       map[string]float64
}

// takeSnapshot reads the counters; before a phase the metrics are scraped
// first and the CPU read last, after it the other way round, so the
// scrapes' own cost stays out of the phase.
func (r *runner) takeSnapshot(before bool) (snapshot, error) {
	var s snapshot
	var err error
	scrape := func() error {
		s.ldap, s.store, err = r.srv.counters()
		return err
	}
	if before {
		if err := scrape(); err != nil {
			return s, err
		}
	}
	if s.gatehouse, err = procCPU(r.srv.pid, r.ticks); err != nil {
		return s, err
	}
	if s.bench, err = procCPU(os.Getpid(), r.ticks); err != nil {
		return s, err
	}
	if s.machineBusy, _, err = machineCPU(); err != nil {
		return s, err
	}
	s.at = time.Now()
	if !before {
		if err := scrape(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// journeyResult is one journey's measurements.
type journeyResult struct {
	latency  time.Duration
	requests int
	timed    int                // requests that had a Server-Timing header
	timing   map[string]float64 // summed over the journey's requests, ms
	waited   time.Duration      // for a user with a TOTP step left, before the journey
	err      error
}

// phaseResult is one journey kind at one concurrency.
type phaseResult struct {
	Kind        journeyKind
	Concurrency int
	Journeys    int // attempted
	Errors      int
	ErrorKinds  map[string]int
	Wall        time.Duration
	Waited      time.Duration // summed over workers
	Latency     summary       // ms, successful journeys
	Requests    float64       // per journey
	// Server-Timing: journeys whose every request had the header, and per
	// metric the distribution of its sum per journey (ms); "own" is
	// total − directory.
	TimedJourneys  int
	TimedRequests  float64 // share of requests that had the header
	Timing         map[string]summary
	GatehouseCPU   time.Duration
	BenchCPU       time.Duration
	MachineCPU     time.Duration // every process, both cores
	LDAP           map[string]float64
	Store          map[string]float64 // store operations by op
	PeakRSSKB      int64
	PeakSincePhase bool // false: VmHWM could not be reset, so it is the process's peak so far
}

// PerJourney divides a phase total by its journeys.
func (p phaseResult) PerJourney(d time.Duration) time.Duration {
	if p.Journeys == 0 {
		return 0
	}
	return d / time.Duration(p.Journeys)
}

// LDAPPerJourney is the directory operations per journey, the pool's own
// dials and service binds left out (they show a cold pool, reported apart).
func (p phaseResult) LDAPPerJourney() (ops, poolOps float64) {
	if p.Journeys == 0 {
		return 0, 0
	}
	for op, n := range p.LDAP {
		if op == "dial" || op == "service_bind" {
			poolOps += n
		} else {
			ops += n
		}
	}
	return ops / float64(p.Journeys), poolOps / float64(p.Journeys)
}

// StorePerJourney is the store operations per journey.
func (p phaseResult) StorePerJourney() float64 {
	if p.Journeys == 0 {
		return 0
	}
	var n float64
	for _, v := range p.Store {
		n += v
	}
	return n / float64(p.Journeys)
}

// runPhase runs journeys of kind k on conc workers: n of them, or for d
// when d is set.
func (r *runner) runPhase(ctx context.Context, k journeyKind, conc, n int, d time.Duration) (phaseResult, error) {
	res := phaseResult{Kind: k, Concurrency: conc, ErrorKinds: map[string]int{}}
	res.PeakSincePhase = resetPeakRSS(r.srv.pid) == nil
	before, err := r.takeSnapshot(true)
	if err != nil {
		return res, err
	}
	var next, failed atomic.Int64
	results := make([][]journeyResult, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for ctx.Err() == nil && (r.maxErrors == 0 || failed.Load() < int64(r.maxErrors)) {
				i := next.Add(1)
				if (d == 0 && i > int64(n)) || (d > 0 && time.Since(before.at) > d) {
					return
				}
				u, waited := r.pool.acquire(k.NeedTOTP)
				start := time.Now()
				rec, err := k.run(r, u)
				lat := time.Since(start)
				r.pool.release(u)
				if err != nil {
					failed.Add(1)
				}
				reqs, timed, timing := rec.take()
				results[w] = append(results[w], journeyResult{latency: lat, requests: reqs, timed: timed, timing: timing, waited: waited, err: err})
			}
		})
	}
	wg.Wait()
	after, err := r.takeSnapshot(false)
	if err != nil {
		return res, err
	}
	_, hwm, _ := procMemKB(r.srv.pid)
	res.PeakRSSKB = hwm
	res.Wall = after.at.Sub(before.at)
	res.GatehouseCPU = after.gatehouse - before.gatehouse
	res.BenchCPU = after.bench - before.bench
	res.MachineCPU = time.Duration((after.machineBusy - before.machineBusy) / r.ticks * float64(time.Second))
	res.LDAP = diff(before.ldap, after.ldap)
	res.Store = diff(before.store, after.store)
	aggregate(&res, slices.Concat(results...))
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// aggregate fills the journey statistics of res.
func aggregate(res *phaseResult, all []journeyResult) {
	var lat []float64
	timing := map[string][]float64{}
	requests, timedRequests := 0, 0
	for _, j := range all {
		res.Journeys++
		res.Waited += j.waited
		requests += j.requests
		timedRequests += j.timed
		if j.err != nil {
			res.Errors++
			res.ErrorKinds[j.err.Error()]++
			continue
		}
		lat = append(lat, ms(j.latency))
		if j.timed == 0 || j.timed != j.requests {
			continue
		}
		res.TimedJourneys++
		for k, v := range j.timing {
			timing[k] = append(timing[k], v)
		}
		if total, ok := j.timing["total"]; ok {
			timing["own"] = append(timing["own"], total-j.timing["directory"])
		}
	}
	res.Latency = summarize(lat)
	if res.Journeys > 0 {
		res.Requests = float64(requests) / float64(res.Journeys)
	}
	if requests > 0 {
		res.TimedRequests = float64(timedRequests) / float64(requests)
	}
	res.Timing = map[string]summary{}
	for k, v := range timing {
		res.Timing[k] = summarize(v)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// holdResult is the phase that keeps many sign-ins in flight at once.
type holdResult struct {
	Journeys, AtCode, Completed, Errors int
	ErrorKinds                          map[string]int
	Waited                              time.Duration // for the users' TOTP steps, before the phase
	ReachWall                           time.Duration // until every journey waited at the code page
	CompleteWall                        time.Duration // from the release until the last token
	Complete                            summary       // ms, code page → token, per journey
	RSSAtPauseKB, PeakRSSKB             int64
	FDsAtPause                          int
	GatehouseCPU                        time.Duration
	LDAP                                map[string]float64
	PeakSincePhase                      bool
}

// runHold starts n sign-ins (at most ramp at a time up to the code page),
// holds them all at the authenticator-app page, then lets all of them
// finish at once: n journeys in flight together, and Gatehouse's peak RSS
// over the phase.
func (r *runner) runHold(ctx context.Context, n, ramp int) (holdResult, error) {
	res := holdResult{Journeys: n, ErrorKinds: map[string]int{}}
	// Each held journey needs a TOTP step of its own when it finishes: a
	// user can send two (the current step and the next), so wait for the
	// next step to begin when the users have fewer left than n.
	var assigned []*user
	waitStart := time.Now()
	for waits := 0; ; waits++ {
		assigned = assigned[:0]
		now := time.Now()
		for _, u := range r.users {
			if u.broken != nil {
				continue
			}
			for range u.stepsLeft(now) {
				assigned = append(assigned, u)
			}
		}
		if len(assigned) >= n {
			break
		}
		if waits == 2 {
			return res, fmt.Errorf("%d held sign-ins need %d TOTP steps, the users have %d: use more users (-users)", n, n, len(assigned))
		}
		time.Sleep(time.Until(time.Unix(int64(stepOf(now)+1)*30, 0)) + 50*time.Millisecond) // #nosec G115 -- a Unix step count fits.
	}
	// Spread each user's journeys apart (their password check and session
	// are independent; only the TOTP steps are shared).
	assigned = interleave(assigned)[:n]
	res.Waited = time.Since(waitStart).Round(time.Second)
	res.PeakSincePhase = resetPeakRSS(r.srv.pid) == nil
	before, err := r.takeSnapshot(true)
	if err != nil {
		return res, err
	}
	var (
		arrived sync.WaitGroup
		done    sync.WaitGroup
		mu      sync.Mutex
		lat     []float64
		sem     = make(chan struct{}, ramp)
		release = make(chan struct{})
		atCode  atomic.Int64
		failed  atomic.Int64
	)
	arrived.Add(n)
	for _, u := range assigned {
		done.Go(func() {
			once := sync.OnceFunc(arrived.Done)
			defer once()
			sem <- struct{}{}
			if r.maxErrors > 0 && failed.Load() >= int64(r.maxErrors) {
				<-sem
				mu.Lock()
				defer mu.Unlock()
				res.Errors++
				res.ErrorKinds["not started: too many failed sign-ins before it"]++
				return
			}
			var t0 time.Time
			rec, err := r.signIn(u, func() {
				<-sem
				atCode.Add(1)
				once()
				<-release
				t0 = time.Now()
			})
			if t0.IsZero() {
				<-sem
			}
			rec.take()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed.Add(1)
				res.Errors++
				res.ErrorKinds[err.Error()]++
				return
			}
			res.Completed++
			lat = append(lat, ms(time.Since(t0)))
		})
	}
	start := time.Now()
	arrived.Wait()
	res.ReachWall = time.Since(start)
	res.AtCode = int(atCode.Load())
	res.RSSAtPauseKB, _, _ = procMemKB(r.srv.pid)
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", r.srv.pid)); err == nil {
		res.FDsAtPause = len(fds)
	}
	start = time.Now()
	close(release)
	done.Wait()
	res.CompleteWall = time.Since(start)
	after, err := r.takeSnapshot(false)
	if err != nil {
		return res, err
	}
	_, res.PeakRSSKB, _ = procMemKB(r.srv.pid)
	res.GatehouseCPU = after.gatehouse - before.gatehouse
	res.LDAP = diff(before.ldap, after.ldap)
	res.Complete = summarize(lat)
	return res, ctx.Err()
}

// interleave reorders a list where each user appears once or twice in a
// row so that the first appearances of every user come first.
func interleave(us []*user) []*user {
	var first, second []*user
	for i, u := range us {
		if i > 0 && us[i-1] == u {
			second = append(second, u)
		} else {
			first = append(first, u)
		}
	}
	return append(first, second...)
}

// topErrors lists the commonest error messages.
func topErrors(kinds map[string]int, n int) []string {
	type kc struct {
		k string
		c int
	}
	var all []kc
	for k, c := range kinds {
		all = append(all, kc{k, c})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].c > all[j].c || (all[i].c == all[j].c && all[i].k < all[j].k) })
	var out []string
	for i, e := range all {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%d× %s", e.c, e.k))
	}
	return out
}
