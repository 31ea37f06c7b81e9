package middleware

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
)

// ErrLeaseLost is the cause of the business handler's context cancellation
// (read it with context.Cause) when the delivery lost its claim: a renewal
// found another owner, or a full Options.Lease passed since the start of the
// last call that set the lease with no successful renewal (the store was
// unreachable), so another delivery may take the event over. A delivery that
// lost its lease answers "fail" and does not mark the event done, unless
// Complete still succeeds with its token (then nobody took over).
var ErrLeaseLost = errors.New("middleware: claim lease lost")

// errTimeout: a store call overran its bound and was abandoned.
var errTimeout = errors.New("store call overran its deadline")

// errUnknownState: Claim answered a state the middleware does not know
// (or Claimed without a token).
var errUnknownState = errors.New("store answered an unknown claim state")

// storeResult is what one store call returned.
type storeResult[T any] struct {
	v   T
	err error
}

// storeCall runs call with a deadline of timeout. A call that does not
// return by the deadline (or by the end of ctx) is abandoned: storeCall
// returns an error wrapping errTimeout (or ctx's error), the call's context is
// cancelled, and late (if set) gets the call's result when it finally
// returns, so a store that ignores its context cannot stall the answer.
// Hooks.StoreCall sees every call with its latency; errors are wrapped with
// op. Callers pass context.WithoutCancel of the request's context where the
// bookkeeping must finish even when the client has gone.
func storeCall[T any](m *Middleware, ctx context.Context, op string, timeout time.Duration, call func(context.Context) (T, error), late func(T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	ch := make(chan storeResult[T], 1)
	abandoned := make(chan struct{})
	go func() {
		v, err := call(cctx)
		ch <- storeResult[T]{v, err}
		if late != nil {
			select {
			case <-abandoned:
				late(v, err)
			default:
			}
		}
	}()
	var res storeResult[T]
	select {
	case res = <-ch:
	case <-cctx.Done():
		select {
		case res = <-ch: // it returned at the deadline
		default:
			close(abandoned)
			res.err = fmt.Errorf("%w (%v)", errTimeout, timeout)
			if ctx.Err() != nil {
				res.err = ctx.Err()
			}
		}
	}
	cancel()
	if res.err != nil {
		res.err = fmt.Errorf("dedupe %s: %w", op, res.err)
	}
	if h := m.opts.Hooks.StoreCall; h != nil {
		h(ctx, op, time.Since(start), res.err)
	}
	return res.v, res.err
}

// storeClaim is one bounded Claim. A claim state the middleware does not
// know is a store failure. A Claim abandoned at its deadline that took the
// claim after all is released, so that it does not block the event for a
// lease.
func (m *Middleware) storeClaim(ctx context.Context, ev dedupe.Event) (dedupe.Claim, error) {
	c, err := storeCall(m, context.WithoutCancel(ctx), "claim", m.opts.StoreTimeout, func(ctx context.Context) (dedupe.Claim, error) {
		return m.opts.Store.Claim(ctx, ev, m.opts.Lease)
	}, func(c dedupe.Claim, err error) {
		if err == nil && c.State == dedupe.Claimed && c.Token != "" {
			m.release(ctx, ev, c.Token)
		}
	})
	if err != nil {
		return dedupe.Claim{}, err
	}
	switch c.State {
	case dedupe.Done, dedupe.Busy, dedupe.Conflict:
		return c, nil
	case dedupe.Claimed:
		if c.Token != "" {
			return c, nil
		}
		return dedupe.Claim{}, fmt.Errorf("dedupe claim: %w: claimed with an empty token", errUnknownState)
	}
	return dedupe.Claim{}, fmt.Errorf("dedupe claim: %w: %d", errUnknownState, int(c.State))
}

// complete marks the event done, bounded by StoreTimeout in all: it retries a
// store failure (twice at most, while time is left) but never an invalid
// argument. ok false with a nil error means the token no longer owns the
// claim: the lease was lost. source and stale are recorded with the done
// state.
func (m *Middleware) complete(ctx context.Context, ev dedupe.Event, token string, source string, stale bool) (bool, error) {
	done := dedupe.Completion{Retention: m.opts.Retention, Source: source, Stale: stale}
	deadline := time.Now().Add(m.opts.StoreTimeout)
	for attempt := 1; ; attempt++ {
		ok, err := storeCall(m, context.WithoutCancel(ctx), "complete", time.Until(deadline), func(ctx context.Context) (bool, error) {
			return m.opts.Store.Complete(ctx, ev, token, done)
		}, nil)
		if err == nil {
			return ok, nil
		}
		m.storeError(ctx, "complete", err)
		pause := time.Duration(50*attempt) * time.Millisecond
		if attempt == 3 || errors.Is(err, dedupe.ErrInvalidArgument) || time.Until(deadline) <= pause {
			return false, err
		}
		time.Sleep(pause)
	}
}

// release deletes the claim, bounded by StoreTimeout. A failure only delays
// the next delivery until the lease runs out.
func (m *Middleware) release(ctx context.Context, ev dedupe.Event, token string) {
	_, err := storeCall(m, context.WithoutCancel(ctx), "release", m.opts.StoreTimeout, func(ctx context.Context) (bool, error) {
		return m.opts.Store.Release(ctx, ev, token)
	}, nil)
	if err != nil {
		m.storeError(ctx, "release", err)
	}
}

// keepLease renews the claim every Lease/3 while the handler runs, each
// Extend bounded by Lease/3. It cancels the handler's context with
// ErrLeaseLost when an Extend reports the claim gone, or once a full Lease has
// passed since set (the start of the call that last set the lease) with no
// successful renewal. stop ends the renewals at once, abandoning an Extend in
// progress.
func (m *Middleware) keepLease(ctx context.Context, cancel context.CancelCauseFunc, ev dedupe.Event, token string, set time.Time) (stop func()) {
	lease := m.opts.Lease
	expiry := time.AfterFunc(time.Until(set.Add(lease)), func() { cancel(ErrLeaseLost) })
	rctx, stopRenewing := context.WithCancel(context.WithoutCancel(ctx))
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-tick.C:
			}
			if errors.Is(context.Cause(ctx), ErrLeaseLost) {
				return
			}
			start := time.Now()
			// rctx ends the call as soon as the handler is done.
			ok, err := storeCall(m, rctx, "extend", lease/3, func(cctx context.Context) (bool, error) {
				return m.opts.Store.Extend(cctx, ev, token, lease)
			}, nil)
			switch {
			case rctx.Err() != nil:
				return
			case err != nil:
				m.storeError(ctx, "extend", err) // the lease may still hold: expiry decides
			case !ok:
				expiry.Stop()
				cancel(ErrLeaseLost)
				return
			default:
				expiry.Reset(time.Until(start.Add(lease)))
			}
		}
	}()
	return func() {
		stopRenewing()
		<-exited
		expiry.Stop()
	}
}

func (m *Middleware) storeError(ctx context.Context, op string, err error) {
	m.opts.Logger.ErrorContext(ctx, "alipaynotify: dedupe store failed", "op", op, "error", err.Error())
	if h := m.opts.Hooks.StoreError; h != nil {
		h(ctx, op, err)
	}
}

func (m *Middleware) leaseLost(ctx context.Context, n *alipaynotify.Notification) {
	m.opts.Logger.WarnContext(ctx, "alipaynotify: claim lease lost; the event is not marked done here", "event", logEvent(n))
	if h := m.opts.Hooks.LeaseLost; h != nil {
		h(ctx, n)
	}
}
