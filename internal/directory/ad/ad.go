package ad

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-sso/gatehouse/internal/config"
	"github.com/gatehouse-sso/gatehouse/internal/directory"
	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

// Resolver looks up DNS SRV records; *net.Resolver is one.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

// Options are the collaborators of a Directory. Every field is optional.
type Options struct {
	Logger  *slog.Logger
	Metrics *observe.Metrics
	// Now is the clock for account state, policy ages and caches.
	Now func() time.Time
	// Resolver finds domain controllers for cfg.DiscoverDomain;
	// net.DefaultResolver when nil.
	Resolver Resolver
	// GroupCacheTTL is how long the parent groups of a group are reused
	// when expanding nested membership. Zero: one minute. Negative: never
	// cached (each sign-in then costs one more search per nesting level).
	// A user's direct groups are always read fresh.
	GroupCacheTTL time.Duration
	// ExtraAttributes are LDAP attributes read with every user lookup (by
	// the same search) and returned in User.Attributes, keyed in lower
	// case: the "ad:<name>" sources of the apps' attribute rules (see
	// directory.ExtraAttributes). Each must pass
	// directory.CheckAttributeName. None: User.Attributes stays nil.
	ExtraAttributes []string
}

// Defaults for a zero config.
const (
	defaultTimeout  = 10 * time.Second
	defaultPoolSize = 4
	defaultGroupTTL = time.Minute
	policyTTL       = time.Minute
)

var attrNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// Directory is Active Directory over LDAPS/StartTLS. It is safe for
// concurrent use. Each DC gets two pools of at most cfg.PoolSize
// connections: one bound as the service account, one for user binds.
type Directory struct {
	cfg      config.ActiveDirectory
	log      *slog.Logger
	metrics  *observe.Metrics
	now      func() time.Time
	dial     dialFunc
	timeout  time.Duration
	domainDN string
	userAttr []string
	// extraAttr are the extra attributes the user search asks for beyond
	// its own (a listing leaves them out); extra is the lower-case set of
	// every extra attribute, nil when none was configured.
	extraAttr []string
	extra     map[string]bool

	dcs []*dc

	backoffBase, backoffMax time.Duration

	ops atomic.Int64 // LDAP requests sent, for tests and benchmarks
	// dialPerOp closes every connection after one operation (only the
	// benchmark sets it, to measure what pooling saves).
	dialPerOp bool

	groups   *groupCache
	policies *policyCache

	svcMu        sync.Mutex
	svcHeldUntil time.Time
	svcErr       error

	wake   chan struct{}
	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

var (
	_ directory.Directory        = (*Directory)(nil)
	_ directory.PasswordChanger  = (*Directory)(nil)
	_ directory.PasswordResetter = (*Directory)(nil)
	_ directory.Unlocker         = (*Directory)(nil)
	_ directory.PolicyReader     = (*Directory)(nil)

	_ directory.CheckedAuthenticator = (*Directory)(nil)
	_ directory.DomainPolicyReader   = (*Directory)(nil)
)

// Open prepares a Directory for cfg. It resolves DiscoverDomain (bounded by
// ctx) but does not connect: use Check to see whether a DC answers. Close
// releases everything it started.
func Open(ctx context.Context, cfg config.ActiveDirectory, opts Options) (*Directory, error) {
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ad: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ad: ca_file %s holds no PEM certificate", cfg.CAFile)
		}
		base.RootCAs = pool
	}
	var targets []*target
	seen := map[string]bool{}
	for _, raw := range cfg.URLs {
		t, err := parseTarget(raw, base)
		if err != nil {
			return nil, err
		}
		if !seen[strings.ToLower(t.addr)] {
			seen[strings.ToLower(t.addr)] = true
			targets = append(targets, t)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DiscoverDomain != "" {
		found, err := discover(ctx, opts.Resolver, cfg.DiscoverDomain, base)
		switch {
		case err != nil && len(targets) == 0:
			return nil, err
		case err != nil:
			log.Warn("DNS discovery of domain controllers failed; using the configured URLs",
				"event", "dc_discovery", "domain", cfg.DiscoverDomain, "err", err)
		}
		for _, t := range found {
			if !seen[strings.ToLower(t.addr)] {
				seen[strings.ToLower(t.addr)] = true
				targets = append(targets, t)
			}
		}
	}
	return newDirectory(cfg, opts, targets, dialLDAP)
}

// discover finds DCs by SRV _ldap._tcp.dc._msdcs.<domain>. They are reached
// with StartTLS on the advertised LDAP port.
func discover(ctx context.Context, r Resolver, domain string, base *tls.Config) ([]*target, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	_, srvs, err := r.LookupSRV(ctx, "ldap", "tcp", "dc._msdcs."+strings.TrimSuffix(domain, "."))
	if err != nil {
		return nil, fmt.Errorf("ad: discover domain controllers of %s: %w", domain, err)
	}
	var out []*target
	for _, s := range srvs {
		host := strings.TrimSuffix(s.Target, ".")
		if host == "" {
			continue
		}
		out = append(out, newTarget(host, strconv.Itoa(int(s.Port)), true, base))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ad: discover domain controllers of %s: no SRV records", domain)
	}
	return out, nil
}

// newDirectory builds a Directory over the given targets and dialer (tests
// pass fakes) and starts its health prober.
func newDirectory(cfg config.ActiveDirectory, opts Options, targets []*target, dial dialFunc) (*Directory, error) {
	var problems []string
	if len(targets) == 0 {
		problems = append(problems, "no domain controller (urls or discover_domain)")
	}
	if cfg.BindDN == "" || cfg.BindPassword.Value() == "" {
		problems = append(problems, "bind_dn and its password are required")
	}
	if cfg.BaseDN == "" {
		problems = append(problems, "base_dn is required")
	}
	domainDN, err := domainRoot(cfg.BaseDN)
	if err != nil && cfg.BaseDN != "" {
		problems = append(problems, err.Error())
	}
	if len(cfg.LoginAttributes) == 0 {
		cfg.LoginAttributes = []string{"userPrincipalName", "sAMAccountName", "mail"}
	}
	if cfg.ImmutableIDAttribute == "" {
		cfg.ImmutableIDAttribute = "objectGUID"
	}
	for _, a := range append([]string{cfg.ImmutableIDAttribute}, cfg.LoginAttributes...) {
		if !attrNameRE.MatchString(a) {
			problems = append(problems, fmt.Sprintf("%q is not an attribute name", a))
		}
	}
	for _, a := range opts.ExtraAttributes {
		if err := directory.CheckAttributeName(a); err != nil {
			problems = append(problems, "extra attribute "+err.Error())
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("ad: %s", strings.Join(problems, "; "))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = defaultPoolSize
	}
	d := &Directory{
		cfg:         cfg,
		log:         opts.Logger,
		metrics:     opts.Metrics,
		now:         opts.Now,
		dial:        dial,
		timeout:     cfg.Timeout,
		domainDN:    domainDN,
		backoffBase: defaultBackoffBase,
		backoffMax:  defaultBackoffMax,
		wake:        make(chan struct{}, 1),
		policies:    &policyCache{m: map[string]cachedPolicy{}},
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	ttl := opts.GroupCacheTTL
	if ttl == 0 {
		ttl = defaultGroupTTL
	}
	d.groups = &groupCache{ttl: ttl, m: map[string]cachedGroup{}}
	d.userAttr = userAttributes(cfg.ImmutableIDAttribute)
	if cfg.AlternateEmailAttribute != "" {
		d.userAttr = append(d.userAttr, cfg.AlternateEmailAttribute)
	}
	d.extraAttr, d.extra = extraAttributes(d.userAttr, opts.ExtraAttributes)
	d.userAttr = append(d.userAttr, d.extraAttr...)
	for _, t := range targets {
		c := &dc{t: t, healthy: true}
		onSize := func() { d.reportPoolSize(c) }
		c.svc = newPool(cfg.PoolSize, onSize)
		c.usr = newPool(cfg.PoolSize, onSize)
		d.dcs = append(d.dcs, c)
		if d.metrics != nil {
			d.metrics.DCHealthy.WithLabelValues(t.name).Set(1)
			d.metrics.DCPoolSize.WithLabelValues(t.name).Set(0)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	d.wg.Add(1)
	go d.probeLoop(ctx)
	return d, nil
}

// domainRoot is the DC=… suffix of base: the domain's naming context, where
// the domain password policy lives and groups are searched.
func domainRoot(base string) (string, error) {
	dn, err := ldap.ParseDN(base)
	if err != nil {
		return "", fmt.Errorf("base_dn %q: %w", base, err)
	}
	i := len(dn.RDNs)
	for i > 0 {
		rdn := dn.RDNs[i-1]
		if len(rdn.Attributes) != 1 || !strings.EqualFold(rdn.Attributes[0].Type, "DC") {
			break
		}
		i--
	}
	if i == len(dn.RDNs) {
		return "", fmt.Errorf("base_dn %q does not end in DC=… components", base)
	}
	parts := make([]string, 0, len(dn.RDNs)-i)
	for _, rdn := range dn.RDNs[i:] {
		parts = append(parts, "DC="+ldap.EscapeDN(rdn.Attributes[0].Value))
	}
	return strings.Join(parts, ","), nil
}

// Close stops the health prober and closes every connection. Calls after
// Close fail with directory.ErrUnavailable.
func (d *Directory) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	d.stop()
	d.wg.Wait()
	for _, c := range d.dcs {
		c.svc.drain(true)
		c.usr.drain(true)
	}
	return nil
}

// Check reports whether at least one DC answers a RootDSE read on a
// service-account connection. It tries every DC, healthy ones first.
func (d *Directory) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if d.closed.Load() {
		return fmt.Errorf("%w: directory closed", directory.ErrUnavailable)
	}
	var errs []error
	tried := map[*dc]bool{}
	order := append(d.candidates(), d.dcs...)
	for _, c := range order {
		if tried[c] || ctx.Err() != nil {
			continue
		}
		tried[c] = true
		err := d.attempt(ctx, c, runOpts{kind: servicePool, name: "check"}, func(ctx context.Context, conn ldapConn, _ *dc) error {
			_, err := conn.Search(ctx, rootDSERequest())
			return err
		})
		if err == nil {
			return nil
		}
		if isTransport(err) && !errors.Is(err, errPoolWait) {
			d.markDown(c, err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.t.name, err))
	}
	if len(errs) == 0 {
		errs = append(errs, ctx.Err())
	}
	return fmt.Errorf("%w: no domain controller answers: %w", directory.ErrUnavailable, errors.Join(errs...))
}

func rootDSERequest(attrs ...string) *ldap.SearchRequest {
	if len(attrs) == 0 {
		attrs = []string{"defaultNamingContext"}
	}
	return ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", attrs, nil)
}

// callContext bounds one public call, retry included.
func (d *Directory) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.timeout)
}

// observe records one LDAP operation (or dial) in the metrics.
func (d *Directory) observe(c *dc, op string, err error, took time.Duration) {
	if d.metrics == nil {
		return
	}
	d.metrics.DirectoryOps.WithLabelValues(c.t.name, op, resultLabel(err)).Observe(took.Seconds())
}

func resultLabel(err error) string {
	var le *ldap.Error
	switch {
	case err == nil:
		return "ok"
	case isTransport(err):
		return "transport_error"
	case errors.As(err, &le) && le.ResultCode == ldap.LDAPResultInvalidCredentials:
		return "invalid_credentials"
	case errors.As(err, &le) && le.ResultCode == ldap.LDAPResultConstraintViolation:
		return "constraint_violation"
	case errors.As(err, &le):
		return "ldap_error"
	default:
		return "error"
	}
}

func (d *Directory) reportPoolSize(c *dc) {
	if d.metrics == nil {
		return
	}
	d.metrics.DCPoolSize.WithLabelValues(c.t.name).Set(float64(c.svc.size() + c.usr.size()))
}

// countingConn counts the LDAP requests a connection sends.
type countingConn struct {
	ldapConn
	d *Directory
}

func (c *countingConn) Bind(ctx context.Context, dn, password string) error {
	c.d.ops.Add(1)
	return c.ldapConn.Bind(ctx, dn, password)
}

func (c *countingConn) Search(ctx context.Context, req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	c.d.ops.Add(1)
	return c.ldapConn.Search(ctx, req)
}

func (c *countingConn) Modify(ctx context.Context, req *ldap.ModifyRequest) error {
	c.d.ops.Add(1)
	return c.ldapConn.Modify(ctx, req)
}

// count adds LDAP requests sent outside a countingConn (StartTLS).
func (d *Directory) count(n int64) { d.ops.Add(n) }
