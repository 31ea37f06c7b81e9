// Command gin is a merchant server on gin that receives Alipay's payment
// callbacks:
//
//	POST /alipay/notify   Alipay's server-to-server notification
//	GET  /alipay/return   the buyer's browser coming back after paying
//
// Both routes share one business handler, which the middleware runs once per
// business event. Configure it with environment variables (see
// examples/internal/merchant.Config), for example:
//
//	ALIPAY_APP_ID=2021000000000001 ALIPAY_PUBLIC_KEY_FILE=alipay_public_key.pem \
//	REDIS_URL=redis://127.0.0.1:6379/0 go run ./examples/gin
//
// Each handled event is printed as one JSON line on standard output; logs go
// to standard error. SIGINT or SIGTERM shuts the server down gracefully.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	alipaygin "github.com/alipaynotify/alipaynotify/adapters/gin"
	"github.com/alipaynotify/alipaynotify/examples/internal/merchant"
	"github.com/alipaynotify/alipaynotify/middleware"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gin:", err)
		os.Exit(1)
	}
}

func run() error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := merchant.FromEnv()
	if err != nil {
		return err
	}
	shop, err := merchant.New(cfg, os.Stdout, logger)
	if err != nil {
		return err
	}
	defer shop.Close()

	// gin logs to standard output by default; keep it for the business lines.
	gin.SetMode(gin.ReleaseMode)
	gin.DefaultWriter = os.Stderr
	r := gin.New()
	r.Use(gin.Logger(), gin.Recovery())

	// The wiring: one business handler behind both routes, on a group. Only
	// these lines differ from examples/mux and examples/nethttp.
	business := middleware.HandlerFunc(shop.Handle)
	alipay := r.Group("/alipay")
	alipaygin.HandleNotify(alipay, "/notify", shop.Middleware, business)
	alipaygin.HandleReturn(alipay, "/return", shop.Middleware, business, gin.WrapF(shop.Page))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return merchant.Serve(ctx, cfg.Addr, r, logger)
}
