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
// Self-service recovery uses two more (newSendDelayer, newIdentifyDelayer)
// that pad every answer of a step — a real account's and an unknown one's
// alike — to the same target, so neither path has a timing of its own.
type delayer struct {
	mu sync.Mutex
	// avg and dev are moving averages of a success's duration and of its
	// distance from avg.
	avg, dev time.Duration
	// spread is how many dev the target lies above avg: padding every
	// answer to well above the average keeps the slow real ones (which
	// cannot be shortened) from standing out.
	spread time.Duration
	// floor and ceiling bound a padded failure; jitter is added at random.
	floor, ceiling, jitter time.Duration
	// wait waits until start+target (plus jitter); nil sleeps. Tests set
	// it to see the target a path was padded to.
	wait func(ctx context.Context, start time.Time, target time.Duration)
}

const (
	minFailureDelay = 150 * time.Millisecond
	maxFailureDelay = 3 * time.Second
)

func newDelayer() *delayer {
	return &delayer{avg: 250 * time.Millisecond, floor: minFailureDelay, ceiling: maxFailureDelay, jitter: 50 * time.Millisecond}
}

// Bounds of the recovery steps' targets.
const (
	// minSendDelay is the least an email step takes, real send or decoy.
	minSendDelay = 150 * time.Millisecond
	// minIdentifyDelay is the least the identify step takes.
	minIdentifyDelay = 100 * time.Millisecond
)

// newSendDelayer pads the email step of every recovery — a real send and
// the decoy of an account that gets no code — to the same target: a
// moving average of real sends plus four deviations, at least
// minSendDelay.
func newSendDelayer(wait func(context.Context, time.Time, time.Duration)) *delayer {
	return &delayer{avg: 200 * time.Millisecond, dev: 50 * time.Millisecond, spread: 4, floor: minSendDelay,
		ceiling: 5 * time.Second, jitter: 20 * time.Millisecond, wait: wait}
}

// newIdentifyDelayer pads the identify step of every recovery to the same
// target, whether the directory found the account or not: a moving
// average of lookups that found one plus four deviations, at least
// minIdentifyDelay.
func newIdentifyDelayer(wait func(context.Context, time.Time, time.Duration)) *delayer {
	return &delayer{avg: 50 * time.Millisecond, dev: 20 * time.Millisecond, spread: 4, floor: minIdentifyDelay,
		ceiling: 3 * time.Second, jitter: 20 * time.Millisecond, wait: wait}
}

// success records how long a successful check took.
func (d *delayer) success(took time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	diff := took - d.avg
	if diff < 0 {
		diff = -diff
	}
	d.avg = (d.avg*9 + took) / 10
	d.dev = (d.dev*9 + diff) / 10
}

// target is how long a padded answer takes, before jitter.
func (d *delayer) target() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return min(max(d.avg+d.spread*d.dev, d.floor), d.ceiling) // the zero delayer pads nothing
}

// pad sleeps until an answer that started at start has taken the target,
// plus jitter.
func (d *delayer) pad(ctx context.Context, start time.Time) {
	target := d.target()
	if d.wait != nil {
		d.wait(ctx, start, target)
		return
	}
	if d.jitter > 0 {
		target += time.Duration(rand.Int64N(int64(d.jitter))) // #nosec G404 -- jitter, not a secret.
	}
	wait := min(target, d.ceiling) - time.Since(start)
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
