// Package middleware serves Alipay's notify_url and return_url on net/http:
// it verifies every callback, hands the merchant's business handler a typed
// Notification, and runs that handler exactly once per business event, however
// many times and in whatever order Alipay and the buyer's browser deliver it.
//
// The same business handler serves both routes, so whichever of the notify
// POST and the return GET arrives first does the work and the other is a
// duplicate. The business handler is an http.Handler (it reads the
// Notification with FromContext and signals failure with a non-2xx status)
// or a HandlerFunc returning an error, which is one. Packages alipaygin and
// alipaymux (under adapters/) take the same business handler and give
// Notify and Return the router's shapes, with the same names in both.
//
// # The exactly-once contract
//
//   - Event identity: merchant + out_trade_no + trade status + refund
//     identity (alipaynotify.Event); notify_id is not part of it. The store
//     keys on the dedupe.Event that dedupe.EventFor derives from it.
//   - Claim: a delivery claims the event with a random token and a lease
//     (Options.Lease) and renews it every Lease/3 while the handler runs; the
//     handler can read the token (Delivery.ClaimToken) to fence its writes.
//   - Lost lease: once a full lease has passed since the start of the last
//     call that set it (the claim or a successful renewal), or a renewal
//     finds another owner, the handler's context is cancelled with cause
//     ErrLeaseLost; the delivery answers "fail" and does not mark the event
//     done (unless Complete, token-checked, still succeeds).
//   - Done: after the handler succeeds the event is marked done, token-checked,
//     and remembered for Options.Retention; duplicates answer "success"
//     without running the handler.
//   - In flight elsewhere: duplicates of one event in one process share one
//     waiter: they queue behind the delivery that holds or polls the claim,
//     without calling the store, for up to Options.WaitInFlight, and answer
//     by its outcome; it polls another process's claim with backoff. Beyond
//     Options.MaxWaiting waiting duplicates, a delivery answers "fail" at
//     once. A duplicate takes over if the owner failed.
//   - Store calls are bounded: Claim and Release by Options.StoreTimeout,
//     Complete with its retries by StoreTimeout, each Extend by Lease/3. A
//     call that overruns is abandoned and is a store failure, and so is a
//     claim state the middleware does not know. Apart from the handler's own
//     time, a delivery is answered within WaitInFlight + 2 x StoreTimeout.
//   - Failure: an error, a non-2xx status or a panic releases the claim and
//     answers "fail", so Alipay's next retry runs the handler again.
//   - Crash: a claim left by a dead process expires after the lease.
//   - Store down: "fail" by default, never running the handler unguarded;
//     Options.AtLeastOnce runs it anyway.
//   - Order: a status ranking below one already handled is delivered once,
//     flagged Stale (or skipped with Options.SkipStale). Refunds are never stale.
//   - One trade_no per out_trade_no (Options.CheckTradeNo): a notification
//     naming another trade_no for a known out_trade_no is refused ("fail")
//     and logged as an error.
//
// Where it ends: if the store fails to record "done" after the handler
// succeeded within its lease, the middleware still answers "success" — the
// work is done and a retry would only repeat it — but the event is not
// remembered, so a later re-delivery runs the handler again. The remaining
// window of a lost lease: the handler is cancelled no later than the moment
// the store can let another delivery take over, but a handler that ignores
// its context, or is mid-write when cancelled, may still run alongside the
// delivery that took over until it stops. Handlers should therefore watch
// their context and be idempotent on their own data as a second line of
// defence (use the claim token to fence writes).
package middleware

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
)

// ErrConfig is wrapped by every error New returns: Options that cannot work
// (a missing Verifier, a negative or too short duration, a Retention the
// Verifier outlives, an unknown TradeNoCheck). Match it with
// errors.Is(err, middleware.ErrConfig); the message names the field.
var ErrConfig = errors.New("middleware: invalid Options")

// Errors reported to hooks, logs and the return page.
var (
	// ErrHandlerStatus: the business http.Handler answered a non-2xx status.
	ErrHandlerStatus = errors.New("middleware: business handler answered a non-2xx status")
	// ErrHandlerPanic: the business handler panicked.
	ErrHandlerPanic = errors.New("middleware: business handler panicked")
	// ErrStore: the dedupe store failed.
	ErrStore = errors.New("middleware: dedupe store failed")
	// ErrInFlight: another delivery held the claim for longer than
	// WaitInFlight, or Options.MaxWaiting deliveries of the event already
	// waited in this process.
	ErrInFlight = errors.New("middleware: event still in flight elsewhere")
	// ErrBodyTooLarge: the notify body exceeded MaxBodyBytes.
	ErrBodyTooLarge = errors.New("middleware: notify body too large")
	// ErrTradeNoConflict: the notification's trade_no differs from the one
	// recorded for its out_trade_no (see Options.CheckTradeNo).
	ErrTradeNoConflict = errors.New("middleware: trade_no differs from the one recorded for out_trade_no")
)

// HandlerFunc is the typed form of a business handler. Return nil when the
// event is durably handled; any error makes Alipay retry. It is an
// http.Handler, so it goes wherever a business handler does: Notify, Return
// and every adapter.
type HandlerFunc func(ctx context.Context, n *alipaynotify.Notification) error

// ServeHTTP lets a HandlerFunc be used wherever an http.Handler is: it answers
// 204 on success and 500 on error.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, ok := FromContext(r.Context())
	if !ok {
		http.Error(w, "no Alipay notification in context", http.StatusInternalServerError)
		return
	}
	if err := f(r.Context(), n); err != nil {
		http.Error(w, "handler failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Middleware serves notify_url and return_url. Create it with New; it is safe
// for concurrent use.
type Middleware struct {
	opts       Options
	gates      gates
	diag       diagnostics
	background sync.WaitGroup // clearFailure calls in flight
	failedHere failedEvents   // events this process kept dead letters for
}

// New validates opts once and returns the middleware. Its errors wrap
// ErrConfig.
func New(opts Options) (*Middleware, error) {
	inMemory := opts.Store == nil
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if inMemory {
		warnInMemoryStore(opts.Logger)
	}
	return &Middleware{opts: opts}, nil
}

// Notify returns the notify_url handler: POST only (405 otherwise); verify →
// claim → run business → answer exactly "success" (200, 7 bytes) when the
// event is handled now or was before, "fail" otherwise. The business
// handler's own response is discarded: Alipay only reads "success".
//
// Notify has the func(http.Handler) http.Handler shape of net/http
// middleware (gorilla/mux's MiddlewareFunc, chi's Use): as middleware, the
// handler it wraps is the business handler.
func (m *Middleware) Notify(business http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			answer(w, http.StatusMethodNotAllowed, false)
			return
		}
		r = m.received(r, alipaynotify.SourceNotify)
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, m.opts.MaxBodyBytes))
		if err != nil {
			status := http.StatusBadRequest
			if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
				status, err = http.StatusRequestEntityTooLarge, ErrBodyTooLarge
			} else {
				err = fmt.Errorf("%w: reading the body: %v", alipaynotify.ErrMalformed, err)
			}
			m.reject(r.Context(), alipaynotify.SourceNotify, err, nil)
			answer(w, status, false)
			return
		}
		n, err := m.opts.Verifier.VerifyNotify(r.Context(), body)
		if err != nil {
			m.reject(r.Context(), alipaynotify.SourceNotify, err, nil)
			answer(w, http.StatusBadRequest, false)
			return
		}
		d := &Delivery{Notification: n, raw: body}
		m.deliver(w, r, d, business)
		switch {
		case d.Outcome.Acknowledged():
			answer(w, http.StatusOK, true)
		case errors.Is(d.Err, ErrStore) || errors.Is(d.Err, ErrInFlight) || errors.Is(d.Err, ErrLeaseLost):
			answer(w, http.StatusServiceUnavailable, false)
		case errors.Is(d.Err, ErrTradeNoConflict):
			answer(w, http.StatusConflict, false)
		default:
			answer(w, http.StatusInternalServerError, false)
		}
	})
}

// Return returns the return_url handler: GET only (405 otherwise, HEAD
// included: the buyer's browser sends GET, and nothing else should run the
// business handler); verify → run the same once-per-event business handler →
// render page, which reads the Notification and the Outcome with
// DeliveryFromContext so the buyer always gets a page, even when the
// business handler fails or panics (OutcomeFailed; the panic is logged with
// its stack). Returns that cannot be verified go to
// Options.ReturnErrorHandler.
func (m *Middleware) Return(business, page http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		r = m.received(r, alipaynotify.SourceReturn)
		n, err := m.opts.Verifier.VerifyReturn(r.Context(), r.URL.RawQuery)
		if err != nil {
			m.reject(r.Context(), alipaynotify.SourceReturn, err, nil)
			m.opts.ReturnErrorHandler(w, r, err)
			return
		}
		d := &Delivery{Notification: n, raw: []byte(r.URL.RawQuery)}
		m.deliver(w, r, d, business)
		page.ServeHTTP(w, r.WithContext(withDelivery(r.Context(), d)))
	})
}

// ReturnMiddleware is Return in the func(http.Handler) http.Handler shape of
// net/http middleware: the handler it wraps is the page.
func (m *Middleware) ReturnMiddleware(business http.Handler) func(http.Handler) http.Handler {
	return func(page http.Handler) http.Handler { return m.Return(business, page) }
}

// ErrNotVerified: Deliver was given a Notification that its Verifier did
// not produce (alipaynotify.Verifier.Produced), such as one built by hand.
var ErrNotVerified = errors.New("middleware: the notification was not produced by this middleware's Verifier")

// Deliver runs business for n through the same exactly-once path as a
// callback (claim → business handler → done), deduped against the notify and
// return deliveries of the same event, with the same hooks and logs. It
// serves the deliveries that do not arrive as an HTTP callback: a trade
// query answer (alipaynotify.SourceQuery, package reconcile), or a stored
// callback verified again with Verifier.VerifyReceived (a replay). n must come
// from this middleware's Verifier; any other is refused with ErrNotVerified
// (OutcomeRejected), so that a hand-built Notification can never pass for a
// payment. The business handler gets a request carrying ctx and no body; its
// response is discarded. The returned Delivery says what happened:
// Outcome.Acknowledged() reports whether the event is now handled.
func (m *Middleware) Deliver(ctx context.Context, n *alipaynotify.Notification, business http.Handler) *Delivery {
	return m.deliverWithout(ctx, &Delivery{Notification: n}, business)
}

// deliverWithout runs d (its notification, and raw and via when set)
// through the exactly-once path without an HTTP request: Deliver and Replay.
func (m *Middleware) deliverWithout(ctx context.Context, d *Delivery, business http.Handler) *Delivery {
	n := d.Notification
	src := alipaynotify.SourceNotify
	if n != nil {
		src = n.Source
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", http.NoBody)
	if err != nil { // only for a nil ctx
		return &Delivery{Notification: n, Outcome: OutcomeRejected, Err: err}
	}
	r = m.received(r, src)
	if !m.opts.Verifier.Produced(n) {
		m.reject(r.Context(), src, ErrNotVerified, nil)
		return &Delivery{Outcome: OutcomeRejected, Err: ErrNotVerified}
	}
	func() {
		// The business handler's panic has already released the claim and
		// set the outcome; here, without a server to recover it, it stops.
		defer func() {
			if rec := recover(); rec != nil {
				m.opts.Logger.ErrorContext(ctx, "alipaynotify: business handler panicked on a delivery without a request",
					"event", logEvent(n), "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			}
		}()
		m.deliver(discardWriter{header: make(http.Header)}, r, d, business)
	}()
	return d
}

// discardWriter is the response writer of a Deliver: nobody reads it.
type discardWriter struct{ header http.Header }

func (w discardWriter) Header() http.Header       { return w.header }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

// Verifier returns the verifier the middleware uses.
func (m *Middleware) Verifier() *alipaynotify.Verifier { return m.opts.Verifier }

func answer(w http.ResponseWriter, status int, ok bool) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if ok {
		io.WriteString(w, "success")
	} else {
		io.WriteString(w, "fail")
	}
}

// received runs Hooks.Received and returns r with the context it gave.
func (m *Middleware) received(r *http.Request, src alipaynotify.Source) *http.Request {
	if h := m.opts.Hooks.Received; h != nil {
		if ctx := h(r.Context(), src); ctx != nil {
			return r.WithContext(ctx)
		}
	}
	return r
}

// reject logs and reports a refused callback; n is the verified
// notification when the refusal came after the signature (the Verifier's
// RejectedError carries it too).
func (m *Middleware) reject(ctx context.Context, src alipaynotify.Source, err error, n *alipaynotify.Notification) {
	rej := newRejection(src, err, n)
	attrs := []any{"source", string(src), "reason", string(rej.Reason), "error", err.Error()}
	if rej.Notification != nil {
		attrs = append(attrs, "event", logEvent(rej.Notification))
	}
	m.opts.Logger.WarnContext(ctx, "alipaynotify: callback rejected", attrs...)
	m.signatureHint(ctx, rej.Reason)
	if h := m.opts.Hooks.Rejected; h != nil {
		h(ctx, rej)
	}
	if h := m.opts.Hooks.Finished; h != nil {
		h(ctx, src, &Delivery{Notification: rej.Notification, Outcome: OutcomeRejected, Err: err})
	}
}

// deliver runs the exactly-once flow for d's verified notification and
// reports its end to Hooks.Finished, even when the business handler panics.
func (m *Middleware) deliver(w http.ResponseWriter, r *http.Request, d *Delivery, business http.Handler) {
	n := d.Notification
	m.verified()
	m.certSNWarning(r.Context(), n)
	if h := m.opts.Hooks.Finished; h != nil {
		defer h(r.Context(), n.Source, d)
	}
	m.process(w, r, d, business)
}

// process is the exactly-once flow.
func (m *Middleware) process(w http.ResponseWriter, r *http.Request, d *Delivery, business http.Handler) {
	ctx := r.Context()
	n := d.Notification
	hooks := &m.opts.Hooks
	if hooks.Verified != nil {
		hooks.Verified(ctx, n)
	}
	ev := dedupe.EventFor(n)
	if !m.opts.CheckTradeNo.applies(n.Protocol) {
		ev.Binding = ""
	}

	// One delivery of the event at a time in this process talks to the
	// store; the others wait behind it, up to MaxWaiting of them.
	start := time.Now()
	deadline := start.Add(m.opts.WaitInFlight)
	g, snapshot, behind, ok := m.gates.enter(ev, m.opts.MaxWaiting)
	if !ok {
		d.Outcome, d.Err = OutcomeInFlight, fmt.Errorf("%w: %d deliveries of the event already wait in this process", ErrInFlight, m.opts.MaxWaiting)
		return
	}
	defer m.gates.leave(g)
	acquired := g.acquire(ctx, deadline)
	behind = behind || m.gates.ownersSince(g, snapshot)
	waited := time.Since(start)
	if !acquired {
		m.waited(ctx, n, behind, waited)
		d.Outcome, d.Err = OutcomeInFlight, ErrInFlight
		return
	}
	defer g.release()
	if g.done {
		// The delivery this one waited behind saw the event done.
		m.waited(ctx, n, behind, waited)
		m.duplicate(ctx, d)
		return
	}

	claim, claimed, polled, err := m.claim(ctx, g, ev, deadline)
	defer m.gates.setOwning(g, false)
	if polled {
		behind, waited = true, time.Since(start)
	}
	m.waited(ctx, n, behind, waited)
	if err != nil {
		m.storeError(ctx, "claim", err)
		if !m.opts.AtLeastOnce {
			d.Outcome, d.Err = OutcomeFailed, fmt.Errorf("%w: %w", ErrStore, err)
			return
		}
		m.opts.Logger.WarnContext(ctx, "alipaynotify: running the handler without a claim (AtLeastOnce)", "event", logEvent(n))
		m.run(w, r, d, business, nil, time.Time{})
		return
	}
	switch claim.State {
	case dedupe.Done:
		g.done = true
		m.duplicate(ctx, d)
		return
	case dedupe.Busy:
		d.Outcome, d.Err = OutcomeInFlight, ErrInFlight
		return
	case dedupe.Conflict:
		d.Outcome, d.Err = OutcomeFailed, ErrTradeNoConflict
		m.opts.Logger.ErrorContext(ctx, "alipaynotify: refused: out_trade_no already belongs to another trade_no",
			"event", logEvent(n), "trade_no", n.TradeNo)
		if hooks.Rejected != nil {
			hooks.Rejected(ctx, newRejection(n.Source, ErrTradeNoConflict, n))
		}
		return
	}
	d.ClaimToken, d.Stale = claim.Token, claim.Stale
	if d.Stale && hooks.Stale != nil {
		hooks.Stale(ctx, n)
	}
	if d.Stale && m.opts.SkipStale {
		switch done, err := m.complete(ctx, ev, claim.Token, d.source(), d.Stale); {
		case done:
			d.Outcome = OutcomeSkippedStale
			g.done = true
		case err == nil:
			m.leaseLost(ctx, n)
			d.Outcome, d.Err = OutcomeFailed, ErrLeaseLost
		default:
			d.Outcome, d.Err = OutcomeFailed, fmt.Errorf("%w: %w", ErrStore, err)
		}
		return
	}
	m.run(w, r, d, business, &ev, claimed)
	g.done = d.Outcome.Acknowledged()
}

// waited reports a delivery that waited behind another owner of the claim.
func (m *Middleware) waited(ctx context.Context, n *alipaynotify.Notification, behind bool, d time.Duration) {
	if behind && m.opts.Hooks.WaitedInFlight != nil {
		m.opts.Hooks.WaitedInFlight(ctx, n, d)
	}
}

func (m *Middleware) duplicate(ctx context.Context, d *Delivery) {
	d.Outcome = OutcomeDuplicate
	if h := m.opts.Hooks.Duplicate; h != nil {
		h(ctx, d.Notification)
	}
}

// claim takes the claim for the gate's holder. While another process holds
// it (Busy), it polls with backoff (pollFirst doubling up to pollMax, with
// jitter) while the next poll falls before deadline, continuing the backoff
// of the gate's previous holder, so that the store sees about one Claim per
// pause for the event however many duplicates wait. It returns when the call that took the claim
// started (the lease runs from no earlier) and whether it waited on another
// owner.
func (m *Middleware) claim(ctx context.Context, g *gate, ev dedupe.Event, deadline time.Time) (c dedupe.Claim, claimed time.Time, polled bool, err error) {
	for {
		if pause := time.Until(g.nextPoll); pause > 0 {
			// A holder before this one found the event busy just now.
			polled = true
			if g.nextPoll.After(deadline) || !sleepCtx(ctx, pause) {
				return dedupe.Claim{State: dedupe.Busy}, claimed, polled, nil
			}
		}
		claimed = time.Now()
		c, err = m.storeClaim(ctx, ev)
		if err != nil || c.State != dedupe.Busy {
			g.nextPoll, g.backoff = time.Time{}, 0
			if err == nil && c.State == dedupe.Claimed {
				m.gates.setOwning(g, true)
			}
			return c, claimed, polled, err
		}
		polled = true
		m.gates.setOwning(g, true)
		// Poll again after the pause, unless that is past the deadline: then
		// answer now, and leave the time to the next holder.
		g.nextPoll = time.Now().Add(g.pollPause(c.Remaining))
		if g.nextPoll.After(deadline) {
			return c, claimed, polled, nil
		}
	}
}

// sleepCtx sleeps for d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run executes business for d. With ev set, it keeps the claim's lease
// (taken at claimed) while the handler runs and completes or releases the
// claim afterwards.
func (m *Middleware) run(w http.ResponseWriter, r *http.Request, d *Delivery, business http.Handler, ev *dedupe.Event, claimed time.Time) {
	ctx := r.Context()
	n := d.Notification
	hctx, cancel := context.WithCancelCause(withDelivery(ctx, d))
	defer cancel(nil)
	var stopRenew func()
	if ev != nil {
		stopRenew = m.keepLease(hctx, cancel, *ev, d.ClaimToken, claimed)
	}
	start := time.Now()
	var err error
	panicked := true
	defer func() {
		if !panicked {
			return
		}
		// Release the claim so the next retry can run. On notify, let the
		// panic go on to the server's (or framework's) recovery, which drops
		// the connection: Alipay retries. On a return, the buyer still gets
		// the page (with OutcomeFailed), so log the panic here.
		rec := recover()
		if stopRenew != nil {
			stopRenew()
			m.release(ctx, *ev, d.ClaimToken)
		}
		if rec == nil {
			// runtime.Goexit (panic(nil) recovers as *runtime.PanicNilError):
			// the claim is released; let the goroutine go on exiting.
			d.Outcome, d.Err = OutcomeFailed, fmt.Errorf("%w: runtime.Goexit", ErrHandlerPanic)
			m.failed(ctx, d, time.Since(start))
			return
		}
		d.Outcome, d.Err = OutcomeFailed, fmt.Errorf("%w: %v", ErrHandlerPanic, rec)
		m.failed(ctx, d, time.Since(start))
		if n.Source != alipaynotify.SourceReturn || rec == http.ErrAbortHandler {
			panic(rec)
		}
		m.opts.Logger.ErrorContext(ctx, "alipaynotify: business handler panicked on a return; showing the page",
			"event", logEvent(n), "stack", string(debug.Stack()))
	}()
	err = callBusiness(business, w, r.WithContext(hctx))
	panicked = false
	if stopRenew != nil {
		stopRenew()
	}
	elapsed := time.Since(start)
	lost := errors.Is(context.Cause(hctx), ErrLeaseLost)
	if err != nil {
		d.Outcome, d.Err = OutcomeFailed, err
		if lost {
			// The lease ran out: there is nothing left to release.
			d.Err = fmt.Errorf("%w (the handler: %w)", ErrLeaseLost, err)
			m.leaseLost(ctx, n)
		} else if ev != nil {
			m.release(ctx, *ev, d.ClaimToken)
		}
		m.failed(ctx, d, elapsed)
		return
	}
	if ev != nil {
		// Complete is token-checked: if it succeeds, nobody took over, even
		// when the renewals could not tell.
		switch done, cerr := m.complete(ctx, *ev, d.ClaimToken, d.source(), d.Stale); {
		case done:
			m.clearFailure(ctx, *ev, false)
		case cerr == nil || lost:
			d.Outcome, d.Err = OutcomeFailed, ErrLeaseLost
			m.leaseLost(ctx, n)
			m.failed(ctx, d, elapsed)
			return
		default:
			m.opts.Logger.ErrorContext(ctx, "alipaynotify: handled but not remembered; a re-delivery would run the handler again",
				"event", logEvent(n))
		}
	}
	d.Outcome = OutcomeHandled
	if m.opts.Hooks.Handled != nil {
		m.opts.Hooks.Handled(ctx, n, elapsed)
	}
}

// failed reports the business handler's failure of d (d.Err) after
// elapsed, and keeps the callback as a dead letter.
func (m *Middleware) failed(ctx context.Context, d *Delivery, elapsed time.Duration) {
	n := d.Notification
	m.opts.Logger.ErrorContext(ctx, "alipaynotify: business handler failed", "event", logEvent(n), "error", d.Err.Error())
	if m.opts.Hooks.Failed != nil {
		m.opts.Hooks.Failed(ctx, n, d.Err, elapsed)
	}
	m.recordFailure(ctx, d)
}

// callBusiness runs the business handler and turns its result into an error.
// w is the real response writer, reachable only through Unwrap.
func callBusiness(business http.Handler, w http.ResponseWriter, r *http.Request) error {
	if f, ok := business.(HandlerFunc); ok {
		n, _ := FromContext(r.Context())
		return f(r.Context(), n)
	}
	cw := &captureWriter{header: make(http.Header), underlying: w}
	business.ServeHTTP(cw, r)
	if cw.status == 0 || (cw.status >= 200 && cw.status < 300) {
		return nil
	}
	return fmt.Errorf("%w: %d", ErrHandlerStatus, cw.status)
}

// logEvent names an event for logs without personal data (no subject, no
// buyer or address fields).
func logEvent(n *alipaynotify.Notification) string {
	return n.Event().String()
}

// captureWriter collects the business handler's status; its output is
// discarded because Alipay must read exactly "success" or "fail". Unwrap
// exposes the real writer so http.ResponseController can set deadlines, but
// Flush and Hijack are refused here: nothing may reach the client before the
// middleware's answer.
type captureWriter struct {
	header     http.Header
	status     int
	underlying http.ResponseWriter
}

// Unwrap returns the real response writer, for http.ResponseController.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.underlying }

// Flush does nothing: the business handler's output is never sent.
func (c *captureWriter) Flush() {}

// Hijack is refused: the connection belongs to the middleware's answer.
func (c *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("middleware: the business handler cannot hijack the connection")
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return len(p), nil
}
