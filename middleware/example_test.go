package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/internal/exampletest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// New configures the middleware once; Notify wraps the business handler,
// which runs once per business event however often Alipay delivers it.
func ExampleNew() {
	m, err := middleware.New(middleware.Options{
		Verifier: exampletest.Verifier(),
		Logger:   slog.New(slog.DiscardHandler), // default: slog.Default()
	})
	if err != nil {
		log.Fatal(err)
	}
	markPaid := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		fmt.Println("paid:", n.OutTradeNo, n.TotalAmount)
		return nil // an error makes Alipay retry
	})
	mux := http.NewServeMux()
	mux.Handle("POST /alipay/notify", m.Notify(markPaid))

	// Play Alipay: deliver one payment notification twice.
	paid := alipaytest.NewSigner(nil).Paid("ORDER-1", "88.88")
	for range 2 {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, paid.Request("/alipay/notify"))
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// paid: ORDER-1 88.88
	// 200 success
	// 200 success
}

// New refuses options that cannot work with an error matching ErrConfig.
func ExampleNew_config() {
	_, err := middleware.New(middleware.Options{Verifier: exampletest.Verifier(), MaxWaiting: -1})
	fmt.Println(errors.Is(err, middleware.ErrConfig))
	fmt.Println(err)
	// Output:
	// true
	// middleware: invalid Options: MaxWaiting must not be negative
}

// Return serves the buyer's browser: the same business handler runs once,
// shared with Notify, and the page shows the outcome.
func ExampleMiddleware_Return() {
	m, err := middleware.New(middleware.Options{Verifier: exampletest.Verifier(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	markPaid := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		fmt.Println("paid:", n.Source, n.OutTradeNo)
		return nil
	})
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := middleware.DeliveryFromContext(r.Context())
		fmt.Fprintf(w, "order %s: %s", d.Notification.OutTradeNo, d.Outcome)
	})
	mux := http.NewServeMux()
	mux.Handle("POST /alipay/notify", m.Notify(markPaid))
	mux.Handle("GET /alipay/return", m.Return(markPaid, page))

	trade := alipaytest.NewSigner(nil).NewTrade("ORDER-2", "10.00")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, trade.Return().Request("/alipay/return"))
	fmt.Println(w.Body.String())
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, trade.Paid().Request("/alipay/notify"))
	fmt.Println(w.Body.String())
	// Output:
	// paid: return ORDER-2
	// order ORDER-2: handled
	// success
}

// A return page can be unit-tested without signing anything: give it the
// Delivery it would get from the middleware.
func ExampleNewDeliveryContext() {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := middleware.DeliveryFromContext(r.Context())
		if !d.Outcome.Acknowledged() {
			fmt.Fprintf(w, "order %s: we are confirming your payment", d.Notification.OutTradeNo)
			return
		}
		fmt.Fprintf(w, "order %s: thank you", d.Notification.OutTradeNo)
	})

	d := &middleware.Delivery{
		Notification: &alipaynotify.Notification{OutTradeNo: "ORDER-3"},
		Outcome:      middleware.OutcomeFailed,
		Err:          errors.New("database down"),
	}
	r := httptest.NewRequest(http.MethodGet, "/alipay/return", nil)
	w := httptest.NewRecorder()
	page.ServeHTTP(w, r.WithContext(middleware.NewDeliveryContext(r.Context(), d)))
	fmt.Println(w.Body.String())
	// Output:
	// order ORDER-3: we are confirming your payment
}
