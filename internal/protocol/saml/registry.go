package saml

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/config"
)

// MetadataRetry is how soon a metadata_url that could not be fetched (or
// whose document was refused) is tried again, unless metadata_refresh is
// shorter.
const MetadataRetry = time.Minute

// Options are what FromConfig needs besides the configuration.
type Options struct {
	// HTTPClient fetches metadata_url documents. Nil: NewMetadataClient().
	// Its CheckRedirect is replaced (redirects only to URLs a metadata_url
	// may name) and a missing Timeout set.
	HTTPClient *http.Client
	// Logger; nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock (validUntil, certificate validity); nil: time.Now.
	Now func() time.Time
	// After waits between refreshes in Run; nil: time.After.
	After func(time.Duration) <-chan time.Time
	// ReadFile reads metadata and certificate files; nil: ReadFileCapped.
	ReadFile func(path string) ([]byte, error)
}

// Registry holds the configured SAML service providers: every app of type
// saml and the entra app with protocol: saml. It is safe for concurrent
// use: Run replaces an SP whose metadata_url changed while requests read
// the registry. A *ServiceProvider it returns is never changed afterwards
// (a refresh makes a new one) and must not be changed by the caller.
type Registry struct {
	o       Options
	issuer  string
	entries []*spEntry // configuration order; the slice never changes

	mu       sync.RWMutex
	byEntity map[string]*spEntry
}

// spEntry is one configured SP. Its sp, until and err change on refresh,
// under Registry.mu.
type spEntry struct {
	app     config.App // with defaults applied
	where   string     // `app "Wiki" (apps[2])`, for errors
	trusted []*x509.Certificate

	sp *ServiceProvider // nil: a metadata_url not fetched yet
	// until is the metadata's validUntil (zero: none); after it the SP is
	// not served until a refresh brings newer metadata.
	until time.Time
	// err is why the last fetch of metadata_url failed (nil: it worked).
	err error
}

// FromConfig builds the registry from apps: each app of type saml (from
// metadata_file, metadata_url or inline settings) and each entra app with
// protocol: saml. issuer is Gatehouse's own entity ID, which no SP may
// claim. Every problem is reported, each naming its app.
//
// A metadata_url is fetched now; when that fails the app is not served
// (and the failure logged) until Run fetches it, so that one SP's web
// server being down does not keep Gatehouse, and every other app, from
// starting. Unavailable lists such apps (`gatehouse config check` reports
// them as errors).
func FromConfig(ctx context.Context, issuer string, apps []config.App, o Options) (*Registry, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.ReadFile == nil {
		o.ReadFile = ReadFileCapped
	}
	o.HTTPClient = metadataClient(o.HTTPClient)
	r := &Registry{o: o, issuer: strings.TrimRight(issuer, "/"), byEntity: map[string]*spEntry{}}
	var errs []error
	for i, a := range apps {
		a = a.WithDefaults()
		if a.Type != "saml" && (a.Type != "entra" || a.Protocol != "saml") {
			continue
		}
		e := &spEntry{app: a, where: fmt.Sprintf("app %q (apps[%d])", a.Name, i)}
		if a.MetadataCertFile != "" {
			certs, err := readCertFile(o.ReadFile, "metadata_cert_file", a.MetadataCertFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", e.where, err))
				continue
			}
			e.trusted = certs
		}
		if err := r.load(ctx, e); err != nil {
			if a.MetadataURL == "" {
				errs = append(errs, problems(e.where, err)...)
				continue
			}
			e.err = err
			o.Logger.ErrorContext(ctx, "SAML service provider's metadata_url unusable; the app is not served until it is", "rp", a.Name,
				"url", a.MetadataURL, "err", err, "retry_in", min(a.MetadataRefresh, MetadataRetry))
		}
		if e.sp != nil {
			if err := r.indexLocked(e, e.sp.EntityID); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", e.where, err))
				continue
			}
		}
		r.entries = append(r.entries, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// load builds e's SP from its app: reads its certificate files, reads or
// fetches its metadata (checked with e.trusted), applies its settings. It sets e.sp and e.until
// only when all of that worked.
func (r *Registry) load(ctx context.Context, e *spEntry) error {
	a := e.app
	if a.Type == "entra" {
		sp, err := entraSP(a, r.o.ReadFile)
		if err == nil {
			err = checkSP(sp)
		}
		if err != nil {
			return err
		}
		e.sp = sp
		return nil
	}
	if a.MetadataFile == "" && a.MetadataURL == "" {
		sp, err := inlineSP(a, r.o.ReadFile)
		if err != nil {
			return err
		}
		if err := applyApp(sp, a); err != nil {
			return err
		}
		e.sp = sp
		return nil
	}
	var data []byte
	var err error
	source := "metadata_file " + a.MetadataFile
	if a.MetadataURL != "" {
		source = "metadata_url " + a.MetadataURL
		data, err = fetchMetadata(ctx, r.o.HTTPClient, a.MetadataURL)
	} else {
		data, err = r.o.ReadFile(a.MetadataFile)
	}
	if err != nil {
		return errors.Join(problems(source, withoutPath(err))...)
	}
	// Once known, an SP's entity ID stays what it was at the start: a
	// refresh that names another is refused.
	want := a.EntityID
	if want == "" && e.sp != nil {
		want = e.sp.EntityID
	}
	sp, until, err := parseSPMetadata(data, want, MetadataOptions{TrustedCerts: e.trusted, Now: r.o.Now})
	if err != nil {
		return errors.Join(problems(source, err)...)
	}
	if err := applyApp(sp, a); err != nil {
		return errors.Join(problems(source, err)...)
	}
	e.sp, e.until = sp, until
	return nil
}

// indexLocked makes e findable by the entity ID id, refusing one that
// another SP, or Gatehouse itself, already has. The caller holds r.mu
// (or is FromConfig, before anyone else sees r).
func (r *Registry) indexLocked(e *spEntry, id string) error {
	if id == r.issuer || id == r.issuer+"/" || id == r.issuer+PathMetadata {
		return fmt.Errorf("entity ID %q is Gatehouse's own", id)
	}
	if other, dup := r.byEntity[id]; dup && other != e {
		return fmt.Errorf("entity ID %q is also %s's", id, other.where)
	}
	r.byEntity[id] = e
	return nil
}

// serving returns e's SP when it may be used now. The caller holds r.mu.
func (r *Registry) serving(e *spEntry) (*ServiceProvider, bool) {
	if e == nil || e.sp == nil || (!e.until.IsZero() && !r.o.Now().Before(e.until)) {
		return nil, false
	}
	return e.sp, true
}

// ByEntityID returns the SP whose entity ID is exactly id, unless its
// metadata has expired or was never fetched.
func (r *Registry) ByEntityID(id string) (*ServiceProvider, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.serving(r.byEntity[id])
}

// ByName returns the SP of the app named name, unless its metadata has
// expired or was never fetched.
func (r *Registry) ByName(name string) (*ServiceProvider, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, e := range r.entries {
		if e.app.Name == name {
			return r.serving(e)
		}
	}
	return nil, false
}

// All returns every SP being served, in configuration order.
func (r *Registry) All() []*ServiceProvider {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*ServiceProvider
	for _, e := range r.entries {
		if sp, ok := r.serving(e); ok {
			out = append(out, sp)
		}
	}
	return out
}

// Unavailable returns, for each app that is configured but not served,
// why: a metadata_url that has never been fetched successfully, or
// metadata whose validUntil has passed.
func (r *Registry) Unavailable() []error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var errs []error
	for _, e := range r.entries {
		switch {
		case e.sp == nil:
			errs = append(errs, problems(e.where, e.err)...)
		case !e.until.IsZero() && !r.o.Now().Before(e.until):
			errs = append(errs, fmt.Errorf("%s: %w", e.where, mdErr(ErrMetadataExpired, "the metadata expired at %s (its validUntil)", e.until.UTC().Format(time.RFC3339))))
		}
	}
	return errs
}

// Run fetches every metadata_url again every metadata_refresh (after a
// failure: MetadataRetry, or metadata_refresh when shorter) until ctx
// ends. A fetch that fails, or brings metadata that is refused, keeps the
// last good copy and is logged.
func (r *Registry) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, e := range r.entries {
		if e.app.MetadataURL == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				r.mu.RLock()
				wait := e.app.MetadataRefresh
				if e.err != nil {
					wait = min(wait, MetadataRetry)
				}
				r.mu.RUnlock()
				select {
				case <-ctx.Done():
					return
				case <-r.o.After(wait):
				}
				r.refresh(ctx, e)
			}
		}()
	}
	wg.Wait()
}

// refresh fetches e's metadata_url once and, when it is good, serves the
// new SP in place of the old.
func (r *Registry) refresh(ctx context.Context, e *spEntry) {
	r.mu.RLock()
	next := &spEntry{app: e.app, where: e.where, trusted: e.trusted, sp: e.sp}
	r.mu.RUnlock()
	err := r.load(ctx, next)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && e.sp == nil {
		err = r.indexLocked(e, next.sp.EntityID)
	}
	e.err = err
	switch {
	case err != nil && ctx.Err() != nil:
		// shutting down
	case err != nil && e.sp == nil:
		r.o.Logger.ErrorContext(ctx, "SAML service provider's metadata_url still unusable; the app is not served", "rp", e.app.Name,
			"url", e.app.MetadataURL, "err", err)
	case err != nil:
		r.o.Logger.WarnContext(ctx, "SAML service provider's metadata_url could not be refreshed; keeping the last good copy", "rp", e.app.Name,
			"url", e.app.MetadataURL, "err", err)
	default:
		if e.sp == nil {
			r.o.Logger.InfoContext(ctx, "SAML service provider's metadata fetched; the app is served", "rp", e.app.Name, "url", e.app.MetadataURL)
		}
		e.sp, e.until = next.sp, next.until
	}
}

// withoutPath drops the file name an *fs.PathError repeats: the message
// already names the file.
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// problems splits err, when it joins several (errors.Join, at any depth),
// into one error each, every one prefixed with prefix: `config check`
// prints one a line.
func problems(prefix string, err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, problems(prefix, e)...)
		}
		return out
	}
	return []error{fmt.Errorf("%s: %w", prefix, err)}
}

// NewMetadataClient returns the HTTP client that fetches metadata_url
// documents: 30 seconds for the whole exchange, at most 5 redirects and
// only to https URLs (http only towards a loopback host).
func NewMetadataClient() *http.Client { return metadataClient(nil) }

// metadataClient is a copy of c (nil: a new client) with the metadata
// rules: a timeout when c has none, and CheckRedirect.
func metadataClient(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	if out.Timeout == 0 {
		out.Timeout = 30 * time.Second
	}
	out.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		if err := config.CheckEndpointURL(req.URL.String()); err != nil {
			return fmt.Errorf("redirect to %s refused: %w", req.URL.Redacted(), err)
		}
		return nil
	}
	return &out
}

// fetchMetadata GETs a metadata document of at most MaxMetadataSize bytes.
func fetchMetadata(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	if resp.ContentLength > MaxMetadataSize {
		return nil, mdErr(ErrTooLarge, "%d bytes of metadata, more than %d", resp.ContentLength, MaxMetadataSize)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxMetadataSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxMetadataSize {
		return nil, mdErr(ErrTooLarge, "metadata larger than %d bytes", MaxMetadataSize)
	}
	return data, nil
}

// ReadFileCapped reads a file of at most MaxMetadataSize bytes.
func ReadFileCapped(path string) ([]byte, error) {
	f, err := os.Open(path) // #nosec G304 -- the operator names the file.
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxMetadataSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxMetadataSize {
		return nil, mdErr(ErrTooLarge, "the file is larger than %d bytes", MaxMetadataSize)
	}
	return data, nil
}
