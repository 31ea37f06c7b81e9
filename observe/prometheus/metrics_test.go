package alipayprom_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
	alipayprom "github.com/alipaynotify/alipaynotify/observe/prometheus"
)

// faultyStore is the in-memory store with switchable faults.
type faultyStore struct {
	*dedupe.MemoryStore
	claimErr     atomic.Bool // Claim fails
	completeLost atomic.Bool // Complete finds another owner
	busy         chan struct{}
	busyOnce     sync.Once
}

var errStoreDown = errors.New("store down (test)")

func (s *faultyStore) Claim(ctx context.Context, ev dedupe.Event, lease time.Duration) (dedupe.Claim, error) {
	if s.claimErr.Load() {
		return dedupe.Claim{}, errStoreDown
	}
	c, err := s.MemoryStore.Claim(ctx, ev, lease)
	if err == nil && c.State == dedupe.Busy {
		s.busyOnce.Do(func() { close(s.busy) })
	}
	return c, err
}

func (s *faultyStore) Complete(ctx context.Context, ev dedupe.Event, token string, done dedupe.Completion) (bool, error) {
	if s.completeLost.Load() {
		return false, nil
	}
	return s.MemoryStore.Complete(ctx, ev, token, done)
}

// fixture is a middleware with the metrics installed, on a shared store.
type fixture struct {
	metrics  *alipayprom.Metrics
	reg      *prometheus.Registry
	store    *faultyStore
	mw       *middleware.Middleware
	mux      *http.ServeMux
	signer   *alipaytest.Signer
	business middleware.HandlerFunc
	block    chan struct{} // the handler of an order "BLOCK..." waits for it
	started  chan struct{} // ... after signalling here
}

func newFixture(t *testing.T, store *faultyStore, opts middleware.Options) *fixture {
	t.Helper()
	if store == nil {
		store = &faultyStore{MemoryStore: dedupe.NewMemoryStore(), busy: make(chan struct{})}
		t.Cleanup(func() { store.Close() })
	}
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
		CheckOrder: func(_ context.Context, n *alipaynotify.Notification) error {
			if strings.HasPrefix(n.OutTradeNo, "UNKNOWN") {
				return errors.New("no such order")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := alipayprom.New(alipayprom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	opts.Verifier, opts.Store, opts.Logger = v, store, slog.New(slog.DiscardHandler)
	opts.Hooks = middleware.JoinHooks(opts.Hooks, m.Hooks())
	mw, err := middleware.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mw.Wait)
	f := &fixture{metrics: m, reg: reg, store: store, mw: mw, signer: alipaytest.NewSigner(nil),
		block: make(chan struct{}), started: make(chan struct{}, 4)}
	f.business = middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		switch {
		case strings.HasPrefix(n.OutTradeNo, "FAIL"):
			return errors.New("the order database is down (test)")
		case strings.HasPrefix(n.OutTradeNo, "BLOCK"):
			f.started <- struct{}{}
			<-f.block
		}
		return nil
	})
	f.mux = http.NewServeMux()
	f.mux.Handle("/alipay/notify", mw.Notify(f.business))
	f.mux.Handle("/alipay/return", mw.Return(f.business, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := middleware.DeliveryFromContext(r.Context())
		fmt.Fprint(w, d.Outcome)
	})))
	return f
}

// send delivers m to path and returns "<status> <body>".
func (f *fixture) send(m *alipaytest.Message, path string) string {
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, m.Request(path))
	return fmt.Sprint(w.Code, " ", w.Body.String())
}

func (f *fixture) notify(t *testing.T, m *alipaytest.Message, want string) {
	t.Helper()
	if got := f.send(m, "/alipay/notify"); got != want {
		t.Fatalf("notify %s: %q, want %q", m.Get("out_trade_no"), got, want)
	}
}

// check compares metric values: each want maps "name source" (or "name")
// to its value.
func check(t *testing.T, m *alipayprom.Metrics, want map[string]float64) {
	t.Helper()
	for key, v := range want {
		name, labels, _ := strings.Cut(key, " ")
		var c prometheus.Collector
		if labels == "" {
			c = m.ForTest(name)
		} else {
			c = m.ForTest(name, strings.Fields(labels)...)
		}
		if got := testutil.ToFloat64(c); got != v {
			t.Errorf("%s: %v, want %v", key, got, v)
		}
	}
}

// noPaymentData checks that no label value of the gathered metrics carries
// any of the run's payment data.
func noPaymentData(t *testing.T, g prometheus.Gatherer, data ...string) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, d := range data {
					if d != "" && strings.Contains(l.GetValue(), d) {
						t.Errorf("%s{%s=%q} carries %q", mf.GetName(), l.GetName(), l.GetValue(), d)
					}
				}
			}
		}
	}
}

func TestCounts(t *testing.T) {
	f := newFixture(t, nil, middleware.Options{})
	s := f.signer

	// A first delivery is handled; its duplicate is not.
	a := s.NewTrade("A-1", "88.88")
	paid := a.Paid()
	f.notify(t, paid, "200 success")
	f.notify(t, paid, "200 success")
	// A forged callback is refused at the signature, on either route.
	f.notify(t, paid.Tampered("total_amount", "0.01"), "400 fail")
	if got := f.send(a.Return().Tampered("total_amount", "0.01"), "/alipay/return"); !strings.HasPrefix(got, "400 ") {
		t.Fatalf("forged return: %q", got)
	}
	// A genuine callback the order book does not know is refused after the
	// signature.
	f.notify(t, s.NewTrade("UNKNOWN-1", "1.00").Paid(), "400 fail")
	// A return runs the handler; the notification of the same event is then
	// a duplicate.
	b := s.NewTrade("B-1", "10.50")
	if got := f.send(b.Return(), "/alipay/return"); got != "200 handled" {
		t.Fatalf("return: %q", got)
	}
	f.notify(t, b.Paid(), "200 success")
	// A handler failure, kept as a dead letter.
	f.notify(t, s.NewTrade("FAIL-1", "2.00").Paid(), "500 fail")
	// Out of order: TRADE_FINISHED first, then the stale TRADE_SUCCESS, which
	// is delivered once, flagged.
	c := s.NewTrade("C-1", "3.00")
	f.notify(t, c.Finished(), "200 success")
	f.notify(t, c.Paid(), "200 success")
	// The store fails the claim.
	f.store.claimErr.Store(true)
	f.notify(t, s.NewTrade("D-1", "4.00").Paid(), "503 fail")
	f.store.claimErr.Store(false)
	// The handler succeeds but Complete finds another owner: the lease was
	// lost.
	f.store.completeLost.Store(true)
	f.notify(t, s.NewTrade("E-1", "5.00").Paid(), "503 fail")
	f.store.completeLost.Store(false)
	// A wrong method never reaches the middleware's hooks.
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/alipay/notify", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET notify: %d", w.Code)
	}
	// An operator forgets A's handled event.
	view, err := f.mw.Lookup(context.Background(), alipaytest.DefaultAppID, "A-1")
	if err != nil || len(view.Events) != 1 {
		t.Fatalf("Lookup: %v %+v", err, view)
	}
	if ok, err := f.mw.Forget(context.Background(), view.Trade, view.Events[0].ID, "test"); !ok || err != nil {
		t.Fatalf("Forget: %v %v", ok, err)
	}
	f.mw.Wait()

	check(t, f.metrics, map[string]float64{
		// notify: A x2, A forged, UNKNOWN, B, FAIL, C x2, D, E; return: A forged, B.
		"received_total notify":      10,
		"received_total return":      2,
		"received_total query":       0,
		"verified_total notify":      8,
		"verified_total return":      1,
		"handled_total notify":       3, // A, C finished, C paid (stale)
		"handled_total return":       1, // B
		"duplicates_total notify":    2, // A, B
		"duplicates_total return":    0,
		"failed_total notify":        2, // FAIL, E (lease lost)
		"stale_total notify":         1,
		"lease_lost_total notify":    1,
		"dead_lettered_total notify": 2,
		"forgotten_total":            1,
		"deliveries_in_progress":     0,
	})
	// Store call latencies: one failed claim, and every other call ok.
	if n := testutil.CollectAndCount(f.metrics.ForTest("store_call_duration_seconds"), "alipaynotify_store_call_duration_seconds"); n < 4 {
		t.Errorf("store_call_duration_seconds has %d series, want claim, complete, release, deadletter, ... at least 4", n)
	}
	// Exact exposition of the labelled counters that depend on the run.
	if err := testutil.CollectAndCompare(f.metrics, strings.NewReader(`
# HELP alipaynotify_rejected_total Callbacks refused, by reason (middleware.Reason).
# TYPE alipaynotify_rejected_total counter
alipaynotify_rejected_total{reason="order",source="notify"} 1
alipaynotify_rejected_total{reason="signature",source="notify"} 1
alipaynotify_rejected_total{reason="signature",source="return"} 1
# HELP alipaynotify_deliveries_total Finished deliveries, by outcome.
# TYPE alipaynotify_deliveries_total counter
alipaynotify_deliveries_total{outcome="duplicate",source="notify"} 2
alipaynotify_deliveries_total{outcome="failed",source="notify"} 3
alipaynotify_deliveries_total{outcome="handled",source="notify"} 3
alipaynotify_deliveries_total{outcome="handled",source="return"} 1
alipaynotify_deliveries_total{outcome="rejected",source="notify"} 2
alipaynotify_deliveries_total{outcome="rejected",source="return"} 1
# HELP alipaynotify_store_errors_total Dedupe store failures, by operation.
# TYPE alipaynotify_store_errors_total counter
alipaynotify_store_errors_total{op="claim"} 1
`), "alipaynotify_rejected_total", "alipaynotify_deliveries_total", "alipaynotify_store_errors_total"); err != nil {
		t.Error(err)
	}
	// The registry is pedantic: the collector is consistent.
	if problems, err := testutil.GatherAndLint(f.reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	noPaymentData(t, f.reg, "A-1", "B-1", "C-1", "D-1", "E-1", "FAIL-1", "UNKNOWN-1", "88.88", paid.Get("trade_no"), paid.Get("notify_id"))
}

// histogramCount returns the sample count of the histogram name whose labels
// include want (name=value pairs), from g.
func histogramCount(t *testing.T, g prometheus.Gatherer, name string, want ...string) uint64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(want); i += 2 {
				if have[want[i]] != want[i+1] {
					continue series
				}
			}
			n += m.GetHistogram().GetSampleCount()
		}
	}
	return n
}

// TestInFlightWait: two instances share a store; the second delivery of an
// event waits while the first instance's handler runs, then is a
// duplicate, and its wait is observed.
func TestInFlightWait(t *testing.T) {
	first := newFixture(t, nil, middleware.Options{})
	second := newFixture(t, first.store, middleware.Options{WaitInFlight: time.Minute})
	paid := first.signer.NewTrade("BLOCK-1", "1.00").Paid()
	answers := make(chan string, 2)
	go func() { answers <- first.send(paid, "/alipay/notify") }()
	<-first.started
	go func() { answers <- second.send(paid, "/alipay/notify") }()
	<-first.store.busy // the second instance found the claim taken
	if got := testutil.ToFloat64(second.metrics.ForTest("deliveries_in_progress")); got != 1 {
		t.Errorf("second instance: %v deliveries in progress, want 1", got)
	}
	close(first.block)
	for range 2 {
		if got := <-answers; got != "200 success" {
			t.Fatalf("answer %q", got)
		}
	}
	check(t, first.metrics, map[string]float64{"handled_total notify": 1, "duplicates_total notify": 0})
	check(t, second.metrics, map[string]float64{"handled_total notify": 0, "duplicates_total notify": 1, "deliveries_in_progress": 0})
	if n := histogramCount(t, second.reg, "alipaynotify_inflight_wait_seconds", "source", "notify"); n != 1 {
		t.Errorf("second instance: %d waits observed, want 1", n)
	}
	if n := histogramCount(t, first.reg, "alipaynotify_inflight_wait_seconds"); n != 0 {
		t.Errorf("first instance: %d waits observed, want 0", n)
	}
	if n := histogramCount(t, first.reg, "alipaynotify_handler_duration_seconds", "source", "notify", "result", "handled"); n != 1 {
		t.Errorf("first instance: %d handler durations, want 1", n)
	}
	if n := histogramCount(t, second.reg, "alipaynotify_store_call_duration_seconds", "op", "claim", "result", "ok"); n < 2 {
		t.Errorf("second instance: %d claims observed, want at least 2 (busy, then done)", n)
	}
}

func TestOptions(t *testing.T) {
	for _, c := range []struct {
		name  string
		opts  alipayprom.Options
		field string // "" when valid
	}{
		{"zero", alipayprom.Options{}, ""},
		{"all set", alipayprom.Options{Namespace: "shop_pay", ConstLabels: prometheus.Labels{"shop": "cn-east"},
			HandlerBuckets: []float64{.1, 1}, StoreBuckets: []float64{.001}, WaitBuckets: []float64{1, 2}, TickBuckets: []float64{60}}, ""},
		{"namespace with a dash", alipayprom.Options{Namespace: "alipay-notify"}, "Namespace"},
		{"namespace starting with a digit", alipayprom.Options{Namespace: "1pay"}, "Namespace"},
		{"const label of this package", alipayprom.Options{ConstLabels: prometheus.Labels{"source": "x"}}, "ConstLabels"},
		{"reserved const label", alipayprom.Options{ConstLabels: prometheus.Labels{"__name__": "x"}}, "ConstLabels"},
		{"invalid const label", alipayprom.Options{ConstLabels: prometheus.Labels{"shop-id": "x"}}, "ConstLabels"},
		{"const label value not UTF-8", alipayprom.Options{ConstLabels: prometheus.Labels{"shop": "\xff"}}, "ConstLabels"},
		{"decreasing buckets", alipayprom.Options{HandlerBuckets: []float64{1, .5}}, "HandlerBuckets"},
		{"repeated bucket", alipayprom.Options{StoreBuckets: []float64{1, 1}}, "StoreBuckets"},
		{"zero bucket", alipayprom.Options{WaitBuckets: []float64{0, 1}}, "WaitBuckets"},
		{"infinite bucket", alipayprom.Options{TickBuckets: []float64{1, math.Inf(1)}}, "TickBuckets"},
		{"NaN bucket", alipayprom.Options{HandlerBuckets: []float64{math.NaN()}}, "HandlerBuckets"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := alipayprom.New(c.opts)
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				// It registers, and lints clean, on a pedantic registry.
				reg := prometheus.NewPedanticRegistry()
				if err := reg.Register(m); err != nil {
					t.Fatal(err)
				}
				if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
					t.Fatalf("lint: %v %+v", err, problems)
				}
				return
			}
			var fe *alipaynotify.FieldError
			if m != nil || !errors.Is(err, alipaynotify.ErrConfig) || !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("New = %v, %v; want an ErrConfig naming %s", m, err, c.field)
			}
		})
	}
}

// TestConstLabelsAndNamespace: the options reach every metric.
func TestConstLabelsAndNamespace(t *testing.T) {
	m, err := alipayprom.New(alipayprom.Options{Namespace: "shop", ConstLabels: prometheus.Labels{"instance_group": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	m.Hooks().Handled(context.Background(), &alipaynotify.Notification{Source: alipaynotify.SourceReturn}, time.Millisecond)
	if err := testutil.CollectAndCompare(m, strings.NewReader(`
# HELP shop_handled_total Business handler runs that succeeded.
# TYPE shop_handled_total counter
shop_handled_total{instance_group="a",source="notify"} 0
shop_handled_total{instance_group="a",source="query"} 0
shop_handled_total{instance_group="a",source="return"} 1
`), "shop_handled_total"); err != nil {
		t.Error(err)
	}
}

// TestBoundedLabels: values the library never passes (an unknown source, a
// reason or op that is not a word) are counted under "other", never as
// given.
func TestBoundedLabels(t *testing.T) {
	m, err := alipayprom.New(alipayprom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Hooks()
	ctx := context.Background()
	h.Rejected(ctx, middleware.Rejection{Source: "ORDER-123", Reason: "amount 88.88 differs", Err: alipaynotify.ErrOrder})
	h.StoreError(ctx, "claim ORDER-123", errStoreDown)
	h.Handled(ctx, &alipaynotify.Notification{Source: "webhook"}, time.Millisecond)
	h.Finished(ctx, "webhook", nil)
	if err := testutil.CollectAndCompare(m, strings.NewReader(`
# HELP alipaynotify_rejected_total Callbacks refused, by reason (middleware.Reason).
# TYPE alipaynotify_rejected_total counter
alipaynotify_rejected_total{reason="other",source="other"} 1
# HELP alipaynotify_store_errors_total Dedupe store failures, by operation.
# TYPE alipaynotify_store_errors_total counter
alipaynotify_store_errors_total{op="other"} 1
# HELP alipaynotify_deliveries_total Finished deliveries, by outcome.
# TYPE alipaynotify_deliveries_total counter
alipaynotify_deliveries_total{outcome="unknown",source="other"} 1
`), "alipaynotify_rejected_total", "alipaynotify_store_errors_total", "alipaynotify_deliveries_total"); err != nil {
		t.Error(err)
	}
	check(t, m, map[string]float64{"handled_total other": 1})
}
