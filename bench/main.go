package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const usage = `Usage: go run ./bench --gatehouse BIN [flags]

Drives complete browser journeys against "gatehouse serve" (started here as
a child process) and the test Samba AD DC, and writes a Markdown report.
Load the test environment first (source .testenv/env.sh); make bench does
all of it (bench/run.sh). See bench/README.md.

Flags:
`

type options struct {
	gatehouse      string
	commit         string
	store          string
	users          int
	journeys       int
	changeJourneys int
	duration       time.Duration
	concurrency    []int
	kinds          []journeyKind
	hold, holdRamp int
	setupConc      int
	sigSamples     int
	out            string
	pso            string
	keep           bool
	requestTimeout time.Duration
	maxErrors      int
	gomaxprocs     int
	spray          time.Duration
	sprayUsers     int
	sprayConc      int
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&o.gatehouse, "gatehouse", "", "the gatehouse `binary` to run (required)")
	fs.StringVar(&o.commit, "commit", "", "the source `commit` gatehouse was built from, for the report")
	fs.IntVar(&o.users, "users", 0, "users to create for the run (0: enough for -hold and the phases)")
	fs.IntVar(&o.journeys, "journeys", 300, "journeys per phase")
	fs.IntVar(&o.changeJourneys, "change-journeys", 60, "journeys per password-change phase (each is a write the DC serialises, ~0.2 s)")
	fs.DurationVar(&o.duration, "duration", 0, "run each phase this long instead of -journeys")
	conc := fs.String("concurrency", "1,8,50", "concurrent journeys, one phase each")
	kinds := fs.String("journey", "signin,saml,sso,saml-sso,change,oidc,eam", "journeys to measure: signin, saml, sso, saml-sso, change, oidc, eam")
	fs.IntVar(&o.hold, "hold", 1000, "sign-ins held in flight at once for the peak-RSS phase (0: skip it)")
	fs.IntVar(&o.holdRamp, "hold-ramp", 25, "at most this many held sign-ins start at a time")
	fs.IntVar(&o.setupConc, "setup-concurrency", 8, "parallel enrolments during set-up")
	fs.IntVar(&o.sigSamples, "signatures", 400, "RSA-2048 signatures timed for the yardstick")
	fs.StringVar(&o.out, "out", filepath.Join("bench", "results", time.Now().Format("2006-01-02")+".md"), "Markdown report `file` (- for stdout only)")
	fs.StringVar(&o.store, "store", "sqlite", "Gatehouse's store: sqlite (in its process: its CPU counts) or postgres (the test environment's)")
	fs.StringVar(&o.pso, "pso", "auto", "lift the minimum password age with a PSO: auto (when the domain has one), always, never")
	fs.BoolVar(&o.keep, "keep", false, "keep the run's directory (config, database, server log)")
	fs.DurationVar(&o.requestTimeout, "request-timeout", time.Minute, "timeout of one HTTP request")
	fs.IntVar(&o.gomaxprocs, "gomaxprocs", 0, "run gatehouse with this GOMAXPROCS (0: Go's default, the CPU count)")
	fs.DurationVar(&o.spray, "spray", 30*time.Second, "length of the password-spray phase, half through the sign-in page and half through WS-Trust (0: skip it)")
	fs.IntVar(&o.sprayUsers, "spray-users", 8, "accounts the spray aims at (under a PSO with lockout threshold 5), half per channel")
	fs.IntVar(&o.sprayConc, "spray-concurrency", 32, "concurrent spray attempts (each waits out Gatehouse's failure padding, ≥ 150 ms)")
	fs.IntVar(&o.maxErrors, "max-errors", 30, "stop a phase, and the run, after this many failed journeys")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.gatehouse == "" {
		fs.Usage()
		return o, errors.New("--gatehouse is required")
	}
	for s := range strings.SplitSeq(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("--concurrency: %q is not a positive number", s)
		}
		o.concurrency = append(o.concurrency, n)
	}
	for s := range strings.SplitSeq(*kinds, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		k, ok := kindByName(s)
		if !ok {
			return o, fmt.Errorf("--journey: unknown journey %q", s)
		}
		o.kinds = append(o.kinds, k)
	}
	if o.store != "sqlite" && o.store != "postgres" {
		return o, fmt.Errorf("--store: %q is not sqlite or postgres", o.store)
	}
	if o.pso != "auto" && o.pso != "always" && o.pso != "never" {
		return o, fmt.Errorf("--pso: %q is not auto, always or never", o.pso)
	}
	if o.users == 0 {
		// A user sends at most two TOTP codes per 30-second step: enough
		// users for the held sign-ins, and for a sign-in phase to run
		// without waiting for the next step.
		o.users = max((o.hold+1)/2, 2*o.journeys, 4*slicesMax(o.concurrency), 50)
	}
	if o.spray > 0 && (o.sprayUsers < 2 || o.sprayConc < 1) {
		return o, errors.New("-spray-users must be at least 2 (one per channel) and -spray-concurrency positive")
	}
	if o.holdRamp < 1 || o.setupConc < 1 || o.journeys < 1 || o.changeJourneys < 1 || o.sigSamples < 1 {
		return o, errors.New("-hold-ramp, -setup-concurrency, -journeys, -change-journeys and -signatures must be positive")
	}
	return o, nil
}

func slicesMax(v []int) int {
	m := 0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench(ctx, o, stderr)
	if rep != nil {
		text := rep.markdown()
		fmt.Fprint(stdout, text)
		// A failed run's report (on stdout, for the record) does not
		// replace a good one in the results.
		if o.out != "-" && err == nil {
			if werr := writeReport(o.out, text); werr != nil {
				fmt.Fprintf(stderr, "bench: %v\n", werr)
				return 1
			}
			fmt.Fprintf(stderr, "bench: report written to %s\n", o.out)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

func writeReport(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(text), 0o644) // #nosec G306 G703 -- the report file the user named, meant to be read.
}

// progress prints what the run is doing, with the time since its start.
type progress struct {
	w     io.Writer
	start time.Time
}

func (p progress) logf(format string, args ...any) {
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// bench is the whole run: yardstick, users, server, set-up, phases, and
// clean-up on every way out. It returns the report so far even on error.
func bench(ctx context.Context, o options, stderr io.Writer) (rep *report, err error) {
	p := progress{w: stderr, start: time.Now()}
	env, err := adEnvFromEnvironment()
	if err != nil {
		return nil, err
	}
	rep = &report{Started: time.Now(), Machine: readMachineInfo(), Options: o, LoadBefore: loadAvg()}
	rep.GatehouseVersion = commandLine(o.gatehouse, "version")
	if o.commit != "" {
		rep.GatehouseVersion += ", source " + o.commit
	}
	rep.SambaVersion = commandLine("samba", "-V")

	p.logf("timing %d RSA-2048 PKCS#1 v1.5 signatures", o.sigSamples)
	if rep.Signature, err = measureSignature(o.sigSamples); err != nil {
		return rep, err
	}
	p.logf("one signature: %v CPU, %v wall (median)", rep.Signature.CPU, rep.Signature.WallP50)

	idb := make([]byte, 3)
	_, _ = rand.Read(idb)
	runID := hex.EncodeToString(idb)
	rep.RunID = runID
	dir, err := os.MkdirTemp("", "gatehouse-bench-"+runID+"-")
	if err != nil {
		return rep, err
	}
	defer func() {
		if o.keep {
			p.logf("kept %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()

	adm, err := dialAdmin(env)
	if err != nil {
		return rep, err
	}
	defer adm.Close()
	minAge, err := adm.minPasswordAge()
	if err != nil {
		return rep, err
	}
	rd, err := newRunDirectory(adm, runID)
	if err != nil {
		return rep, err
	}
	defer func() {
		p.logf("removing %s and its users", rd.OU)
		if rerr := rd.remove(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("clean-up: %w", rerr))
			return
		}
		p.logf("removed")
	}()
	p.logf("creating %d users in %s", o.users, rd.OU)
	t := time.Now()
	users, err := rd.createUsers(runID, o.users)
	if err != nil {
		return rep, err
	}
	rep.UserCreation = time.Since(t)
	if o.pso == "always" || (o.pso == "auto" && minAge > 0) {
		p.logf("domain minimum password age %v: a PSO without it for the run's users", minAge)
		if err := rd.liftMinimumAge(runID, users); err != nil {
			return rep, err
		}
		rep.PSO = rd.PSO
	}
	var targets []*sprayTarget
	if o.spray > 0 {
		p.logf("creating %d accounts for the spray, under a PSO with lockout threshold %d", o.sprayUsers, sprayThreshold)
		if targets, err = rd.createSprayTargets(runID, o.sprayUsers); err != nil {
			return rep, err
		}
	}

	storage := fmt.Sprintf("storage: {type: sqlite, sqlite: {path: %s/gatehouse.db}}\n", dir)
	if o.store == "postgres" {
		dsnFile, drop, err := postgresSchema(ctx, dir, runID)
		if err != nil {
			return rep, err
		}
		defer func() { err = errors.Join(err, drop()) }()
		storage = fmt.Sprintf("storage: {type: postgres, postgres: {dsn_file: %s}}\n", dsnFile)
	}
	oidcCallback := ""
	if slices.ContainsFunc(o.kinds, func(k journeyKind) bool { return k.Name == "oidc" }) {
		cb, stop, err := startRelyingParty()
		if err != nil {
			return rep, err
		}
		defer stop()
		oidcCallback = cb
	}
	var entra *entraStandIn
	if slices.ContainsFunc(o.kinds, func(k journeyKind) bool { return k.Name == "eam" }) {
		if entra, err = startEntra(dir); err != nil {
			return rep, err
		}
		defer entra.close()
	}
	p.logf("starting %s serve", o.gatehouse)
	apps := ""
	saml := slices.ContainsFunc(o.kinds, func(k journeyKind) bool { return k.SAML })
	if saml {
		apps = samlAppConfig
	}
	if oidcCallback != "" {
		if err := os.WriteFile(filepath.Join(dir, "oidc-client-secret"), []byte(oidcClientSecret+"\n"), 0o600); err != nil {
			return rep, err
		}
		apps += fmt.Sprintf(oidcAppConfig, dir, oidcCallback)
	}
	if entra != nil {
		apps += fmt.Sprintf(eamAppConfig, entra.metadataURL(), entra.caFile)
	}
	srv, timing, err := startServer(ctx, o.gatehouse, dir, env, storage, apps, o.gomaxprocs)
	if err != nil {
		return rep, err
	}
	if !timing {
		p.logf("this gatehouse has no http.server_timing setting: no Server-Timing data")
		rep.NoServerTimingSetting = true
	}
	defer func() {
		p.logf("stopping gatehouse (pid %d)", srv.pid)
		if serr := srv.stop(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	r := &runner{
		srv: srv, base: srv.base, requestTimeout: o.requestTimeout, maxErrors: o.maxErrors, users: users, ticks: clockTicks(), saml: saml,
		oidcCallback: oidcCallback, entra: entra,
	}
	if entra != nil {
		if r.eamVerifier, err = newEAMVerifier(&http.Client{Timeout: o.requestTimeout}, srv.base); err != nil {
			return rep, fmt.Errorf("the eam journey: %w", err)
		}
	}

	p.logf("set-up: %d users sign in once and enrol an authenticator app (%d at a time)", len(users), o.setupConc)
	t = time.Now()
	if err := r.setup(ctx, users, o.setupConc); err != nil {
		return rep, err
	}
	rep.Setup = time.Since(t)
	_, rep.RSSAfterSetupKB, _ = procMemKB(srv.pid)
	r.pool = newPool(users)

	// Concurrency by concurrency, each journey in turn: the sign-in phases
	// are spread out, so the users' TOTP steps come back between them.
	for _, c := range o.concurrency {
		for _, k := range o.kinds {
			p.logf("phase %s × %d", k.Name, c)
			n := o.journeys
			if k.Name == "change" {
				n = o.changeJourneys
			}
			res, err := r.runPhase(ctx, k, c, n, o.duration)
			rep.Phases = append(rep.Phases, res)
			if err == nil && res.Errors >= o.maxErrors {
				err = fmt.Errorf("phase %s × %d stopped after %d failed journeys: %s", k.Name, c, res.Errors, strings.Join(topErrors(res.ErrorKinds, 1), ""))
			}
			if err != nil {
				return rep, err
			}
			p.logf("  %d journeys, %d errors, %.1f/s, p50 %.1f ms, p99 %.1f ms, gatehouse CPU %.2f ms/journey",
				res.Journeys, res.Errors, float64(res.Journeys)/res.Wall.Seconds(), res.Latency.P50, res.Latency.P99, ms(res.PerJourney(res.GatehouseCPU)))
		}
	}
	if o.hold > 0 {
		p.logf("phase hold: %d sign-ins in flight at once", o.hold)
		h, err := r.runHold(ctx, o.hold, o.holdRamp)
		rep.Hold = &h
		if err != nil {
			return rep, err
		}
		p.logf("  %d at the code page, %d completed, %d errors; RSS %d MB at the pause, peak %d MB",
			h.AtCode, h.Completed, h.Errors, h.RSSAtPauseKB/1024, h.PeakRSSKB/1024)
	}
	if o.spray > 0 {
		half := len(targets) / 2
		for i, channel := range []string{"signin", "wstrust"} {
			ts := targets[:half]
			if i == 1 {
				ts = targets[half:]
			}
			p.logf("phase spray through %s: %d accounts, %d at a time, %v", channel, len(ts), o.sprayConc, o.spray/2)
			sp, err := r.runSpray(ctx, adm, channel, ts, o.sprayConc, o.spray/2)
			rep.Spray = append(rep.Spray, sp)
			if err == nil && sp.Errors >= o.maxErrors {
				err = fmt.Errorf("spray through %s stopped after %d errors: %s", channel, sp.Errors, strings.Join(topErrors(sp.ErrorKinds, 1), ""))
			}
			if err != nil {
				return rep, err
			}
			p.logf("  %d attempts, %.0f/s, %d refused, %d wrong, %d errors; %.0f binds; gatehouse CPU %.2f ms/attempt; highest badPwdCount %d, %d locked",
				sp.Attempts, float64(sp.Attempts)/sp.Wall.Seconds(), sp.Refused, sp.Wrong, sp.Errors, sp.Binds(),
				ms(sp.GatehouseCPU)/float64(max(1, sp.Attempts)), sp.MaxBadPwd(), len(sp.LockedOut))
		}
	}
	_, rep.PeakRSSKB, _ = procMemKB(srv.pid)
	rep.LoadAfter = loadAvg()
	if after, err := measureSignature(o.sigSamples); err == nil {
		rep.SignatureAfter = &after
		p.logf("one signature after the phases: %v CPU", after.CPU)
	}
	rep.Finished = time.Now()
	return rep, nil
}

// setup enrols every user, conc at a time, after the first one alone (a
// server that cannot sign anyone in is found at once). It stops at the
// first failure: measuring a Gatehouse that fails set-up says nothing.
func (r *runner) setup(ctx context.Context, users []*user, conc int) error {
	if err := r.enrol(users[0]); err != nil {
		return fmt.Errorf("set-up: the first enrolment (%s) failed: %w", users[0].sam, err)
	}
	var (
		next  atomic.Int64
		first error
		once  sync.Once
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next.Store(1)
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(users) {
					return
				}
				if err := r.enrol(users[i]); err != nil {
					users[i].broken = err
					once.Do(func() {
						first = fmt.Errorf("set-up: enrolment of %s failed: %w", users[i].sam, err)
						cancel()
					})
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// commandLine runs a command and returns the first line of its output.
func commandLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output() // #nosec G204 -- fixed tools or the binary under test.
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
