package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/observe"
)

// timingEntry is one metric of a Server-Timing header.
type timingEntry struct {
	name string
	ms   float64
}

var timingEntryRe = regexp.MustCompile(`^([a-z]+);dur=([0-9]+\.[0-9]{2})$`)

// parseServerTiming parses the header as the load generator does, failing
// on anything but "name;dur=1.23" entries separated by ", ".
func parseServerTiming(t *testing.T, h string) []timingEntry {
	t.Helper()
	var out []timingEntry
	for e := range strings.SplitSeq(h, ", ") {
		m := timingEntryRe.FindStringSubmatch(e)
		if m == nil {
			t.Fatalf("Server-Timing entry %q of %q is not name;dur=ms.cc", e, h)
		}
		ms, err := strconv.ParseFloat(m[2], 64)
		if err != nil || ms < 0 {
			t.Fatalf("Server-Timing entry %q: duration %v, %v", e, ms, err)
		}
		out = append(out, timingEntry{m[1], ms})
	}
	return out
}

func timingNames(es []timingEntry) string {
	var names []string
	for _, e := range es {
		names = append(names, e.name)
	}
	return strings.Join(names, ",")
}

func instrumented(serverTiming bool, h http.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	return Instrument(observe.NewMetrics("test", "test"), slog.New(slog.DiscardHandler), mux,
		InstrumentOptions{ServerTiming: serverTiming})
}

func TestServerTimingReportsThePhasesAndTotal(t *testing.T) {
	record := func(r *http.Request) {
		ctx := r.Context()
		observe.Start(ctx, observe.PhaseSigning)()
		observe.TimingsFrom(ctx).Add(observe.PhaseStore, 450*time.Microsecond)
		observe.TimingsFrom(ctx).Add(observe.PhaseDirectory, 1234*time.Microsecond)
		observe.TimingsFrom(ctx).Add(observe.PhaseStore, 10*time.Microsecond)
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		status  int
	}{
		{"a body written without WriteHeader carries it", func(w http.ResponseWriter, r *http.Request) {
			record(r)
			_, _ = w.Write([]byte("ok"))
		}, http.StatusOK},
		{"an explicit status carries it", func(w http.ResponseWriter, r *http.Request) {
			record(r)
			http.Redirect(w, r, "/next", http.StatusSeeOther)
		}, http.StatusSeeOther},
		{"a flush before any write carries it", func(w http.ResponseWriter, r *http.Request) {
			record(r)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush through the wrapper: %v", err)
			}
			_, _ = w.Write([]byte("ok"))
		}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			instrumented(true, tc.handler).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.name == "a flush before any write carries it" && !rec.Flushed {
				t.Error("the flush did not reach the underlying writer")
			}
			hs := rec.Result().Header.Values("Server-Timing")
			if len(hs) != 1 {
				t.Fatalf("want one Server-Timing header, got %q", hs)
			}
			es := parseServerTiming(t, hs[0])
			if got := timingNames(es); got != "directory,store,signing,total" {
				t.Fatalf("phases %s in %q", got, hs[0])
			}
			if es[0].ms != 1.23 || es[1].ms != 0.46 {
				t.Errorf("directory and store: %q, want 1.23 and 0.46 (0.450+0.010, summed)", hs[0])
			}
		})
	}
}

func TestServerTimingLeavesOutPhasesThatDidNotHappen(t *testing.T) {
	rec := httptest.NewRecorder()
	instrumented(true, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if got := timingNames(parseServerTiming(t, rec.Header().Get("Server-Timing"))); got != "total" {
		t.Errorf("phases %s, want only total", got)
	}
}

func TestWithoutServerTimingNothingIsTimed(t *testing.T) {
	rec := httptest.NewRecorder()
	instrumented(false, func(w http.ResponseWriter, r *http.Request) {
		if observe.TimingsFrom(r.Context()) != nil {
			t.Error("the handler got a timings accumulator with Server-Timing off")
		}
		_, _ = w.Write([]byte("ok"))
	}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if h := rec.Header().Values("Server-Timing"); h != nil {
		t.Errorf("Server-Timing %q with the option off", h)
	}
}

func TestServerTimingFormatsMillisecondsWithTwoDecimals(t *testing.T) {
	got := serverTiming([]observe.PhaseTime{
		{Phase: observe.PhaseDirectory, Duration: 1234567 * time.Nanosecond},
		{Phase: observe.PhaseStore, Duration: 450 * time.Microsecond},
		{Phase: observe.PhaseSigning, Duration: 800 * time.Microsecond},
	}, 3100*time.Microsecond)
	if want := "directory;dur=1.23, store;dur=0.45, signing;dur=0.80, total;dur=3.10"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
