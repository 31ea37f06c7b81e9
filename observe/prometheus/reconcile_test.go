package alipayprom_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

// TestReconcileCounts drives a Reconciler against alipaytest's fake gateway
// and checks the queries by state and error class, the deliveries they led
// to (source "query"), and the ticks of Run.
func TestReconcileCounts(t *testing.T) {
	f := newFixture(t, nil, middleware.Options{})
	gw := alipaytest.NewGateway(alipaytest.GatewayOptions{Signer: f.signer})
	t.Cleanup(gw.Close)
	client, err := reconcile.New(reconcile.Options{
		Verifier: f.mw.Verifier(), GatewayURL: gw.GatewayURL(), HTTPClient: gw.Client(),
		MerchantPrivateKey: alipaytest.SecondTestKey().PrivateKeyPKCS8PEM(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hooks := f.metrics.ReconcileHooks()
	ticks := make(chan reconcile.TickStats, 1)
	count := hooks.TickDone
	hooks.TickDone = func(ctx context.Context, s reconcile.TickStats) {
		count(ctx, s)
		select {
		case ticks <- s:
		default:
		}
	}
	rec, err := reconcile.NewReconciler(reconcile.ReconcilerOptions{
		Middleware: f.mw, Business: f.business, Querier: client, Logger: slog.New(slog.DiscardHandler),
		Pending:  func(context.Context) ([]string, error) { return []string{"Q-1", "Q-1", "NONE-1"}, nil },
		Interval: 20 * time.Millisecond, Rate: 1000,
		Hooks: hooks,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reconcileOnce := func(outTradeNo string) {
		t.Helper()
		_, _ = rec.Reconcile(ctx, outTradeNo) // the hooks count what it returns
	}

	q := f.signer.NewTrade("Q-1", "9.99")
	gw.SetStatus(q, "TRADE_SUCCESS")
	reconcileOnce("Q-1") // paid, handled
	reconcileOnce("Q-1") // paid, duplicate
	reconcileOnce("NONE-1")
	gw.SetStatus(f.signer.NewTrade("W-1", "1.00"), "WAIT_BUYER_PAY")
	reconcileOnce("W-1")
	gw.SetStatus(f.signer.NewTrade("FAIL-Q", "1.00"), "TRADE_SUCCESS")
	reconcileOnce("FAIL-Q") // the handler fails
	for _, fault := range []alipaytest.Fault{
		{HTTPStatus: http.StatusBadGateway},
		{BadSignature: true},
		{Code: "20000", SubCode: "ACQ.SYSTEM_ERROR", SubMsg: "系统错误"},
	} {
		gw.SetFault(fault)
		reconcileOnce("Q-1")
	}
	gw.SetFault(alipaytest.Fault{})

	check(t, f.metrics, map[string]float64{
		"reconcile_queries_total paid none":             2,
		"reconcile_queries_total paid not_delivered":    1,
		"reconcile_queries_total not_found none":        1,
		"reconcile_queries_total not_paid none":         1,
		"reconcile_queries_total no_answer http_status": 1,
		"reconcile_queries_total no_answer signature":   1,
		"reconcile_queries_total no_answer gateway":     1,
		"received_total query":                          3,
		"handled_total query":                           1,
		"duplicates_total query":                        1,
		"failed_total query":                            1,
		"reconcile_ticks_total ok":                      0,
	})

	// One tick of Run: two distinct orders listed, both asked about.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rec.Run(runCtx) }()
	s := <-ticks
	stop()
	<-done
	if s.Listed != 2 || s.Queried != 2 {
		t.Fatalf("tick: %+v", s)
	}
	if got := histogramCount(t, f.reg, "alipaynotify_reconcile_tick_duration_seconds"); got < 1 {
		t.Errorf("%d tick durations observed", got)
	}
	check(t, f.metrics, map[string]float64{"reconcile_pending_orders": 2})
	if got := testutil.ToFloat64(f.metrics.ForTest("reconcile_ticks_total", "ok")); got < 1 {
		t.Errorf("%v ticks counted", got)
	}
	noPaymentData(t, f.reg, "Q-1", "NONE-1", "W-1", "FAIL-Q", "9.99", q.TradeNo)
}
