package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-sso/gatehouse/internal/web"
)

// TestBrowserRecordsPageProblems proves the harness sees what it must
// fail a test for: a script the CSP blocks, a console error and an
// uncaught exception.
func TestBrowserRecordsPageProblems(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><title>t</title>
<script>document.title = 'inline ran';</script><script src="/bad.js"></script></head>
<body><p id="done">done</p></body></html>`))
	})
	mux.HandleFunc("GET /bad.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = w.Write([]byte(`console.error('harness-console-error'); throw new Error('harness-exception');`))
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewServer(web.SecurityHeaders(false)(mux))
	t.Cleanup(srv.Close)

	b := NewBrowser(t)
	b.Do(chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.ID("done")))
	if title := Run(b, chromedp.Title()); title == "inline ran" {
		t.Errorf("the inline script ran despite the CSP")
	}
	b.ExpectProblem("CSP violation: script-src")
	b.ExpectProblem("harness-console-error")
	b.ExpectProblem("harness-exception")
	// Chromium also logs its own line for the blocked script; it and
	// nothing else may be left.
	for _, p := range b.Problems() {
		if !strings.Contains(p, "Content Security Policy") {
			t.Errorf("unexpected problem: %s", p)
		}
	}
	b.mu.Lock()
	b.problems = nil
	b.mu.Unlock()
}

// TestBrowserReachesNothingButLoopback proves the network guard: a host
// name other than localhost goes nowhere (the proxy on 127.0.0.1:9 that
// does not exist, or a name that does not resolve).
func TestBrowserReachesNothingButLoopback(t *testing.T) {
	b := NewBrowser(t)
	err := chromedp.Do(b.Context(), chromedp.Navigate("http://gatehouse-e2e.invalid/"))
	blocked := err != nil &&
		(strings.Contains(err.Error(), "ERR_PROXY_CONNECTION_FAILED") || strings.Contains(err.Error(), "ERR_NAME_NOT_RESOLVED"))
	if !blocked {
		t.Fatalf("navigating off loopback: err = %v, want a proxy or name-resolution failure", err)
	}
	b.mu.Lock()
	b.problems = nil // the failed load is logged; it was provoked
	b.mu.Unlock()
}
