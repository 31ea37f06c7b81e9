// Package alipayotel traces alipaynotify's deliveries with OpenTelemetry:
// one span per delivery (a notify POST, a return GET, a trade query answer
// or a replayed dead letter), from the moment it arrives to the answer, with
// a child span per dedupe store call and span events for what happened on
// the exactly-once path.
//
// It is built on middleware.Hooks, so only a program that imports it
// compiles OpenTelemetry:
//
//	tracing := alipayotel.New(alipayotel.Options{}) // otel.GetTracerProvider()
//	mw, err := middleware.New(middleware.Options{
//		Verifier: verifier,
//		Store:    store,
//		Hooks:    middleware.JoinHooks(metrics.Hooks(), tracing.Hooks()),
//	})
//
// When the request already carries a span (otelhttp, or a framework's
// tracing middleware), the delivery's span is its child.
//
// # Spans
//
// The delivery span is named "alipaynotify.<source>": alipaynotify.notify,
// alipaynotify.return, alipaynotify.query (middleware.Deliver of a trade
// query answer). A replayed dead letter is traced under the source of the
// callback it replays. Its kind is internal. Store calls are child spans
// named "alipaynotify.store.<op>" (claim, extend, complete, release, …),
// placed at the time they ran; a failed one has status Error.
//
// # Attributes
//
// Attributes are an allow-list of protocol facts and the merchant's own
// identifiers; they never carry personal data. Never set: the buyer's
// user id, logon id or open id, names, addresses, phone numbers, emails
// (the seller's included), the subject, body and other free text, pass-back
// parameters, and error messages (which may quote any of those), unless
// Options.RecordErrorMessages is set.
//
//	alipay.source          notify, return, query
//	alipay.protocol        open, mapi, wap
//	alipay.sign_type       RSA2, RSA, MD5, 0001, …
//	alipay.charset         utf-8, gbk, gb2312
//	alipay.merchant        the app_id or partner the callback is for
//	alipay.out_trade_no    the merchant's order number
//	alipay.trade_no        Alipay's trade number
//	alipay.trade_status    e.g. TRADE_SUCCESS
//	alipay.status_inferred true on a return whose TRADE_SUCCESS is implied
//	alipay.refund          true when the event is a refund
//	alipay.refund_status   legacy escrow refund status, when sent
//	alipay.gateway_message true for a gateway message (not a trade event)
//	alipay.outcome         handled, duplicate, in-flight, failed,
//	                       skipped-stale, rejected (middleware.Outcome)
//	alipay.stale           true when a later status was handled already
//	alipay.reject_reason   middleware.Reason of a refused callback
//
// # Events and status
//
// Span events: verified, duplicate, waited_in_flight (alipay.wait_ms),
// stale, handled and handler_failed (alipay.handler_ms), lease_lost,
// dead_lettered (alipay.attempts) and store_error (alipay.store_op). The
// span's status is Error when the outcome is failed or rejected, with a
// description naming the outcome or the rejection reason only.
package alipayotel

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// InstrumentationName is the name of the tracer the spans come from.
const InstrumentationName = "github.com/alipaynotify/alipaynotify/observe/otel"

// Attribute keys set on the delivery span (see the package doc).
const (
	AttrSource         = attribute.Key("alipay.source")
	AttrProtocol       = attribute.Key("alipay.protocol")
	AttrSignType       = attribute.Key("alipay.sign_type")
	AttrCharset        = attribute.Key("alipay.charset")
	AttrMerchant       = attribute.Key("alipay.merchant")
	AttrOutTradeNo     = attribute.Key("alipay.out_trade_no")
	AttrTradeNo        = attribute.Key("alipay.trade_no")
	AttrTradeStatus    = attribute.Key("alipay.trade_status")
	AttrStatusInferred = attribute.Key("alipay.status_inferred")
	AttrRefund         = attribute.Key("alipay.refund")
	AttrRefundStatus   = attribute.Key("alipay.refund_status")
	AttrGatewayMessage = attribute.Key("alipay.gateway_message")
	AttrOutcome        = attribute.Key("alipay.outcome")
	AttrStale          = attribute.Key("alipay.stale")
	AttrRejectReason   = attribute.Key("alipay.reject_reason")
)

// Options configure New. The zero value traces with the global tracer
// provider and records no error messages.
type Options struct {
	// TracerProvider provides the tracer. Default: otel.GetTracerProvider(),
	// looked up when New runs.
	TracerProvider trace.TracerProvider
	// RecordErrorMessages records the text of the business handler's and
	// the store's errors on the span (span.RecordError). Off by default:
	// an error's text may quote anything, personal data included, and
	// traces often leave the company. The outcome, the rejection reason and
	// the store operation are always recorded.
	RecordErrorMessages bool
}

// Tracing makes the spans. Create it with New; it is safe for concurrent use.
type Tracing struct {
	tracer    trace.Tracer
	errorText bool
}

// New returns a Tracing for opts. Every Options value is valid.
func New(opts Options) *Tracing {
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return &Tracing{
		tracer:    tp.Tracer(InstrumentationName),
		errorText: opts.RecordErrorMessages,
	}
}

// spanKey marks the context of a span this package started, so that
// Finished ends only its own span.
type spanKey struct{}

// Hooks returns the middleware hooks that trace each delivery. Combine them
// with other hooks with middleware.JoinHooks; set them in
// middleware.Options.Hooks.
func (t *Tracing) Hooks() middleware.Hooks {
	return middleware.Hooks{
		Received:       t.received,
		Verified:       t.verified,
		Rejected:       t.rejected,
		Duplicate:      func(ctx context.Context, _ *alipaynotify.Notification) { event(ctx, "duplicate") },
		WaitedInFlight: t.waited,
		Stale:          t.stale,
		Handled:        t.handled,
		Failed:         t.failed,
		StoreError:     t.storeError,
		StoreCall:      t.storeCall,
		LeaseLost:      func(ctx context.Context, _ *alipaynotify.Notification) { event(ctx, "lease_lost") },
		DeadLettered:   t.deadLettered,
		Finished:       t.finished,
	}
}

func (t *Tracing) received(ctx context.Context, src alipaynotify.Source) context.Context {
	ctx, span := t.tracer.Start(ctx, "alipaynotify."+string(src),
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrSource.String(string(src))))
	return context.WithValue(ctx, spanKey{}, span)
}

// own returns the delivery span this package started for ctx, if any.
func own(ctx context.Context) (trace.Span, bool) {
	span, ok := ctx.Value(spanKey{}).(trace.Span)
	return span, ok && span.IsRecording()
}

func event(ctx context.Context, name string, attrs ...attribute.KeyValue) {
	if span, ok := own(ctx); ok {
		span.AddEvent(name, trace.WithAttributes(attrs...))
	}
}

// notificationAttrs is the allow-list of n's fields a span carries.
func notificationAttrs(n *alipaynotify.Notification) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 12)
	attrs = append(attrs,
		AttrProtocol.String(string(n.Protocol)),
		AttrSignType.String(string(n.SignType)),
		AttrCharset.String(string(n.Charset)),
		AttrMerchant.String(n.Merchant()),
	)
	if n.GatewayMessage() {
		return append(attrs, AttrGatewayMessage.Bool(true))
	}
	attrs = append(attrs,
		AttrOutTradeNo.String(n.OutTradeNo),
		AttrTradeStatus.String(string(n.TradeStatus)),
	)
	if n.TradeNo != "" {
		attrs = append(attrs, AttrTradeNo.String(n.TradeNo))
	}
	if n.StatusInferred {
		attrs = append(attrs, AttrStatusInferred.Bool(true))
	}
	if n.Refund != nil {
		attrs = append(attrs, AttrRefund.Bool(true))
		if n.Refund.Status != "" {
			attrs = append(attrs, AttrRefundStatus.String(string(n.Refund.Status)))
		}
	}
	return attrs
}

func (t *Tracing) verified(ctx context.Context, n *alipaynotify.Notification) {
	if span, ok := own(ctx); ok {
		span.SetAttributes(notificationAttrs(n)...)
		span.AddEvent("verified")
	}
}

func (t *Tracing) rejected(ctx context.Context, r middleware.Rejection) {
	span, ok := own(ctx)
	if !ok {
		return
	}
	if r.Notification != nil {
		span.SetAttributes(notificationAttrs(r.Notification)...)
	}
	span.SetAttributes(AttrRejectReason.String(string(r.Reason)))
	if t.errorText && r.Err != nil {
		span.RecordError(r.Err)
	}
	span.SetStatus(codes.Error, "rejected: "+string(r.Reason))
}

func (t *Tracing) waited(ctx context.Context, _ *alipaynotify.Notification, d time.Duration) {
	event(ctx, "waited_in_flight", attribute.Int64("alipay.wait_ms", d.Milliseconds()))
}

func (t *Tracing) stale(ctx context.Context, _ *alipaynotify.Notification) {
	if span, ok := own(ctx); ok {
		span.SetAttributes(AttrStale.Bool(true))
		span.AddEvent("stale")
	}
}

func (t *Tracing) handled(ctx context.Context, _ *alipaynotify.Notification, d time.Duration) {
	event(ctx, "handled", attribute.Int64("alipay.handler_ms", d.Milliseconds()))
}

func (t *Tracing) failed(ctx context.Context, _ *alipaynotify.Notification, err error, d time.Duration) {
	span, ok := own(ctx)
	if !ok {
		return
	}
	span.AddEvent("handler_failed", trace.WithAttributes(attribute.Int64("alipay.handler_ms", d.Milliseconds())))
	if t.errorText && err != nil {
		span.RecordError(err)
	}
}

func (t *Tracing) storeError(ctx context.Context, op string, err error) {
	span, ok := own(ctx)
	if !ok {
		return
	}
	span.AddEvent("store_error", trace.WithAttributes(attribute.String("alipay.store_op", op)))
	if t.errorText && err != nil {
		span.RecordError(err)
	}
}

// storeCall records a store call as a child span placed when it ran.
func (t *Tracing) storeCall(ctx context.Context, op string, d time.Duration, err error) {
	if _, ok := own(ctx); !ok {
		return
	}
	end := time.Now()
	_, span := t.tracer.Start(ctx, "alipaynotify.store."+op,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(end.Add(-d)))
	if err != nil {
		if t.errorText {
			span.RecordError(err)
		}
		span.SetStatus(codes.Error, "store "+op+" failed")
	}
	span.End(trace.WithTimestamp(end))
}

func (t *Tracing) deadLettered(ctx context.Context, _ *alipaynotify.Notification, rec dedupe.Recorded) {
	event(ctx, "dead_lettered", attribute.Int("alipay.attempts", rec.Attempts))
}

func (t *Tracing) finished(ctx context.Context, _ alipaynotify.Source, d *middleware.Delivery) {
	span, ok := own(ctx)
	if !ok {
		return
	}
	defer span.End()
	if d == nil {
		return
	}
	span.SetAttributes(AttrOutcome.String(d.Outcome.String()))
	if d.Stale {
		span.SetAttributes(AttrStale.Bool(true))
	}
	if d.Outcome == middleware.OutcomeFailed {
		span.SetStatus(codes.Error, "failed")
	}
}
