// Package alipaygin serves Alipay's notify_url and return_url on gin.
// Verification, the exactly-once contract and the answers to Alipay are
// those of package middleware; this package gives them gin's shapes.
//
// It mirrors package alipaymux name for name, so that a merchant who switches
// routers changes only router code. The business handler is always an
// http.Handler, as in middleware.Middleware.Notify: a
// middleware.HandlerFunc(func(ctx, n) error) is one. The page is the
// router's own handler type (for gin, a gin.HandlerFunc; gin.WrapH turns an
// http.Handler page into one).
//
//	Notify, Return                      the handlers, as gin handlers
//	NotifyMiddleware, ReturnMiddleware  the same as gin middleware: the rest
//	                                    of the gin chain is the business
//	                                    handler, or the page
//	HandleNotify, HandleReturn          register on a router or group at a
//	                                    path, for POST or GET
//	FromContext, DeliveryFromContext    read the delivery from gin's context
//
// The route helpers are the short way:
//
//	business := middleware.HandlerFunc(shop.Handle)
//	alipay := r.Group("/alipay")
//	alipaygin.HandleNotify(alipay, "/notify", m, business)
//	alipaygin.HandleReturn(alipay, "/return", m, business, page)
//
// As gin middleware, the business handler (or the page) is the rest of the
// chain:
//
//	alipay.POST("/notify", alipaygin.NotifyMiddleware(m), markPaid)
//	alipay.GET("/return", alipaygin.ReturnMiddleware(m, business), thanksPage)
//
// Later handlers read the verified notification with FromContext (or
// DeliveryFromContext for the claim token, the stale flag and, on the return
// page, the outcome); middleware.FromContext(c.Request.Context()) works too,
// and so does it in an http.Handler business handler.
//
// Every handler of this package writes the answer itself and then calls
// c.Abort, so the handlers after it run only inside it (as the business
// handler or the page), never after the answer: Alipay must read exactly
// "success" or "fail". Register the middleware forms on their own route, not
// with Use on a group: every route they guard becomes a notify_url (or a
// return_url).
package alipaygin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// contextKey is an unexported pointer type, so no other package can collide
// with the value this package stores in gin's context.
type contextKey struct{ name string }

func (k *contextKey) String() string { return "alipaynotify/adapters/gin context value " + k.name }

var deliveryKey = &contextKey{"delivery"}

// NotifyMiddleware is gin middleware for notify_url; the rest of the gin chain is the
// business handler. It runs m.Notify: POST only, verify, claim, run the rest
// of the chain at most once per business event, then answer Alipay exactly
// "success" or "fail" and call c.Abort.
//
// While the later handlers run, c.Request carries the notification
// (middleware.FromContext) and the claim's context, which is cancelled if the
// claim's lease is lost; FromContext(c) and DeliveryFromContext(c) read it
// from gin's context as well. Their response is never sent: c.Writer is a
// recorder for the duration, because Alipay must read only "success" or
// "fail". The business outcome is taken from what they did:
//
//   - an error attached with c.Error (or c.AbortWithError) fails the event;
//   - otherwise a non-2xx status (c.Status, c.AbortWithStatus, c.JSON(500, …))
//     fails it, reported as middleware.ErrHandlerStatus;
//   - otherwise (2xx, or nothing written) it is handled. c.Abort alone is not
//     a failure.
//
// A failed event answers "fail" and releases the claim, so Alipay's retry runs
// the chain again. A panic in a later handler releases the claim too and
// propagates to gin's recovery with c.Writer restored. Rejected, duplicate and
// in-flight deliveries never reach the later handlers.
func NotifyMiddleware(m *middleware.Middleware) gin.HandlerFunc {
	return func(c *gin.Context) {
		orig := c.Request
		defer func() { c.Request = orig }()
		business := middleware.HandlerFunc(func(ctx context.Context, _ *alipaynotify.Notification) error {
			return runChain(c, orig.WithContext(ctx))
		})
		m.Notify(business).ServeHTTP(c.Writer, orig)
		c.Abort()
	}
}

// Notify is the notify_url handler: m.Notify(business) as a gin.HandlerFunc.
// POST only, verify, claim, run business at most once per business event,
// then answer Alipay exactly "success" or "fail" (business's own response is
// discarded) and call c.Abort.
func Notify(m *middleware.Middleware, business http.Handler) gin.HandlerFunc {
	h := m.Notify(business)
	return func(c *gin.Context) {
		h.ServeHTTP(c.Writer, c.Request)
		c.Abort()
	}
}

// ReturnMiddleware is gin middleware for return_url; the rest of the gin chain is the
// page shown to the buyer. It runs m.Return: GET only, verify, run
// business at most once per business event (shared with notify_url), then run
// the rest of the chain, which reads the notification and the Outcome with
// DeliveryFromContext and writes the page. A return that cannot be verified
// is answered by middleware.Options.ReturnErrorHandler (400 by default)
// without running the rest of the chain. ReturnMiddleware calls c.Abort
// when done.
func ReturnMiddleware(m *middleware.Middleware, business http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		serveReturn(c, m, business, c.Next)
	}
}

// Return is the return_url handler: like ReturnMiddleware, with page in
// place of the rest of the chain. It calls c.Abort when done.
func Return(m *middleware.Middleware, business http.Handler, page gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		serveReturn(c, m, business, func() { page(c) })
	}
}

// HandleNotify registers Notify(m, business) on r (an engine or a group) for
// POST requests to path and returns r. Other methods never reach the
// middleware: gin answers 404, or 405 with HandleMethodNotAllowed.
func HandleNotify(r gin.IRoutes, path string, m *middleware.Middleware, business http.Handler) gin.IRoutes {
	return r.POST(path, Notify(m, business))
}

// HandleReturn registers Return(m, business, page) on r (an engine or a
// group) for GET requests to path and returns r. Other methods are answered
// by gin, as for HandleNotify.
func HandleReturn(r gin.IRoutes, path string, m *middleware.Middleware, business http.Handler, page gin.HandlerFunc) gin.IRoutes {
	return r.GET(path, Return(m, business, page))
}

func serveReturn(c *gin.Context, m *middleware.Middleware, business http.Handler, page func()) {
	orig := c.Request
	defer func() { c.Request = orig }()
	m.Return(business, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// The writer is c.Writer: Return hands the page the writer it got.
		if d, ok := middleware.DeliveryFromContext(r.Context()); ok {
			c.Set(deliveryKey, d)
		}
		c.Request = r
		page()
	})).ServeHTTP(c.Writer, orig)
	c.Abort()
}

// FromContext returns the verified notification of the request, if any. It
// works in every handler after NotifyMiddleware and ReturnMiddleware, and in
// Return's page. It never panics, whatever c holds.
func FromContext(c *gin.Context) (*alipaynotify.Notification, bool) {
	d, ok := DeliveryFromContext(c)
	if !ok || d.Notification == nil {
		return nil, false
	}
	return d.Notification, true
}

// DeliveryFromContext returns what the middleware knows about the delivery
// being served: the notification, the stale flag, the claim token and, on the
// return page, the outcome. It looks in gin's context first, then in
// c.Request's context. It never panics, whatever c holds.
func DeliveryFromContext(c *gin.Context) (*middleware.Delivery, bool) {
	if c == nil {
		return nil, false
	}
	if v, ok := c.Get(deliveryKey); ok {
		if d, ok := v.(*middleware.Delivery); ok && d != nil {
			return d, true
		}
	}
	if c.Request == nil {
		return nil, false
	}
	return middleware.DeliveryFromContext(c.Request.Context())
}

// runChain runs the rest of the gin chain as the business handler of one
// delivery, with r (which carries the delivery) as c.Request and a recorder
// as c.Writer, and turns what the handlers did into the business error.
func runChain(c *gin.Context, r *http.Request) error {
	if d, ok := middleware.DeliveryFromContext(r.Context()); ok {
		c.Set(deliveryKey, d)
	}
	rec := &recorder{parent: c.Writer, status: http.StatusOK, size: -1, header: make(http.Header)}
	prevWriter, prevRequest, prevErrors := c.Writer, c.Request, len(c.Errors)
	c.Writer, c.Request = rec, r
	defer func() { c.Writer, c.Request = prevWriter, prevRequest }()

	c.Next()

	if errs := c.Errors[prevErrors:]; len(errs) > 0 {
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return fmt.Errorf("alipaygin: business handler reported: %w", errors.Join(all...))
	}
	if s := rec.status; s < 200 || s > 299 {
		return fmt.Errorf("%w: %d", middleware.ErrHandlerStatus, s)
	}
	return nil
}

// errNoHijack is returned to a business handler that tries to hijack the
// connection of a notify, whose answer belongs to the middleware.
var errNoHijack = errors.New("alipaygin: a notify business handler cannot hijack the connection")

// recorder is the gin.ResponseWriter later handlers write to while they run as
// a notify's business handler: it keeps the status (gin's semantics: 200 until
// set, fixed once written) and discards headers and body, which Alipay must
// never see. Unwrap gives http.ResponseController the real writer, so
// deadlines can be extended; Flush does nothing and Hijack fails, because the
// answer to Alipay has not been written yet.
type recorder struct {
	parent gin.ResponseWriter
	header http.Header
	status int
	size   int // -1 until written, as in gin
}

var _ gin.ResponseWriter = (*recorder)(nil)

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if code > 0 && !w.Written() {
		w.status = code
	}
}

func (w *recorder) WriteHeaderNow() {
	if !w.Written() {
		w.size = 0
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeaderNow()
	w.size += len(p)
	return len(p), nil
}

func (w *recorder) WriteString(s string) (int, error) {
	w.WriteHeaderNow()
	w.size += len(s)
	return len(s), nil
}

func (w *recorder) Status() int   { return w.status }
func (w *recorder) Size() int     { return w.size }
func (w *recorder) Written() bool { return w.size != -1 }
func (w *recorder) Flush()        { w.WriteHeaderNow() }

func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errNoHijack
}

// CloseNotify returns a channel that never fires: the request's context is the
// way to learn that the client went away.
func (w *recorder) CloseNotify() <-chan bool { return make(chan bool) }

func (w *recorder) Pusher() http.Pusher { return nil }

// Unwrap returns the real response writer, for http.ResponseController.
func (w *recorder) Unwrap() http.ResponseWriter { return w.parent }
