package signin

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// delayer makes a failed password check take about as long as a
// successful one, so response time does not tell whether a user exists
// (an unknown user fails at the directory search, before any bind). It
// keeps a moving average of successful checks, as authelia does.
type delayer struct {
	mu  sync.Mutex
	avg time.Duration
}

const (
	minFailureDelay = 150 * time.Millisecond
	maxFailureDelay = 3 * time.Second
)

func newDelayer() *delayer { return &delayer{avg: 250 * time.Millisecond} }

// success records how long a successful check took.
func (d *delayer) success(took time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.avg = (d.avg*9 + took) / 10
}

// pad sleeps until a failure that started at start has taken about as long
// as an average success, plus jitter.
func (d *delayer) pad(ctx context.Context, start time.Time) {
	d.mu.Lock()
	target := max(d.avg, minFailureDelay)
	d.mu.Unlock()
	target += time.Duration(rand.Int64N(int64(50 * time.Millisecond))) // #nosec G404 -- jitter, not a secret.
	target = min(target, maxFailureDelay)
	wait := target - time.Since(start)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
