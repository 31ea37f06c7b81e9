// Package middleware serves Alipay's notify_url and return_url on net/http:
// it verifies every callback, hands the merchant's business handler a typed
// Notification, and runs that handler exactly once per business event, however
// many times and in whatever order Alipay and the buyer's browser deliver it.
//
// The same business handler serves both routes, so whichever of the notify
// POST and the return GET arrives first does the work and the other is a
// duplicate. The business handler is an http.Handler (it reads the
// Notification with FromContext and signals failure with a non-2xx status)
// or a HandlerFunc returning an error.
//
// # The exactly-once contract
//
//   - Event identity: merchant + out_trade_no + trade status + refund
//     identity (alipaynotify.Event); notify_id is not part of it.
//   - Claim: a delivery claims the event with a random token and a lease
//     (Options.Lease) and renews it while the handler runs; the handler can
//     read the token (Delivery.ClaimToken) to fence its writes.
//   - Done: after the handler succeeds the event is marked done, token-checked,
//     and remembered for Options.Retention; duplicates answer "success"
//     without running the handler.
//   - In flight elsewhere: a duplicate arriving while another delivery holds
//     the claim waits up to Options.WaitInFlight and answers by that
//     delivery's outcome; it takes over if the other delivery failed.
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
// Where it ends: if the store cannot record "done" after the handler succeeded
// (store down, or the lease ran out and another delivery took over), the
// middleware still answers "success" — the work is done and a retry would
// only repeat it — but the event is not remembered, so a later re-delivery
// runs the handler again. A handler that outlives its lease may run at the
// same time as the delivery that took over. Handlers should therefore be
// idempotent on their own data as a second line of defence (use the claim
// token to fence writes).
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
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
)

// Errors reported to hooks, logs and the return page.
var (
	// ErrHandlerStatus: the business http.Handler answered a non-2xx status.
	ErrHandlerStatus = errors.New("middleware: business handler answered a non-2xx status")
	// ErrHandlerPanic: the business handler panicked.
	ErrHandlerPanic = errors.New("middleware: business handler panicked")
	// ErrStore: the dedupe store failed.
	ErrStore = errors.New("middleware: dedupe store failed")
	// ErrInFlight: another delivery held the claim for longer than WaitInFlight.
	ErrInFlight = errors.New("middleware: event still in flight elsewhere")
	// ErrBodyTooLarge: the notify body exceeded MaxBodyBytes.
	ErrBodyTooLarge = errors.New("middleware: notify body too large")
	// ErrTradeNoConflict: the notification's trade_no differs from the one
	// recorded for its out_trade_no (see Options.CheckTradeNo).
	ErrTradeNoConflict = errors.New("middleware: trade_no differs from the one recorded for out_trade_no")
)

// HandlerFunc is the typed form of a business handler. Return nil when the
// event is durably handled; any error makes Alipay retry.
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
	opts Options
}

// New validates opts once and returns the middleware.
func New(opts Options) (*Middleware, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Middleware{opts: opts}, nil
}

// Notify returns the notify_url handler: POST only (405 otherwise); verify →
// claim → run business → answer exactly "success" (200, 7 bytes) when the
// event is handled now or was before, "fail" otherwise. The business
// handler's own response is discarded: Alipay only reads "success".
func (m *Middleware) Notify(business http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			answer(w, http.StatusMethodNotAllowed, false)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, m.opts.MaxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				m.reject(r.Context(), alipaynotify.SourceNotify, ErrBodyTooLarge)
				answer(w, http.StatusRequestEntityTooLarge, false)
				return
			}
			m.reject(r.Context(), alipaynotify.SourceNotify, fmt.Errorf("%w: reading the body: %v", alipaynotify.ErrMalformed, err))
			answer(w, http.StatusBadRequest, false)
			return
		}
		n, err := m.opts.Verifier.VerifyNotify(r.Context(), body)
		if err != nil {
			m.reject(r.Context(), alipaynotify.SourceNotify, err)
			answer(w, http.StatusBadRequest, false)
			return
		}
		d := m.process(w, r, n, business)
		switch {
		case d.Outcome.Acknowledged():
			answer(w, http.StatusOK, true)
		case errors.Is(d.Err, ErrStore) || errors.Is(d.Err, ErrInFlight):
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
		n, err := m.opts.Verifier.VerifyReturn(r.Context(), r.URL.RawQuery)
		if err != nil {
			m.reject(r.Context(), alipaynotify.SourceReturn, err)
			m.opts.ReturnErrorHandler(w, r, err)
			return
		}
		d := m.process(w, r, n, business)
		page.ServeHTTP(w, r.WithContext(withDelivery(r.Context(), d)))
	})
}

// NotifyMiddleware is Notify in the func(http.Handler) http.Handler shape
// (for gorilla/mux's MiddlewareFunc and similar): the wrapped handler is the
// business handler.
func (m *Middleware) NotifyMiddleware() func(http.Handler) http.Handler {
	return m.Notify
}

// ReturnMiddleware is Return in the func(http.Handler) http.Handler shape: the
// wrapped handler is the page.
func (m *Middleware) ReturnMiddleware(business http.Handler) func(http.Handler) http.Handler {
	return func(page http.Handler) http.Handler { return m.Return(business, page) }
}

// Process runs the exactly-once flow for an already verified notification:
// claim, run business, complete or release. Framework adapters use it; the
// returned Delivery holds the outcome. A panic in business releases the
// claim; for a notification it then goes on to the caller's recovery, for a
// return (n.Source) it is logged and reported as OutcomeFailed, so that the
// page can still be shown.
func (m *Middleware) Process(w http.ResponseWriter, r *http.Request, n *alipaynotify.Notification, business http.Handler) *Delivery {
	return m.process(w, r, n, business)
}

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

func (m *Middleware) reject(ctx context.Context, src alipaynotify.Source, err error) {
	m.opts.Logger.WarnContext(ctx, "alipaynotify: callback rejected", "source", string(src), "reason", err.Error())
	if h := m.opts.Hooks.Rejected; h != nil {
		h(ctx, src, err)
	}
}

func (m *Middleware) storeError(ctx context.Context, op string, err error) {
	m.opts.Logger.ErrorContext(ctx, "alipaynotify: dedupe store failed", "op", op, "error", err.Error())
	if h := m.opts.Hooks.StoreError; h != nil {
		h(ctx, op, err)
	}
}

// process is the exactly-once flow.
func (m *Middleware) process(w http.ResponseWriter, r *http.Request, n *alipaynotify.Notification, business http.Handler) *Delivery {
	ctx := r.Context()
	hooks := &m.opts.Hooks
	if hooks.Verified != nil {
		hooks.Verified(ctx, n)
	}
	d := &Delivery{Notification: n}
	ev := dedupe.EventFor(n)
	if !m.opts.CheckTradeNo.applies(n.Protocol) {
		ev.Binding = ""
	}
	claim, waited, err := m.claim(ctx, ev)
	if waited > 0 && hooks.WaitedInFlight != nil {
		hooks.WaitedInFlight(ctx, n, waited)
	}
	if err != nil {
		m.storeError(ctx, "claim", err)
		if !m.opts.AtLeastOnce {
			d.Outcome, d.Err = OutcomeFailed, fmt.Errorf("%w: %v", ErrStore, err)
			return d
		}
		m.opts.Logger.WarnContext(ctx, "alipaynotify: running the handler without a claim (AtLeastOnce)", "event", logEvent(n))
		m.run(w, r, d, business, nil)
		return d
	}
	switch claim.State {
	case dedupe.Done:
		d.Outcome = OutcomeDuplicate
		if hooks.Duplicate != nil {
			hooks.Duplicate(ctx, n)
		}
		return d
	case dedupe.Busy:
		d.Outcome, d.Err = OutcomeInFlight, ErrInFlight
		return d
	case dedupe.Conflict:
		d.Outcome, d.Err = OutcomeFailed, ErrTradeNoConflict
		m.opts.Logger.ErrorContext(ctx, "alipaynotify: refused: out_trade_no already belongs to another trade_no",
			"event", logEvent(n), "trade_no", n.TradeNo)
		if hooks.Rejected != nil {
			hooks.Rejected(ctx, n.Source, ErrTradeNoConflict)
		}
		return d
	}
	d.ClaimToken, d.Stale = claim.Token, claim.Stale
	if d.Stale && hooks.Stale != nil {
		hooks.Stale(ctx, n)
	}
	if d.Stale && m.opts.SkipStale {
		if m.complete(ctx, ev, claim.Token) {
			d.Outcome = OutcomeSkippedStale
		} else {
			d.Outcome, d.Err = OutcomeFailed, ErrStore
		}
		return d
	}
	m.run(w, r, d, business, &ev)
	return d
}

// claim takes the claim, waiting up to WaitInFlight while another delivery
// holds it. It returns how long it waited.
func (m *Middleware) claim(ctx context.Context, ev dedupe.Event) (dedupe.Claim, time.Duration, error) {
	start := time.Now()
	deadline := start.Add(m.opts.WaitInFlight)
	backoff := 20 * time.Millisecond
	for {
		c, err := m.opts.Store.Claim(ctx, ev, m.opts.Lease)
		if err != nil || c.State != dedupe.Busy {
			return c, waitedSince(start, c), err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return c, time.Since(start), nil
		}
		sleep := min(backoff, left)
		if c.Remaining > 0 {
			sleep = min(sleep, c.Remaining+time.Millisecond)
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return c, time.Since(start), nil
		case <-t.C:
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

func waitedSince(start time.Time, c dedupe.Claim) time.Duration {
	if d := time.Since(start); d > time.Millisecond {
		return d
	}
	return 0
}

// run executes business for d. With ev set, it renews the lease while the
// handler runs and completes or releases the claim afterwards.
func (m *Middleware) run(w http.ResponseWriter, r *http.Request, d *Delivery, business http.Handler, ev *dedupe.Event) {
	ctx := r.Context()
	n := d.Notification
	hctx, cancel := context.WithCancelCause(withDelivery(ctx, d))
	defer cancel(nil)
	var stopRenew func()
	if ev != nil {
		stopRenew = m.renew(hctx, cancel, *ev, d.ClaimToken)
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
			m.failed(ctx, n, d.Err, time.Since(start))
			return
		}
		d.Outcome, d.Err = OutcomeFailed, fmt.Errorf("%w: %v", ErrHandlerPanic, rec)
		m.failed(ctx, n, d.Err, time.Since(start))
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
	if err != nil {
		d.Outcome, d.Err = OutcomeFailed, err
		if ev != nil {
			m.release(ctx, *ev, d.ClaimToken)
		}
		m.failed(ctx, n, err, elapsed)
		return
	}
	d.Outcome = OutcomeHandled
	if ev != nil && !m.complete(ctx, *ev, d.ClaimToken) {
		m.opts.Logger.ErrorContext(ctx, "alipaynotify: handled but not remembered; a re-delivery would run the handler again",
			"event", logEvent(n))
	}
	if m.opts.Hooks.Handled != nil {
		m.opts.Hooks.Handled(ctx, n, elapsed)
	}
}

func (m *Middleware) failed(ctx context.Context, n *alipaynotify.Notification, err error, d time.Duration) {
	m.opts.Logger.ErrorContext(ctx, "alipaynotify: business handler failed", "event", logEvent(n), "error", err.Error())
	if m.opts.Hooks.Failed != nil {
		m.opts.Hooks.Failed(ctx, n, err, d)
	}
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

// renew extends the lease every Lease/3 until stopped. If the lease is lost
// (another delivery took over), it cancels the handler's context with
// dedupe-lost as the cause.
func (m *Middleware) renew(ctx context.Context, cancel context.CancelCauseFunc, ev dedupe.Event, token string) func() {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(m.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				ok, err := m.opts.Store.Extend(context.WithoutCancel(ctx), ev, token, m.opts.Lease)
				if err != nil {
					m.storeError(ctx, "extend", err)
					continue // keep trying: the lease may still be valid
				}
				if !ok {
					cancel(ErrLeaseLost)
					return
				}
			}
		}
	}()
	return func() { close(done); <-exited }
}

// ErrLeaseLost is the cause of the business handler's context cancellation
// when its claim's lease ran out and another delivery took the event over.
var ErrLeaseLost = errors.New("middleware: claim lease lost")

// complete marks the event done, retrying a store error a few times. It
// reports whether the done mark was written.
func (m *Middleware) complete(ctx context.Context, ev dedupe.Event, token string) bool {
	ctx = context.WithoutCancel(ctx) // the answer is decided; finish the bookkeeping
	for attempt := 0; ; attempt++ {
		ok, err := m.opts.Store.Complete(ctx, ev, token, m.opts.Retention)
		if err == nil {
			if !ok {
				m.storeError(ctx, "complete", ErrLeaseLost)
			}
			return ok
		}
		m.storeError(ctx, "complete", err)
		if attempt == 2 {
			return false
		}
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
}

func (m *Middleware) release(ctx context.Context, ev dedupe.Event, token string) {
	if _, err := m.opts.Store.Release(context.WithoutCancel(ctx), ev, token); err != nil {
		// The claim will expire after the lease; the next retry runs then.
		m.storeError(ctx, "release", err)
	}
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
