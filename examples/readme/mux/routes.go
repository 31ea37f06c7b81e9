// Package muxroutes is the README's gorilla/mux snippet.
package muxroutes

import (
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	alipaymux "github.com/alipaynotify/alipaynotify/adapters/mux"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// Routes serves notify_url and return_url on a gorilla/mux router.
func Routes(r *mux.Router, mw *middleware.Middleware, markPaid http.Handler) {
	alipay := r.PathPrefix("/alipay").Subrouter()
	alipaymux.HandleNotify(alipay, "/notify", mw, markPaid)
	alipaymux.HandleReturn(alipay, "/return", mw, markPaid, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := alipaymux.DeliveryFromContext(r)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Order %s: %s\n", d.Notification.OutTradeNo, d.Outcome)
	}))
}
