package reconcile_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

// BenchmarkReconcileTick runs ticks of 1,000 pending paid orders through
// the middleware (memory store) with a Querier that answers at once with
// verified query answers, on the wall clock. It reports the queries per
// pending order per tick (target 1) and the query rate achieved against
// the configured Rate: unlimited (1e9/s), the tick's own cost; 1,000/s,
// the limiter's. Each op is one tick; the first tick of a run hands the
// orders to the handler, the next ones find them duplicates.
func BenchmarkReconcileTick(b *testing.B) {
	const orders = 1000
	w := newWorld(b, worldOptions{})
	answers := make(map[string]*alipaynotify.Notification, orders)
	list := make([]string, 0, orders)
	for i := range orders {
		tr := w.signer.NewTrade(fmt.Sprintf("BENCH-%04d", i), "10.00")
		body, err := w.signer.SignedTradeQueryAnswer(alipaytest.OpenTradeQueryResponse(tr, "TRADE_SUCCESS"), "")
		if err != nil {
			b.Fatal(err)
		}
		n, err := w.verifier.VerifyTradeQuery(context.Background(), []byte(body), tr.OutTradeNo)
		if err != nil {
			b.Fatal(err)
		}
		answers[tr.OutTradeNo] = n
		list = append(list, tr.OutTradeNo)
	}
	for _, rate := range []float64{1e9, 1000} {
		b.Run(fmt.Sprintf("rate=%g", rate), func(b *testing.B) {
			var queries atomic.Int64
			q := querierFunc(func(_ context.Context, no string) (*alipaynotify.Notification, error) {
				queries.Add(1)
				return answers[no], nil
			})
			r, err := reconcile.NewReconciler(reconcile.ReconcilerOptions{
				Middleware: w.mw, Business: w.handler, Querier: q, Logger: discardLogger(),
				Pending: func(context.Context) ([]string, error) { return list, nil },
				Rate:    rate,
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			start := time.Now()
			ticks := 0
			for b.Loop() {
				if st := reconcile.Tick(ctx, r); st.Failed != 0 || st.Queried != orders {
					b.Fatalf("tick: %+v", st)
				}
				ticks++
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(queries.Load())/float64(orders*ticks), "queries/order/tick")
			b.ReportMetric(float64(queries.Load())/elapsed.Seconds(), "queries/s")
			b.ReportMetric(rate, "limit-queries/s")
		})
	}
}
