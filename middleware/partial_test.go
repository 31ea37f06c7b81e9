package middleware_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// Tests of the exactly-once flow under partial failure: stores that answer
// nonsense, hang, refuse or lose the lease, and many duplicates at once.

// margin is what timing assertions allow on top of the documented bound, for
// a loaded 2-core CI machine under the race detector. The bad behaviours the
// tests guard against take 3s or more, or forever.
const margin = time.Second

// scriptedStore wraps a store and lets a test replace any of its calls and
// count them.
type scriptedStore struct {
	dedupe.Store
	claim    func(ctx context.Context, ev dedupe.Event, lease time.Duration) (dedupe.Claim, error)
	extend   func(ctx context.Context) (bool, error)
	complete func(ctx context.Context) (bool, error)
	release  func(ctx context.Context) (bool, error)

	claims, extends, completes, releases atomic.Int32
}

func (s *scriptedStore) Claim(ctx context.Context, ev dedupe.Event, lease time.Duration) (dedupe.Claim, error) {
	s.claims.Add(1)
	if s.claim != nil {
		return s.claim(ctx, ev, lease)
	}
	return s.Store.Claim(ctx, ev, lease)
}

func (s *scriptedStore) Extend(ctx context.Context, ev dedupe.Event, token string, lease time.Duration) (bool, error) {
	s.extends.Add(1)
	if s.extend != nil {
		return s.extend(ctx)
	}
	return s.Store.Extend(ctx, ev, token, lease)
}

func (s *scriptedStore) Complete(ctx context.Context, ev dedupe.Event, token string, done dedupe.Completion) (bool, error) {
	s.completes.Add(1)
	if s.complete != nil {
		return s.complete(ctx)
	}
	return s.Store.Complete(ctx, ev, token, done)
}

func (s *scriptedStore) Release(ctx context.Context, ev dedupe.Event, token string) (bool, error) {
	s.releases.Add(1)
	if s.release != nil {
		return s.release(ctx)
	}
	return s.Store.Release(ctx, ev, token)
}

func newScripted(t *testing.T) *scriptedStore {
	mem := dedupe.NewMemoryStore()
	t.Cleanup(func() { mem.Close() })
	return &scriptedStore{Store: mem}
}

// hang blocks like a store call that never gets an answer and ignores its
// context, until the test ends (or, on a build without the fix, 5s: long
// enough to fail every bound below, short enough not to hang the run).
func hang(t *testing.T) func(context.Context) (bool, error) {
	unblock := make(chan struct{})
	t.Cleanup(func() { close(unblock) })
	return func(context.Context) (bool, error) {
		select {
		case <-unblock:
		case <-time.After(5 * time.Second):
		}
		return true, nil
	}
}

// timed serves req and returns the answer and how long it took.
func timed(f *fixture, path string, m *alipaytest.Message) (code int, body string, took time.Duration) {
	start := time.Now()
	w := f.serve(m.Request(path))
	return w.Code, w.Body.String(), time.Since(start)
}

// TestUnknownClaimStateFailsClosed (issue 14, item 1): a Claim answer the
// middleware does not know is a store failure: "fail", the handler never
// runs, StoreError reports it.
func TestUnknownClaimStateFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		claim dedupe.Claim
	}{
		{"zero claim", dedupe.Claim{}},
		{"undefined state", dedupe.Claim{State: dedupe.State(99), Token: "x"}},
		{"claimed without a token", dedupe.Claim{State: dedupe.Claimed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newScripted(t)
			st.claim = func(context.Context, dedupe.Event, time.Duration) (dedupe.Claim, error) { return tc.claim, nil }
			var storeErrs atomic.Int32
			f := newFixture(t, middleware.Options{Store: st, Logger: discardLogger(), Hooks: middleware.Hooks{
				StoreError: func(_ context.Context, op string, _ error) {
					if op == "claim" {
						storeErrs.Add(1)
					}
				},
			}})
			paid := f.signer.NewTrade("UNKNOWN-STATE", "1.00").Paid()
			for i := range 2 {
				if code, body := f.notify(t, paid); code != http.StatusServiceUnavailable || body != "fail" {
					t.Fatalf("delivery %d: %d %q, want 503 fail", i, code, body)
				}
			}
			if f.rec.total() != 0 || storeErrs.Load() != 2 {
				t.Fatalf("handler runs %d (want 0), claim store errors %d (want 2)", f.rec.total(), storeErrs.Load())
			}
		})
	}
}

// TestHangingExtendDoesNotStallAnswer (item 2): an Extend that never answers
// (and ignores its context) is bounded by Lease/3 and abandoned when the
// handler is done: a 40ms handler on a 90ms lease answers at once.
func TestHangingExtendDoesNotStallAnswer(t *testing.T) {
	st := newScripted(t)
	const lease = 90 * time.Millisecond
	hung := hang(t)
	var boundOK atomic.Bool
	boundOK.Store(true)
	st.extend = func(ctx context.Context) (bool, error) {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > lease/3 {
			boundOK.Store(false)
		}
		return hung(ctx)
	}
	f := newFixture(t, middleware.Options{Store: st, Lease: lease, Logger: discardLogger()})
	f.rec.sleep = 40 * time.Millisecond
	code, body, took := timed(f, "/alipay/notify", f.signer.NewTrade("HANG-EXTEND", "1.00").Paid())
	if code != 200 || body != "success" || took > f.rec.sleep+margin {
		t.Fatalf("answer %d %q after %v, want success within %v", code, body, took, f.rec.sleep+margin)
	}
	if st.extends.Load() == 0 || !boundOK.Load() {
		t.Fatalf("%d Extend calls, bounded by Lease/3: %v", st.extends.Load(), boundOK.Load())
	}
}

// TestStoreCallDeadlines (item 2): Claim, Complete and Release that never
// answer are abandoned after StoreTimeout, with the deadline on their
// context too, and the delivery answers within the documented bound.
func TestStoreCallDeadlines(t *testing.T) {
	const timeout = 100 * time.Millisecond
	for _, tc := range []struct {
		op         string
		failRun    bool // the handler fails, so the claim is released
		code       int
		body       string
		wantRuns   int
		wantErrOps string
	}{
		// The claim is unknown: fail closed.
		{op: "claim", code: 503, body: "fail"},
		// The handler succeeded: the answer stands, the event is not remembered.
		{op: "complete", code: 200, body: "success", wantRuns: 1},
		// The handler failed: the claim will expire after the lease.
		{op: "release", failRun: true, code: 500, body: "fail"},
	} {
		t.Run(tc.op, func(t *testing.T) {
			st := newScripted(t)
			hung := hang(t)
			var boundOK atomic.Bool
			boundOK.Store(true)
			call := func(ctx context.Context) (bool, error) {
				if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > timeout {
					boundOK.Store(false)
				}
				return hung(ctx)
			}
			switch tc.op {
			case "claim":
				st.claim = func(ctx context.Context, _ dedupe.Event, _ time.Duration) (dedupe.Claim, error) {
					call(ctx)
					return dedupe.Claim{State: dedupe.Done}, nil
				}
			case "complete":
				st.complete = call
			case "release":
				st.release = call
			}
			var storeErrs sync.Map
			f := newFixture(t, middleware.Options{Store: st, StoreTimeout: timeout, Logger: discardLogger(), Hooks: middleware.Hooks{
				StoreError: func(_ context.Context, op string, err error) { storeErrs.Store(op, err) },
			}})
			if tc.failRun {
				f.rec.fail.Store(1)
			}
			code, body, took := timed(f, "/alipay/notify", f.signer.NewTrade("HANG-"+tc.op, "1.00").Paid())
			if code != tc.code || body != tc.body || took > timeout+margin {
				t.Fatalf("answer %d %q after %v, want %d %q within %v", code, body, took, tc.code, tc.body, timeout+margin)
			}
			if !boundOK.Load() {
				t.Error("the store call's context carried no deadline within StoreTimeout")
			}
			if _, ok := storeErrs.Load(tc.op); !ok {
				t.Errorf("no StoreError for the abandoned %s", tc.op)
			}
			if f.rec.total() != tc.wantRuns {
				t.Errorf("handler runs %d, want %d", f.rec.total(), tc.wantRuns)
			}
		})
	}
}

// TestCompleteDoesNotRetryInvalidArgument (item 2): an argument error is a
// bug, not an outage; retrying it cannot help.
func TestCompleteDoesNotRetryInvalidArgument(t *testing.T) {
	st := newScripted(t)
	st.complete = func(context.Context) (bool, error) { return false, dedupe.ErrInvalidArgument }
	f := newFixture(t, middleware.Options{Store: st, Logger: discardLogger()})
	f.notify(t, f.signer.NewTrade("INVALID-COMPLETE", "1.00").Paid())
	if n := st.completes.Load(); n != 1 {
		t.Fatalf("Complete called %d times, want 1", n)
	}
}

// TestStoreErrorIsWrapped (item 2): the store's own error stays reachable
// with errors.Is through the delivery's error.
func TestStoreErrorIsWrapped(t *testing.T) {
	f := newFixture(t, middleware.Options{Store: failingStore{}, Logger: discardLogger()})
	w := f.serve(f.signer.NewTrade("WRAPPED", "1.00").Return().Request("/alipay/return"))
	d := <-f.pages
	if w.Body.String() != "thanks: failed" || !errors.Is(d.Err, middleware.ErrStore) || !errors.Is(d.Err, errDown) {
		t.Fatalf("page %q, delivery error %v: want ErrStore wrapping the store's error", w.Body.String(), d.Err)
	}
}

// TestLostLeaseCancelsHandler (item 3): once a full lease passes with no
// successful renewal, or a renewal finds another owner, the handler's context
// is cancelled with cause ErrLeaseLost, and the delivery answers "fail"
// without marking the event done, whatever the handler returns.
func TestLostLeaseCancelsHandler(t *testing.T) {
	const lease = 150 * time.Millisecond
	down := func(context.Context) (bool, error) { return false, errDown }
	for _, tc := range []struct {
		name       string
		extend     func(context.Context) (bool, error)
		complete   func(context.Context) (bool, error)
		returnsNil bool          // the handler ignores the cancellation
		within     time.Duration // cancelled within this of the handler's start
	}{
		{"renewals fail", down, nil, false, lease + lease/3},
		// A partitioned owner whose handler ignores the cancellation.
		{"renewals and complete fail, handler returns nil", down, down, true, lease + lease/3},
		{"renewals hang", nil, nil, false, lease + lease/3},
		{"another owner", func(context.Context) (bool, error) { return false, nil }, nil, false, lease / 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newScripted(t)
			st.extend, st.complete = tc.extend, tc.complete
			if st.extend == nil {
				st.extend = hang(t)
			}
			var lost atomic.Int32
			f := newFixture(t, middleware.Options{Store: st, Lease: lease, Logger: discardLogger(),
				Hooks: middleware.Hooks{LeaseLost: func(context.Context, *alipaynotify.Notification) { lost.Add(1) }}})
			var cause error
			var after time.Duration
			f.mux.Handle("/lease", f.mw.Notify(middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
				start := time.Now()
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
				}
				cause, after = context.Cause(ctx), time.Since(start)
				if tc.returnsNil {
					return nil
				}
				return ctx.Err()
			})))
			paid := f.signer.NewTrade("LOST-LEASE", "1.00").Paid()
			w := f.serve(paid.Request("/lease"))
			if !errors.Is(cause, middleware.ErrLeaseLost) || after > tc.within+margin {
				t.Fatalf("handler context ended after %v with cause %v, want ErrLeaseLost within %v", after, cause, tc.within+margin)
			}
			if w.Code != http.StatusServiceUnavailable || w.Body.String() != "fail" || lost.Load() != 1 {
				t.Fatalf("answer %d %q, LeaseLost hooks %d; want 503 fail, 1", w.Code, w.Body.String(), lost.Load())
			}
			// Not marked done.
			n, err := f.mw.Verifier().VerifyNotify(t.Context(), paid.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if c, err := st.Store.Claim(t.Context(), dedupe.EventFor(n), lease); err != nil || c.State == dedupe.Done {
				t.Fatalf("after the lost lease the event reads %v, %v; want not done", c.State, err)
			}
		})
	}
}

// TestDuplicatesShareOneWaiter (item 4): duplicates of an event whose handler
// runs in this process wait behind it without calling the store; past
// MaxWaiting they answer "fail" at once; when it is done, the waiters answer
// "success" from what it saw.
func TestDuplicatesShareOneWaiter(t *testing.T) {
	const maxWaiting, dups = 8, 30
	st := newScripted(t)
	var waited atomic.Int32
	f := newFixture(t, middleware.Options{Store: st, MaxWaiting: maxWaiting, WaitInFlight: time.Minute, Logger: discardLogger(),
		Hooks: middleware.Hooks{WaitedInFlight: func(context.Context, *alipaynotify.Notification, time.Duration) { waited.Add(1) }}})
	running, release := make(chan struct{}), make(chan struct{})
	f.rec.onRun = func() { close(running); <-release }
	paid := f.signer.NewTrade("SHARED-WAIT", "1.00").Paid()
	owner := make(chan string)
	go func() { _, body := f.notify(t, paid); owner <- body }()
	<-running

	answers := make(chan string, dups)
	for range dups {
		go func() {
			code, body := f.notify(t, paid)
			if body == "fail" && code != http.StatusServiceUnavailable {
				body = "unexpected status"
			}
			answers <- body
		}()
	}
	// Beyond the cap, deliveries answer at once: once dups-maxWaiting have,
	// maxWaiting are queued behind the owner.
	for range dups - maxWaiting {
		if a := <-answers; a != "fail" {
			t.Fatalf("over the cap: %q, want fail (503)", a)
		}
	}
	if n := st.claims.Load(); n != 1 {
		t.Fatalf("%d Claim calls while the owner runs, want 1 (the owner's)", n)
	}
	close(release)
	if a := <-owner; a != "success" {
		t.Fatalf("owner: %q", a)
	}
	for range maxWaiting {
		if a := <-answers; a != "success" {
			t.Fatalf("waiting duplicate: %q, want success", a)
		}
	}
	if st.claims.Load() != 1 || f.rec.total() != 1 || waited.Load() != maxWaiting {
		t.Fatalf("Claim calls %d (want 1), runs %d (want 1), WaitedInFlight %d (want %d)",
			st.claims.Load(), f.rec.total(), waited.Load(), maxWaiting)
	}
}

// TestDuplicatesOfRemoteOwnerPollWithBackoff (item 4): duplicates waiting on
// an event another process is handling share one poller that backs off, so
// the store sees a bounded number of Claims however many wait.
func TestDuplicatesOfRemoteOwnerPollWithBackoff(t *testing.T) {
	const dups, wait = 20, 600 * time.Millisecond
	shared := newScripted(t)
	a := newFixture(t, middleware.Options{Store: shared, Logger: discardLogger()})
	bStore := &scriptedStore{Store: shared.Store}
	b := newFixture(t, middleware.Options{Store: bStore, WaitInFlight: wait, Logger: discardLogger()})
	running, release := make(chan struct{}), make(chan struct{})
	a.rec.onRun = func() { close(running); <-release }
	paid := a.signer.NewTrade("REMOTE-WAIT", "1.00").Paid()
	owner := make(chan string)
	go func() { _, body := a.notify(t, paid); owner <- body }()
	<-running

	var wg sync.WaitGroup
	var fails atomic.Int32
	for range dups {
		wg.Go(func() {
			if _, body := b.notify(t, paid); body == "fail" {
				fails.Add(1)
			}
		})
	}
	wg.Wait()
	// Backoff 10ms doubling to 500ms (at least half of each with jitter):
	// about 8 Claims over one WaitInFlight of 600ms, plus the spread of the
	// arrivals. Without sharing, every duplicate polls on its own (20 x 8).
	const bound = 16
	calls := bStore.claims.Load()
	t.Logf("%d duplicates waiting %v on another process's owner: %d Claim calls", dups, wait, calls)
	if fails.Load() != dups || calls > bound {
		t.Fatalf("%d of %d answered fail (want all: the owner still runs); %d Claim calls, want at most %d", fails.Load(), dups, calls, bound)
	}
	close(release)
	if body := <-owner; body != "success" {
		t.Fatal("owner:", body)
	}
	if _, body := b.notify(t, paid); body != "success" || a.rec.total() != 1 || b.rec.total() != 0 {
		t.Fatalf("after the owner: %q, runs %d+%d", body, a.rec.total(), b.rec.total())
	}
}

// TestWaitedInFlightOnlyWhenWaiting (item 5): a slow store or a store outage
// is not waiting behind another owner; StoreCall and StoreError report them.
func TestWaitedInFlightOnlyWhenWaiting(t *testing.T) {
	const latency = 20 * time.Millisecond
	slow := newScripted(t)
	slow.claim = func(ctx context.Context, ev dedupe.Event, lease time.Duration) (dedupe.Claim, error) {
		time.Sleep(latency) // a slow network, not another owner
		return slow.Store.Claim(ctx, ev, lease)
	}
	for _, tc := range []struct {
		name      string
		store     dedupe.Store
		wantError bool
	}{
		{"slow store", slow, false},
		{"store down", failingStore{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var waited, storeErrs atomic.Int32
			var claimLatency atomic.Int64
			f := newFixture(t, middleware.Options{Store: tc.store, Logger: discardLogger(), Hooks: middleware.Hooks{
				WaitedInFlight: func(context.Context, *alipaynotify.Notification, time.Duration) { waited.Add(1) },
				StoreError:     func(context.Context, string, error) { storeErrs.Add(1) },
				StoreCall: func(_ context.Context, op string, d time.Duration, err error) {
					if op == "claim" && (err != nil) == tc.wantError {
						claimLatency.Store(int64(d))
					}
				},
			}})
			f.notify(t, f.signer.NewTrade("NO-WAIT", "1.00").Paid())
			if waited.Load() != 0 {
				t.Fatal("WaitedInFlight fired for a delivery that waited behind nobody")
			}
			if claimLatency.Load() == 0 || (storeErrs.Load() > 0) != tc.wantError {
				t.Fatalf("StoreCall claim latency %v, store errors %d", time.Duration(claimLatency.Load()), storeErrs.Load())
			}
			if !tc.wantError && time.Duration(claimLatency.Load()) < latency {
				t.Fatalf("StoreCall saw the claim take %v, it took at least %v", time.Duration(claimLatency.Load()), latency)
			}
		})
	}
}
