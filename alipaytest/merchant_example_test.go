package alipaytest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/alipaynotify/alipaynotify"
	alipaygin "github.com/alipaynotify/alipaynotify/adapters/gin"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// merchantMiddleware is what a merchant's test builds: the production
// wiring, configured with the test kit's key instead of Alipay's.
func merchantMiddleware(s *alipaytest.Signer) *middleware.Middleware {
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: s.AppID, AlipayPublicKeys: []string{s.PublicKeyPEM()}})
	if err != nil {
		panic(err)
	}
	mw, err := middleware.New(middleware.Options{Verifier: v})
	if err != nil {
		panic(err)
	}
	return mw
}

// A merchant unit-tests its net/http notify handler: a signed callback in, the
// answer Alipay would read out, the business handler run once.
func Example_netHTTPHandler() {
	s := alipaytest.NewSigner(alipaytest.TestKey())
	var paid []string
	handler := merchantMiddleware(s).Notify(middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		paid = append(paid, n.OutTradeNo+" "+n.TotalAmount.String())
		return nil
	}))

	notification := s.Paid("ORDER-42", "88.88")
	for i := 0; i < 3; i++ { // Alipay retries; the order is marked paid once
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, notification.Request("/alipay/notify"))
		fmt.Println(rec.Code, rec.Body.String())
	}
	fmt.Println(paid)
	// Output:
	// 200 success
	// 200 success
	// 200 success
	// [ORDER-42 88.88]
}

// A merchant unit-tests its gin routes with the same signed requests.
func Example_ginHandler() {
	gin.SetMode(gin.TestMode)
	s := alipaytest.NewSigner(alipaytest.TestKey())
	r := gin.New()
	r.POST("/alipay/notify", alipaygin.Notify(merchantMiddleware(s), middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		fmt.Println("handled", n.OutTradeNo, n.TradeStatus)
		return nil
	})))

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, s.Paid("ORDER-43", "9.99").Request("/alipay/notify"))
	fmt.Println(rec.Code, rec.Body.String())

	forged := s.Paid("ORDER-44", "9.99").Tampered("total_amount", "0.01")
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, forged.Request("/alipay/notify"))
	fmt.Println(rec.Code != http.StatusOK, rec.Body.String())
	// Output:
	// handled ORDER-43 TRADE_SUCCESS
	// 200 success
	// true fail
}
