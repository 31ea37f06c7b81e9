// Command nethttp is the README's complete net/http program.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/middleware"
)

func main() {
	verifier, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            os.Getenv("ALIPAY_APP_ID"),
		AlipayPublicKeys: []string{os.Getenv("ALIPAY_PUBLIC_KEY")}, // Alipay's key, PEM or bare base64
	})
	if err != nil {
		log.Fatal(err)
	}
	mw, err := middleware.New(middleware.Options{Verifier: verifier}) // in-memory dedupe: see Stores
	if err != nil {
		log.Fatal(err)
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
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}
