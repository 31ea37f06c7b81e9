package middleware

import (
	"context"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
)

// Hooks let merchants attach metrics and tracing without the middleware
// depending on a metrics library (see the packages under observe/). Every
// field may be nil. Hooks run on the request goroutine: keep them fast. For
// one delivery they run in this order: Received; then Rejected, or Verified
// followed by the exactly-once steps (WaitedInFlight, Duplicate, Stale,
// Handled or Failed, LeaseLost, and StoreCall/StoreError around each store
// call); then Finished. Use JoinHooks to install several sets.
type Hooks struct {
	// Received: a callback arrived on Notify or Return (after the method
	// check), before anything else is done with it. A non-nil context it
	// returns replaces the request's for the rest of the delivery: every
	// later hook, the business handler and the return page see it. A tracing
	// package starts its span here.
	Received func(ctx context.Context, source alipaynotify.Source) context.Context
	// Verified: a callback passed verification.
	Verified func(ctx context.Context, n *alipaynotify.Notification)
	// Rejected: a callback was refused: by the Verifier, for its size, or
	// because its trade_no conflicts with the one recorded (see Rejection).
	Rejected func(ctx context.Context, r Rejection)
	// Duplicate: the event was handled before.
	Duplicate func(ctx context.Context, n *alipaynotify.Notification)
	// WaitedInFlight: the delivery waited d for another owner of the claim.
	WaitedInFlight func(ctx context.Context, n *alipaynotify.Notification, d time.Duration)
	// Stale: the event is stale (delivered flagged, or skipped).
	Stale func(ctx context.Context, n *alipaynotify.Notification)
	// Handled: the business handler ran and succeeded in d.
	Handled func(ctx context.Context, n *alipaynotify.Notification, d time.Duration)
	// Failed: the business handler failed or panicked after d.
	Failed func(ctx context.Context, n *alipaynotify.Notification, err error, d time.Duration)
	// StoreError: the store failed during op ("claim", "extend", "complete",
	// "release"), or overran its deadline, or answered a claim state the
	// middleware does not know. A lost lease is not a store error (see
	// LeaseLost).
	StoreError func(ctx context.Context, op string, err error)
	// StoreCall: a store call of op ended after d, with err nil on success.
	// It fires for every call, so it carries the store's latency.
	StoreCall func(ctx context.Context, op string, d time.Duration, err error)
	// LeaseLost: the delivery lost its claim while the handler ran or before
	// it could mark the event done: a renewal or Complete found another
	// owner, or a full lease passed with no successful renewal. The delivery
	// answers "fail" and does not mark the event done.
	LeaseLost func(ctx context.Context, n *alipaynotify.Notification)
	// DeadLettered: the callback whose handler just failed was kept as a
	// dead letter (rec.Attempts failures so far; rec.Evicted older entries
	// dropped to make room).
	DeadLettered func(ctx context.Context, n *alipaynotify.Notification, rec dedupe.Recorded)
	// Forgotten: an operator forgot a handled event (Middleware.Forget).
	Forgotten func(ctx context.Context, f Forgotten)
	// Finished: the delivery is over and about to be answered. d.Outcome
	// says how it ended (OutcomeRejected for a refused callback, with
	// d.Notification set only when Rejection.Notification was), d.Err why
	// it failed. On Return it runs before the page renders. It runs even
	// when the business handler panicked, before the panic goes on.
	Finished func(ctx context.Context, source alipaynotify.Source, d *Delivery)
}

// JoinHooks returns Hooks that call each set's hooks in order, for
// example metrics and tracing together. Received contexts chain: each set's
// Received gets the context the previous one returned.
func JoinHooks(sets ...Hooks) Hooks {
	var j Hooks
	for _, h := range sets {
		j.Received = joinReceived(j.Received, h.Received)
		j.Verified = join2(j.Verified, h.Verified)
		j.Rejected = join2(j.Rejected, h.Rejected)
		j.Duplicate = join2(j.Duplicate, h.Duplicate)
		j.WaitedInFlight = join3(j.WaitedInFlight, h.WaitedInFlight)
		j.Stale = join2(j.Stale, h.Stale)
		j.Handled = join3(j.Handled, h.Handled)
		j.Failed = join4(j.Failed, h.Failed)
		j.StoreError = join3(j.StoreError, h.StoreError)
		j.StoreCall = join4(j.StoreCall, h.StoreCall)
		j.LeaseLost = join2(j.LeaseLost, h.LeaseLost)
		j.DeadLettered = join3(j.DeadLettered, h.DeadLettered)
		j.Forgotten = join2(j.Forgotten, h.Forgotten)
		j.Finished = join3(j.Finished, h.Finished)
	}
	return j
}

func joinReceived(a, b func(context.Context, alipaynotify.Source) context.Context) func(context.Context, alipaynotify.Source) context.Context {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return func(ctx context.Context, src alipaynotify.Source) context.Context {
		if c := a(ctx, src); c != nil {
			ctx = c
		}
		if c := b(ctx, src); c != nil {
			ctx = c
		}
		return ctx
	}
}

func join2[A any](a, b func(context.Context, A)) func(context.Context, A) {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return func(ctx context.Context, x A) { a(ctx, x); b(ctx, x) }
}

func join3[A, B any](a, b func(context.Context, A, B)) func(context.Context, A, B) {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return func(ctx context.Context, x A, y B) { a(ctx, x, y); b(ctx, x, y) }
}

func join4[A, B, C any](a, b func(context.Context, A, B, C)) func(context.Context, A, B, C) {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return func(ctx context.Context, x A, y B, z C) { a(ctx, x, y, z); b(ctx, x, y, z) }
}
