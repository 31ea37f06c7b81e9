package middleware

import (
	"context"

	"github.com/alipaynotify/alipaynotify"
)

// contextKey is an unexported pointer type, so no other package can collide
// with the middleware's context values.
type contextKey struct{ name string }

func (k *contextKey) String() string { return "alipaynotify/middleware context value " + k.name }

var deliveryKey = &contextKey{"delivery"}

// Outcome says what happened to the business handler for one delivery.
type Outcome int

const (
	// OutcomeHandled: the business handler ran for this delivery and succeeded.
	OutcomeHandled Outcome = iota + 1
	// OutcomeDuplicate: the event was handled before; the handler did not run.
	OutcomeDuplicate
	// OutcomeInFlight: another delivery is running the handler right now and
	// did not finish within Options.WaitInFlight, or Options.MaxWaiting
	// deliveries of the event already waited in this process.
	OutcomeInFlight
	// OutcomeFailed: the handler failed or panicked, the store was down, or
	// the delivery lost its claim's lease (Err wraps ErrLeaseLost).
	OutcomeFailed
	// OutcomeSkippedStale: the event is stale and Options.SkipStale is set;
	// it was marked done without running the handler.
	OutcomeSkippedStale
	// OutcomeRejected: the callback was refused (Hooks.Rejected says why)
	// and never reached the exactly-once path. Only Hooks.Finished sees it:
	// a refused return goes to Options.ReturnErrorHandler, not the page.
	OutcomeRejected
)

// String returns the outcome's name.
func (o Outcome) String() string {
	switch o {
	case OutcomeHandled:
		return "handled"
	case OutcomeDuplicate:
		return "duplicate"
	case OutcomeInFlight:
		return "in-flight"
	case OutcomeFailed:
		return "failed"
	case OutcomeSkippedStale:
		return "skipped-stale"
	case OutcomeRejected:
		return "rejected"
	}
	return "unknown"
}

// Acknowledged reports whether Alipay gets "success" for this outcome.
func (o Outcome) Acknowledged() bool {
	return o == OutcomeHandled || o == OutcomeDuplicate || o == OutcomeSkippedStale
}

// Delivery is what the middleware knows about the callback being served. The
// business handler sees it while it runs (Outcome still zero); the return
// page handler sees it with the Outcome set.
type Delivery struct {
	// Notification is the verified callback.
	Notification *alipaynotify.Notification
	// Stale is set when a later status of the same trade was already handled:
	// the merchant must not move the order backwards.
	Stale bool
	// ClaimToken is the random token of this delivery's claim. A handler can
	// store it with its writes to fence them against a delivery that took the
	// event over after this one's lease ran out. Empty when the handler runs
	// unguarded (Options.AtLeastOnce with the store down).
	ClaimToken string
	// Outcome is set once the business handler is done (return page only).
	Outcome Outcome
	// Err is the handler's error when Outcome is OutcomeFailed.
	Err error

	// raw is the callback as received (the notify body, the return's raw
	// query), kept as a dead letter if the handler fails; nil for
	// deliveries without one (a trade query).
	raw []byte
	// via is the source recorded with the done event when it is not the
	// notification's own: dedupe.SourceReplay for a replayed dead letter.
	via string
}

// source is the source recorded with d's done event.
func (d *Delivery) source() string {
	if d.via != "" {
		return d.via
	}
	return string(d.Notification.Source)
}

// NewContext returns ctx carrying n, as the middleware does: FromContext
// returns n, and DeliveryFromContext a Delivery holding only n. Use it to
// unit test a business handler without signing anything.
func NewContext(ctx context.Context, n *alipaynotify.Notification) context.Context {
	return NewDeliveryContext(ctx, &Delivery{Notification: n})
}

// NewDeliveryContext returns ctx carrying d, as the middleware does:
// DeliveryFromContext returns d and FromContext d.Notification. Use it to
// unit test a return page (set Outcome, and Err for OutcomeFailed) or a
// business handler that reads Stale or ClaimToken, without signing anything.
func NewDeliveryContext(ctx context.Context, d *Delivery) context.Context {
	return withDelivery(ctx, d)
}

func withDelivery(ctx context.Context, d *Delivery) context.Context {
	return context.WithValue(ctx, deliveryKey, d)
}

// FromContext returns the verified notification of the request, if any. It
// never panics, whatever ctx holds.
func FromContext(ctx context.Context) (*alipaynotify.Notification, bool) {
	d, ok := DeliveryFromContext(ctx)
	if !ok || d.Notification == nil {
		return nil, false
	}
	return d.Notification, true
}

// DeliveryFromContext returns the delivery of the request, if any.
func DeliveryFromContext(ctx context.Context) (*Delivery, bool) {
	if ctx == nil {
		return nil, false
	}
	d, ok := ctx.Value(deliveryKey).(*Delivery)
	return d, ok && d != nil
}
