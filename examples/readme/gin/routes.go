// Package ginroutes is the README's gin snippet.
package ginroutes

import (
	"net/http"

	"github.com/gin-gonic/gin"

	alipaygin "github.com/alipaynotify/alipaynotify/adapters/gin"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// Routes serves notify_url and return_url on a gin engine.
func Routes(r *gin.Engine, mw *middleware.Middleware, markPaid middleware.HandlerFunc) {
	alipay := r.Group("/alipay")
	alipay.POST("/notify", alipaygin.Notify(mw, markPaid))
	alipay.GET("/return", alipaygin.Return(mw, markPaid, func(c *gin.Context) {
		d, _ := alipaygin.DeliveryFromContext(c)
		c.String(http.StatusOK, "Order %s: %s", d.Notification.OutTradeNo, d.Outcome)
	}))
}
