// Package ginroutes is the README's gin snippet.
package ginroutes

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	alipaygin "github.com/alipaynotify/alipaynotify/adapters/gin"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// Routes serves notify_url and return_url on a gin engine.
func Routes(r *gin.Engine, mw *middleware.Middleware, markPaid http.Handler) {
	alipay := r.Group("/alipay")
	alipaygin.HandleNotify(alipay, "/notify", mw, markPaid)
	alipaygin.HandleReturn(alipay, "/return", mw, markPaid, func(c *gin.Context) {
		d, _ := alipaygin.DeliveryFromContext(c)
		c.Header("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(c.Writer, "Order %s: %s\n", d.Notification.OutTradeNo, d.Outcome)
	})
}
