package reconcile

import (
	"context"
	"sync"
	"time"
)

// FakeClock is a clock for tests: SleepUntil moves it forward at once and
// records the time slept until, so that schedules and rates are checked by
// counting, never by timing.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Time
}

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// SleepUntil records t and moves the clock to t if it is later; it returns
// ctx's error, unrecorded, when ctx has ended.
func (c *FakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, t)
	if t.After(c.now) {
		c.now = t
	}
	return nil
}

// Sleeps returns the times slept until, in call order.
func (c *FakeClock) Sleeps() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.sleeps...)
}

// UseClock makes r (its schedule and its rate limiter) read c.
func UseClock(r *Reconciler, c *FakeClock) {
	r.clock = c
	r.limiter.clock = c
}

// Tick runs one tick of r now.
func Tick(ctx context.Context, r *Reconciler) TickStats { return r.tick(ctx, r.clock.Now()) }
