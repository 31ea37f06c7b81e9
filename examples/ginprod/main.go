// Command ginprod is a production Alipay callback server on gin, meant to be
// copied: it imports only the public packages of alipaynotify, gin, go-redis
// and the Prometheus client, and every line of the wiring is here.
//
//	POST /alipay/notify   Alipay's server-to-server notification
//	GET  /alipay/return   the buyer's browser coming back after paying
//	GET  /metrics         Prometheus metrics (or on METRICS_ADDR, see below)
//	GET  /healthz         liveness: 200 while the server serves
//
// What it does that the small examples do not:
//
//   - the dedupe state lives in Redis (REDIS_URL, required), checked at
//     start-up with Middleware.CheckStore, so that a dead or misconfigured
//     Redis fails the deploy instead of the first payment; go-redis's own log
//     lines go through slog;
//   - every callback is checked against the shop's order book (CheckOrder,
//     with the Notification.CheckTotalAmount recipe): an unknown order or a
//     wrong amount is refused, and Alipay keeps retrying while you look;
//   - JSON logs (log/slog) on standard error, never with the query string of
//     a return (it carries the buyer's data);
//   - Prometheus metrics from package observe/prometheus (alipayprom);
//   - graceful shutdown on SIGINT and SIGTERM: the server stops accepting,
//     business handlers holding a claim finish (up to SHUTDOWN_TIMEOUT), then
//     the store closes.
//
// # Configuration
//
// Environment variables (the names the other examples use, plus a few):
//
//	ADDR                    listen address (default 127.0.0.1:8080; port 0 picks
//	                        a free one, logged as {"msg":"listening","serves":"callbacks"})
//	ALIPAY_APP_ID           your open-platform app ID (required)
//	ALIPAY_PUBLIC_KEY_FILE  a file holding Alipay's public key (支付宝公钥), PEM or
//	                        the console's base64 (required): not your app's public
//	                        key (应用公钥), never a private key
//	ALIPAY_PARTNER          legacy mapi partner ID (2088...), with ...
//	ALIPAY_MD5_KEY          ... its MD5 key: optional, for legacy callbacks
//	ALIPAY_LEGACY_CHARSET   legacy: charset of your requests (default utf-8)
//	ALIPAY_ORDERS_FILE      the order book (required): one order per line,
//	                        "out_trade_no amount" with the amount in yuan
//	                        ("ORDER-1 88.88"); blank lines and # comments
//	                        ignored; re-read when it changes. A real shop
//	                        replaces FileOrders with its database.
//	REDIS_URL               redis://[:password@]host:port/db (required)
//	METRICS_ADDR            where GET /metrics listens. Default: on ADDR. Set it
//	                        (e.g. 127.0.0.1:9090) to keep the metrics off the
//	                        port Alipay and buyers reach.
//	LOG_LEVEL               debug, info (default), warn or error
//	SHUTDOWN_TIMEOUT        how long in-flight callbacks may finish on shutdown
//	                        (Go duration, default 20s)
//
// # Running it
//
// Play Alipay with the simulator: it makes a key pair (Alipay's, for the
// test: configure its public half), and pays orders that must be in the book.
//
//	go run ./cmd/alipaysim -genkey -key-out alipay_private.pem -pubkey-out alipay_public_key.pem
//	for i in $(seq 20); do echo "ORDER-$i 88.88"; done > orders.txt
//	echo '{"trades": [{"story": "paid", "out_trade_no": "ORDER", "amount": "88.88",
//	  "repeat": 20, "duplicates": 2, "race_return": true}]}' > day.json
//	redis-server --port 6379 --save '' &
//	ALIPAY_APP_ID=2021000000000001 ALIPAY_PUBLIC_KEY_FILE=alipay_public_key.pem \
//	ALIPAY_ORDERS_FILE=orders.txt REDIS_URL=redis://127.0.0.1:6379/0 \
//	go run ./examples/ginprod &
//	go run ./cmd/alipaysim -url http://127.0.0.1:8080 -key alipay_private.pem -scenario day.json -speed 3600
//	curl -s http://127.0.0.1:8080/metrics | grep '^alipaynotify_'
//
// (2021000000000001 is the simulator's default -app-id.) An order missing
// from the book is refused (reason "order" in the logs and the metrics) and
// Alipay keeps retrying it, so the simulator reports it unacknowledged.
//
// Each handled event is printed as one JSON line on standard output (where a
// real shop marks the order paid); logs go to standard error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	alipaygin "github.com/alipaynotify/alipaynotify/adapters/gin"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/middleware"
	alipayprom "github.com/alipaynotify/alipaynotify/observe/prometheus"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ginprod:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(logger)
	// go-redis keeps one logger per process: route it through slog before
	// creating the client.
	redis.SetLogger(redisstore.SlogLogger{Logger: logger})

	// The order book, and the verifier that checks every callback against it.
	orders, err := OpenFileOrders(cfg.OrdersFile)
	if err != nil {
		return err
	}
	verifier, err := alipaynotify.NewVerifier(cfg.verifierOptions(CheckOrder(orders)))
	if err != nil {
		// The error names what was pasted instead of Alipay's public key (an
		// empty file, a private key, a certificate).
		return fmt.Errorf("ALIPAY_PUBLIC_KEY_FILE %s: %w", cfg.PublicKeyFile, err)
	}

	// The dedupe state in Redis, shared by every instance.
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	client := redis.NewClient(ropts)
	defer client.Close()
	store, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		return err
	}

	// Metrics: the collector on a registry of our own, with the Go runtime's.
	metrics, err := alipayprom.New(alipayprom.Options{})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mw, err := middleware.New(middleware.Options{
		Verifier: verifier,
		Store:    store,
		Logger:   logger,
		// With tracing too: middleware.JoinHooks(metrics.Hooks(), tracing.Hooks()).
		Hooks: metrics.Hooks(),
	})
	if err != nil {
		return err
	}
	// A dead Redis, a wrong password or a Redis that refuses scripts fails
	// here, at deploy time, not at the first payment.
	checkCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = mw.CheckStore(checkCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("REDIS_URL (%s, db %d): %w", ropts.Addr, ropts.DB, err)
	}
	logger.Info("ready", "redis", ropts.Addr, "redis_db", ropts.DB, "orders", orders.Len())

	shop := &Shop{out: os.Stdout}
	business := middleware.HandlerFunc(shop.Handle)

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(accessLog(logger), gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, rec any) {
		logger.ErrorContext(c.Request.Context(), "panic", "route", c.FullPath(), "panic", fmt.Sprint(rec))
		c.AbortWithStatus(http.StatusInternalServerError)
	}))
	alipay := r.Group("/alipay")
	alipaygin.HandleNotify(alipay, "/notify", mw, business)
	alipaygin.HandleReturn(alipay, "/return", mw, business, gin.WrapF(Page))
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)})

	servers := []server{{"callbacks", newServer(cfg.Addr, r, logger)}}
	if cfg.MetricsAddr == "" {
		r.GET("/metrics", gin.WrapH(metricsHandler))
	} else {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metricsHandler)
		servers = append(servers, server{"metrics", newServer(cfg.MetricsAddr, mux, logger)})
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = serve(ctx, servers, cfg.ShutdownTimeout, logger)
	// Background store calls (dead-letter clean-up) end before the store
	// closes (deferred above).
	mw.Wait()
	if err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// accessLog logs one line per request with the route, never the URL: a
// return's query string carries the buyer's data and Alipay's signature.
func accessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		logger.LogAttrs(c.Request.Context(), slog.LevelInfo, "request",
			slog.String("method", c.Request.Method), slog.String("route", route),
			slog.Int("status", c.Writer.Status()), slog.Duration("took", time.Since(start)))
	}
}

func newServer(addr string, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A business handler may run up to the middleware's lease.
		WriteTimeout: 2 * middleware.DefaultLease,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// server is an http.Server and what it serves, for the logs.
type server struct {
	serves string
	*http.Server
}

// serve listens on every server's address and serves until ctx ends or a
// server fails; then it shuts them all down gracefully: no new connections,
// and the requests in progress (business handlers holding a claim among them)
// finish for up to timeout. It logs the address each one listens on (a port
// 0 in ADDR or METRICS_ADDR picks a free port).
func serve(ctx context.Context, servers []server, timeout time.Duration, logger *slog.Logger) error {
	// Listen on every address first: a port that is taken fails start-up
	// before anything is served.
	listeners := make([]net.Listener, 0, len(servers))
	for _, srv := range servers {
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return err
		}
		listeners = append(listeners, ln)
	}
	failed := make(chan error, len(servers))
	for i, srv := range servers {
		logger.Info("listening", "serves", srv.serves, "addr", listeners[i].Addr().String())
		go func() {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "timeout", timeout)
	case err = <-failed:
		logger.Error("server failed, shutting down", "error", err.Error())
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, srv := range servers {
		if serr := srv.Shutdown(shutdownCtx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}
	return err
}

// config is what configFromEnv reads; see the package doc.
type config struct {
	Addr, MetricsAddr    string
	AppID, PublicKeyFile string
	AlipayPublicKey      string // the file's contents
	Partner, MD5Key      string
	LegacyCharset        string
	OrdersFile, RedisURL string
	LogLevel             slog.Level
	ShutdownTimeout      time.Duration
}

// configFromEnv reads the configuration and says which variables are
// missing, all at once.
func configFromEnv() (config, error) {
	c := config{
		Addr:          os.Getenv("ADDR"),
		MetricsAddr:   os.Getenv("METRICS_ADDR"),
		AppID:         os.Getenv("ALIPAY_APP_ID"),
		PublicKeyFile: os.Getenv("ALIPAY_PUBLIC_KEY_FILE"),
		Partner:       os.Getenv("ALIPAY_PARTNER"),
		MD5Key:        os.Getenv("ALIPAY_MD5_KEY"),
		LegacyCharset: os.Getenv("ALIPAY_LEGACY_CHARSET"),
		OrdersFile:    os.Getenv("ALIPAY_ORDERS_FILE"),
		RedisURL:      os.Getenv("REDIS_URL"),
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.LegacyCharset == "" {
		c.LegacyCharset = string(alipaynotify.UTF8)
	}
	var missing []string
	for _, v := range []struct{ name, value string }{
		{"ALIPAY_APP_ID", c.AppID}, {"ALIPAY_PUBLIC_KEY_FILE", c.PublicKeyFile},
		{"ALIPAY_ORDERS_FILE", c.OrdersFile}, {"REDIS_URL", c.RedisURL},
	} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("set %s (see go doc ./examples/ginprod)", strings.Join(missing, ", "))
	}
	if (c.Partner == "") != (c.MD5Key == "") {
		return c, errors.New("legacy mapi needs both ALIPAY_PARTNER and ALIPAY_MD5_KEY")
	}
	if err := c.LogLevel.UnmarshalText([]byte(envOr("LOG_LEVEL", "info"))); err != nil {
		return c, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	d, err := time.ParseDuration(envOr("SHUTDOWN_TIMEOUT", "20s"))
	if err != nil || d <= 0 {
		return c, fmt.Errorf("SHUTDOWN_TIMEOUT: want a positive Go duration such as 20s")
	}
	c.ShutdownTimeout = d
	pem, err := os.ReadFile(c.PublicKeyFile)
	if err != nil {
		return c, fmt.Errorf("ALIPAY_PUBLIC_KEY_FILE: %w", err)
	}
	c.AlipayPublicKey = string(pem)
	return c, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// verifierOptions turns c into the Verifier's options.
func (c config) verifierOptions(checkOrder func(context.Context, *alipaynotify.Notification) error) alipaynotify.Options {
	opts := alipaynotify.Options{
		AppID:            c.AppID,
		AlipayPublicKeys: []string{c.AlipayPublicKey},
		CheckOrder:       checkOrder,
	}
	if c.Partner != "" {
		opts.Legacy.Partner, opts.Legacy.MD5Key = c.Partner, c.MD5Key
		opts.Legacy.Charset = alipaynotify.Charset(strings.ToLower(c.LegacyCharset))
	}
	return opts
}
