package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// ChromiumPath is Debian's chromium, installed by scripts/testenv/install.sh.
const ChromiumPath = "/usr/bin/chromium"

// DefaultTimeout bounds each Run and Do: a guard against a hung browser,
// not a performance requirement.
const DefaultTimeout = 60 * time.Second

// cspReporter runs in every document before the page's own scripts (the
// DevTools protocol injects it, so the page's CSP does not apply to it)
// and turns each CSP violation into a console error the harness records.
const cspReporter = `document.addEventListener('securitypolicyviolation', function (e) {
  console.error('CSP violation: ' + e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') +
    ' in ' + e.sourceFile + ':' + e.lineNumber);
}, true);`

// Browser is one headless Chromium with one tab, for one test.
type Browser struct {
	// Timeout bounds each Run and Do; DefaultTimeout unless changed.
	Timeout time.Duration

	t   testing.TB
	ctx context.Context // the tab

	mu       sync.Mutex
	problems []string
	changed  chan struct{} // closed and replaced when problems change
	closed   bool
	output   bytes.Buffer // Chromium's stdout and stderr, capped
	paused   chan *fetch.EventRequestPaused
}

// Intercepted is a request Intercept caught.
type Intercepted struct {
	URL, Method string
	Body        []byte
}

// Intercept catches every request whose URL matches pattern (a CDP
// URLPattern such as "https://login.microsoftonline.com/*"), answers it
// locally with 200 and a short page, and sends it on the channel. The
// request never leaves the machine. Call it once per browser. Readers
// should skip what they do not expect (the stub page may cause GETs).
func (b *Browser) Intercept(pattern string) <-chan Intercepted {
	b.t.Helper()
	out := make(chan Intercepted, 8)
	b.mu.Lock()
	b.paused = make(chan *fetch.EventRequestPaused, 8)
	paused := b.paused
	b.mu.Unlock()
	if _, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}}); err != nil {
		b.t.Fatalf("browser: fetch.Enable: %v", err)
	}
	go func() {
		for ev := range paused {
			var body []byte
			for _, e := range ev.Request.PostDataEntries {
				body = append(body, e.Bytes...)
			}
			_, _ = chromedp.Call(b.ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html"}},
				Body:            []byte(`<!doctype html><link rel="icon" href="data:,"><title>intercepted</title><p id=intercepted>intercepted</p>`)})
			select {
			case out <- Intercepted{URL: ev.Request.URL, Method: ev.Request.Method, Body: body}:
			default:
			}
		}
	}()
	return out
}

// NewBrowser starts Chromium for t with a fresh profile in t.TempDir() and
// stops it when t ends. When Chromium is not installed the test is
// skipped locally and fails under CI (internal/testenv).
//
// At the end of t, any problem recorded (see Problems) fails the test,
// and a failed test gets a screenshot and the page's HTML in
// t.ArtifactDir(), whose path is logged (`go test -artifacts
// -outputdir=DIR` keeps them).
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	if st, err := os.Stat(ChromiumPath); err != nil || st.IsDir() {
		testenv.Unavailable(t, "chromium not installed at "+ChromiumPath+" (run scripts/testenv/install.sh)")
	}
	b := &Browser{Timeout: DefaultTimeout, t: t, changed: make(chan struct{})}
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // tests run as root in CI
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		// Nothing but loopback: no name resolves except localhost, and
		// every request that is not to loopback (which Chromium never
		// proxies) goes to a proxy that is not there.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]"),
		chromedp.Flag("proxy-server", "http://127.0.0.1:9"),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(outputWriter{b}),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx,
		chromedp.WithListener(b.observe),
		chromedp.WithErrorf(b.logf),
		chromedp.WithLogf(b.logf),
	)
	b.ctx = ctx
	// Cleanups run last-in first-out: first report problems and capture a
	// failure, then close the tab and wait for Chromium to exit, then (as
	// registered earlier) remove the profile.
	t.Cleanup(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		cancelTab()
		cancelAlloc()
	})
	t.Cleanup(b.finish)

	start, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	// The first Do starts the browser; its context must be the tab's own,
	// without a deadline, or the deadline would end the browser.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, b.chromiumOutput())
	}
	if _, err := chromedp.Call(start, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cspReporter}); err != nil {
		t.Fatalf("install the CSP reporter: %v", err)
	}
	return b
}

// Context is the tab's chromedp context, for actions the helpers lack.
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs actions in the tab and fails the test on an error.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// Run runs one action in the tab and returns its value; it fails the test
// on an error.
func Run[T any](b *Browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

// Text returns the visible text of the first element matching the CSS
// selector, waiting for it to be visible.
func (b *Browser) Text(css string) string {
	b.t.Helper()
	b.Do(chromedp.WaitVisible(chromedp.CSS(css)))
	return Run(b, chromedp.Text(chromedp.CSS(css)))
}

// Attr returns an attribute of the first element matching the CSS
// selector ("" when it is absent), waiting for the element to exist.
func (b *Browser) Attr(css, name string) string {
	b.t.Helper()
	return Run(b, chromedp.AttributeValue(chromedp.CSS(css), name)).Value
}

// Problems returns what went wrong in the page so far: console errors and
// failed assertions, uncaught exceptions and rejections, browser-log
// errors (failed loads, CSP violations, security errors).
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// ExpectProblem waits until a recorded problem contains substr and removes
// it, for a test that provokes one on purpose. It fails the test when
// none arrives within Timeout.
func (b *Browser) ExpectProblem(substr string) string {
	b.t.Helper()
	deadline := time.NewTimer(b.Timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		for i, p := range b.problems {
			if strings.Contains(p, substr) {
				b.problems = append(b.problems[:i], b.problems[i+1:]...)
				b.mu.Unlock()
				return p
			}
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			b.t.Fatalf("no problem containing %q was recorded; have %q", substr, b.Problems())
			return ""
		}
	}
}

// CheckProblems fails the test now if any problem was recorded, and
// forgets them. A test may call it after each page; NewBrowser's cleanup
// calls it at the end.
func (b *Browser) CheckProblems() {
	b.t.Helper()
	b.mu.Lock()
	ps := b.problems
	b.problems = nil
	b.mu.Unlock()
	if len(ps) > 0 {
		b.t.Errorf("the browser reported %d problem(s):\n  %s", len(ps), strings.Join(ps, "\n  "))
	}
}

// Screenshot saves a full-page PNG as name.png, and the page's HTML as
// name.html, in t.ArtifactDir(), and logs the paths.
func (b *Browser) Screenshot(name string) {
	b.t.Helper()
	dir := b.t.ArtifactDir()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		p := filepath.Join(dir, name+".png")
		if err := os.WriteFile(p, png, 0o600); err == nil {
			b.t.Logf("screenshot: %s", p)
		}
	} else {
		b.t.Logf("screenshot failed: %v", err)
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
		p := filepath.Join(dir, name+".html")
		if err := os.WriteFile(p, []byte(html), 0o600); err == nil {
			b.t.Logf("page HTML: %s", p)
		}
	}
}

func (b *Browser) finish() {
	b.CheckProblems()
	if b.t.Failed() {
		b.Screenshot("failure")
		if out := b.chromiumOutput(); out != "" {
			b.t.Logf("chromium output:\n%s", out)
		}
	}
}

// AuthenticatorOptions returns what AddVirtualAuthenticator uses when
// given nil: a CTAP2 platform authenticator ("internal") with resident
// keys and user verification, which verifies the user and confirms
// presence without being asked — a passkey on a laptop.
func AuthenticatorOptions() *webauthn.VirtualAuthenticatorOptions {
	return &webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Transport:                   webauthn.AuthenticatorTransportInternal,
		HasResidentKey:              true,
		HasUserVerification:         true,
		IsUserVerified:              true,
		AutomaticPresenceSimulation: true,
	}
}

// AddVirtualAuthenticator enables the WebAuthn domain (with the browser's
// own WebAuthn dialogs off) and adds a virtual authenticator; nil options
// mean AuthenticatorOptions().
func (b *Browser) AddVirtualAuthenticator(o *webauthn.VirtualAuthenticatorOptions) webauthn.AuthenticatorID {
	b.t.Helper()
	if o == nil {
		o = AuthenticatorOptions()
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: new(false)}); err != nil {
		b.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: o})
	if err != nil {
		b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// VirtualCredentials lists the credentials the virtual authenticator holds.
func (b *Browser) VirtualCredentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		b.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// SetUserVerified decides whether the virtual authenticator's user
// verification (PIN or biometric) succeeds from now on.
func (b *Browser) SetUserVerified(id webauthn.AuthenticatorID, ok bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: id, IsUserVerified: ok}); err != nil {
		b.t.Fatalf("WebAuthn.setUserVerified: %v", err)
	}
}

// observe runs on chromedp's reading goroutine for every event of the
// tab: it must be quick and must not call into chromedp.
func (b *Browser) observe(ev any) {
	if e, ok := ev.(*fetch.EventRequestPaused); ok {
		b.mu.Lock()
		ch := b.paused
		b.mu.Unlock()
		if ch != nil {
			select {
			case ch <- e:
			default:
			}
		}
		return
	}
	var p string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		p = "console." + string(ev.Type) + ": " + argsText(ev.Args) + stackPlace(ev.StackTrace)
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		p = "uncaught exception: " + d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			p += " " + d.Exception.Description
		}
		if d.URL != "" {
			p += fmt.Sprintf(" at %s:%d", d.URL, d.LineNumber+1)
		}
	case *log.EventEntryAdded:
		e := ev.Entry
		if e == nil || e.Level != log.EntryLevelError {
			return
		}
		p = "browser log (" + string(e.Source) + "): " + e.Text
		if e.URL != "" {
			p += " [" + e.URL + "]"
		}
	default:
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, p)
	close(b.changed)
	b.changed = make(chan struct{})
}

func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a == nil:
		case len(a.Value) > 0:
			parts = append(parts, strings.Trim(string(a.Value), `"`))
		case a.Description != "":
			parts = append(parts, a.Description)
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

func stackPlace(st *runtime.StackTrace) string {
	if st == nil || len(st.CallFrames) == 0 {
		return ""
	}
	f := st.CallFrames[0]
	return fmt.Sprintf(" (%s:%d)", f.URL, f.LineNumber+1)
}

// logf passes chromedp's own messages to the test log while the test
// runs (logging after a test ended panics).
func (b *Browser) logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.t.Logf("chromedp: "+format, args...)
	}
}

// maxOutput caps the Chromium output kept for a failure report.
const maxOutput = 64 << 10

type outputWriter struct{ b *Browser }

func (w outputWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	if room := maxOutput - w.b.output.Len(); room > 0 {
		w.b.output.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// chromiumOutput is what Chromium printed, less its complaints about the
// missing D-Bus, which every run in a container has.
func (b *Browser) chromiumOutput() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var keep []string
	for _, l := range strings.Split(b.output.String(), "\n") {
		if strings.TrimSpace(l) != "" && !strings.Contains(l, "dbus/") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
