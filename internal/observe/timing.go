package observe

import (
	"context"
	"slices"
	"sync"
	"time"
)

// The phases of a request that Gatehouse times for the Server-Timing
// header. Each is the sum of the time spent in that phase, so work done
// concurrently can add up to more than the request took.
const (
	// PhaseDirectory is time in directory operations, pool waits and
	// retries included.
	PhaseDirectory = "directory"
	// PhaseStore is time in store operations.
	PhaseStore = "store"
	// PhaseSigning is time computing XML signatures.
	PhaseSigning = "signing"
)

// phaseOrder is the order Snapshot reports the known phases in; any other
// phase follows them in the order it was first added.
var phaseOrder = []string{PhaseDirectory, PhaseStore, PhaseSigning}

// PhaseTime is the time spent in one phase.
type PhaseTime struct {
	Phase    string
	Duration time.Duration
}

// Timings accumulates the time one request spends in each phase. It is
// safe for concurrent use, and a nil *Timings discards what it is given,
// so code measuring a phase never has to ask whether anyone listens.
type Timings struct {
	mu     sync.Mutex
	phases []PhaseTime // in the order first added
}

type timingsKey struct{}

// WithTimings returns ctx carrying a fresh accumulator, and the
// accumulator.
func WithTimings(ctx context.Context) (context.Context, *Timings) {
	t := new(Timings)
	return context.WithValue(ctx, timingsKey{}, t), t
}

// TimingsFrom returns the accumulator in ctx, or nil.
func TimingsFrom(ctx context.Context) *Timings {
	t, _ := ctx.Value(timingsKey{}).(*Timings)
	return t
}

// Add adds d to phase. phase must be an HTTP token (the Server-Timing
// metric name).
func (t *Timings) Add(phase string, d time.Duration) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.phases {
		if t.phases[i].Phase == phase {
			t.phases[i].Duration += d
			return
		}
	}
	t.phases = append(t.phases, PhaseTime{Phase: phase, Duration: d})
}

// Snapshot returns the phases added so far: the known ones first, in the
// order directory, store, signing, then any other in the order first
// added. A phase never added is absent.
func (t *Timings) Snapshot() []PhaseTime {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	out := slices.Clone(t.phases)
	t.mu.Unlock()
	rank := func(p PhaseTime) int {
		if i := slices.Index(phaseOrder, p.Phase); i >= 0 {
			return i
		}
		return len(phaseOrder)
	}
	slices.SortStableFunc(out, func(a, b PhaseTime) int { return rank(a) - rank(b) })
	return out
}

func noStop() {}

// Start begins timing phase for the request in ctx; the returned function
// adds the time since Start. Without an accumulator in ctx it reads no
// clock and returns a shared no-op.
//
//	defer observe.Start(ctx, observe.PhaseStore)()
func Start(ctx context.Context, phase string) (stop func()) {
	t := TimingsFrom(ctx)
	if t == nil {
		return noStop
	}
	start := time.Now()
	return func() { t.Add(phase, time.Since(start)) }
}
