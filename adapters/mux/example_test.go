package alipaymux_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/gorilla/mux"

	"github.com/alipaynotify/alipaynotify"
	alipaymux "github.com/alipaynotify/alipaynotify/adapters/mux"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// exampleMiddleware configures the middleware for the test signer's
// callbacks. A real merchant passes its app ID and Alipay's public key.
func exampleMiddleware() *middleware.Middleware {
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
	})
	if err != nil {
		log.Fatal(err)
	}
	m, err := middleware.New(middleware.Options{Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	return m
}

// Register notify_url and return_url on a subrouter. The business handler
// runs once, whichever of the return and the notify arrives first.
func ExampleHandleNotify() {
	m := exampleMiddleware()
	business := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		fmt.Println("business:", n.Source, n.OutTradeNo, n.TotalAmount)
		return nil // an error makes Alipay retry
	})
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := middleware.DeliveryFromContext(r.Context())
		fmt.Fprintf(w, "order %s: %s", d.Notification.OutTradeNo, d.Outcome)
	})

	r := mux.NewRouter()
	alipay := r.PathPrefix("/alipay").Subrouter()
	alipaymux.HandleNotify(alipay, "/notify", m, business)
	alipaymux.HandleReturn(alipay, "/return", m, business, page)

	trade := alipaytest.NewSigner(nil).NewTrade("ORDER-1", "88.88")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, trade.Return().Request("/alipay/return"))
	fmt.Println(w.Body.String())
	for range 2 {
		w = httptest.NewRecorder()
		r.ServeHTTP(w, trade.Paid().Request("/alipay/notify"))
		fmt.Println(w.Body.String())
	}
	// Output:
	// business: return ORDER-1 88.88
	// order ORDER-1: handled
	// success
	// success
}

// The middleware form on a subrouter that holds only the notify route. A
// forged callback never reaches the business handler.
func ExampleNotifyMiddleware() {
	m := exampleMiddleware()
	r := mux.NewRouter()
	notify := r.Path("/alipay/notify").Subrouter()
	notify.Use(alipaymux.NotifyMiddleware(m))
	notify.Methods(http.MethodPost).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := middleware.FromContext(r.Context())
		fmt.Println("paid:", n.OutTradeNo)
		w.WriteHeader(http.StatusNoContent) // a non-2xx status makes Alipay retry
	})

	paid := alipaytest.NewSigner(nil).Paid("ORDER-2", "100.00")
	for _, msg := range []*alipaytest.Message{paid.Tampered("total_amount", "0.01"), paid} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, msg.Request("/alipay/notify"))
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 400 fail
	// paid: ORDER-2
	// 200 success
}

// The return page as the wrapped handler.
func ExampleReturnMiddleware() {
	m := exampleMiddleware()
	business := middleware.HandlerFunc(func(context.Context, *alipaynotify.Notification) error { return nil })
	r := mux.NewRouter()
	ret := r.Path("/alipay/return").Subrouter()
	ret.Use(alipaymux.ReturnMiddleware(m, business))
	ret.Methods(http.MethodGet).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := middleware.DeliveryFromContext(r.Context())
		fmt.Fprintf(w, "thank you, order %s is %s", d.Notification.OutTradeNo, d.Outcome)
	})

	w := httptest.NewRecorder()
	r.ServeHTTP(w, alipaytest.NewSigner(nil).NewTrade("ORDER-3", "1.00").Return().Request("/alipay/return"))
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 200 thank you, order ORDER-3 is handled
}
