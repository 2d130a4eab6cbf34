package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestLimitConcurrencyQueuesBeyondItsLimitAndLetsHealthChecksThrough(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan string, 10)
	h := LimitConcurrency(2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- r.URL.Path
		if r.URL.Path == "/slow" {
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}))
	var wg sync.WaitGroup
	for range 2 { // fill both slots
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/slow", nil)) })
	}
	<-entered
	<-entered
	// A third request waits; one whose client gives up gets 503 and never
	// reaches the handler.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/page", nil).WithContext(ctx))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("a request beyond the limit whose context ended: %d, want 503", rec.Code)
	}
	// Health checks and metrics never wait.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusOK || <-entered != p {
			t.Errorf("%s waited or failed: %d", p, rec.Code)
		}
	}
	// A waiting request goes on as soon as a slot frees.
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/page", nil))
		done <- rec.Code
	}()
	select {
	case p := <-entered:
		t.Fatalf("%s ran with both slots taken", p)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Errorf("the queued request: %d", code)
	}
	wg.Wait()
}
