package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// Defaults of ReconcilerOptions.
const (
	DefaultInterval     = time.Minute
	DefaultConcurrency  = 4
	DefaultRate         = 10 // queries per second
	DefaultQueryTimeout = 10 * time.Second
)

// maxRate is the highest Rate: one query per nanosecond.
const maxRate = 1e9

// maxInterval is the longest Interval: a year, far from the durations whose
// doubled jitter would overflow.
const maxInterval = 365 * 24 * time.Hour

// Errors of a reconciliation that got an answer but could not act on it.
// A query that got no verified answer returns the Querier's error as it
// is (for a Client: ErrUnreachable, *StatusError, *alipaynotify.GatewayError,
// alipaynotify.ErrSignature, ...).
var (
	// ErrNotDelivered: the answer's status was handed to the middleware but
	// the event is not handled: the business handler failed, the store was
	// down, another delivery held the claim past WaitInFlight, or Deliver
	// refused the notification. Result.Delivery says which. The next tick
	// asks again.
	ErrNotDelivered = errors.New("reconcile: the status was not delivered")
	// ErrUnknownStatus: Alipay answered a trade status this library does not
	// know (alipaynotify.TradeStatus.Known). It is not delivered: a state
	// nobody recognises is never taken for a payment.
	ErrUnknownStatus = errors.New("reconcile: unknown trade status")
	// ErrBadAnswer: the Querier returned no Notification and no error, or
	// a Notification about another order than the one asked about.
	ErrBadAnswer = errors.New("reconcile: the Querier's answer is not about the order asked")
	// ErrPending: ReconcilerOptions.Pending failed; the tick queried nothing. The
	// error wraps Pending's.
	ErrPending = errors.New("reconcile: listing pending orders failed")
)

// Querier asks Alipay for the status of one order. *Client is the Querier
// of production. The Notification must come from the Verifier of
// ReconcilerOptions.Middleware (middleware.Deliver refuses any other), and an order
// Alipay does not know must be reported as alipaynotify.ErrTradeNotFound.
type Querier interface {
	QueryTrade(ctx context.Context, outTradeNo string) (*alipaynotify.Notification, error)
}

var _ Querier = (*Client)(nil)

// State is what a query learnt about an order.
type State int

const (
	// StateNoAnswer: the query failed (the error says why); nothing was
	// learnt.
	StateNoAnswer State = iota
	// StateNotFound: Alipay has no trade for the order yet (the buyer has
	// not opened the cashier, or the trade was never created). Nothing yet,
	// not an error.
	StateNotFound
	// StateNotPaid: the trade exists and waits for the buyer
	// (WAIT_BUYER_PAY, or a legacy status ranking at or below it). It is
	// not delivered: the open platform's callbacks do not deliver
	// WAIT_BUYER_PAY by default either, and "not paid yet" is no event a
	// handler acts on.
	StateNotPaid
	// StatePaid: the buyer has paid (alipaynotify.TradeStatus.Paid:
	// TRADE_SUCCESS, TRADE_FINISHED or a legacy escrow status). The status
	// was delivered; Result.Delivery says with what outcome.
	StatePaid
	// StateClosed: the trade is closed (TRADE_CLOSED: unpaid and timed out,
	// or fully refunded). The status was delivered.
	StateClosed
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateNoAnswer:
		return "no-answer"
	case StateNotFound:
		return "not-found"
	case StateNotPaid:
		return "not-paid"
	case StatePaid:
		return "paid"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// Result is what one reconciliation of an order learnt and did.
type Result struct {
	// OutTradeNo is the order asked about.
	OutTradeNo string
	// State is what the query said.
	State State
	// Notification is the verified answer; nil for StateNoAnswer and
	// StateNotFound.
	Notification *alipaynotify.Notification
	// Delivery is what middleware.Deliver did with the answer (its Outcome:
	// handled, duplicate, failed, ...); nil when the status was not
	// delivered (StateNoAnswer, StateNotFound, StateNotPaid).
	Delivery *middleware.Delivery
}

// TickStats summarise one tick of Run.
type TickStats struct {
	// Start is when the tick began; Duration how long it ran.
	Start    time.Time
	Duration time.Duration
	// Listed counts the distinct orders Pending returned; Repeated the
	// repeats dropped from its list (each order is queried once a tick).
	Listed, Repeated int
	// Queried counts the queries sent; Unqueried the listed orders not
	// asked about because the context ended first.
	Queried, Unqueried int
	// NotFound, NotPaid, Paid and Closed count the answers by State.
	NotFound, NotPaid, Paid, Closed int
	// Handled counts the deliveries that ran the business handler
	// (middleware.OutcomeHandled); Duplicates those already handled by a
	// callback or an earlier query.
	Handled, Duplicates int
	// Failed counts the reconciliations that returned an error.
	Failed int
	// Err is Pending's error (wrapping ErrPending) when the tick could not
	// list the orders.
	Err error
}

// Hooks report what the Reconciler does, for metrics. Every field may be
// nil. They run on the querying goroutine: keep them fast. Deliveries also
// go through the middleware's own hooks (Received with
// alipaynotify.SourceQuery, Handled, Duplicate, ...).
type Hooks struct {
	// Queried: a query was sent for r.OutTradeNo, and r and err are what
	// Reconcile returns. It runs once per query sent, by Run or Reconcile;
	// not for an order skipped because the context ended first.
	Queried func(ctx context.Context, r Result, err error)
	// TickDone: a tick of Run is over.
	TickDone func(ctx context.Context, s TickStats)
}

// ReconcilerOptions configure a Reconciler. The zero value of every optional field
// is the safe default; New validates everything once.
type ReconcilerOptions struct {
	// Middleware delivers what the queries learn, through the same
	// claim → business handler → done path as the callbacks, so that
	// whichever of notify, return and query sees a status first runs the
	// handler and the others are duplicates. Required.
	Middleware *middleware.Middleware
	// Business is the business handler the callbacks run: the same one
	// given to Middleware.Notify and Return. Required.
	Business http.Handler
	// Querier asks Alipay; a *Client in production. A *Client must have
	// been built with the Middleware's Verifier. Required.
	Querier Querier
	// Pending lists the orders Run asks about on each tick: for example
	// the orders unpaid for more than a few minutes and not yet cancelled.
	// Which orders to ask about is the merchant's call. It is bounded by
	// QueryTimeout. Required by Run; Reconcile does not use it.
	Pending func(ctx context.Context) ([]string, error)

	// Interval is the time between the starts of two ticks of Run, at most
	// a year. Default: DefaultInterval (1m).
	Interval time.Duration
	// Jitter spreads each tick: the next one starts Interval plus or minus
	// a random duration of at most Jitter after the previous one, so that
	// the instances of a service do not query in step. It must be less
	// than Interval. Default: Interval/10.
	Jitter time.Duration
	// Concurrency bounds the queries in flight at once, those of Run and
	// of Reconcile together. Default: DefaultConcurrency (4).
	Concurrency int
	// Rate bounds the queries per second, those of Run and of Reconcile
	// together: a token bucket that holds one token, so queries start at
	// least 1/Rate apart (hand-written; see limiter.go). Alipay limits each
	// app's queries per second. Default: DefaultRate (10).
	Rate float64
	// QueryTimeout bounds each query (on top of the Client's own Timeout)
	// and each call of Pending. The delivery that follows is bounded by the
	// middleware's own limits. Default: DefaultQueryTimeout (10s).
	QueryTimeout time.Duration
	// Logger receives one record per delivered status, one per failed
	// reconciliation, and one summary per tick (Info when the tick handled
	// something or failed, Debug otherwise). Records carry the event's
	// identity (merchant|out_trade_no|status), never buyer data.
	// Default: slog.Default().
	Logger *slog.Logger
	// Hooks are called on every query and tick. Nil fields are skipped.
	Hooks Hooks
}

// Reconciler asks Alipay about orders whose callbacks may have been lost
// (掉单), and hands each paid or closed status it learns to the middleware
// as one more source of the event (alipaynotify.SourceQuery). It is safe
// for concurrent use.
type Reconciler struct {
	opts    ReconcilerOptions
	clock   clock
	limiter *limiter
	slots   chan struct{} // one per query in flight: Concurrency
}

// NewReconciler validates opts once and returns a Reconciler. Errors wrap
// alipaynotify.ErrConfig (as *alipaynotify.FieldError naming the option).
func NewReconciler(opts ReconcilerOptions) (*Reconciler, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	r := &Reconciler{opts: opts, clock: wallClock{}, slots: make(chan struct{}, opts.Concurrency)}
	every := time.Duration(float64(time.Second) / opts.Rate)
	r.limiter = &limiter{clock: r.clock, every: max(every, 1)}
	return r, nil
}

// validate checks o and fills in the defaults.
func (o *ReconcilerOptions) validate() error {
	switch {
	case o.Middleware == nil:
		return cfg("Middleware", "required: it delivers what the queries learn")
	case o.Business == nil:
		return cfg("Business", "required: the business handler of your callbacks")
	case o.Querier == nil:
		return cfg("Querier", "required: a *reconcile.Client asks Alipay")
	}
	if c, ok := o.Querier.(*Client); ok && c.opts.Verifier != o.Middleware.Verifier() {
		return cfg("Querier", "the Client's Verifier must be the Middleware's: Deliver accepts only notifications its own Verifier produced")
	}
	switch {
	case o.Interval == 0:
		o.Interval = DefaultInterval
	case o.Interval < 0 || o.Interval > maxInterval:
		return cfg("Interval", "must be positive and at most a year")
	}
	switch {
	case o.Jitter == 0:
		o.Jitter = o.Interval / 10
	case o.Jitter < 0 || o.Jitter >= o.Interval:
		return cfg("Jitter", "must be at least 0 and less than Interval")
	}
	switch {
	case o.Concurrency == 0:
		o.Concurrency = DefaultConcurrency
	case o.Concurrency < 0:
		return cfg("Concurrency", "must not be negative")
	}
	switch {
	case o.Rate == 0:
		o.Rate = DefaultRate
	case math.IsNaN(o.Rate) || o.Rate < 0 || o.Rate > maxRate:
		return cfg("Rate", "must be a number of queries per second above 0 and at most 1e9")
	}
	switch {
	case o.QueryTimeout == 0:
		o.QueryTimeout = DefaultQueryTimeout
	case o.QueryTimeout < 0:
		return cfg("QueryTimeout", "must not be negative")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Reconcile asks Alipay about one order now, for example before
// cancelling it, and delivers what it learns like Run does: a paid or
// closed status goes through middleware.Deliver (the business handler runs
// unless a callback or an earlier query already handled the event);
// WAIT_BUYER_PAY is StateNotPaid and is not delivered; a trade Alipay does
// not know is StateNotFound with a nil error. It waits for its turn under
// Concurrency and Rate, bounded by ctx.
//
// Errors: the Querier's (the query got no verified answer; gateway errors,
// timeouts and bad signatures are never delivered), ErrUnknownStatus,
// ErrBadAnswer, ErrNotDelivered (Result.Delivery says why), or ctx's error
// when ctx ended before the query was sent.
func (r *Reconciler) Reconcile(ctx context.Context, outTradeNo string) (Result, error) {
	res, _, err := r.reconcile(ctx, outTradeNo)
	return res, err
}

// reconcile is Reconcile; sent reports whether a query was sent (false when
// ctx ended while waiting for a slot or a token).
func (r *Reconciler) reconcile(ctx context.Context, outTradeNo string) (res Result, sent bool, err error) {
	res = Result{OutTradeNo: outTradeNo}
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return res, false, ctx.Err()
	}
	defer func() { <-r.slots }()
	if err := r.limiter.wait(ctx); err != nil {
		return res, false, err
	}
	res, err = r.queryAndDeliver(ctx, outTradeNo)
	r.report(ctx, res, err)
	return res, true, err
}

// queryAndDeliver sends the query and delivers a paid or closed answer.
func (r *Reconciler) queryAndDeliver(ctx context.Context, outTradeNo string) (Result, error) {
	res := Result{OutTradeNo: outTradeNo}
	qctx, cancel := context.WithTimeout(ctx, r.opts.QueryTimeout)
	n, err := r.opts.Querier.QueryTrade(qctx, outTradeNo)
	cancel()
	switch {
	case errors.Is(err, alipaynotify.ErrTradeNotFound):
		res.State = StateNotFound
		return res, nil
	case err != nil:
		return res, err
	case n == nil:
		return res, fmt.Errorf("%w: no notification and no error", ErrBadAnswer)
	case n.OutTradeNo != outTradeNo:
		return res, fmt.Errorf("%w: the answer names another out_trade_no", ErrBadAnswer)
	}
	res.Notification = n
	switch status := n.TradeStatus; {
	case status == alipaynotify.TradeClosed:
		res.State = StateClosed
	case status.Paid():
		res.State = StatePaid
	case status.Known():
		res.State = StateNotPaid
		return res, nil
	default:
		return res, fmt.Errorf("%w: the answer's trade_status is not one this library ranks", ErrUnknownStatus)
	}
	d := r.opts.Middleware.Deliver(ctx, n, r.opts.Business)
	res.Delivery = d
	if !d.Outcome.Acknowledged() {
		if d.Err != nil {
			return res, fmt.Errorf("%w: %v: %w", ErrNotDelivered, d.Outcome, d.Err)
		}
		return res, fmt.Errorf("%w: %v", ErrNotDelivered, d.Outcome)
	}
	return res, nil
}

// report logs one reconciliation and calls Hooks.Queried.
func (r *Reconciler) report(ctx context.Context, res Result, err error) {
	log := r.opts.Logger
	switch {
	case err != nil:
		attrs := []any{"out_trade_no", res.OutTradeNo, "state", res.State.String(), "error", err.Error()}
		if res.Notification != nil {
			attrs = append(attrs, "event", res.Notification.Event().String())
		}
		log.WarnContext(ctx, "alipaynotify: reconciliation failed", attrs...)
	case res.Delivery != nil:
		level := slog.LevelInfo
		if res.Delivery.Outcome != middleware.OutcomeHandled {
			level = slog.LevelDebug // a duplicate: a callback or an earlier query handled it
		}
		log.Log(ctx, level, "alipaynotify: reconciled a status by query",
			"event", res.Notification.Event().String(), "outcome", res.Delivery.Outcome.String(), "stale", res.Delivery.Stale)
	}
	if h := r.opts.Hooks.Queried; h != nil {
		h(ctx, res, err)
	}
}

// Run reconciles ReconcilerOptions.Pending's orders on a schedule until ctx ends.
// The first tick starts after a random delay of at most Jitter; each next
// one Interval ± Jitter after the previous one started. A tick lists the
// orders, drops repeats, and asks about each exactly once, at most
// Concurrency at a time and Rate per second, delivering what it learns as
// Reconcile does; its failures are logged and reported to the hooks, and
// never stop Run. Ticks never overlap: a tick that runs past the start of
// the next one (too many orders for the Rate) delays it, and the next tick
// then starts Interval ± Jitter after the late one ended.
//
// Run returns ctx's error (context.Canceled or context.DeadlineExceeded)
// once ctx ends, promptly: the queries and deliveries in flight see ctx
// end (a delivery whose handler fails on it is released, for the next
// callback or query), the orders not yet asked about are left for the next
// Run, and every goroutine it started has returned. It returns an error wrapping alipaynotify.ErrConfig at once
// when ReconcilerOptions.Pending is nil.
func (r *Reconciler) Run(ctx context.Context) error {
	if r.opts.Pending == nil {
		return cfg("Pending", "required by Run: it lists the orders to ask about")
	}
	next := r.clock.Now().Add(rand.N(r.opts.Jitter + 1))
	for {
		if err := r.clock.SleepUntil(ctx, next); err != nil {
			return err
		}
		start := r.clock.Now()
		r.tick(ctx, start)
		if err := ctx.Err(); err != nil {
			return err
		}
		next = start.Add(r.interval())
		if now := r.clock.Now(); next.Before(now) {
			r.opts.Logger.WarnContext(ctx, "alipaynotify: a reconciliation tick ran longer than the interval; the next one is delayed",
				"took", now.Sub(start).String(), "interval", r.opts.Interval.String())
			next = now.Add(r.interval())
		}
	}
}

// interval returns Interval ± a random duration of at most Jitter.
func (r *Reconciler) interval() time.Duration {
	j := r.opts.Jitter
	return r.opts.Interval - j + rand.N(2*j+1)
}

// tick runs one tick: list, dedupe, query each order once.
func (r *Reconciler) tick(ctx context.Context, start time.Time) (st TickStats) {
	st.Start = start
	defer func() {
		st.Duration = r.clock.Now().Sub(start)
		r.summarise(ctx, st)
	}()
	pctx, cancel := context.WithTimeout(ctx, r.opts.QueryTimeout)
	list, err := r.opts.Pending(pctx)
	cancel()
	if err != nil {
		st.Err = fmt.Errorf("%w: %w", ErrPending, err)
		return st
	}
	orders := distinct(list)
	st.Listed, st.Repeated = len(orders), len(list)-len(orders)

	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(r.opts.Concurrency, len(orders)) {
		wg.Go(func() {
			for no := range work {
				res, sent, err := r.reconcile(ctx, no)
				if !sent {
					continue
				}
				mu.Lock()
				st.count(res, err)
				mu.Unlock()
			}
		})
	}
feed:
	for _, no := range orders {
		select {
		case work <- no:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	st.Unqueried = st.Listed - st.Queried
	return st
}

// count adds one sent query's result to the stats.
func (s *TickStats) count(res Result, err error) {
	s.Queried++
	switch res.State {
	case StateNotFound:
		s.NotFound++
	case StateNotPaid:
		s.NotPaid++
	case StatePaid:
		s.Paid++
	case StateClosed:
		s.Closed++
	}
	if res.Delivery != nil {
		switch res.Delivery.Outcome {
		case middleware.OutcomeHandled:
			s.Handled++
		case middleware.OutcomeDuplicate, middleware.OutcomeSkippedStale:
			s.Duplicates++
		}
	}
	if err != nil {
		s.Failed++
	}
}

// summarise logs a tick's summary and calls Hooks.TickDone.
func (r *Reconciler) summarise(ctx context.Context, st TickStats) {
	level := slog.LevelDebug
	if st.Handled > 0 || st.Failed > 0 || st.Err != nil {
		level = slog.LevelInfo
	}
	attrs := []any{"listed", st.Listed, "repeated", st.Repeated, "queried", st.Queried, "unqueried", st.Unqueried,
		"not_found", st.NotFound, "not_paid", st.NotPaid, "paid", st.Paid, "closed", st.Closed,
		"handled", st.Handled, "duplicates", st.Duplicates, "failed", st.Failed, "took", st.Duration.String()}
	if st.Err != nil {
		attrs = append(attrs, "error", st.Err.Error())
	}
	r.opts.Logger.Log(ctx, level, "alipaynotify: reconciliation tick", attrs...)
	if h := r.opts.Hooks.TickDone; h != nil {
		h(ctx, st)
	}
}

// distinct returns list without repeats, in first-seen order.
func distinct(list []string) []string {
	seen := make(map[string]struct{}, len(list))
	out := make([]string, 0, len(list))
	for _, s := range list {
		if _, dup := seen[s]; !dup {
			seen[s] = struct{}{}
			out = append(out, s)
		}
	}
	return out
}
