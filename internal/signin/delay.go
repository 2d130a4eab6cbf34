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
//
// Self-service recovery uses one too, for the email code an unknown
// account is never sent (newSendDelayer).
type delayer struct {
	mu  sync.Mutex
	avg time.Duration
	// floor and ceiling bound a padded failure; jitter is added at random.
	floor, ceiling, jitter time.Duration
}

const (
	minFailureDelay = 150 * time.Millisecond
	maxFailureDelay = 3 * time.Second
)

func newDelayer() *delayer {
	return &delayer{avg: 250 * time.Millisecond, floor: minFailureDelay, ceiling: maxFailureDelay, jitter: 50 * time.Millisecond}
}

// newSendDelayer pads the email step of an account that gets no code to
// about as long as a real send. It has no floor: a fast mail server makes
// a fast real send, and the padded one must not be the slower.
func newSendDelayer() *delayer {
	return &delayer{avg: 200 * time.Millisecond, ceiling: 5 * time.Second, jitter: 20 * time.Millisecond}
}

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
	target := max(d.avg, d.floor)
	d.mu.Unlock()
	if d.jitter > 0 {
		target += time.Duration(rand.Int64N(int64(d.jitter))) // #nosec G404 -- jitter, not a secret.
	}
	target = min(target, d.ceiling) // the zero delayer pads nothing
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
