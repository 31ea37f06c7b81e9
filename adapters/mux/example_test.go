package alipaymux_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gorilla/mux"

	"github.com/alipaynotify/alipaynotify"
	alipaymux "github.com/alipaynotify/alipaynotify/adapters/mux"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/internal/exampletest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// The examples of this package and of package alipaygin tell the same
// stories with the same names: only the router code differs.

// markPaid is the merchant's business handler, the same on every router. It
// runs once per business event; an error makes Alipay retry.
func markPaid(ctx context.Context, n *alipaynotify.Notification) error {
	fmt.Println("business:", n.Source, n.OutTradeNo, n.TotalAmount)
	return nil
}

// Register notify_url and return_url on a subrouter. The business handler
// runs once, whichever of the return and the notify arrives first; the
// return page shows the outcome.
func ExampleHandleNotify() {
	m := exampletest.Middleware()
	business := middleware.HandlerFunc(markPaid)
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := alipaymux.DeliveryFromContext(r)
		fmt.Fprintf(w, "order %s: %s", d.Notification.OutTradeNo, d.Outcome)
	})

	r := mux.NewRouter()
	alipay := r.PathPrefix("/alipay").Subrouter()
	alipaymux.HandleNotify(alipay, "/notify", m, business)
	alipaymux.HandleReturn(alipay, "/return", m, business, page)

	trade := alipaytest.NewSigner(nil).NewTrade("ORDER-1", "88.88")
	fmt.Println(exampletest.Send(r, trade.Return().Request("/alipay/return")))
	for range 2 {
		fmt.Println(exampletest.Send(r, trade.Paid().Request("/alipay/notify")))
	}
	// Output:
	// business: return ORDER-1 88.88
	// 200 order ORDER-1: handled
	// 200 success
	// 200 success
}

// Notify and Return are the handlers themselves, for routes registered by
// hand.
func ExampleNotify() {
	m := exampletest.Middleware()
	business := middleware.HandlerFunc(markPaid)

	r := mux.NewRouter()
	r.Handle("/alipay/notify", alipaymux.Notify(m, business)).Methods(http.MethodPost)

	fmt.Println(exampletest.Send(r, alipaytest.NewSigner(nil).Paid("ORDER-2", "10.00").Request("/alipay/notify")))
	// Output:
	// business: notify ORDER-2 10.00
	// 200 success
}

// The middleware form, on a subrouter that holds only the notify route: the
// wrapped handler is the business handler. A forged callback never reaches
// it.
func ExampleNotifyMiddleware() {
	m := exampletest.Middleware()

	r := mux.NewRouter()
	notify := r.Path("/alipay/notify").Subrouter()
	notify.Use(alipaymux.NotifyMiddleware(m))
	notify.Methods(http.MethodPost).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := alipaymux.FromContext(r)
		if err := markPaid(r.Context(), n); err != nil {
			w.WriteHeader(http.StatusInternalServerError) // Alipay gets "fail" and retries
		}
	})

	paid := alipaytest.NewSigner(nil).Paid("ORDER-3", "100.00")
	for _, msg := range []*alipaytest.Message{paid.Tampered("total_amount", "0.01"), paid} {
		fmt.Println(exampletest.Send(r, msg.Request("/alipay/notify")))
	}
	// Output:
	// 400 fail
	// business: notify ORDER-3 100.00
	// 200 success
}

// The middleware form of the return: the wrapped handler is the page.
func ExampleReturnMiddleware() {
	m := exampletest.Middleware()
	business := middleware.HandlerFunc(markPaid)

	r := mux.NewRouter()
	ret := r.Path("/alipay/return").Subrouter()
	ret.Use(alipaymux.ReturnMiddleware(m, business))
	ret.Methods(http.MethodGet).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := alipaymux.DeliveryFromContext(r)
		fmt.Fprintf(w, "thank you, order %s is %s", d.Notification.OutTradeNo, d.Outcome)
	})

	fmt.Println(exampletest.Send(r, alipaytest.NewSigner(nil).NewTrade("ORDER-4", "1.00").Return().Request("/alipay/return")))
	// Output:
	// business: return ORDER-4 1.00
	// 200 thank you, order ORDER-4 is handled
}

// A page can be unit-tested without signing anything: put a Delivery in the
// request's context with middleware.NewDeliveryContext.
func ExampleDeliveryFromContext() {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := alipaymux.DeliveryFromContext(r)
		fmt.Fprintf(w, "order %s: %s", d.Notification.OutTradeNo, d.Outcome)
	})

	w := httptest.NewRecorder()
	d := &middleware.Delivery{
		Notification: &alipaynotify.Notification{OutTradeNo: "ORDER-5"},
		Outcome:      middleware.OutcomeInFlight,
	}
	req := httptest.NewRequest(http.MethodGet, "/alipay/return", nil)
	page.ServeHTTP(w, req.WithContext(middleware.NewDeliveryContext(req.Context(), d)))
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 200 order ORDER-5: in-flight
}
