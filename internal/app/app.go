package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-sso/gatehouse/internal/abuse"
	"github.com/gatehouse-sso/gatehouse/internal/account"
	"github.com/gatehouse-sso/gatehouse/internal/audit"
	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/keys"
	"github.com/gatehouse-sso/gatehouse/internal/notify"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
	"github.com/gatehouse-sso/gatehouse/internal/password"
	gpolicy "github.com/gatehouse-sso/gatehouse/internal/policy"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/saml"
	"github.com/gatehouse-sso/gatehouse/internal/protocol/wsfed"
	"github.com/gatehouse-sso/gatehouse/internal/secrets"
	"github.com/gatehouse-sso/gatehouse/internal/selfservice"
	"github.com/gatehouse-sso/gatehouse/internal/signin"
	"github.com/gatehouse-sso/gatehouse/internal/store"
	"github.com/gatehouse-sso/gatehouse/internal/store/memflows"
	"github.com/gatehouse-sso/gatehouse/internal/store/postgres"
	"github.com/gatehouse-sso/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-sso/gatehouse/internal/version"
	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// Options are what the caller decides beyond the configuration.
type Options struct {
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// StartupTimeout bounds the startup checks; zero means 30s.
	StartupTimeout time.Duration
}

// App is every subsystem, built once.
type App struct {
	Config    config.Config
	Log       *slog.Logger
	Metrics   *observe.Metrics
	Health    *observe.Health
	Store     store.Store
	Directory directory.Directory
	Secrets   *secrets.Box
	Signing   *keys.KeyPair
	Keys      *keys.Set
	Audit     *audit.Recorder
	Renderer  *web.Renderer
	CSRF      *web.CSRF
	SignIn    *signin.Engine
	Sessions  *signin.Sessions
	// Policy is what every flow asks (internal/policy), from the configuration.
	Policy  gpolicy.Settings
	Factors *signin.FactorSet
	// Guard decides whether a password or a code may be checked
	// (internal/abuse): limits and smart lockout.
	Guard    *abuse.Guard
	Notifier *notify.Notifier
	Handler  http.Handler
	// MetricsHandler serves /metrics and the detail of /readyz on
	// http.metrics_listen; nil when that is not set (the main Handler
	// serves both).
	MetricsHandler http.Handler
	Now            func() time.Time

	mux             *http.ServeMux
	listener        net.Listener
	metricsListener net.Listener
	closers         []func() error

	// relyingParties are the WS-Fed relying parties (Entra's domains
	// among them) the protocols serve, for the entra commands.
	relyingParties *wsfed.Registry
	// samlSPs are the SAML 2.0 service providers (Entra over SAML-P too).
	samlSPs *saml.Registry
	// afterWrite finishes what must follow a reset or unlock the
	// directory accepted (retried in the background when the store fails).
	afterWrite *selfservice.AfterWrite
}

// StartupError says which startup check failed and why.
type StartupError struct {
	Check string // "store", "directory", "signing key", …
	Err   error
}

func (e *StartupError) Error() string {
	return fmt.Sprintf("startup check %q failed: %v", e.Check, e.Err)
}

func (e *StartupError) Unwrap() error { return e.Err }

// New builds every subsystem from cfg and runs the startup checks: the store
// answers, the directory answers, the keys load. On any failure it releases
// what it had opened and returns a *StartupError.
func New(ctx context.Context, cfg config.Config, opts Options) (_ *App, err error) {
	a, timeout := newApp(cfg, opts)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()

	if err := a.openSecrets(); err != nil {
		return nil, &StartupError{"encryption key", err}
	}
	if err := a.openSigningKey(); err != nil {
		return nil, &StartupError{"signing key", err}
	}
	if err := a.openStore(ctx); err != nil {
		return nil, &StartupError{"store", err}
	}
	if err := a.openDirectory(ctx); err != nil {
		return nil, &StartupError{"directory", err}
	}
	if err := a.buildWeb(); err != nil {
		return nil, &StartupError{"pages", err}
	}
	if err := a.routes(ctx); err != nil {
		return nil, &StartupError{"apps", err}
	}
	return a, nil
}

func (a *App) openSecrets() error {
	path := a.Config.Secrets.EncryptionKeyFile
	key, err := secrets.LoadKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := secrets.CreateKeyFile(path); err != nil {
			return err
		}
		a.Log.Warn("created a new encryption key; back it up with the store: without it, enrolled factors cannot be read", "file", path)
		key, err = secrets.LoadKeyFile(path)
	}
	if err != nil {
		return err
	}
	a.Secrets, err = secrets.New(key)
	return err
}

func (a *App) openSigningKey() error {
	s := a.Config.Signing
	host := "gatehouse"
	if u, err := url.Parse(a.Config.Issuer); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	kp, generated, err := keys.LoadOrGenerate(s.KeyFile, s.CertFile, host, a.Now())
	if err != nil {
		return err
	}
	if generated {
		a.Log.Warn("generated a new token-signing key and self-signed certificate; relying parties must trust this certificate",
			"key_file", s.KeyFile, "cert_file", s.CertFile, "kid", kp.ID)
	}
	if left := kp.Cert.NotAfter.Sub(a.Now()); left < 30*24*time.Hour {
		a.Log.Warn("the token-signing certificate expires soon", "not_after", kp.Cert.NotAfter, "days_left", int(left.Hours()/24))
	}
	a.Signing = kp
	return nil
}

func (a *App) storeObserver() store.Observer {
	return func(op string, d time.Duration, err error) {
		result := "ok"
		switch {
		case err == nil:
		case errors.Is(err, store.ErrNotFound):
			result = "not_found"
		case errors.Is(err, store.ErrConflict):
			result = "conflict"
		default:
			result = "error"
		}
		a.Metrics.ObserveStore(op, d, result)
	}
}

func (a *App) openStore(ctx context.Context) error {
	opts := store.Options{Logger: a.Log.With("component", "store"), Observe: a.storeObserver()}
	var (
		s   store.Store
		err error
	)
	switch a.Config.Storage.Type {
	case "sqlite":
		s, err = sqlite.Open(ctx, a.Config.Storage.SQLite.Path, opts)
	case "postgres":
		s, err = postgres.Open(ctx, a.Config.Storage.Postgres.DSN.Value(), opts)
	default:
		err = fmt.Errorf("unknown storage type %q", a.Config.Storage.Type)
	}
	if err != nil {
		return err
	}
	a.Store = s
	a.closers = append(a.closers, s.Close)
	if fs, ok := s.(interface{ FlowStats() memflows.Stats }); ok {
		a.Metrics.RegisterMemoryFlows(func() observe.FlowCounts {
			st := fs.FlowStats()
			return observe.FlowCounts{Flows: st.Flows, Bytes: st.Bytes, Evicted: st.Evicted, Refused: st.Refused}
		})
	}
	if err := s.Ping(ctx); err != nil {
		return err
	}
	a.Health.Add("store", s.Ping)
	return nil
}

func (a *App) openDirectory(ctx context.Context) error {
	extra, err := directory.ExtraAttributes(directoryAttributeSources(a.Config))
	if err != nil {
		return err
	}
	d, err := openDirectory(ctx, a.Config.Directory, extra, a.Log.With("component", "directory"), a.Metrics, a.Now)
	if err != nil {
		return err
	}
	a.Directory = d
	a.closers = append(a.closers, d.Close)
	if err := d.Check(ctx); err != nil {
		return err
	}
	a.Health.Add("directory", d.Check)
	return nil
}

// passwordChecker builds the checks on new passwords from config. The
// organisation's name and domains count as guessable words.
func passwordChecker(cfg config.Config) (*password.Checker, error) {
	c := &password.Checker{MinScore: cfg.Passwords.MinStrength}
	if cfg.Passwords.BreachedCheck {
		set, err := password.Breached()
		if err != nil {
			return nil, fmt.Errorf("the breached-password list in this binary is damaged: %w", err)
		}
		c.Breached = set
	}
	words := []string{cfg.UI.Name}
	for _, app := range cfg.Apps {
		for _, d := range app.Domains {
			words = append(words, d, strings.Split(d, ".")[0])
		}
	}
	for _, w := range words {
		if w = strings.ToLower(strings.TrimSpace(w)); len(w) >= 3 && !slices.Contains(c.Context, w) {
			c.Context = append(c.Context, w)
		}
	}
	return c, nil
}

// buildWeb builds what the pages need and the sign-in engine.
func (a *App) buildWeb() error {
	ui := a.Config.UI
	ui.UsernameExample = UsernameExample(a.Config)
	r, err := web.NewRenderer(ui)
	if err != nil {
		return err
	}
	a.Renderer = r
	logBranding(a.Log, r.Branding())
	a.CSRF = web.NewCSRF(a.Secrets.DeriveKey("csrf"), isHTTPS(a.Config.Issuer))
	a.Audit = audit.New(a.Store, a.Log.With("component", "audit"), a.Now)
	if a.Factors, err = a.buildFactors(); err != nil {
		return err
	}
	pw, err := passwordChecker(a.Config)
	if err != nil {
		return err
	}
	a.Policy = gpolicy.FromConfig(a.Config)
	a.Guard, err = abuse.New(abuse.Options{Limits: abuse.FromConfig(a.Config.Abuse), Store: a.Store, Directory: a.Directory,
		Key: a.Secrets.DeriveKey("abuse"), Audit: a.Audit, Logger: a.Log.With("component", "abuse"), Now: a.Now})
	if err != nil {
		return err
	}
	a.Factors.Guard = a.Guard
	log := a.Log.With("component", "signin")
	a.Sessions = signin.NewSessions(signin.SessionOptions{Config: a.Config.Sessions, Store: a.Store, Directory: a.Directory,
		Secure: isHTTPS(a.Config.Issuer), Secrets: a.Secrets, Audit: a.Audit, Logger: log, Now: a.Now})
	a.SignIn = signin.New(signin.Options{
		Issuer: a.Config.Issuer, FlowTimeout: a.Config.Sessions.FlowTimeout, Passwordless: a.Config.MFA.Passwordless, Policy: a.Policy,
		Directory: a.Directory, Flows: a.Store, Throttle: a.Store, Sessions: a.Sessions,
		Guard: a.Guard, Factors: a.Factors, Passwords: pw, Secrets: a.Secrets, Renderer: r, CSRF: a.CSRF, Audit: a.Audit, Logger: log, Now: a.Now,
	})
	return nil
}

func (a *App) routes(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", observe.LiveHandler())
	metrics := promhttp.HandlerFor(a.Metrics.Registry, promhttp.HandlerOpts{})
	if a.Config.HTTP.MetricsListen == "" {
		mux.Handle("GET /readyz", web.NoStore(a.Health.ReadyHandler()))
		mux.Handle("GET /metrics", metrics)
	} else {
		// The detail goes to the monitoring address only: the public side
		// learns whether Gatehouse is ready, not which DC fails or why.
		mux.Handle("GET /readyz", web.NoStore(a.Health.StatusHandler()))
		mm := http.NewServeMux()
		mm.Handle("GET /healthz", observe.LiveHandler())
		mm.Handle("GET /readyz", web.NoStore(a.Health.ReadyHandler()))
		mm.Handle("GET /metrics", metrics)
		a.MetricsHandler = web.Chain(mm, web.Recover(a.Log))
	}
	mux.Handle("GET /static/", a.Renderer.StaticHandler())
	mux.HandleFunc("GET /lang", a.Renderer.SetLanguage)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.WriteHeader(http.StatusNoContent) // no icon; answer browsers without a 404
	})
	a.SignIn.Mount(mux)
	tz, _ := time.LoadLocation(a.Config.UI.TimeZone) // validated by config; "" is UTC
	(&account.Handler{Engine: a.SignIn, Sessions: a.Sessions, Store: a.Store, Factors: a.Factors, Recovery: a.Factors.Recovery,
		Renderer: a.Renderer, CSRF: a.CSRF, Audit: a.Audit, TimeZone: tz, Apps: a.appTiles, Log: a.Log.With("component", "account"), Now: a.Now}).Mount(mux)
	ss := &selfservice.Handler{Engine: a.SignIn, Sessions: a.Sessions, Directory: a.Directory, Renderer: a.Renderer, CSRF: a.CSRF,
		Audit: a.Audit, Log: a.Log.With("component", "selfservice"), Now: a.Now}
	ss.Mount(mux)
	a.afterWrite = selfservice.NewAfterWrite(a.Log.With("component", "selfservice"))
	a.closers = append(a.closers, a.afterWrite.Close) // before the store closes
	for _, unlock := range []bool{false, true} {
		(&selfservice.Reset{Handler: ss, Notifier: a.Notifier, Key: a.Secrets.DeriveKey("reset decoy"), MailDomain: decoyMailDomain(a.Config), Policy: a.Policy,
			Support: a.Config.UI.Support, Unlock: unlock, AfterWrite: a.afterWrite}).Mount(mux)
	}
	if err := a.mountProtocols(ctx, mux); err != nil {
		return err
	}
	a.SignIn.SetResumeHandler(mux)
	a.mux = mux
	pages := web.NewErrorPages(a.Renderer, mux, web.ErrorPagesOptions{Machine: machinePath, Classify: a.classifyError, Log: a.Log.With("component", "web")})

	tp, _ := web.ParseTrustedProxies(a.Config.TrustedProxies) // validated by config
	hsts := a.Config.TLS.Enabled() || isHTTPS(a.Config.Issuer)
	limit := a.Config.HTTP.MaxConcurrentRequests
	if limit == 0 {
		limit = 64 * runtime.GOMAXPROCS(0)
	}
	// Every error below RequestID, and every address the mux does not
	// serve, is answered by the error pages.
	a.Handler = web.Chain(web.Instrument(a.Metrics, a.Log, web.LimitConcurrency(limit, pages.Handler()), web.InstrumentOptions{ServerTiming: a.Config.HTTP.ServerTiming}),
		web.RequestID(),
		pages.Middleware,
		web.ClientIPMiddleware(tp),
		web.Recover(a.Log),
		web.SecurityHeaders(hsts),
		web.LimitBody(a.Config.HTTP.MaxBodyBytes),
	)
	return nil
}

// Mux returns the router, for areas that mount their own routes.
func (a *App) Mux() *http.ServeMux { return a.mux }

func isHTTPS(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && u.Scheme == "https"
}

// Listen binds the configured address, and http.metrics_listen when set.
// Call it before Serve; Addr and MetricsAddr then report the bound
// addresses (useful with port 0).
func (a *App) Listen() error {
	l, err := net.Listen("tcp", a.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.Config.Listen, err)
	}
	a.listener = l
	if m := a.Config.HTTP.MetricsListen; m != "" {
		if a.metricsListener, err = net.Listen("tcp", m); err != nil {
			_ = l.Close()
			a.listener = nil
			return fmt.Errorf("listen on %s (http.metrics_listen): %w", m, err)
		}
	}
	return nil
}

// Addr is the bound address, after Listen.
func (a *App) Addr() net.Addr { return a.listener.Addr() }

// MetricsAddr is the bound http.metrics_listen address after Listen, nil
// when it is not set.
func (a *App) MetricsAddr() net.Addr {
	if a.metricsListener == nil {
		return nil
	}
	return a.metricsListener.Addr()
}

// Serve serves HTTP(S) on the bound listener until ctx is cancelled, then
// shuts down gracefully within the configured shutdown timeout. It also runs
// the store's garbage collection.
func (a *App) Serve(ctx context.Context) error {
	if a.listener == nil {
		if err := a.Listen(); err != nil {
			return err
		}
	}
	h := a.Config.HTTP
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: h.ReadHeaderTimeout,
		ReadTimeout:       h.ReadTimeout,
		WriteTimeout:      h.WriteTimeout,
		IdleTimeout:       h.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// The background work stops with ctx, or when a server fails.
	bg, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		a.collectGarbage(bg, 5*time.Minute)
	}()
	if a.samlSPs != nil {
		go a.samlSPs.Run(bg) // refreshes metadata_url SPs; stops with bg
	}
	pruneDone := make(chan struct{})
	go func() {
		defer close(pruneDone)
		a.pruneAudit(bg, 24*time.Hour)
	}()

	errc := make(chan error, 2)
	go func() {
		var err error
		if a.Config.TLS.Enabled() {
			err = srv.ServeTLS(a.listener, a.Config.TLS.CertFile, a.Config.TLS.KeyFile)
		} else {
			err = srv.Serve(a.listener)
		}
		errc <- err
	}()
	var msrv *http.Server
	if a.metricsListener != nil {
		// Plain HTTP: a scraper on the monitoring network, as Prometheus
		// expects.
		msrv = &http.Server{Handler: a.MetricsHandler, ReadHeaderTimeout: h.ReadHeaderTimeout, ReadTimeout: h.ReadTimeout,
			WriteTimeout: h.WriteTimeout, IdleTimeout: h.IdleTimeout, MaxHeaderBytes: 64 << 10,
			ErrorLog: slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn)}
		go func() { errc <- msrv.Serve(a.metricsListener) }()
		a.Log.Info("serving /metrics and /readyz", "listen", a.metricsListener.Addr().String())
	}
	scheme := "http"
	if a.Config.TLS.Enabled() {
		scheme = "https"
	}
	a.Log.Info("gatehouse serving", "listen", a.listener.Addr().String(), "scheme", scheme, "issuer", a.Config.Issuer, "version", version.Version)

	servers := 1
	if msrv != nil {
		servers = 2
	}
	select {
	case err := <-errc:
		// One server failed: stop the other and everything else too.
		sctx, cancel := context.WithTimeout(context.Background(), h.ShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if msrv != nil {
			_ = msrv.Shutdown(sctx)
		}
		for servers--; servers > 0; servers-- {
			if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
				a.Log.Error("http server", "err", serr)
			}
		}
		stopBackground()
		<-gcDone
		<-pruneDone
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	a.Log.Info("shutting down", "timeout", h.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), h.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if msrv != nil {
		err = errors.Join(err, msrv.Shutdown(sctx))
	}
	for ; servers > 0; servers-- {
		if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			a.Log.Error("http server", "err", serr)
		}
	}
	<-gcDone
	<-pruneDone
	if err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return nil
}

func (a *App) collectGarbage(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			res, err := a.Store.GarbageCollect(ctx, a.Now())
			if err != nil {
				a.Log.Error("store garbage collection failed", "err", err)
				continue
			}
			if n := res.Sessions + res.Flows + res.Counters + res.Tickets; n > 0 {
				a.Log.Debug("store garbage collected", "sessions", res.Sessions, "flows", res.Flows, "counters", res.Counters, "tickets", res.Tickets)
			}
		}
	}
}

// pruneAudit deletes the audit events older than audit.retention now and
// then every interval, until ctx ends. Every instance does it; the store
// serializes the prunes, and one that finds nothing records nothing.
func (a *App) pruneAudit(ctx context.Context, every time.Duration) {
	if a.Config.Audit.Retention <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := a.pruneAuditOnce(ctx); err != nil && ctx.Err() == nil {
			a.Log.Error("pruning the audit trail failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneAuditOnce deletes the audit events older than audit.retention.
func (a *App) pruneAuditOnce(ctx context.Context) (int64, error) {
	keep := a.Config.Audit.Retention
	now := a.Now()
	n, err := a.Store.PruneAudit(ctx, now.Add(-keep), now)
	if n > 0 {
		a.Log.Info("pruned the audit trail", "deleted", n, "retention", keep)
	}
	return n, err
}

// Close releases everything New opened, in reverse order.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	if a.listener != nil {
		_ = a.listener.Close()
	}
	if a.metricsListener != nil {
		_ = a.metricsListener.Close()
	}
	return errors.Join(errs...)
}

// newApp is an App of cfg with opts' logger and clock (or the defaults: no
// log, the real clock), its metrics and readiness checks, and how long its
// start may take.
func newApp(cfg config.Config, opts Options) (*App, time.Duration) {
	a := &App{Config: cfg, Log: opts.Logger, Now: opts.Now}
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	a.Metrics = observe.NewMetrics(version.Version, version.Commit())
	a.Health = observe.NewHealth(5 * time.Second)
	timeout := opts.StartupTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return a, timeout
}
