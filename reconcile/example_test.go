package reconcile_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

// A merchant wired for lost callbacks (掉单): one Verifier for the callbacks
// and the query answers, one middleware and business handler for notify,
// return and query, a Client for Alipay's gateway, and a Reconciler that
// asks about the pending orders every minute. alipaytest's Gateway plays
// Alipay here: its trade ORDER-7 was paid, but the notification never came.
func Example() {
	gateway := alipaytest.NewGateway(alipaytest.GatewayOptions{})
	defer gateway.Close()
	paid := alipaytest.NewSigner(nil).NewTrade("ORDER-7", "88.88")
	gateway.SetStatus(paid, "TRADE_SUCCESS")

	// Your configuration: app ID, Alipay's public key, your app's private key.
	verifier, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
	})
	if err != nil {
		log.Fatal(err)
	}
	mw, err := middleware.New(middleware.Options{Verifier: verifier, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	markPaid := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		fmt.Println("handler:", n.OutTradeNo, n.TradeStatus, "from", n.Source)
		return nil
	})
	// The same markPaid serves notify_url: mux.Handle("POST /alipay/notify", mw.Notify(markPaid)).

	client, err := reconcile.New(reconcile.Options{
		Verifier:           verifier,
		MerchantPrivateKey: alipaytest.SecondTestKey().PrivateKeyPKCS8PEM(),
		GatewayURL:         gateway.GatewayURL(), // default: Alipay's
		HTTPClient:         gateway.Client(),     // default: an http.Client with Timeout
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	rec, err := reconcile.NewReconciler(reconcile.ReconcilerOptions{
		Middleware: mw, Business: markPaid, Querier: client,
		Pending: func(ctx context.Context) ([]string, error) {
			// SELECT out_trade_no FROM orders WHERE state = 'unpaid' AND created < now() - 10 minutes
			return []string{"ORDER-7", "ORDER-8"}, nil
		},
		Interval: 100 * time.Millisecond, // default: 1m
		Logger:   slog.New(slog.DiscardHandler),
		Hooks: reconcile.Hooks{TickDone: func(_ context.Context, s reconcile.TickStats) {
			fmt.Printf("tick: %d queried, %d handled, %d not found\n", s.Queried, s.Handled, s.NotFound)
			stop() // one tick for the example; a service runs until it shuts down
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Run:", rec.Run(ctx))

	// Before cancelling an order, ask once more.
	res, err := rec.Reconcile(context.Background(), "ORDER-7")
	fmt.Println("Reconcile:", res.State, res.Delivery.Outcome, err)
	// Output:
	// handler: ORDER-7 TRADE_SUCCESS from query
	// tick: 2 queried, 1 handled, 1 not found
	// Run: context canceled
	// Reconcile: paid duplicate <nil>
}
