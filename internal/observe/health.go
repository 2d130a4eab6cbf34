package observe

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Check is one readiness check: it returns nil when the dependency answers.
type Check func(ctx context.Context) error

// Health runs named readiness checks for /readyz.
type Health struct {
	mu      sync.RWMutex
	checks  map[string]Check
	timeout time.Duration
}

// NewHealth returns a Health whose checks each get timeout.
func NewHealth(timeout time.Duration) *Health {
	return &Health{checks: map[string]Check{}, timeout: timeout}
}

// Add registers a check under name ("store", "directory").
func (h *Health) Add(name string, c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = c
}

// Result is the outcome of one check.
type Result struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Run runs every check concurrently and reports each outcome, sorted by
// name, and whether all passed.
func (h *Health) Run(ctx context.Context) ([]Result, bool) {
	h.mu.RLock()
	names := make([]string, 0, len(h.checks))
	for n := range h.checks {
		names = append(names, n)
	}
	checks := h.checks
	h.mu.RUnlock()
	sort.Strings(names)

	results := make([]Result, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, h.timeout)
			defer cancel()
			r := Result{Name: n, OK: true}
			if err := checks[n](cctx); err != nil {
				r.OK, r.Error = false, err.Error()
			}
			results[i] = r
		})
	}
	wg.Wait()
	ok := true
	for _, r := range results {
		ok = ok && r.OK
	}
	return results, ok
}

// LiveHandler serves /healthz: the process is up.
func LiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// ReadyHandler serves /readyz: 200 when every check passes, 503 otherwise,
// with each check's outcome as JSON.
func (h *Health) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results, ok := h.Run(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(struct {
			Ready  bool     `json:"ready"`
			Checks []Result `json:"checks"`
		}{ok, results})
	})
}

// StatusHandler serves /readyz without the detail: 200 or 503 and
// {"ready":…}, for a listener the public reaches while the detail (which
// DC or database fails, and why) is served elsewhere.
func (h *Health) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := h.Run(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(struct {
			Ready bool `json:"ready"`
		}{ok})
	})
}
