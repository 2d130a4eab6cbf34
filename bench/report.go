package main

import (
	"fmt"
	"math"
	"slices"
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
	PeakRSSKB             int64
}

// The targets.
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
