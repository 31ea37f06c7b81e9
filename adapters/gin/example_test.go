package alipaygin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/alipaynotify/alipaynotify"
	alipaygin "github.com/alipaynotify/alipaynotify/adapters/gin"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/internal/exampletest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// The examples of this package and of package alipaymux tell the same
// stories with the same names: only the router code differs.

// markPaid is the merchant's business handler, the same on every router. It
// runs once per business event; an error makes Alipay retry.
func markPaid(ctx context.Context, n *alipaynotify.Notification) error {
	fmt.Println("business:", n.Source, n.OutTradeNo, n.TotalAmount)
	return nil
}

// Register notify_url and return_url on a group. The business handler runs
// once, whichever of the return and the notify arrives first; the return
// page shows the outcome.
func ExampleHandleNotify() {
	gin.SetMode(gin.ReleaseMode)
	m := exampletest.Middleware()
	business := middleware.HandlerFunc(markPaid)
	page := func(c *gin.Context) {
		d, _ := alipaygin.DeliveryFromContext(c)
		c.String(http.StatusOK, "order %s: %s", d.Notification.OutTradeNo, d.Outcome)
	}

	r := gin.New()
	alipay := r.Group("/alipay")
	alipaygin.HandleNotify(alipay, "/notify", m, business)
	alipaygin.HandleReturn(alipay, "/return", m, business, page)

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
	gin.SetMode(gin.ReleaseMode)
	m := exampletest.Middleware()
	business := middleware.HandlerFunc(markPaid)

	r := gin.New()
	r.POST("/alipay/notify", alipaygin.Notify(m, business))

	fmt.Println(exampletest.Send(r, alipaytest.NewSigner(nil).Paid("ORDER-2", "10.00").Request("/alipay/notify")))
	// Output:
	// business: notify ORDER-2 10.00
	// 200 success
}

// The middleware form: the rest of the gin chain is the business handler. A
// forged callback never reaches it.
func ExampleNotifyMiddleware() {
	gin.SetMode(gin.ReleaseMode)
	m := exampletest.Middleware()

	r := gin.New()
	r.POST("/alipay/notify", alipaygin.NotifyMiddleware(m), func(c *gin.Context) {
		n, _ := alipaygin.FromContext(c)
		if err := markPaid(c.Request.Context(), n); err != nil {
			_ = c.AbortWithError(http.StatusInternalServerError, err) // Alipay gets "fail" and retries
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

// The middleware form of the return: the rest of the gin chain is the page.
func ExampleReturnMiddleware() {
	gin.SetMode(gin.ReleaseMode)
	m := exampletest.Middleware()
	business := middleware.HandlerFunc(markPaid)

	r := gin.New()
	r.GET("/alipay/return", alipaygin.ReturnMiddleware(m, business), func(c *gin.Context) {
		d, _ := alipaygin.DeliveryFromContext(c)
		c.String(http.StatusOK, "thank you, order %s is %s", d.Notification.OutTradeNo, d.Outcome)
	})

	fmt.Println(exampletest.Send(r, alipaytest.NewSigner(nil).NewTrade("ORDER-4", "1.00").Return().Request("/alipay/return")))
	// Output:
	// business: return ORDER-4 1.00
	// 200 thank you, order ORDER-4 is handled
}

// A page can be unit-tested without signing anything: put a Delivery in the
// request's context with middleware.NewDeliveryContext.
func ExampleDeliveryFromContext() {
	gin.SetMode(gin.ReleaseMode)
	page := func(c *gin.Context) {
		d, _ := alipaygin.DeliveryFromContext(c)
		c.String(http.StatusOK, "order %s: %s", d.Notification.OutTradeNo, d.Outcome)
	}

	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	d := &middleware.Delivery{
		Notification: &alipaynotify.Notification{OutTradeNo: "ORDER-5"},
		Outcome:      middleware.OutcomeInFlight,
	}
	c.Request = httptest.NewRequest(http.MethodGet, "/alipay/return", nil)
	c.Request = c.Request.WithContext(middleware.NewDeliveryContext(c.Request.Context(), d))
	page(c)
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 200 order ORDER-5: in-flight
}
