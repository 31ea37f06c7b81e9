package reconcile

import (
	"context"
	"sync"
	"time"
)

// clock is the time source of a Reconciler: the wall clock in production, a
// fake one in tests (see export_test.go), so that schedules and rates are
// checked by counting, never by timing.
type clock interface {
	Now() time.Time
	// SleepUntil returns when t is reached (at once if it has passed) or
	// with ctx's error when ctx ends first.
	SleepUntil(ctx context.Context, t time.Time) error
}

// wallClock is the real clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// limiter is a token bucket that holds one token and gains one every
// `every`: queries start at least `every` apart, whatever the concurrency,
// so the rate is honoured over any window, however short. A caller reserves
// the next start time under the lock and then sleeps until it outside the
// lock; a reservation given up (its context ended) is not handed back, which
// only ever lowers the rate.
type limiter struct {
	clock clock
	every time.Duration

	mu   sync.Mutex
	next time.Time // the earliest start of the next query
}

// wait blocks until the caller may start one query, or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	start := l.clock.Now()
	if l.next.After(start) {
		start = l.next
	}
	l.next = start.Add(l.every)
	l.mu.Unlock()
	return l.clock.SleepUntil(ctx, start)
}
