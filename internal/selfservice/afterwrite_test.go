package selfservice

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/testenv"
)

// flaky is a step that fails its first failures runs.
type flaky struct {
	mu             sync.Mutex
	failures, runs int
}

func (f *flaky) step(name string) Step {
	return Step{name, func(context.Context) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.runs++
		if f.runs <= f.failures {
			return errors.New("store unavailable")
		}
		return nil
	}}
}

func (f *flaky) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs
}

// quick is an AfterWrite on a schedule of milliseconds: two attempts
// while the request waits, then the background.
func quick(log *testenv.Buffer, giveUp time.Duration) *AfterWrite {
	a := NewAfterWrite(slog.New(slog.NewTextHandler(log, nil)))
	a.Waits = []time.Duration{time.Millisecond}
	a.Backoff, a.MaxBackoff, a.GiveUp = time.Millisecond, 2*time.Millisecond, giveUp
	return a
}

func TestWorkAfterADirectoryWriteIsRetriedUntilDone(t *testing.T) {
	for _, tc := range []struct {
		name            string
		failures        int
		wantInline      int // runs when Run returns
		wantBackground  bool
		wantRunsAtLeast int // runs in all
	}{
		{"a step that works runs once", 0, 1, false, 1},
		{"a step that fails once is done before Run returns", 1, 2, false, 2},
		{"a step that fails longer is done in the background", 5, 2, true, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log testenv.Buffer
			a := quick(&log, time.Hour)
			f, ok := &flaky{failures: tc.failures}, &flaky{}
			a.Run(context.Background(), "password reset", "u-1", f.step("end sessions"), ok.step("notice"))
			if got := f.count(); got != tc.wantInline {
				t.Errorf("%d runs while the request waited, want %d", got, tc.wantInline)
			}
			a.Wait()
			if got := f.count(); got < tc.wantRunsAtLeast {
				t.Errorf("%d runs in all, want %d", got, tc.wantRunsAtLeast)
			}
			if ok.count() != 1 {
				t.Errorf("a step that worked ran %d times", ok.count())
			}
			logged := strings.Contains(log.String(), "level=ERROR") && strings.Contains(log.String(), "user_id=u-1") &&
				strings.Contains(log.String(), "pending=\"[end sessions]\"")
			if logged != tc.wantBackground {
				t.Errorf("an error naming the user and the step logged: %v, want %v:\n%s", logged, tc.wantBackground, log.String())
			}
			if tc.wantBackground && !strings.Contains(log.String(), "done in the background") {
				t.Errorf("the background success is not logged:\n%s", log.String())
			}
		})
	}
}

func TestWorkAfterADirectoryWriteThatNeverSucceedsIsGivenUpAndLogged(t *testing.T) {
	var log testenv.Buffer
	a := quick(&log, 0)
	a.Run(context.Background(), "password reset", "u-2", (&flaky{failures: 1 << 30}).step("audit"))
	a.Wait()
	if !strings.Contains(log.String(), `level=ERROR msg="work after a directory write given up"`) || !strings.Contains(log.String(), "user_id=u-2") {
		t.Fatalf("giving up is not logged as an error naming the user:\n%s", log.String())
	}
}

func TestClosingStopsTheBackgroundRetriesAndLogsWhatIsLeft(t *testing.T) {
	var log testenv.Buffer
	a := quick(&log, time.Hour)
	a.Backoff = time.Hour // the background waits until Close
	a.Run(context.Background(), "unlock", "u-3", (&flaky{failures: 1 << 30}).step("notice"))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), `msg="work after a directory write was not done: shutting down"`) || !strings.Contains(log.String(), "user_id=u-3") {
		t.Fatalf("the work left at shutdown is not logged with the user:\n%s", log.String())
	}
	// After Close, new work that fails is logged, not left running.
	a.Run(context.Background(), "unlock", "u-4", (&flaky{failures: 1 << 30}).step("notice"))
	a.Wait()
	if !strings.Contains(log.String(), "user_id=u-4") {
		t.Fatalf("work failing after Close is not logged:\n%s", log.String())
	}
}
