package selfservice

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Step is one piece of the work that follows a directory write.
type Step struct {
	Name string
	Do   func(context.Context) error
}

// AfterWrite runs the work that must follow a directory write the
// directory has accepted — ending the user's sessions and remembered
// browsers, the audit, the notice — whatever the store or the mail server
// does meanwhile: the user's password did change, so none of it may be
// left half done.
//
// Each step is tried until it succeeds: first while the request waits
// (after each of Waits), then in the background, the pause doubling from
// Backoff up to MaxBackoff, for GiveUp at most. The attempts are detached
// from the request: a closed connection does not stop them. When steps are
// left for the background, an error is logged with the user's ID and the
// steps' names, and again if they are given up or the process shuts down
// before they succeed: the log is then the record an administrator acts on.
// Background retries do not survive a restart.
type AfterWrite struct {
	Log *slog.Logger
	// Waits are the pauses between attempts while the request waits.
	Waits []time.Duration
	// Backoff is the first pause in the background; it doubles up to
	// MaxBackoff. GiveUp bounds the background retries.
	Backoff, MaxBackoff, GiveUp time.Duration
	// AttemptTimeout bounds one attempt of one step.
	AttemptTimeout time.Duration

	mu     sync.Mutex
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// NewAfterWrite returns an AfterWrite with the default schedule: three
// retries within about 1.3 seconds while the request waits, then every 5
// seconds doubling to every 5 minutes, for a day.
func NewAfterWrite(log *slog.Logger) *AfterWrite {
	return &AfterWrite{Log: log, Waits: []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond},
		Backoff: 5 * time.Second, MaxBackoff: 5 * time.Minute, GiveUp: 24 * time.Hour, AttemptTimeout: 10 * time.Second,
		stop: make(chan struct{})}
}

// Run does steps for the user userID after the directory write what
// ("password reset", "unlock"). It returns once every step succeeded or
// the rest moved to the background.
func (a *AfterWrite) Run(ctx context.Context, what, userID string, steps ...Step) {
	ctx = context.WithoutCancel(ctx) // keeps the request id and client address
	left, err := a.attempt(ctx, steps)
	for _, wait := range a.Waits {
		if len(left) == 0 {
			return
		}
		time.Sleep(wait)
		left, err = a.attempt(ctx, left)
	}
	if len(left) == 0 {
		return
	}
	a.mu.Lock()
	closed := a.closed
	if !closed {
		a.wg.Add(1)
	}
	a.mu.Unlock()
	if closed {
		a.Log.ErrorContext(ctx, "work after a directory write was not done: shutting down", "event", what, "user_id", userID, "pending", names(left), "err", err)
		return
	}
	a.Log.ErrorContext(ctx, "work after a directory write failed; retrying in the background", "event", what, "user_id", userID, "pending", names(left), "err", err)
	go a.background(ctx, what, userID, left)
}

func (a *AfterWrite) background(ctx context.Context, what, userID string, left []Step) {
	defer a.wg.Done()
	wait, giveUp := a.Backoff, time.Now().Add(a.GiveUp)
	for {
		t := time.NewTimer(wait)
		select {
		case <-a.stop:
			t.Stop()
			a.Log.ErrorContext(ctx, "work after a directory write was not done: shutting down", "event", what, "user_id", userID, "pending", names(left))
			return
		case <-t.C:
		}
		var err error
		if left, err = a.attempt(ctx, left); len(left) == 0 {
			a.Log.InfoContext(ctx, "work after a directory write done in the background", "event", what, "user_id", userID)
			return
		}
		if time.Now().After(giveUp) {
			a.Log.ErrorContext(ctx, "work after a directory write given up", "event", what, "user_id", userID, "pending", names(left), "err", err)
			return
		}
		a.Log.WarnContext(ctx, "work after a directory write still failing", "event", what, "user_id", userID, "pending", names(left), "err", err)
		wait = min(wait*2, a.MaxBackoff)
	}
}

// attempt tries each step once, in order, and returns those that failed
// and the last error.
func (a *AfterWrite) attempt(ctx context.Context, steps []Step) ([]Step, error) {
	var left []Step
	var last error
	for _, s := range steps {
		sctx, cancel := context.WithTimeout(ctx, a.AttemptTimeout)
		err := s.Do(sctx)
		cancel()
		if err != nil {
			left, last = append(left, s), err
		}
	}
	return left, last
}

// Wait blocks until the background retries have ended.
func (a *AfterWrite) Wait() { a.wg.Wait() }

// Close stops the background retries (logging what is left) and waits
// for them. Call it before the store closes.
func (a *AfterWrite) Close() error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.stop)
	}
	a.mu.Unlock()
	a.wg.Wait()
	return nil
}

func names(steps []Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Name
	}
	return out
}
