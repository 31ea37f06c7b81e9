// Package alipaymux serves Alipay's notify_url and return_url on a gorilla/mux
// router. Verification, the exactly-once contract and the answers to Alipay
// are those of package middleware; this package gives them mux's shapes.
//
// It mirrors package alipaygin name for name, so that a merchant who switches
// routers changes only router code. The business handler is always an
// http.Handler, as in middleware.Middleware.Notify: a
// middleware.HandlerFunc(func(ctx, n) error) is one. The page is the
// router's own handler type (for mux, an http.Handler).
//
//	Notify, Return                      the handlers, as mux handlers
//	NotifyMiddleware, ReturnMiddleware  the same as mux.MiddlewareFunc: the
//	                                    wrapped handler is the business
//	                                    handler, or the page
//	HandleNotify, HandleReturn          register on a router at a path, for
//	                                    POST or GET
//	FromContext, DeliveryFromContext    read the delivery from the request
//	                                    (mux's context, as mux.Vars)
//
// The route helpers are the short way:
//
//	business := middleware.HandlerFunc(shop.Handle)
//	alipay := r.PathPrefix("/alipay").Subrouter()
//	alipaymux.HandleNotify(alipay, "/notify", m, business)
//	alipaymux.HandleReturn(alipay, "/return", m, business, page)
//
// The middleware form suits a subrouter that holds only the notify route,
// since mux runs a router's middleware for every route it matches:
//
//	notify := r.Path("/alipay/notify").Subrouter()
//	notify.Use(alipaymux.NotifyMiddleware(m))
//	notify.Methods(http.MethodPost).Handler(business)
//
// mux.Vars and mux.CurrentRoute keep working in the business handler and the
// page, because the request they get is derived from mux's.
package alipaymux

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// Notify is the notify_url handler: m.Notify(business). POST only, verify,
// claim, run business at most once per business event, then answer Alipay
// exactly "success" or "fail" (business's own response is discarded).
func Notify(m *middleware.Middleware, business http.Handler) http.Handler {
	return m.Notify(business)
}

// Return is the return_url handler: m.Return(business, page). GET only,
// verify, run business at most once per business event (shared with
// notify_url), then serve page, which reads the notification and the Outcome
// with DeliveryFromContext. A return that cannot be verified is answered by
// middleware.Options.ReturnErrorHandler (400 by default).
func Return(m *middleware.Middleware, business, page http.Handler) http.Handler {
	return m.Return(business, page)
}

// NotifyMiddleware is Notify as a mux.MiddlewareFunc: the handler it wraps is
// the business handler, run at most once per business event, and Alipay gets
// exactly "success" or "fail". Use it on a router or subrouter whose only
// route is the notify route: every route it matches becomes a notify_url.
func NotifyMiddleware(m *middleware.Middleware) mux.MiddlewareFunc {
	return mux.MiddlewareFunc(m.Notify)
}

// ReturnMiddleware is Return as a mux.MiddlewareFunc: the handler it wraps is
// the page shown to the buyer. Use it on a router or subrouter whose only
// route is the return route.
func ReturnMiddleware(m *middleware.Middleware, business http.Handler) mux.MiddlewareFunc {
	return mux.MiddlewareFunc(m.ReturnMiddleware(business))
}

// HandleNotify registers Notify(m, business) on r for POST requests to path
// and returns the route, which can be narrowed further (Host, Schemes, ...).
// Other methods never reach the middleware: mux answers 405 (404 inside a
// subrouter that has sibling routes, gorilla/mux#751).
func HandleNotify(r *mux.Router, path string, m *middleware.Middleware, business http.Handler) *mux.Route {
	return r.Handle(path, Notify(m, business)).Methods(http.MethodPost)
}

// HandleReturn registers Return(m, business, page) on r for GET requests to
// path and returns the route. Other methods are answered by mux, as for
// HandleNotify.
func HandleReturn(r *mux.Router, path string, m *middleware.Middleware, business, page http.Handler) *mux.Route {
	return r.Handle(path, Return(m, business, page)).Methods(http.MethodGet)
}

// FromContext returns the verified notification of the request, if any: in
// the business handler and in the page. It is
// middleware.FromContext(r.Context()) and never panics, whatever r holds.
func FromContext(r *http.Request) (*alipaynotify.Notification, bool) {
	if r == nil {
		return nil, false
	}
	return middleware.FromContext(r.Context())
}

// DeliveryFromContext returns what the middleware knows about the delivery
// being served: the notification, the stale flag, the claim token and, on the
// return page, the outcome. It is middleware.DeliveryFromContext(r.Context())
// and never panics, whatever r holds.
func DeliveryFromContext(r *http.Request) (*middleware.Delivery, bool) {
	if r == nil {
		return nil, false
	}
	return middleware.DeliveryFromContext(r.Context())
}
