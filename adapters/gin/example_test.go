package alipaygin_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/alipaynotify/alipaynotify"
	alipaygin "github.com/alipaynotify/alipaynotify/adapters/gin"
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

// The business handler is the rest of the gin chain. It runs once per
// business event; Alipay gets exactly "success" for the delivery and for its
// duplicate.
func ExampleNotifyMiddleware() {
	gin.SetMode(gin.ReleaseMode)
	m := exampleMiddleware()

	r := gin.New()
	alipay := r.Group("/alipay")
	alipay.POST("/notify", alipaygin.NotifyMiddleware(m), func(c *gin.Context) {
		n, _ := alipaygin.FromContext(c)
		if err := markPaid(c.Request.Context(), n); err != nil {
			_ = c.AbortWithError(http.StatusInternalServerError, err) // Alipay gets "fail" and retries
			return
		}
		fmt.Println("paid", n.OutTradeNo, n.TotalAmount)
	})

	// Play Alipay: deliver one payment notification twice.
	paid := alipaytest.NewSigner(nil).NewTrade("ORDER-1", "88.88").Paid()
	for range 2 {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, paid.Request("/alipay/notify"))
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// paid ORDER-1 88.88
	// 200 success
	// 200 success
}

func markPaid(context.Context, *alipaynotify.Notification) error { return nil }

// The typed form: notify and return share one business handler, so whichever
// arrives first does the work; the return page shows the outcome.
func ExampleReturn() {
	gin.SetMode(gin.ReleaseMode)
	m := exampleMiddleware()
	business := func(ctx context.Context, n *alipaynotify.Notification) error {
		fmt.Println("business:", n.OutTradeNo, n.TradeStatus)
		return nil
	}
	page := func(c *gin.Context) {
		d, _ := alipaygin.DeliveryFromContext(c)
		c.String(http.StatusOK, "order %s: %s", d.Notification.OutTradeNo, d.Outcome)
	}

	r := gin.New()
	alipay := r.Group("/alipay")
	alipay.POST("/notify", alipaygin.Notify(m, business))
	alipay.GET("/return", alipaygin.Return(m, business, page))

	trade := alipaytest.NewSigner(nil).NewTrade("ORDER-2", "10.00")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, trade.Return().Request("/alipay/return"))
	fmt.Println(w.Body.String())

	w = httptest.NewRecorder()
	r.ServeHTTP(w, trade.Paid().Request("/alipay/notify"))
	fmt.Println(w.Body.String())
	// Output:
	// business: ORDER-2 TRADE_SUCCESS
	// order ORDER-2: handled
	// success
}

// A callback that fails verification is answered "fail" and the rest of the
// chain never runs.
func ExampleNotifyMiddleware_rejected() {
	gin.SetMode(gin.ReleaseMode)
	m := exampleMiddleware()
	r := gin.New()
	r.POST("/alipay/notify", alipaygin.NotifyMiddleware(m), func(c *gin.Context) {
		fmt.Println("never printed")
	})

	forged := alipaytest.NewSigner(nil).Paid("ORDER-3", "100.00").Tampered("total_amount", "0.01")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, forged.Request("/alipay/notify"))
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 400 fail
}

// Handlers can be unit-tested without signing anything: put a notification
// in the request's context with middleware.NewContext.
func ExampleFromContext() {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	n := &alipaynotify.Notification{OutTradeNo: "ORDER-4"}
	c.Request = httptest.NewRequest(http.MethodPost, "/alipay/notify", nil)
	c.Request = c.Request.WithContext(middleware.NewContext(c.Request.Context(), n))

	got, ok := alipaygin.FromContext(c)
	fmt.Println(got.OutTradeNo, ok)
	// Output:
	// ORDER-4 true
}
