// Command mux is a merchant server on gorilla/mux that receives Alipay's
// payment callbacks:
//
//	POST /alipay/notify   Alipay's server-to-server notification
//	GET  /alipay/return   the buyer's browser coming back after paying
//
// Both routes share one business handler, which the middleware runs once per
// business event. Configure it with environment variables (see
// examples/internal/merchant.Config), for example:
//
//	ALIPAY_APP_ID=2021000000000001 ALIPAY_PUBLIC_KEY_FILE=alipay_public_key.pem \
//	REDIS_URL=redis://127.0.0.1:6379/0 go run ./examples/mux
//
// Each handled event is printed as one JSON line on standard output; logs go
// to standard error. SIGINT or SIGTERM shuts the server down gracefully.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gorilla/mux"

	alipaymux "github.com/alipaynotify/alipaynotify/adapters/mux"
	"github.com/alipaynotify/alipaynotify/examples/internal/merchant"
	"github.com/alipaynotify/alipaynotify/middleware"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mux:", err)
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

	// The wiring: one business handler behind both routes, on a subrouter.
	// Only these lines differ from examples/gin and examples/nethttp.
	business := middleware.HandlerFunc(shop.Handle)
	r := mux.NewRouter()
	alipay := r.PathPrefix("/alipay").Subrouter()
	alipaymux.HandleNotify(alipay, "/notify", shop.Middleware, business)
	alipaymux.HandleReturn(alipay, "/return", shop.Middleware, business, http.HandlerFunc(shop.Page))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return merchant.Serve(ctx, cfg.Addr, r, logger)
}
