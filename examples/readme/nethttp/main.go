// Command nethttp is the README's complete net/http program.
package main

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// orders stands in for your order database: out_trade_no → amount in fen.
var orders = map[string]alipaynotify.Amount{"ORDER-1": 8888}

func main() {
	verifier, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            os.Getenv("ALIPAY_APP_ID"),
		AlipayPublicKeys: []string{os.Getenv("ALIPAY_PUBLIC_KEY")}, // 支付宝公钥 (Alipay's key), PEM or bare base64
		// Alipay's rule: the order is yours and the amount is the order's.
		CheckOrder: func(ctx context.Context, n *alipaynotify.Notification) error {
			amount, ok := orders[n.OutTradeNo]
			if !ok {
				return fmt.Errorf("no order %s", n.OutTradeNo)
			}
			return n.CheckTotalAmount(amount) // absent (a mobile web return) is not 0.00
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	redisOpts, err := redis.ParseURL(os.Getenv("REDIS_URL")) // redis://127.0.0.1:6379/0, shared by every instance
	if err != nil {
		log.Fatal(err)
	}
	store, err := redisstore.New(redis.NewClient(redisOpts), redisstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	mw, err := middleware.New(middleware.Options{Verifier: verifier, Store: store})
	if err != nil {
		log.Fatal(err)
	}
	if err := mw.CheckStore(context.Background()); err != nil {
		log.Fatal(err) // a dead Redis fails the deploy, not the first payment
	}
	// Runs once per event, whichever of notify and return comes first; an error makes Alipay retry.
	markPaid := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		log.Printf("order %s: %s %s", n.OutTradeNo, n.TradeStatus, n.TotalAmount)
		return nil
	})
	http.Handle("POST /alipay/notify", mw.Notify(markPaid))
	http.Handle("GET /alipay/return", mw.Return(markPaid, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := middleware.DeliveryFromContext(r.Context())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Order %s: %s\n", d.Notification.OutTradeNo, d.Outcome)
	})))
	log.Fatal(http.ListenAndServe(cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080"), nil))
}
