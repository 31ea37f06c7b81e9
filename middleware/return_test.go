package middleware_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// TestReturnOutcomes: whatever happens to the business handler, the buyer
// gets the page, and the page knows what happened.
func TestReturnOutcomes(t *testing.T) {
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		for _, tc := range []struct {
			name    string
			setup   func(t *testing.T, f *fixture, order string) // before the return
			outcome string
			runs    int // successful business runs after the return
			logs    []string
		}{
			{name: "handled now", outcome: "handled", runs: 1},
			{name: "handled before", outcome: "duplicate", runs: 1, setup: func(t *testing.T, f *fixture, order string) {
				if code, body := f.notify(t, f.signer.NewTrade(order, "3.00").Paid()); code != 200 || body != "success" {
					t.Fatalf("notify: %d %q", code, body)
				}
			}},
			{name: "handler error", outcome: "failed", runs: 0, logs: []string{"business handler failed", "database down"},
				setup: func(t *testing.T, f *fixture, order string) { f.rec.fail.Store(1) }},
			{name: "handler panic", outcome: "failed", runs: 0, logs: []string{"business handler panicked on a return", "stack=", "boom"},
				setup: func(t *testing.T, f *fixture, order string) { f.rec.panics.Store(1) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var logs syncBuffer
				f := newFixtureOn(t, newStore(), middleware.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
				order := "RET-" + strings.ReplaceAll(tc.name, " ", "-")
				if tc.setup != nil {
					tc.setup(t, f, order)
				}
				trade := f.signer.NewTrade(order, "3.00")
				w := f.serve(trade.Return().Request("/alipay/return"))
				if w.Code != http.StatusOK || w.Body.String() != "thanks: "+tc.outcome {
					t.Fatalf("page: %d %q, want 200 %q", w.Code, w.Body.String(), "thanks: "+tc.outcome)
				}
				if d := <-f.pages; d.Outcome.String() != tc.outcome || d.Notification.OutTradeNo != order {
					t.Fatalf("page saw %v for %s", d.Outcome, d.Notification.OutTradeNo)
				}
				if f.rec.total() != tc.runs {
					t.Fatalf("runs = %d, want %d", f.rec.total(), tc.runs)
				}
				for _, s := range tc.logs {
					if !strings.Contains(logs.String(), s) {
						t.Errorf("log lacks %q:\n%s", s, logs.String())
					}
				}
				// A failed return released its claim: the notification that
				// follows runs the handler at once.
				start := time.Now()
				if code, body := f.notify(t, trade.Paid()); code != 200 || body != "success" {
					t.Fatalf("notify after the return: %d %q", code, body)
				}
				if f.rec.total() != 1 || time.Since(start) > time.Second {
					t.Fatalf("after the notify: runs = %d in %v, want 1 at once", f.rec.total(), time.Since(start))
				}
			})
		}
	})
}

// TestReturnInFlight: a return that arrives while the notification's
// handler is still running waits up to WaitInFlight, then shows the page
// with OutcomeInFlight without running the handler.
func TestReturnInFlight(t *testing.T) {
	t.Parallel()
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		f := newFixtureOn(t, newStore(), middleware.Options{WaitInFlight: 50 * time.Millisecond})
		f.rec.sleep = 500 * time.Millisecond
		running := make(chan struct{}, 1)
		f.rec.onRun = func() { running <- struct{}{} }
		trade := f.signer.NewTrade("RET-IN-FLIGHT", "1.00")
		done := make(chan string)
		go func() {
			_, body := f.notify(t, trade.Paid())
			done <- body
		}()
		<-running // the notification holds the claim
		w := f.serve(trade.Return().Request("/alipay/return"))
		if w.Code != http.StatusOK || w.Body.String() != "thanks: in-flight" {
			t.Fatalf("page: %d %q", w.Code, w.Body.String())
		}
		if d := <-f.pages; d.Err == nil || !errors.Is(d.Err, middleware.ErrInFlight) {
			t.Fatalf("delivery error %v, want ErrInFlight", d.Err)
		}
		if body := <-done; body != "success" || f.rec.total() != 1 {
			t.Fatalf("notification answered %q, runs %d", body, f.rec.total())
		}
	})
}

// TestReturnMethods: only GET reaches the verifier and the handler; HEAD and
// the rest get 405 with Allow: GET.
func TestReturnMethods(t *testing.T) {
	t.Parallel()
	f := newFixture(t, middleware.Options{})
	ret := f.signer.NewTrade("RET-METHOD", "1.00").Return()
	for _, method := range []string{http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete} {
		req := ret.Request("/alipay/return")
		req.Method = method
		w := f.serve(req)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodGet {
			t.Errorf("%s: %d, Allow %q", method, w.Code, w.Header().Get("Allow"))
		}
	}
	if f.rec.total() != 0 {
		t.Fatalf("the handler ran %d times", f.rec.total())
	}
}

// TestReturnErrorHandler: an unverifiable return goes to the merchant's
// error handler with a typed error, and runs nothing.
func TestReturnErrorHandler(t *testing.T) {
	t.Parallel()
	var got error
	f := newFixture(t, middleware.Options{ReturnErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "our own error page")
	}})
	forged := f.signer.NewTrade("RET-FORGED", "1.00").Return().Tampered("total_amount", "0.01")
	w := f.serve(forged.Request("/alipay/return"))
	if w.Code != http.StatusTeapot || w.Body.String() != "our own error page" {
		t.Fatalf("%d %q", w.Code, w.Body.String())
	}
	if !errors.Is(got, alipaynotify.ErrSignature) || f.rec.total() != 0 {
		t.Fatalf("error %v, runs %d", got, f.rec.total())
	}
}

// TestNotifyIgnoresQuery: query parameters a merchant put on its notify_url
// are not part of the callback: the body alone is verified.
func TestNotifyIgnoresQuery(t *testing.T) {
	t.Parallel()
	f := newFixture(t, middleware.Options{})
	paid := f.signer.NewTrade("NOTIFY-QUERY", "1.00").Paid()
	w := f.serve(paid.Request("/alipay/notify?shop=7&sign=forged&total_amount=0.01"))
	if w.Code != 200 || w.Body.String() != "success" || f.rec.total() != 1 {
		t.Fatalf("%d %q, runs %d", w.Code, w.Body.String(), f.rec.total())
	}
}

// TestOwnerFailsWhileDuplicateWaits: a duplicate waiting for an owner that
// then fails takes the claim over and runs the handler itself, so Alipay's
// copy is acknowledged only once the event is really handled.
func TestOwnerFailsWhileDuplicateWaits(t *testing.T) {
	t.Parallel()
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		f := newFixtureOn(t, newStore(), middleware.Options{WaitInFlight: 5 * time.Second})
		f.rec.sleep = 150 * time.Millisecond // the owner's run, which the duplicate waits out
		f.rec.fail.Store(1)                  // the first run fails after its sleep
		running := make(chan struct{}, 2)
		f.rec.onRun = func() { running <- struct{}{} }
		paid := f.signer.NewTrade("OWNER-FAILS", "1.00").Paid()
		bodies := make(chan string, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				if i == 1 {
					<-running // the second finds the claim taken
				}
				_, body := f.notify(t, paid)
				bodies <- body
			})
		}
		wg.Wait()
		close(bodies)
		var got []string
		for b := range bodies {
			got = append(got, b)
		}
		if strings.Join(got, ",") != "fail,success" || f.rec.total() != 1 {
			t.Fatalf("answers %v, runs %d; want the owner's fail, then the waiter's success after one run", got, f.rec.total())
		}
	})
}

// TestHooksFire: every hook fires once for what it reports, with the
// durations measured.
func TestHooksFire(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	fired := map[string]int{}
	var handledIn, failedIn, waited time.Duration
	count := func(name string) {
		mu.Lock()
		defer mu.Unlock()
		fired[name]++
	}
	hooks := middleware.Hooks{
		Verified:  func(context.Context, *alipaynotify.Notification) { count("verified") },
		Rejected:  func(context.Context, middleware.Rejection) { count("rejected") },
		Duplicate: func(context.Context, *alipaynotify.Notification) { count("duplicate") },
		WaitedInFlight: func(_ context.Context, _ *alipaynotify.Notification, d time.Duration) {
			count("waited")
			mu.Lock()
			waited = d
			mu.Unlock()
		},
		Stale: func(context.Context, *alipaynotify.Notification) { count("stale") },
		Handled: func(_ context.Context, _ *alipaynotify.Notification, d time.Duration) {
			count("handled")
			mu.Lock()
			handledIn = d
			mu.Unlock()
		},
		Failed: func(_ context.Context, _ *alipaynotify.Notification, _ error, d time.Duration) {
			count("failed")
			mu.Lock()
			failedIn = d
			mu.Unlock()
		},
	}
	f := newFixture(t, middleware.Options{Hooks: hooks, Logger: slog.New(slog.DiscardHandler)})
	trade := f.signer.NewTrade("HOOKS", "2.00")
	f.rec.sleep = 20 * time.Millisecond

	f.rec.fail.Store(1)
	f.notify(t, trade.Paid()) // verified, failed
	finished := trade.Finished()
	f.notify(t, finished)     // verified, handled
	f.notify(t, finished)     // verified, duplicate
	f.notify(t, trade.Paid()) // verified, stale, handled
	f.notify(t, trade.Paid().Tampered("total_amount", "0.01"))

	// A duplicate that waits for the owner.
	f.rec.sleep = 200 * time.Millisecond // the owner's run, which the duplicate waits out
	first := make(chan struct{})
	f.rec.onRun = func() { close(first) }
	other := f.signer.NewTrade("HOOKS-WAIT", "2.00").Paid()
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			if i == 1 {
				<-first // the first delivery holds the claim
			}
			f.notify(t, other)
		})
	}
	wg.Wait()

	want := map[string]int{"verified": 6, "rejected": 1, "failed": 1, "handled": 3, "duplicate": 2, "stale": 1, "waited": 1}
	mu.Lock()
	defer mu.Unlock()
	for k, n := range want {
		if fired[k] != n {
			t.Errorf("hook %s fired %d times, want %d (all: %v)", k, fired[k], n, fired)
		}
	}
	if handledIn < 20*time.Millisecond || failedIn < 20*time.Millisecond || waited < 50*time.Millisecond {
		t.Errorf("durations: handled %v, failed %v, waited %v", handledIn, failedIn, waited)
	}
}

// The return route's error handler default: 400, nothing echoed.
func TestReturnErrorDefault(t *testing.T) {
	f := newFixture(t, middleware.Options{Logger: slog.New(slog.DiscardHandler)})
	req := httptest.NewRequest(http.MethodGet, "/alipay/return?out_trade_no=%3Cscript%3E&sign=x", nil)
	w := f.serve(req)
	if w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), "script") {
		t.Fatalf("%d %q", w.Code, w.Body.String())
	}
}

// TestGoexitReleasesClaim: a business handler that ends its goroutine with
// runtime.Goexit (t.FailNow in a test handler) releases the claim and is
// not turned into a panic.
func TestGoexitReleasesClaim(t *testing.T) {
	f := newFixture(t, middleware.Options{Logger: slog.New(slog.DiscardHandler)})
	exit := true
	f.rec.onRun = func() {
		if exit {
			exit = false
			runtime.Goexit()
		}
	}
	paid := f.signer.NewTrade("GOEXIT", "1.00").Paid()
	var panicked any
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { panicked = recover() }()
		f.notify(t, paid)
	}()
	<-done
	if panicked != nil {
		t.Fatalf("Goexit became a panic: %v", panicked)
	}
	start := time.Now()
	if code, body := f.notify(t, paid); code != 200 || body != "success" || f.rec.total() != 1 || time.Since(start) > time.Second {
		t.Fatalf("after Goexit: %d %q, runs %d in %v", code, body, f.rec.total(), time.Since(start))
	}
}
