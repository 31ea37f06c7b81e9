package middleware_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// recorder is a business handler that counts runs per event and can be told
// to fail, panic or sleep.
type recorder struct {
	mu     sync.Mutex
	runs   map[string]int
	stale  map[string]bool
	fail   atomic.Int32 // fail the next N runs
	panics atomic.Int32 // panic on the next N runs
	sleep  time.Duration
	onRun  func() // called as each run starts, when set
}

func newRecorder() *recorder { return &recorder{runs: map[string]int{}, stale: map[string]bool{}} }

func (rc *recorder) handle(ctx context.Context, n *alipaynotify.Notification) error {
	if rc.onRun != nil {
		rc.onRun()
	}
	if rc.sleep > 0 {
		time.Sleep(rc.sleep)
	}
	if rc.panics.Load() > 0 {
		rc.panics.Add(-1)
		panic("boom")
	}
	if rc.fail.Load() > 0 {
		rc.fail.Add(-1)
		return errors.New("database down")
	}
	d, _ := middleware.DeliveryFromContext(ctx)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.runs[n.Event().String()]++
	rc.stale[n.Event().String()] = d.Stale
	return nil
}

func (rc *recorder) total() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t := 0
	for _, n := range rc.runs {
		t += n
	}
	return t
}

func (rc *recorder) maxRuns() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	m := 0
	for _, n := range rc.runs {
		m = max(m, n)
	}
	return m
}

type fixture struct {
	signer *alipaytest.Signer
	mw     *middleware.Middleware
	rec    *recorder
	mux    *http.ServeMux
	pages  chan *middleware.Delivery
}

// newFixtureOn is newFixture over store (unless opts names one).
func newFixtureOn(t *testing.T, store dedupe.Store, opts middleware.Options) *fixture {
	t.Helper()
	if opts.Store == nil {
		opts.Store = store
	}
	return newFixture(t, opts)
}

func newFixture(t *testing.T, opts middleware.Options) *fixture {
	t.Helper()
	s := alipaytest.NewSigner(alipaytest.TestKey())
	if opts.Verifier == nil {
		v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{s.PublicKeyPEM()}})
		if err != nil {
			t.Fatal(err)
		}
		opts.Verifier = v
	}
	mw, err := middleware.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{signer: s, mw: mw, rec: newRecorder(), mux: http.NewServeMux(), pages: make(chan *middleware.Delivery, 100)}
	business := middleware.HandlerFunc(f.rec.handle)
	f.mux.Handle("/alipay/notify", mw.Notify(business))
	f.mux.Handle("/alipay/return", mw.Return(business, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := middleware.DeliveryFromContext(r.Context())
		if !ok {
			http.Error(w, "no delivery", 500)
			return
		}
		f.pages <- d
		io.WriteString(w, "thanks: "+d.Outcome.String())
	})))
	return f
}

func (f *fixture) serve(req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, req)
	return w
}

func (f *fixture) notify(t *testing.T, m *alipaytest.Message) (int, string) {
	t.Helper()
	w := f.serve(m.Request("/alipay/notify"))
	return w.Code, w.Body.String()
}

func TestNotifyOnce(t *testing.T) {
	t.Parallel()
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		f := newFixtureOn(t, newStore(), middleware.Options{})
		trade := f.signer.NewTrade("ORDER-1", "88.88")
		paid := trade.Paid()
		for i := 0; i < 5; i++ {
			code, body := f.notify(t, paid)
			if code != 200 || body != "success" {
				t.Fatalf("delivery %d: %d %q", i, code, body)
			}
		}
		// A re-send of the same state with a new notify_id is the same event.
		resent := f.signer.Notify(alipaytest.Fields{"out_trade_no": "ORDER-1", "trade_no": paid.Get("trade_no"), "total_amount": "88.88", "notify_id": "different"})
		if code, body := f.notify(t, resent); code != 200 || body != "success" {
			t.Fatalf("re-send: %d %q", code, body)
		}
		if f.rec.total() != 1 {
			t.Fatalf("handler ran %d times, want 1", f.rec.total())
		}
	})
}

func TestNotifyAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, middleware.Options{MaxBodyBytes: 4096})
	paid := f.signer.NewTrade("ORDER-2", "1.00").Paid()
	forged := paid.Clone()
	forged.Params.Set("total_amount", "0.01")
	cases := []struct {
		name     string
		req      *http.Request
		code     int
		body     string
		allowHdr string
	}{
		{"wrong method", httptest.NewRequest(http.MethodGet, "/alipay/notify", nil), 405, "fail", "POST"},
		{"forged", forged.Request("/alipay/notify"), 400, "fail", ""},
		{"garbage", httptest.NewRequest(http.MethodPost, "/alipay/notify", strings.NewReader("%%%")), 400, "fail", ""},
		{"too large", httptest.NewRequest(http.MethodPost, "/alipay/notify", strings.NewReader(strings.Repeat("a", 5000))), 413, "fail", ""},
		{"genuine", paid.Request("/alipay/notify"), 200, "success", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := f.serve(c.req)
			if w.Code != c.code || w.Body.String() != c.body {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Body.String(), c.code, c.body)
			}
			if c.allowHdr != "" && w.Header().Get("Allow") != c.allowHdr {
				t.Fatalf("Allow = %q", w.Header().Get("Allow"))
			}
		})
	}
	if f.rec.total() != 1 {
		t.Fatalf("handler ran %d times, want 1 (only the genuine one)", f.rec.total())
	}
}

func TestFailureThenRetry(t *testing.T) {
	t.Parallel()
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		f := newFixtureOn(t, newStore(), middleware.Options{})
		paid := f.signer.NewTrade("ORDER-3", "5.00").Paid()
		f.rec.fail.Store(1)
		if code, body := f.notify(t, paid); code != 500 || body != "fail" {
			t.Fatalf("failing handler: %d %q", code, body)
		}
		if code, body := f.notify(t, paid); code != 200 || body != "success" {
			t.Fatalf("retry: %d %q", code, body)
		}
		if code, body := f.notify(t, paid); code != 200 || body != "success" {
			t.Fatalf("duplicate: %d %q", code, body)
		}
		if f.rec.total() != 1 {
			t.Fatalf("successful runs = %d, want 1", f.rec.total())
		}
	})
}

func TestPanicReleasesClaim(t *testing.T) {
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		f := newFixtureOn(t, newStore(), middleware.Options{})
		paid := f.signer.NewTrade("ORDER-4", "5.00").Paid()
		f.rec.panics.Store(1)
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Fatal("the panic must reach the server's recovery")
				}
			}()
			f.notify(t, paid)
		}()
		// The claim was released: the very next retry runs at once.
		start := time.Now()
		if code, body := f.notify(t, paid); code != 200 || body != "success" {
			t.Fatalf("retry after panic: %d %q", code, body)
		}
		if time.Since(start) > time.Second {
			t.Fatal("the retry waited: the claim was not released")
		}
		if f.rec.total() != 1 {
			t.Fatalf("runs = %d", f.rec.total())
		}
	})
}

func TestHTTPHandlerStatus(t *testing.T) {
	t.Parallel()
	s := alipaytest.NewSigner(alipaytest.TestKey())
	v, _ := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{s.PublicKeyPEM()}})
	mw, err := middleware.New(middleware.Options{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	status := atomic.Int32{}
	status.Store(http.StatusServiceUnavailable)
	var seen atomic.Int32
	h := mw.Notify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, ok := middleware.FromContext(r.Context())
		if !ok || n.OutTradeNo != "ORDER-5" {
			t.Errorf("notification not in context")
		}
		seen.Add(1)
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, "this text never reaches Alipay")
	}))
	paid := s.NewTrade("ORDER-5", "1.00").Paid()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, paid.Request("/"))
	if w.Body.String() != "fail" {
		t.Fatalf("non-2xx handler: %q", w.Body.String())
	}
	status.Store(http.StatusOK)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, paid.Request("/"))
	if w.Code != 200 || w.Body.String() != "success" || w.Header().Get("Content-Length") != "" && w.Header().Get("Content-Length") != "7" {
		t.Fatalf("2xx handler: %d %q", w.Code, w.Body.String())
	}
	if seen.Load() != 2 {
		t.Fatalf("handler saw %d deliveries", seen.Load())
	}
}

// TestReturnRacesNotify: whichever of return and notify comes first runs the
// handler; the other is a duplicate; the page always renders.
func TestReturnRacesNotify(t *testing.T) {
	t.Parallel()
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		f := newFixtureOn(t, newStore(), middleware.Options{})
		trade := f.signer.NewTrade("ORDER-6", "9.99")
		w := f.serve(trade.Return().Request("/alipay/return"))
		if w.Code != 200 || w.Body.String() != "thanks: handled" {
			t.Fatalf("return first: %d %q", w.Code, w.Body.String())
		}
		d := <-f.pages
		if d.Notification.OutTradeNo != "ORDER-6" || d.Notification.Source != alipaynotify.SourceReturn {
			t.Fatalf("page saw %+v", d.Notification)
		}
		if code, body := f.notify(t, trade.Paid()); code != 200 || body != "success" {
			t.Fatalf("notify after return: %d %q", code, body)
		}
		if f.rec.total() != 1 {
			t.Fatalf("runs = %d, want 1", f.rec.total())
		}
		// And the other way round, concurrently, many times.
		for i := 0; i < 20; i++ {
			tr := f.signer.NewTrade("RACE-"+string(rune('A'+i)), "1.00")
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); f.notify(t, tr.Paid()) }()
			go func() { defer wg.Done(); f.serve(tr.Return().Request("/alipay/return")) }()
			wg.Wait()
			<-f.pages
		}
		if f.rec.maxRuns() != 1 || f.rec.total() != 21 {
			t.Fatalf("runs total %d max %d", f.rec.total(), f.rec.maxRuns())
		}
		// An unverifiable return gets the error page, not the business handler.
		bad := trade.Return().Clone()
		bad.Params.Set("total_amount", "0.01")
		if w := f.serve(bad.Request("/alipay/return")); w.Code != 400 || strings.Contains(w.Body.String(), "0.01") {
			t.Fatalf("forged return: %d %q", w.Code, w.Body.String())
		}
	})
}

// TestConcurrentDuplicates: 200 deliveries of one event at once, split over
// two middleware instances sharing a store, run the handler exactly once.
// MaxWaiting lets all of them wait (TestWaitingCap covers the cap).
func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	store := dedupe.NewMemoryStore()
	defer store.Close()
	testConcurrentDuplicates(t, store, store)
}

func testConcurrentDuplicates(t *testing.T, a, b dedupe.Store) {
	rec := newRecorder()
	rec.sleep = 20 * time.Millisecond
	s := alipaytest.NewSigner(alipaytest.TestKey())
	v, _ := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{s.PublicKeyPEM()}})
	var handlers []http.Handler
	for _, st := range []dedupe.Store{a, b} {
		mw, err := middleware.New(middleware.Options{Verifier: v, Store: st, WaitInFlight: 10 * time.Second, MaxWaiting: 200})
		if err != nil {
			t.Fatal(err)
		}
		handlers = append(handlers, mw.Notify(middleware.HandlerFunc(rec.handle)))
	}
	paid := s.NewTrade("ORDER-CONC-"+time.Now().Format("150405.000000"), "1.00").Paid()
	body := paid.Encode()
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			handlers[i%2].ServeHTTP(w, req)
			if w.Body.String() == "success" {
				ok.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if rec.total() != 1 {
		t.Fatalf("handler ran %d times, want 1", rec.total())
	}
	if ok.Load() != 200 {
		t.Fatalf("%d of 200 deliveries answered success", ok.Load())
	}
}

func TestInFlightWait(t *testing.T) {
	t.Parallel()
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		f := newFixtureOn(t, newStore(), middleware.Options{WaitInFlight: 3 * time.Second})
		f.rec.sleep = 300 * time.Millisecond // the owner's run, which the duplicate waits out
		first := make(chan struct{})
		f.rec.onRun = func() { close(first) }
		paid := f.signer.NewTrade("ORDER-7", "1.00").Paid()
		var wg sync.WaitGroup
		codes := make([]string, 2)
		for i := range codes {
			wg.Go(func() {
				if i == 1 {
					<-first // the first delivery holds the claim
				}
				_, codes[i] = f.notify(t, paid)
			})
		}
		wg.Wait()
		if codes[0] != "success" || codes[1] != "success" || f.rec.total() != 1 {
			t.Fatalf("answers %v, runs %d", codes, f.rec.total())
		}

		// With a short wait, the duplicate gives up and Alipay retries later.
		g := newFixtureOn(t, newStore(), middleware.Options{WaitInFlight: 50 * time.Millisecond})
		g.rec.sleep = 600 * time.Millisecond
		running := make(chan struct{}, 1)
		g.rec.onRun = func() { running <- struct{}{} }
		paid = g.signer.NewTrade("ORDER-8", "1.00").Paid()
		done := make(chan struct{})
		go func() { defer close(done); g.notify(t, paid) }()
		<-running // the first delivery holds the claim
		if code, body := g.notify(t, paid); code != 503 || body != "fail" {
			t.Fatalf("duplicate during a long run: %d %q", code, body)
		}
		<-done
	})
}

// TestLeaseRenewal: a handler slower than the lease keeps its claim; a
// duplicate arriving meanwhile never runs it a second time.
func TestLeaseRenewal(t *testing.T) {
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		// Renewal every 500ms keeps a 1.5s lease alive through a 3.5s
		// handler; renewals would have to fail for a whole lease (1.5s,
		// far beyond a loaded CI machine's stalls) for the handler to be
		// cancelled and a duplicate to take over.
		f := newFixtureOn(t, newStore(), middleware.Options{Lease: 1500 * time.Millisecond, WaitInFlight: 6 * time.Second})
		f.rec.sleep = 3500 * time.Millisecond
		paid := f.signer.NewTrade("ORDER-9", "1.00").Paid()
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				time.Sleep(time.Duration(i) * 1600 * time.Millisecond) // past the first lease
				f.notify(t, paid)
			}(i)
		}
		wg.Wait()
		if f.rec.total() != 1 {
			t.Fatalf("runs = %d, want 1", f.rec.total())
		}
	})
}

// failingStore fails every call, like a Redis that is down.
type failingStore struct{}

var errDown = errors.New("connection refused")

func (failingStore) Claim(context.Context, dedupe.Event, time.Duration) (dedupe.Claim, error) {
	return dedupe.Claim{}, errDown
}
func (failingStore) Extend(context.Context, dedupe.Event, string, time.Duration) (bool, error) {
	return false, errDown
}
func (failingStore) Complete(context.Context, dedupe.Event, string, dedupe.Completion) (bool, error) {
	return false, errDown
}
func (failingStore) Release(context.Context, dedupe.Event, string) (bool, error) {
	return false, errDown
}

func TestStoreDown(t *testing.T) {
	t.Parallel()
	var storeErrs atomic.Int32
	f := newFixture(t, middleware.Options{Store: failingStore{}, Hooks: middleware.Hooks{
		StoreError: func(ctx context.Context, op string, err error) { storeErrs.Add(1) },
	}})
	paid := f.signer.NewTrade("ORDER-10", "1.00").Paid()
	if code, body := f.notify(t, paid); code != 503 || body != "fail" {
		t.Fatalf("store down: %d %q", code, body)
	}
	if f.rec.total() != 0 || storeErrs.Load() == 0 {
		t.Fatalf("fail closed violated: runs %d, store errors %d", f.rec.total(), storeErrs.Load())
	}
	g := newFixture(t, middleware.Options{Store: failingStore{}, AtLeastOnce: true})
	if code, body := g.notify(t, paid); code != 200 || body != "success" || g.rec.total() != 1 {
		t.Fatalf("at-least-once: %d %q runs %d", code, body, g.rec.total())
	}
}

// TestStaleOrder: TRADE_FINISHED first, TRADE_SUCCESS late → both delivered
// once, the late one flagged stale; SkipStale skips it instead.
func TestStaleOrder(t *testing.T) {
	t.Parallel()
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		for _, skip := range []bool{false, true} {
			f := newFixtureOn(t, newStore(), middleware.Options{SkipStale: skip})
			tr := f.signer.NewTrade("ORDER-11", "10.00")
			finished, paid := tr.Finished(), tr.Paid()
			for _, m := range []*alipaytest.Message{finished, paid, paid, finished} {
				if code, body := f.notify(t, m); code != 200 || body != "success" {
					t.Fatalf("skip=%v: %d %q", skip, code, body)
				}
			}
			successKey := "2021000000000001|ORDER-11|TRADE_SUCCESS||"
			f.rec.mu.Lock()
			runs, stale := f.rec.runs[successKey], f.rec.stale[successKey]
			fin := f.rec.runs["2021000000000001|ORDER-11|TRADE_FINISHED||"]
			f.rec.mu.Unlock()
			if fin != 1 {
				t.Fatalf("skip=%v: finished ran %d times", skip, fin)
			}
			if skip && runs != 0 {
				t.Fatalf("SkipStale ran the stale event")
			}
			if !skip && (runs != 1 || !stale) {
				t.Fatalf("stale event: runs %d stale %v", runs, stale)
			}
		}
	})
}

// TestRefunds: payment, two partial refunds and a full refund are four
// events; retries of each run nothing.
func TestRefunds(t *testing.T) {
	t.Parallel()
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		f := newFixtureOn(t, newStore(), middleware.Options{})
		tr := f.signer.NewTrade("ORDER-12", "100.00")
		msgs := []*alipaytest.Message{tr.Paid(), tr.PartialRefund("RF-1", "10.00"), tr.PartialRefund("RF-2", "20.00"), tr.FullRefund("RF-3")}
		for round := 0; round < 3; round++ {
			for _, m := range msgs {
				if code, body := f.notify(t, m); code != 200 || body != "success" {
					t.Fatalf("round %d: %d %q", round, code, body)
				}
			}
		}
		f.rec.mu.Lock()
		defer f.rec.mu.Unlock()
		if len(f.rec.runs) != 4 {
			t.Fatalf("events = %v", f.rec.runs)
		}
		for k, n := range f.rec.runs {
			if n != 1 || f.rec.stale[k] {
				t.Fatalf("event %s ran %d times (stale %v)", k, n, f.rec.stale[k])
			}
		}
	})
}

func TestContextHelpers(t *testing.T) {
	t.Parallel()
	if n, ok := middleware.FromContext(context.Background()); ok || n != nil {
		t.Fatal("empty context")
	}
	//lint:ignore SA1012 FromContext must be nil-safe
	if _, ok := middleware.FromContext(nil); ok { //nolint:staticcheck
		t.Fatal("nil context")
	}
	n := &alipaynotify.Notification{OutTradeNo: "X"}
	got, ok := middleware.FromContext(middleware.NewContext(context.Background(), n))
	if !ok || got != n {
		t.Fatal("NewContext round trip")
	}
}

// testVerifier is an open-platform verifier for the test key.
func testVerifier(t *testing.T) *alipaynotify.Verifier {
	t.Helper()
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOptionsValidation: New refuses each unworkable option with an error
// that wraps ErrConfig and names the field, and fills the defaults in.
func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	v := testVerifier(t)
	for _, tc := range []struct {
		name  string
		opts  middleware.Options
		field string // the field the error names
	}{
		{"no verifier", middleware.Options{}, "Verifier"},
		{"negative lease", middleware.Options{Verifier: v, Lease: -1}, "Lease"},
		{"tiny lease", middleware.Options{Verifier: v, Lease: time.Millisecond}, "Lease"},
		{"negative retention", middleware.Options{Verifier: v, Retention: -1}, "Retention"},
		{"retention < lease", middleware.Options{Verifier: v, Lease: time.Minute, Retention: time.Second}, "Retention"},
		{"retention within the verifier's age", middleware.Options{Verifier: v, Retention: v.MaxAge()}, "Retention"},
		{"negative wait", middleware.Options{Verifier: v, WaitInFlight: -1}, "WaitInFlight"},
		{"negative timeout", middleware.Options{Verifier: v, StoreTimeout: -1}, "StoreTimeout"},
		{"negative waiting", middleware.Options{Verifier: v, MaxWaiting: -1}, "MaxWaiting"},
		{"negative body size", middleware.Options{Verifier: v, MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"unknown trade_no check", middleware.Options{Verifier: v, CheckTradeNo: middleware.TradeNoCheckOff + 1}, "CheckTradeNo"},
	} {
		m, err := middleware.New(tc.opts)
		if !errors.Is(err, middleware.ErrConfig) {
			t.Errorf("%s: New = %v, %v; want an error matching ErrConfig", tc.name, m, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %q does not name %s", tc.name, err, tc.field)
		}
	}
	if _, err := middleware.New(middleware.Options{Verifier: v}); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestTradeNoConflict: one out_trade_no with two different trade_nos is
// refused (legacy by default, every protocol with TradeNoCheckAll).
func TestTradeNoConflict(t *testing.T) {
	t.Parallel()
	onEveryStore(t, func(t *testing.T, newStore func() dedupe.Store) {
		for _, c := range []struct {
			check   middleware.TradeNoCheck
			refused bool
		}{{middleware.TradeNoCheckLegacy, false}, {middleware.TradeNoCheckAll, true}, {middleware.TradeNoCheckOff, false}} {
			f := newFixtureOn(t, newStore(), middleware.Options{CheckTradeNo: c.check})
			tr := f.signer.NewTrade("ORDER-CONFLICT", "1.00")
			if _, body := f.notify(t, tr.Paid()); body != "success" {
				t.Fatal(body)
			}
			other := f.signer.NewTrade("ORDER-CONFLICT", "1.00") // same out_trade_no, new trade_no
			code, body := f.notify(t, other.Finished())
			if c.refused != (body == "fail") || c.refused && code != http.StatusConflict {
				t.Fatalf("check %d: %d %q", c.check, code, body)
			}
		}
		// Legacy callbacks are checked by default.
		s := alipaytest.NewLegacySigner(alipaytest.DefaultPID, alipaytest.DefaultMD5Key)
		v, err := alipaynotify.NewVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key}})
		if err != nil {
			t.Fatal(err)
		}
		f := newFixtureOn(t, newStore(), middleware.Options{Verifier: v})
		if _, body := f.notify(t, s.NewTrade("LEGACY-CONFLICT", "1.00").Paid()); body != "success" {
			t.Fatal(body)
		}
		if code, body := f.notify(t, s.NewTrade("LEGACY-CONFLICT", "1.00").Finished()); code != http.StatusConflict || body != "fail" {
			t.Fatalf("legacy conflict: %d %q", code, body)
		}
		if f.rec.total() != 1 {
			t.Fatalf("runs = %d", f.rec.total())
		}
	})
}

// TestResponseControllerInBusiness: a plain http.Handler may set deadlines
// through http.ResponseController; flushing never leaks output to Alipay.
func TestResponseControllerInBusiness(t *testing.T) {
	t.Parallel()
	s := alipaytest.NewSigner(alipaytest.TestKey())
	v, _ := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{s.PublicKeyPEM()}})
	mw, err := middleware.New(middleware.Options{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	var deadlineErr, flushErr error
	srv := httptest.NewServer(mw.Notify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		deadlineErr = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		io.WriteString(w, "partial output")
		flushErr = rc.Flush()
	})))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(string(s.NewTrade("RC-1", "1.00").Paid().Encode())))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if deadlineErr != nil || flushErr != nil || string(body) != "success" {
		t.Fatalf("deadline %v, flush %v, body %q", deadlineErr, flushErr, body)
	}
}
