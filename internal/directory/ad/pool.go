package ad

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

// pool holds at most size connections to one DC, reused across operations.
// A caller waits (bounded by its context) while all are in use.
type pool struct {
	slots  chan struct{}
	onSize func()

	mu     sync.Mutex
	idle   []idleConn
	open   int
	closed bool
}

type idleConn struct {
	c     ldapConn
	since time.Time
}

// maxIdle is how long a connection may sit unused before it is closed
// instead of reused: below AD's MaxConnIdleTime (15 minutes) and the idle
// timeouts of most firewalls, which drop a connection silently — a request
// sent on such a connection would only time out.
const maxIdle = 5 * time.Minute

func newPool(size int, onSize func()) *pool {
	return &pool{slots: make(chan struct{}, size), onSize: onSize}
}

var errPoolWait = errors.New("ad: every pooled connection to this domain controller is busy")

// get returns an idle connection or dials a new one.
func (p *pool) get(ctx context.Context, dial func(context.Context) (ldapConn, error)) (c ldapConn, err error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errPoolWait, ctx.Err())
	}
	var stale []ldapConn
	now := time.Now()
	p.mu.Lock()
	for len(p.idle) > 0 && c == nil {
		last := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if last.c.Usable() && now.Sub(last.since) < maxIdle {
			c = last.c
		} else {
			stale = append(stale, last.c)
			p.open--
		}
	}
	p.mu.Unlock()
	for _, s := range stale {
		s.Close()
	}
	if len(stale) > 0 {
		p.onSize()
	}
	if c != nil {
		return c, nil
	}
	c, err = dial(ctx)
	if err != nil {
		<-p.slots
		return nil, err
	}
	p.mu.Lock()
	p.open++
	p.mu.Unlock()
	p.onSize()
	return c, nil
}

// put returns a connection; keep=false (or an unusable connection, or a
// closed pool) closes it.
func (p *pool) put(c ldapConn, keep bool) {
	p.mu.Lock()
	keep = keep && !p.closed && c.Usable()
	if keep {
		p.idle = append(p.idle, idleConn{c: c, since: time.Now()})
	} else {
		p.open--
	}
	p.mu.Unlock()
	if !keep {
		c.Close()
		p.onSize()
	}
	<-p.slots
}

// drain closes the idle connections; final=true also refuses to keep any
// connection returned later.
func (p *pool) drain(final bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	if final {
		p.closed = true
	}
	p.mu.Unlock()
	for _, ic := range idle {
		ic.c.Close()
	}
	p.onSize()
}

func (p *pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// poolKind selects one of a DC's two pools.
type poolKind int

const (
	// servicePool connections are bound as the service account; they
	// search and write.
	servicePool poolKind = iota
	// bindPool connections carry user binds and nothing else, so a user
	// bind never has to be followed by a service re-bind.
	bindPool
)

func (k poolKind) String() string {
	if k == bindPool {
		return "bind"
	}
	return "service"
}

// dc is one domain controller: its pools and its health.
type dc struct {
	t   *target
	svc *pool
	usr *pool

	mu       sync.Mutex
	healthy  bool
	failures int       // consecutive failed probes while down
	retryAt  time.Time // next probe while down
	probing  bool
	controls map[string]bool // RootDSE supportedControl, read once
}

func (c *dc) pool(k poolKind) *pool {
	if k == bindPool {
		return c.usr
	}
	return c.svc
}

func (c *dc) isHealthy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.healthy
}

// Health backoff: a DC taken out is probed after backoffBase, then after
// twice as long each time the probe fails, up to backoffMax.
const (
	defaultBackoffBase = time.Second
	defaultBackoffMax  = time.Minute
)

func (d *Directory) backoff(failures int) time.Duration {
	b := d.backoffBase
	for i := 1; i < failures && b < d.backoffMax; i++ {
		b *= 2
	}
	return min(b, d.backoffMax)
}

// markDown takes a DC out of service after a transport failure.
func (d *Directory) markDown(c *dc, err error) {
	c.mu.Lock()
	was := c.healthy
	if was {
		c.healthy = false
		c.failures = 1
		c.retryAt = time.Now().Add(d.backoff(1))
	}
	c.mu.Unlock()
	if !was {
		return
	}
	d.log.Warn("domain controller taken out of service", "event", "dc_down", "dc", c.t.name, "err", err)
	if d.metrics != nil {
		d.metrics.DCHealthy.WithLabelValues(c.t.name).Set(0)
	}
	// Its idle connections are most likely dead too.
	c.svc.drain(false)
	c.usr.drain(false)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// markUp puts a DC back into service.
func (d *Directory) markUp(c *dc) {
	c.mu.Lock()
	was := c.healthy
	c.healthy, c.failures, c.retryAt = true, 0, time.Time{}
	c.mu.Unlock()
	if was {
		return
	}
	d.log.Info("domain controller back in service", "event", "dc_up", "dc", c.t.name)
	if d.metrics != nil {
		d.metrics.DCHealthy.WithLabelValues(c.t.name).Set(1)
	}
}

// candidates returns the DCs to try, in order: the healthy ones as
// configured; when none is healthy, all of them, soonest retry first (a DC
// may have come back before its probe noticed).
func (d *Directory) candidates() []*dc {
	var up []*dc
	for _, c := range d.dcs {
		if c.isHealthy() {
			up = append(up, c)
		}
	}
	if len(up) > 0 {
		return up
	}
	all := append([]*dc(nil), d.dcs...)
	retryAt := func(c *dc) time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.retryAt
	}
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && retryAt(all[j]).Before(retryAt(all[j-1])); j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	return all
}

// probeLoop brings DCs back: it probes each DC that was taken out when its
// backoff ends (dial, TLS, service bind), concurrently per DC. It stops
// when ctx ends; Close waits for it and for every probe.
func (d *Directory) probeLoop(ctx context.Context) {
	defer d.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := time.Hour
		now := time.Now()
		for _, c := range d.dcs {
			c.mu.Lock()
			if !c.healthy && !c.probing {
				if w := c.retryAt.Sub(now); w <= 0 {
					c.probing = true
					d.wg.Add(1)
					go d.probe(ctx, c)
				} else {
					wait = min(wait, w)
				}
			}
			c.mu.Unlock()
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

func (d *Directory) probe(ctx context.Context, c *dc) {
	defer d.wg.Done()
	pctx, cancel := context.WithTimeout(ctx, d.timeout)
	conn, err := d.connect(pctx, c, servicePool)
	cancel()
	if err == nil {
		conn.Close()
	}
	c.mu.Lock()
	c.probing = false
	if err != nil {
		c.failures++
		c.retryAt = time.Now().Add(d.backoff(c.failures))
	}
	failures := c.failures
	c.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		d.log.Debug("domain controller still out of service", "event", "dc_probe", "dc", c.t.name,
			"failures", failures, "err", err)
	} else {
		d.markUp(c)
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// op is one LDAP request run against some DC.
type op func(ctx context.Context, c ldapConn, dc *dc) error

// runOpts says how an operation may be retried.
type runOpts struct {
	kind poolKind
	name string // metric label: search, bind, modify, …
	// noResend forbids a retry once the request may have reached a DC
	// (for writes that are not idempotent).
	noResend bool
}

// run executes fn on a connection from the first usable DC. A failure before
// any request was sent (dial, TLS, pool) moves on to the next DC; a transport
// failure after the request was sent is retried once, on another DC. An
// answer — any LDAP result — is final and never retried.
//
// When there is a DC to fall back to, an attempt gets half of the time left,
// so the fallback still has time within the caller's deadline.
func (d *Directory) run(ctx context.Context, o runOpts, fn op) error {
	// Every directory call goes through here: the request's directory
	// time (Server-Timing) is pool waits, dials and retries included.
	defer observe.Start(ctx, observe.PhaseDirectory)()
	if d.closed.Load() {
		return fmt.Errorf("%w: directory closed", directory.ErrUnavailable)
	}
	cands := d.candidates()
	var lastErr error
	resent := false
	for i, c := range cands {
		if ctx.Err() != nil {
			break
		}
		actx, cancel := attemptContext(ctx, i < len(cands)-1)
		err := d.attempt(actx, c, o, fn)
		cancel()
		if err == nil {
			return nil
		}
		if !isTransport(err) {
			return err // an answer, or our own refusal: final
		}
		lastErr = err
		if errors.Is(ctx.Err(), context.Canceled) {
			break // the caller gave up: not the DC's fault
		}
		if !errors.Is(err, errPoolWait) {
			d.markDown(c, err)
		}
		if ctx.Err() != nil {
			break // no time left for another attempt
		}
		if wasSent(err) {
			if o.noResend || resent {
				break
			}
			resent = true
		}
	}
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	if lastErr == nil {
		lastErr = errors.New("no domain controller configured")
	}
	return fmt.Errorf("%w: %s: %w", directory.ErrUnavailable, o.name, lastErr)
}

// attemptContext bounds one attempt: half of the time left when another DC
// can be tried afterwards, all of it otherwise.
func attemptContext(ctx context.Context, fallback bool) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !fallback || !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
}

// attempt runs fn once on c.
func (d *Directory) attempt(ctx context.Context, c *dc, o runOpts, fn op) error {
	p := c.pool(o.kind)
	conn, err := p.get(ctx, func(ctx context.Context) (ldapConn, error) { return d.connect(ctx, c, o.kind) })
	if err != nil {
		if errors.Is(err, errPoolWait) {
			return &transportError{err: err}
		}
		return err
	}
	start := time.Now()
	err = fn(ctx, conn, c)
	d.observe(c, o.name, err, time.Since(start))
	p.put(conn, !isTransport(err) && !d.dialPerOp)
	if err == nil || !isTransport(err) {
		// Any answer proves the DC is serving.
		d.markUp(c)
	}
	return err
}

// errServiceBind is a service-account bind the DC refused. It is an answer:
// never retried elsewhere (it would count against the service account).
var errServiceBind = errors.New("ad: the domain controller refused the service account's bind")

// serviceBindHold is how long Gatehouse stops trying the service account
// after a DC refused its password, so a wrong configured password cannot
// lock the service account out.
const serviceBindHold = 30 * time.Second

// connect dials a DC and, for the service pool, binds as the service account.
func (d *Directory) connect(ctx context.Context, c *dc, k poolKind) (ldapConn, error) {
	if k == servicePool {
		if err := d.serviceHeld(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	conn, err := d.dial(ctx, c.t)
	if c.t.startTLS {
		d.count(1) // the StartTLS extended operation
	}
	d.observe(c, "dial", err, time.Since(start))
	if err != nil {
		if !isTransport(err) {
			err = &transportError{err: err}
		}
		return nil, err
	}
	if !conn.Encrypted() {
		conn.Close()
		return nil, &transportError{err: errors.New("refusing a connection that is not encrypted")}
	}
	conn = &countingConn{ldapConn: conn, d: d}
	if k != servicePool {
		return conn, nil
	}
	start = time.Now()
	err = conn.Bind(ctx, d.cfg.BindDN, d.cfg.BindPassword.Value())
	d.observe(c, "service_bind", err, time.Since(start))
	if err != nil {
		conn.Close()
		if isTransport(err) {
			// Not yet the caller's request: safe to try the next DC.
			return nil, &transportError{err: err}
		}
		d.holdService(err)
		return nil, fmt.Errorf("%w: %w: %w", directory.ErrUnavailable, errServiceBind, err)
	}
	return conn, nil
}

func (d *Directory) serviceHeld() error {
	d.svcMu.Lock()
	defer d.svcMu.Unlock()
	if time.Now().Before(d.svcHeldUntil) {
		return fmt.Errorf("%w: %w (not retried until %s): %w", directory.ErrUnavailable, errServiceBind,
			d.svcHeldUntil.Format(time.RFC3339), d.svcErr)
	}
	return nil
}

func (d *Directory) holdService(err error) {
	d.svcMu.Lock()
	d.svcHeldUntil = time.Now().Add(serviceBindHold)
	d.svcErr = err
	d.svcMu.Unlock()
	d.log.Error("the domain controller refused the service account's bind; check bind_dn and the password",
		"event", "service_bind_refused", "bind_dn", d.cfg.BindDN, "err", err, "hold", serviceBindHold)
}
