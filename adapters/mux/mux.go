// Package alipaymux serves Alipay's notify_url and return_url on a gorilla/mux
// router. The middleware of package middleware already has the
// func(http.Handler) http.Handler shape that mux.MiddlewareFunc names, so this
// package is type conversions and route helpers; verification, the
// exactly-once contract and the answers to Alipay are the core's.
//
// The route helpers are the short way:
//
//	r := mux.NewRouter()
//	alipaymux.HandleNotify(r, "/alipay/notify", m, business)
//	alipaymux.HandleReturn(r, "/alipay/return", m, business, page)
//
// The middleware form suits a subrouter that holds only the notify route,
// since mux runs a router's middleware for every route it matches:
//
//	notify := r.Path("/alipay/notify").Subrouter()
//	notify.Use(alipaymux.NotifyMiddleware(m))
//	notify.Methods(http.MethodPost).Handler(business)
//
// Handlers read the notification with middleware.FromContext and
// middleware.DeliveryFromContext; mux.Vars and mux.CurrentRoute keep working
// because the request the business handler gets is derived from mux's.
package alipaymux

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/alipaynotify/alipaynotify/middleware"
)

// NotifyMiddleware is m.NotifyMiddleware as a mux.MiddlewareFunc: the handler
// it wraps is the business handler, run at most once per business event, and
// Alipay gets exactly "success" or "fail" (the business handler's own
// response is discarded). Use it on a router or subrouter whose only route is
// the notify route: every route it matches becomes a notify_url.
func NotifyMiddleware(m *middleware.Middleware) mux.MiddlewareFunc {
	return mux.MiddlewareFunc(m.NotifyMiddleware())
}

// ReturnMiddleware is m.ReturnMiddleware(business) as a mux.MiddlewareFunc:
// the handler it wraps is the page shown to the buyer, which reads the
// notification and the outcome with middleware.DeliveryFromContext. Use it on
// a router or subrouter whose only route is the return route.
func ReturnMiddleware(m *middleware.Middleware, business http.Handler) mux.MiddlewareFunc {
	return mux.MiddlewareFunc(m.ReturnMiddleware(business))
}

// HandleNotify registers m.Notify(business) on r for POST requests to path
// and returns the route, which can be narrowed further (Host, Schemes, ...).
// Other methods never reach the middleware: mux answers 405 (404 inside a
// subrouter that has sibling routes, gorilla/mux#751).
func HandleNotify(r *mux.Router, path string, m *middleware.Middleware, business http.Handler) *mux.Route {
	return r.Handle(path, m.Notify(business)).Methods(http.MethodPost)
}

// HandleReturn registers m.Return(business, page) on r for GET
// requests to path and returns the route. A return that cannot be verified is
// answered by middleware.Options.ReturnErrorHandler (400 by default). Other
// methods are answered by mux, as for HandleNotify.
func HandleReturn(r *mux.Router, path string, m *middleware.Middleware, business, page http.Handler) *mux.Route {
	return r.Handle(path, m.Return(business, page)).Methods(http.MethodGet)
}
