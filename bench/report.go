package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// report is everything one run measured.
type report struct {
	RunID            string
	Started          time.Time
	Finished         time.Time
	Machine          machineInfo
	GatehouseVersion string
	SambaVersion     string
	LoadBefore       string
	LoadAfter        string
	Options          options
	Signature        signatureCost
	SignatureAfter   *signatureCost // measured again after the phases
	UserCreation     time.Duration
	Setup            time.Duration
	PSO              string
	// NoServerTimingSetting: the gatehouse under test did not know
	// http.server_timing, so it ran without the header.
	NoServerTimingSetting bool
	RSSAfterSetupKB       int64
	Phases                []phaseResult
	Hold                  *holdResult
	Spray                 []sprayPart
	PeakRSSKB             int64
}

// The issue's targets.
const (
	targetCPURatio    = 1.3
	targetLDAPSignIn  = 2
	targetOwnP99      = 25.0 // ms, at 50 concurrent journeys
	targetOwnConc     = 50
	targetRSS         = 150.0 // MB at 1,000 concurrent journeys
	targetHeld        = 1000
	timingCoverageMin = 0.999
)

// mb converts KiB (as /proc reports) to megabytes of 10⁶ bytes.
func mb(kib int64) float64 { return float64(kib) * 1024 / 1e6 }

func num(v float64, prec int) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// signature is the yardstick: the mean of the measurements before and
// after the phases.
func (r *report) signature() time.Duration {
	if r.SignatureAfter == nil {
		return r.Signature.CPU
	}
	return (r.Signature.CPU + r.SignatureAfter.CPU) / 2
}

func (r *report) ratio(p phaseResult) float64 {
	if r.signature() == 0 || p.Journeys == 0 {
		return math.NaN()
	}
	return float64(p.PerJourney(p.GatehouseCPU)) / float64(r.signature())
}

func (r *report) phases(kind string) []phaseResult {
	var out []phaseResult
	for _, p := range r.Phases {
		if p.Kind.Name == kind {
			out = append(out, p)
		}
	}
	return out
}

// timingNames orders the Server-Timing metrics seen: the known ones first.
func timingNames(ps []phaseResult) []string {
	known := []string{"total", "directory", "store", "signing", "own"}
	seen := map[string]bool{}
	for _, p := range ps {
		for k := range p.Timing {
			seen[k] = true
		}
	}
	var out, rest []string
	for _, k := range known {
		if seen[k] {
			out = append(out, k)
		}
	}
	for k := range seen {
		if !slices.Contains(known, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Machine
	w("# Gatehouse benchmark, %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	w("- **Machine:** %s, %d CPUs, %s RAM, Linux %s; load average before %s, after %s.\n", m.CPUModel, m.CPUs, m.MemTotal, m.Kernel, r.LoadBefore, r.LoadAfter)
	w("- **Software:** %s; %s; Samba %s (the test DC, on the same machine); bench built with %s.\n",
		r.GatehouseVersion, map[string]string{"sqlite": "SQLite store (in Gatehouse's process)", "postgres": "PostgreSQL store (another process: its CPU is not Gatehouse's)"}[r.Options.store], strings.TrimPrefix(r.SambaVersion, "Version "), m.GoVersion)
	o := r.Options
	w("- **Run %s:** %d users created over LDAP in %s, enrolled (password + authenticator app through the web flow) in %s",
		r.RunID, o.users, r.UserCreation.Round(time.Millisecond), r.Setup.Round(time.Millisecond))
	if r.PSO != "" {
		w(", under a PSO without minimum password age")
	}
	if o.duration > 0 {
		w("; each phase ran %s.\n", o.duration)
	} else {
		w("; %d journeys per phase (%d per password-change phase).\n", o.journeys, o.changeJourneys)
	}
	w("- **Gatehouse runtime:** %s.\n", gatehouseProcs(o.gomaxprocs))
	w("- **Gatehouse RSS** after set-up %.0f MB; peak over the run %.0f MB.\n\n", mb(r.RSSAfterSetupKB), mb(r.PeakRSSKB))

	w("## The yardstick: one RSA-2048 signature\n\n")
	w("PKCS#1 v1.5 with SHA-256, Go crypto/rsa, %d signatures on one thread of the bench process, in this run: "+
		"%.3f ms CPU per signature before the phases (median wall time %.3f ms)", r.Signature.N, ms(r.Signature.CPU), ms(r.Signature.WallP50))
	if a := r.SignatureAfter; a != nil {
		w(", %.3f ms after them (median wall time %.3f ms)", ms(a.CPU), ms(a.WallP50))
	}
	w(". Gatehouse's CPU per journey is divided by **%.3f ms**", ms(r.signature()))
	if r.SignatureAfter != nil {
		w(", their mean")
	}
	w(".\n\n")

	r.writeTargets(w)
	r.writeBeside(w)

	for _, k := range journeyKinds {
		ps := r.phases(k.Name)
		if len(ps) == 0 {
			continue
		}
		w("## %s\n\n", k.Title)
		w("| concurrency | journeys | errors | journeys/s | p50 ms | p95 ms | p99 ms | requests/journey | Gatehouse CPU ms/journey | ÷ one signature | bench client CPU ms/journey | all-machine CPU ms/journey | LDAP ops/journey | store ops/journey | peak RSS MB |\n")
		w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, p := range ps {
			ops, pool := p.LDAPPerJourney()
			ldap := num(ops, 2)
			if pool > 0 {
				ldap += fmt.Sprintf(" (+%s pool)", num(pool, 2))
			}
			peak := num(mb(p.PeakRSSKB), 0)
			if !p.PeakSincePhase {
				peak += "*"
			}
			w("| %d | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p.Concurrency, p.Journeys, p.Errors,
				num(float64(p.Journeys)/p.Wall.Seconds(), 1), num(p.Latency.P50, 1), num(p.Latency.P95, 1), num(p.Latency.P99, 1),
				num(p.Requests, 1), num(ms(p.PerJourney(p.GatehouseCPU)), 2), num(r.ratio(p), 2),
				num(ms(p.PerJourney(p.BenchCPU)), 2), num(ms(p.PerJourney(p.MachineCPU)), 2), ldap, num(p.StorePerJourney(), 1), peak)
		}
		w("\n")
		writeOps(w, "LDAP operations", ps, func(p phaseResult) map[string]float64 { return p.LDAP })
		writeOps(w, "store operations", ps, func(p phaseResult) map[string]float64 { return p.Store })
		r.writeTiming(w, ps)
		for _, p := range ps {
			if p.Waited > 0 {
				w("At concurrency %d the workers waited %s (summed over the %d of them) for a user with an unused TOTP step: too few users for this rate, so journeys/s is lower by that; latency and CPU per journey are not affected.\n\n",
					p.Concurrency, p.Waited.Round(time.Millisecond), p.Concurrency)
			}
			if p.Errors > 0 {
				w("Errors at concurrency %d: %s\n\n", p.Concurrency, strings.Join(topErrors(p.ErrorKinds, 3), "; "))
			}
		}
	}
	if h := r.Hold; h != nil {
		w("## %d sign-ins in flight at once (peak RSS)\n\n", h.Journeys)
		w("Each sign-in, in a browser of its own (its own connection), ran up to the authenticator-app page (%d at a time) and waited there; "+
			"then all were released at once. A user with two held sign-ins sends the second code after the first is answered (Gatehouse takes a user's TOTP steps in order).", r.Options.holdRamp)
		if h.Waited > 0 {
			w(" Before the phase the bench waited %s for the users' next TOTP step.", h.Waited)
		}
		w("\n\n")
		w("| held | at the code page | completed | errors | time to hold all | RSS at the pause MB | open fds at the pause | release → last token | code → token p50 / p99 ms | peak RSS MB |\n")
		w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		peak := num(mb(h.PeakRSSKB), 0)
		if !h.PeakSincePhase {
			peak += "*"
		}
		w("| %d | %d | %d | %d | %s | %s | %d | %s | %s / %s | %s |\n\n", h.Journeys, h.AtCode, h.Completed, h.Errors,
			h.ReachWall.Round(time.Millisecond), num(mb(h.RSSAtPauseKB), 0), h.FDsAtPause, h.CompleteWall.Round(time.Millisecond),
			num(h.Complete.P50, 0), num(h.Complete.P99, 0), peak)
		var ops float64
		for _, n := range h.LDAP {
			ops += n
		}
		w("Gatehouse's CPU over the phase: %s ms per sign-in (%s× one signature); %s LDAP operations per sign-in.\n\n",
			num(ms(h.GatehouseCPU)/float64(h.Journeys), 2), num(float64(h.GatehouseCPU)/float64(h.Journeys)/float64(r.signature()), 2),
			num(ops/float64(h.Journeys), 2))
		if h.Errors > 0 {
			w("Errors: %s\n\n", strings.Join(topErrors(h.ErrorKinds, 3), "; "))
		}
	}
	r.writeSpray(w)
	w("Peak RSS is VmHWM of the gatehouse process, reset at the start of each phase (clear_refs); `*` marks a peak that could not be reset (the process's peak so far). " +
		"CPU is utime + stime from /proc/<pid>/stat over the phase; all-machine CPU is every process on the machine, the DC and the bench included. " +
		"LDAP operations are Gatehouse's gatehouse_directory_operation_duration_seconds counts; \"pool\" is connections it opened (dial + service bind).\n")
	return b.String()
}

func (r *report) writeTargets(w func(string, ...any)) {
	w("## Targets\n\n| target | measured | |\n|---|---|---|\n")
	signin := r.phases("signin")
	if len(signin) > 0 {
		var parts []string
		ok := true
		for _, p := range signin {
			v := r.ratio(p)
			parts = append(parts, fmt.Sprintf("c=%d: %s× (%s ms)", p.Concurrency, num(v, 2), num(ms(p.PerJourney(p.GatehouseCPU)), 2)))
			ok = ok && v <= targetCPURatio
		}
		w("| Gatehouse CPU per password + TOTP sign-in ≤ %.1f × one signature | %s | %s |\n", targetCPURatio, strings.Join(parts, ", "), verdict(ok))
		parts, ok = nil, true
		for _, p := range signin {
			ops, pool := p.LDAPPerJourney()
			s := fmt.Sprintf("c=%d: %s", p.Concurrency, num(ops, 2))
			if pool > 0 {
				s += fmt.Sprintf(" (+%s pool)", num(pool, 2))
			}
			parts = append(parts, s)
			ok = ok && ops <= targetLDAPSignIn
		}
		w("| ≤ %d LDAP operations per password sign-in, warm pool | %s | %s |\n", targetLDAPSignIn, strings.Join(parts, ", "), verdict(ok))
	}
	if sso := r.phases("sso"); len(sso) > 0 {
		var parts []string
		ok := true
		for _, p := range sso {
			ops, pool := p.LDAPPerJourney()
			parts = append(parts, fmt.Sprintf("c=%d: %s", p.Concurrency, num(ops+pool, 2)))
			ok = ok && ops+pool == 0
		}
		w("| 0 LDAP operations per SSO sign-in | %s | %s |\n", strings.Join(parts, ", "), verdict(ok))
	}
	for _, c := range besideTargets {
		pairs := r.pairs(c.wsfed, c.other)
		if len(pairs) == 0 {
			continue
		}
		var parts []string
		worst := 0.0
		for _, pr := range pairs {
			v := r.ratio(pr[1]) / r.ratio(pr[0])
			parts = append(parts, fmt.Sprintf("c=%d: %s× against %s× (%s)", pr[0].Concurrency, num(r.ratio(pr[1]), 2), num(r.ratio(pr[0]), 2), num(v, 2)))
			if math.IsNaN(v) || v > worst {
				worst = v
			}
		}
		w("| %s costs no more Gatehouse CPU per journey than the WS-Fed sign-in (%s): ÷ WS-Fed's ≤ 1, up to %.2f within the bench's noise | %s | %s |\n",
			c.what, c.issue, besideTolerance, strings.Join(parts, ", "), besideVerdict(worst))
	}
	if len(signin) > 0 {
		p := signin[len(signin)-1]
		for _, q := range signin {
			if q.Concurrency == targetOwnConc {
				p = q
			}
		}
		own, has := p.Timing["own"]
		switch {
		case !has || p.TimedJourneys == 0:
			w("| p99 of Gatehouse's own time (Server-Timing total − directory) ≤ %.0f ms at %d concurrent | no data: Gatehouse sent no usable Server-Timing header%s | not measured |\n", targetOwnP99, targetOwnConc, r.noTimingWhy())
		default:
			note := ""
			if p.Concurrency != targetOwnConc {
				note = fmt.Sprintf(" (measured at %d concurrent, not %d)", p.Concurrency, targetOwnConc)
			}
			if p.TimedRequests < timingCoverageMin {
				note += fmt.Sprintf(" (only %.0f%% of responses had the header)", 100*p.TimedRequests)
			}
			v := verdict(own.P99 <= targetOwnP99)
			if p.Concurrency != targetOwnConc {
				v = "not measured"
			}
			w("| p99 of Gatehouse's own time (Server-Timing total − directory) ≤ %.0f ms at %d concurrent | %s ms%s | %s |\n",
				targetOwnP99, targetOwnConc, num(own.P99, 1), note, v)
		}
	}
	if len(r.Spray) > 0 {
		var parts []string
		ok := true
		for _, s := range r.Spray {
			parts = append(parts, fmt.Sprintf("%s: %s binds at %d accounts, badPwdCount at most %d, %d locked",
				s.Channel, num(s.Binds(), 0), len(s.Targets), s.MaxBadPwd(), len(s.LockedOut)))
			ok = ok && sprayAllowanceMet(s)
		}
		w("| password spray: at most %d binds (threshold %d − margin %d) per account, no account locked | %s | %s |\n",
			sprayAllowance, sprayThreshold, sprayMargin, strings.Join(parts, "; "), verdict(ok))
		parts = nil
		for _, s := range r.Spray {
			parts = append(parts, fmt.Sprintf("%s: %d of %d refused without a bind, %s ms (%s×) Gatehouse CPU per rejected attempt", s.Channel, s.Refused, s.Attempts,
				num(ms(s.GatehouseCPU)/float64(max(1, s.Attempts)), 2), num(float64(s.GatehouseCPU)/float64(max(1, s.Attempts))/float64(r.signature()), 2)))
		}
		w("| password spray: the cost of a rejected attempt (no target) | %s | – |\n", strings.Join(parts, "; "))
		parts, ok = nil, true
		for _, s := range r.Spray {
			v := s.trafficPerRefused()
			parts = append(parts, fmt.Sprintf("%s: %s LDAP ops per refused attempt (%s searches for %s binds)", s.Channel, num(v, 2),
				num(s.LDAP["search"], 0), num(s.Binds(), 0)))
			ok = ok && v <= sprayTrafficSlack
		}
		w("| password spray: no DC traffic for attempts refused before AD (≤ %.2f LDAP ops per refused attempt) | %s | %s |\n",
			sprayTrafficSlack, strings.Join(parts, "; "), verdict(ok))
	}
	if h := r.Hold; h != nil {
		note := ""
		if h.Journeys < targetHeld {
			note = fmt.Sprintf(" (only %d held)", h.Journeys)
		}
		if h.Errors > 0 {
			note += fmt.Sprintf(" (%d errors)", h.Errors)
		}
		v := mb(h.PeakRSSKB)
		w("| peak RSS ≤ %.0f MB with %d sign-ins in flight | %s MB%s | %s |\n", targetRSS, targetHeld, num(v, 0), note,
			verdict(v <= targetRSS && h.Journeys >= targetHeld && h.Errors == 0))
	}
	w("\n")
}

// besideTolerance is how much more CPU per journey a journey compared with
// the WS-Fed one may cost and still be within the bench's noise: the
// ±15 % by which one build's CPU per journey varies between runs on the
// shared machine (README, "Reading it"). A ratio in (1, besideTolerance]
// neither meets "no more than" nor misses it in one run.
const besideTolerance = 1.15

// besideTargets are the issues' targets of the form "costs no more than
// the WS-Fed sign-in": journey other against wsfed at each concurrency.
var besideTargets = []struct{ what, issue, wsfed, other string }{
	{"SAML 2.0 sign-in (password + TOTP)", "#16", "signin", "saml"},
	{"OpenID Connect code flow (password + TOTP)", "#17", "signin", "oidc"},
	{"Entra external authentication method (TOTP only)", "#17", "signin", "eam"},
}

// besideVerdict judges the highest ratio to the WS-Fed journey over the
// concurrencies measured.
func besideVerdict(worst float64) string {
	switch {
	case math.IsNaN(worst):
		return "not measured"
	case worst > besideTolerance:
		return "**missed**"
	case worst > 1:
		return fmt.Sprintf("within the noise (1 < ÷ WS-Fed's ≤ %.2f): neither met nor missed in one run", besideTolerance)
	}
	return "met"
}

// pairs returns the phases of journeys a and b measured at the same
// concurrency, in the order of a's.
func (r *report) pairs(a, b string) [][2]phaseResult {
	var out [][2]phaseResult
	for _, p := range r.phases(a) {
		for _, q := range r.phases(b) {
			if q.Concurrency == p.Concurrency && p.Journeys > 0 && q.Journeys > 0 {
				out = append(out, [2]phaseResult{p, q})
			}
		}
	}
	return out
}

// besideRows are the journeys the report puts beside their WS-Fed
// counterpart: the same work for another protocol, measured in the same
// run.
var besideRows = []struct{ title, wsfed, other string }{
	{"SAML 2.0 sign-in (password + TOTP)", "signin", "saml"},
	{"SAML 2.0 SSO sign-in", "sso", "saml-sso"},
	{"OpenID Connect code flow (password + TOTP)", "signin", "oidc"},
	{"Entra EAM (TOTP only)", "signin", "eam"},
}

// writeBeside puts each SAML 2.0, OpenID Connect and EAM journey beside
// its WS-Fed counterpart at the same concurrency.
func (r *report) writeBeside(w func(string, ...any)) {
	var have []string
	for _, row := range besideRows {
		if len(r.pairs(row.wsfed, row.other)) > 0 && !slices.Contains(have, row.other) {
			have = append(have, row.other)
		}
	}
	if len(have) == 0 {
		return
	}
	w("## Beside the WS-Fed sign-in\n\n")
	text := []string{"Gatehouse CPU per journey in this run, and divided by one signature, for each journey beside Entra's WS-Fed journey " +
		"of the same kind at the same concurrency; the last column is the ratio of the two. Every token is signed once."}
	if slices.Contains(have, "saml") || slices.Contains(have, "saml-sso") {
		text = append(text, "SAML 2.0: an SP-initiated sign-in (an AuthnRequest over HTTP-Redirect from an SP configured inline with `sign: assertion`; "+
			"the default, `both`, signs the Response too, one signature more) whose Subject names the user, as Entra's request carries "+
			"`username`: 3 requests, as WS-Fed's.")
	}
	if slices.Contains(have, "oidc") {
		text = append(text, "OpenID Connect: the code flow with PKCE and `login_hint`, 4 requests to Gatehouse, one more than WS-Fed's: "+
			"the relying party's token exchange (`client_secret_basic`); its requests count the redirect to the relying party too.")
	}
	if slices.Contains(have, "eam") {
		text = append(text, "EAM: Entra has checked the password; its form_post (a fresh `id_token_hint`, verified with the stand-in "+
			"Entra's key, which Gatehouse read once and cached) is redirected to a GET, then the authenticator-app code: no password page "+
			"and no bind, so it is less work than the WS-Fed sign-in by design.")
	}
	w("%s\n\n", strings.Join(text, " "))
	w("| journey | concurrency | WS-Fed requests | WS-Fed CPU ms | ÷ one signature | requests | CPU ms | ÷ one signature | ÷ WS-Fed's |\n")
	w("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range besideRows {
		for i, pr := range r.pairs(row.wsfed, row.other) {
			title := row.title
			if i > 0 {
				title = ""
			}
			a, b := pr[0], pr[1]
			w("| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", title, a.Concurrency,
				num(a.Requests, 1), num(ms(a.PerJourney(a.GatehouseCPU)), 2), num(r.ratio(a), 2),
				num(b.Requests, 1), num(ms(b.PerJourney(b.GatehouseCPU)), 2), num(r.ratio(b), 2), num(r.ratio(b)/r.ratio(a), 2))
		}
	}
	w("\n")
}

func (r *report) noTimingWhy() string {
	if r.NoServerTimingSetting {
		return "; this build has no http.server_timing setting"
	}
	return ""
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// writeOps breaks a phase's operations (LDAP or store) down by type.
func writeOps(w func(string, ...any), what string, ps []phaseResult, counts func(phaseResult) map[string]float64) {
	var ops []string
	for _, p := range ps {
		for op := range counts(p) {
			if !slices.Contains(ops, op) {
				ops = append(ops, op)
			}
		}
	}
	if len(ops) == 0 {
		w("No %s.\n\n", what)
		return
	}
	slices.Sort(ops)
	w("%s%s per journey by type: ", strings.ToUpper(what[:1]), what[1:])
	var parts []string
	for _, p := range ps {
		var each []string
		for _, op := range ops {
			if n := counts(p)[op]; n != 0 {
				each = append(each, fmt.Sprintf("%s %s", op, num(n/float64(p.Journeys), 2)))
			}
		}
		parts = append(parts, fmt.Sprintf("c=%d: %s", p.Concurrency, strings.Join(each, ", ")))
	}
	w("%s.\n\n", strings.Join(parts, "; "))
}

func (r *report) writeTiming(w func(string, ...any), ps []phaseResult) {
	names := timingNames(ps)
	if len(names) == 0 {
		w("Server-Timing: no data (Gatehouse sent no Server-Timing header%s).\n\n", r.noTimingWhy())
		return
	}
	w("Server-Timing, summed over each journey's requests (ms): mean per journey, and p50/p95/p99 of Gatehouse's own time (total − directory).\n\n")
	w("| concurrency | journeys with the header |")
	for _, n := range names {
		w(" %s |", n)
	}
	w(" own p50 | own p95 | own p99 |\n|---:|---:|")
	for range names {
		w("---:|")
	}
	w("---:|---:|---:|\n")
	for _, p := range ps {
		w("| %d | %d of %d |", p.Concurrency, p.TimedJourneys, p.Journeys-p.Errors)
		for _, n := range names {
			mean := math.NaN()
			if t, ok := p.Timing[n]; ok {
				mean = t.Mean
			}
			w(" %s |", num(mean, 2))
		}
		own, ok := p.Timing["own"]
		if !ok {
			own = summarize(nil)
		}
		w(" %s | %s | %s |\n", num(own.P50, 2), num(own.P95, 2), num(own.P99, 2))
	}
	w("\n")
}

// sprayTitles names the spray's channels.
var sprayTitles = map[string]string{
	"signin":  "sign-in page (WS-Fed request or /login, then the password POST)",
	"wstrust": "WS-Trust 1.3 usernamemixed",
}

// sprayAllowanceMet says whether every target's badPwdCount, and the binds
// Gatehouse counted, stayed within the smart-lockout allowance, and no
// target was locked.
func sprayAllowanceMet(s sprayPart) bool {
	return s.MaxBadPwd() <= sprayAllowance && s.Binds() <= float64(sprayAllowance*len(s.Targets)) && len(s.LockedOut) == 0
}

// sprayTrafficSlack is the DC traffic per refused attempt the target
// allows: the lockout-policy reads Gatehouse makes once a minute, not one
// operation per attempt.
const sprayTrafficSlack = 0.05

// trafficPerRefused is the part's directory operations less a search and a
// bind for each password that reached AD, per refused attempt: the DC
// traffic of what Gatehouse answered itself.
func (s sprayPart) trafficPerRefused() float64 {
	if s.Refused == 0 {
		return math.NaN()
	}
	return (s.LDAPOps() - 2*s.Binds()) / float64(s.Refused)
}

func (r *report) writeSpray(w func(string, ...any)) {
	if len(r.Spray) == 0 {
		return
	}
	w("## Password spray\n\n")
	w("Wrong passwords — common ones with a counter, so nearly every attempt differs — at accounts created for it that never signed in "+
		"(no familiar browser or address), under a PSO with lockout threshold %d, by sAMAccountName, UPN and the name in capitals in turn, "+
		"each attempt from another address (X-Forwarded-For from 127.0.0.1, a trusted proxy in the run's configuration), %d at a time, "+
		"half the phase through each channel at its own accounts. Gatehouse runs its default `abuse:` limits: an unfamiliar client may take "+
		"an account's AD count to the threshold less `directory_margin` %d, so **%d binds per account**; everything else must be refused "+
		"before AD.\n\n", sprayThreshold, r.Options.sprayConc, sprayMargin, sprayAllowance)
	w("| channel | accounts | attempts | attempts/s | p50 / p99 ms | refused (429) | answered wrong | errors | requests/attempt | Gatehouse CPU ms/attempt | ÷ one signature | bench client CPU ms/attempt | LDAP binds | LDAP ops (all) | LDAP ops per refused attempt | store ops/attempt | badPwdCount (max / sum) | locked |\n")
	w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Spray {
		n := float64(max(1, s.Attempts))
		var store float64
		for _, v := range s.Store {
			store += v
		}
		// A password that reached AD costs a search and a bind; what is
		// left is what the refused attempts (and repeats) cost the DC.
		perRefused := s.trafficPerRefused()
		w("| %s | %d | %d | %s | %s / %s | %d | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %d / %d | %d |\n", s.Channel, len(s.Targets), s.Attempts,
			num(float64(s.Attempts)/s.Wall.Seconds(), 0), num(s.Latency.P50, 0), num(s.Latency.P99, 0), s.Refused, s.Wrong, s.Errors, num(float64(s.Requests)/n, 1),
			num(ms(s.GatehouseCPU)/n, 2), num(float64(s.GatehouseCPU)/n/float64(r.signature()), 2), num(ms(s.BenchCPU)/n, 2),
			num(s.Binds(), 0), num(s.LDAPOps(), 0), num(perRefused, 3), num(store/n, 1), s.MaxBadPwd(), s.SumBadPwd(), len(s.LockedOut))
	}
	w("\n")
	for _, s := range r.Spray {
		var ops []string
		for _, op := range sortedKeys(s.LDAP) {
			ops = append(ops, fmt.Sprintf("%s %s", op, num(s.LDAP[op], 0)))
		}
		w("- **%s** — %s. LDAP operations by type: %s. badPwdCount by account: %s.", s.Channel, sprayTitles[s.Channel],
			orNone(strings.Join(ops, ", ")), badPwdList(s))
		if len(s.LockedOut) > 0 {
			w(" **Locked:** %v.", s.LockedOut)
		}
		if s.Errors > 0 {
			w(" Errors: %s.", strings.Join(topErrors(s.ErrorKinds, 3), "; "))
		}
		w("\n")
	}
	w("\nattempts/s is set by Gatehouse's failure padding, not its CPU: a wrong or refused password is answered no sooner than a " +
		"successful check takes on average (at least 150 ms, more after the busy sign-in phases), so that its timing does not tell " +
		"whether the account exists; a spray's rate grows with its connections. ")
	w("Every attempt was rejected, so Gatehouse's CPU per attempt is the cost of a rejected one; on the sign-in page it includes " +
		"the page a browser fetches before it posts. *LDAP ops per refused attempt* is all directory operations less a search and a bind " +
		"for each password that reached AD, over the refused attempts: the DC traffic of everything Gatehouse answered itself (name " +
		"look-ups before an account's budget said no, lockout-policy reads). badPwdCount and lockoutTime are read as Administrator " +
		"after each half.\n\n")
}

func sortedKeys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func badPwdList(s sprayPart) string {
	var parts []string
	for _, t := range s.Targets {
		parts = append(parts, strconv.Itoa(s.BadPwd[t]))
	}
	return strings.Join(parts, ", ")
}
