// Package merchant is the small shop behind the runnable examples in
// examples/nethttp, examples/gin and examples/mux: its configuration from the
// environment, the middleware built from it, the business handler and the
// return page. Each example's main only wires these into its framework.
//
// The business handler stands in for "mark the order paid": each time it runs
// it prints exactly one JSON object on one line of standard output, so a test
// (or a person) can count how often the handler ran. Logs go to standard
// error.
package merchant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// DefaultAddr is where the examples listen unless ADDR says otherwise.
const DefaultAddr = "127.0.0.1:8080"

// Config is the shop's configuration. FromEnv reads it from these variables:
//
//	ADDR                      listen address (default 127.0.0.1:8080)
//	ALIPAY_APP_ID             open platform: your app ID ...
//	ALIPAY_PUBLIC_KEY_FILE    ... and a file with Alipay's RSA public key (PEM)
//	ALIPAY_PARTNER            legacy mapi: your partner ID (2088...) ...
//	ALIPAY_MD5_KEY            ... and its MD5 key
//	ALIPAY_NOTIFY_VERIFY_URL  legacy: turn on the notify_verify remote check
//	                          against this gateway (optional)
//	ALIPAY_LEGACY_CHARSET     legacy: charset of your requests (default utf-8)
//	ALIPAY_MERCHANT_PRIVATE_KEY_FILE
//	                          legacy mobile web (alipay.wap.*) with sec_id=0001:
//	                          your merchant private key (PEM); then
//	                          ALIPAY_PUBLIC_KEY_FILE holds Alipay's WAP public
//	                          key and ALIPAY_PARTNER is required. WAP callbacks
//	                          with sec_id=MD5 only need the legacy mapi set.
//	REDIS_URL                 redis://host:port/db for the dedupe state
//	                          (default: in memory, this process only)
//
// Reconciliation (掉单: payments whose notifications never come), optional:
//
//	ALIPAY_ORDERS_FILE        the shop's order book, one "out_trade_no amount"
//	                          line per order (amount in yuan, "88.88"; # comments
//	                          and blank lines ignored), read again when it
//	                          changes. Turns on the order check (CheckOrder:
//	                          every callback must be for an order of the book,
//	                          with its amount) and, with query credentials, the
//	                          Reconciler, which asks Alipay about the orders of
//	                          the book the handler has not yet seen paid or
//	                          closed (the 掉单 it exists for)
//	ALIPAY_APP_PRIVATE_KEY_FILE
//	                          your app's private key (应用私钥, PEM), which signs
//	                          open-platform queries (alipay.trade.query); needs
//	                          ALIPAY_APP_ID. Without it, legacy queries
//	                          (single_trade_query) are signed with ALIPAY_MD5_KEY
//	ALIPAY_GATEWAY_URL        the gateway queried (default: Alipay's, for the
//	                          protocol); http:// only on loopback, e.g. alipaysim's
//	                          -gateway at http://127.0.0.1:9090/gateway.do
//	ALIPAY_RECONCILE_INTERVAL time between two rounds of queries, a Go duration
//	                          such as 30s (default: package reconcile's, 1m)
//
// The Reconciler runs in the background from New to Close when
// ALIPAY_ORDERS_FILE and query credentials (ALIPAY_APP_ID with
// ALIPAY_APP_PRIVATE_KEY_FILE, or else ALIPAY_PARTNER with ALIPAY_MD5_KEY) are
// set; the start-up log says whether it runs.
//
// The open platform and legacy mapi sets may both be given; at least one must.
type Config struct {
	// Addr is the listen address.
	Addr string
	// AppID and AlipayPublicKey (the key file's contents) configure
	// open-platform callbacks.
	AppID, AlipayPublicKey string
	// Partner and MD5Key configure legacy mapi callbacks.
	Partner, MD5Key string
	// NotifyVerifyURL, when set, turns on the legacy notify_verify check.
	NotifyVerifyURL string
	// LegacyCharset is the charset of legacy callbacks that do not name one.
	LegacyCharset string
	// MerchantPrivateKey (the key file's contents) enables legacy mobile web
	// callbacks with sec_id=0001; AlipayPublicKey is then Alipay's WAP key.
	MerchantPrivateKey string
	// RedisURL, when set, keeps the dedupe state in Redis.
	RedisURL string
	// Orders, when set, is the shop's order book: every callback is then
	// checked against it (CheckOrder). FromEnv sets it, to a FileOrders,
	// only when ALIPAY_ORDERS_FILE is set, because the example servers are
	// usually driven by a simulator whose orders this shop never created; a
	// real shop always sets it.
	Orders Orders
	// OrdersFile is ALIPAY_ORDERS_FILE, the file behind Orders.
	OrdersFile string
	// AppPrivateKey (the key file's contents) signs open-platform queries.
	AppPrivateKey string
	// GatewayURL is the gateway the Reconciler queries; "" is Alipay's.
	GatewayURL string
	// ReconcileInterval is the Reconciler's interval; 0 is reconcile's
	// default.
	ReconcileInterval time.Duration
}

// Pending is an order book that can list its orders, for the Reconciler,
// which asks about those the Shop has not seen paid or closed.
// FileOrders is one.
type Pending interface {
	// List returns the out_trade_nos of the book.
	List() ([]string, error)
}

// Orders is the shop's order book.
type Orders interface {
	// OrderAmount returns the amount of the order the shop created as
	// outTradeNo, or an error (ErrUnknownOrder when there is none).
	OrderAmount(ctx context.Context, outTradeNo string) (alipaynotify.Amount, error)
}

// ErrUnknownOrder is what Orders returns for an out_trade_no the shop never
// created.
var ErrUnknownOrder = errors.New("merchant: unknown order")

// OrderBook is an in-memory Orders, for tests and demos.
type OrderBook map[string]alipaynotify.Amount

// OrderAmount implements Orders.
func (b OrderBook) OrderAmount(_ context.Context, outTradeNo string) (alipaynotify.Amount, error) {
	a, ok := b[outTradeNo]
	if !ok {
		return 0, ErrUnknownOrder
	}
	return a, nil
}

// CheckOrder is the order check Alipay tells merchants to make, as
// alipaynotify.Options.CheckOrder: the order exists, and the callback's
// amount is the order's. It uses the recipe, Notification.CheckTotalAmount,
// so that a mobile web call_back_url return, which signs no amount, reaches
// the return page instead of being refused as a 0.00 payment.
func CheckOrder(orders Orders) func(context.Context, *alipaynotify.Notification) error {
	return func(ctx context.Context, n *alipaynotify.Notification) error {
		want, err := orders.OrderAmount(ctx, n.OutTradeNo)
		if err != nil {
			return err
		}
		return n.CheckTotalAmount(want)
	}
}

// FromEnv reads the Config from the environment (see Config) and checks that
// it names at least one complete set of Alipay credentials.
func FromEnv() (Config, error) {
	c := Config{
		Addr:            os.Getenv("ADDR"),
		AppID:           os.Getenv("ALIPAY_APP_ID"),
		Partner:         os.Getenv("ALIPAY_PARTNER"),
		MD5Key:          os.Getenv("ALIPAY_MD5_KEY"),
		NotifyVerifyURL: os.Getenv("ALIPAY_NOTIFY_VERIFY_URL"),
		LegacyCharset:   os.Getenv("ALIPAY_LEGACY_CHARSET"),
		RedisURL:        os.Getenv("REDIS_URL"),
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.LegacyCharset == "" {
		c.LegacyCharset = string(alipaynotify.UTF8)
	}
	c.OrdersFile = os.Getenv("ALIPAY_ORDERS_FILE")
	c.GatewayURL = os.Getenv("ALIPAY_GATEWAY_URL")
	if c.OrdersFile != "" {
		c.Orders = NewFileOrders(c.OrdersFile)
	}
	if v := os.Getenv("ALIPAY_RECONCILE_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("ALIPAY_RECONCILE_INTERVAL: %q is not a positive Go duration such as 30s", v)
		}
		c.ReconcileInterval = d
	}
	if appKeyFile := os.Getenv("ALIPAY_APP_PRIVATE_KEY_FILE"); appKeyFile != "" {
		if c.AppID == "" {
			return c, errors.New("ALIPAY_APP_PRIVATE_KEY_FILE signs open-platform queries: it needs ALIPAY_APP_ID and ALIPAY_PUBLIC_KEY_FILE")
		}
		pem, err := os.ReadFile(appKeyFile)
		if err != nil {
			return c, fmt.Errorf("ALIPAY_APP_PRIVATE_KEY_FILE: %w", err)
		}
		c.AppPrivateKey = strings.TrimSpace(string(pem))
	}
	keyFile := os.Getenv("ALIPAY_PUBLIC_KEY_FILE")
	privFile := os.Getenv("ALIPAY_MERCHANT_PRIVATE_KEY_FILE")
	wapRSA := privFile != ""
	open := c.AppID != "" || (keyFile != "" && !wapRSA)
	legacy := c.Partner != "" || c.MD5Key != ""
	switch {
	case !open && !legacy && !wapRSA:
		return c, errors.New("no Alipay credentials: set ALIPAY_APP_ID and ALIPAY_PUBLIC_KEY_FILE (open platform), " +
			"ALIPAY_PARTNER and ALIPAY_MD5_KEY (legacy mapi), or both")
	case open && (c.AppID == "" || keyFile == ""):
		return c, errors.New("the open platform needs both ALIPAY_APP_ID and ALIPAY_PUBLIC_KEY_FILE")
	case wapRSA && (c.Partner == "" || keyFile == ""):
		return c, errors.New("mobile web sec_id=0001 needs ALIPAY_PARTNER, ALIPAY_PUBLIC_KEY_FILE (Alipay's WAP key) and ALIPAY_MERCHANT_PRIVATE_KEY_FILE")
	case legacy && !wapRSA && (c.Partner == "" || c.MD5Key == ""):
		return c, errors.New("legacy mapi needs both ALIPAY_PARTNER and ALIPAY_MD5_KEY")
	case c.NotifyVerifyURL != "" && !legacy:
		return c, errors.New("ALIPAY_NOTIFY_VERIFY_URL needs ALIPAY_PARTNER and ALIPAY_MD5_KEY")
	}
	if keyFile != "" {
		pem, err := os.ReadFile(keyFile)
		if err != nil {
			return c, fmt.Errorf("ALIPAY_PUBLIC_KEY_FILE: %w", err)
		}
		c.AlipayPublicKey = strings.TrimSpace(string(pem))
	}
	if wapRSA {
		pem, err := os.ReadFile(privFile)
		if err != nil {
			return c, fmt.Errorf("ALIPAY_MERCHANT_PRIVATE_KEY_FILE: %w", err)
		}
		c.MerchantPrivateKey = strings.TrimSpace(string(pem))
	}
	return c, nil
}

// VerifierOptions turns c into the options of alipaynotify.NewVerifier.
func (c Config) VerifierOptions() alipaynotify.Options {
	opts := alipaynotify.Options{AppID: c.AppID}
	if c.Orders != nil {
		opts.CheckOrder = CheckOrder(c.Orders)
	}
	if c.AlipayPublicKey != "" && c.AppID != "" {
		opts.AlipayPublicKeys = []string{c.AlipayPublicKey}
	}
	if c.MerchantPrivateKey != "" {
		opts.Legacy.Partner = c.Partner
		opts.Legacy.WAP.MerchantPrivateKey = c.MerchantPrivateKey
		opts.Legacy.WAP.PublicKeys = []string{c.AlipayPublicKey}
	}
	if c.Partner != "" {
		opts.Legacy.Partner, opts.Legacy.MD5Key = c.Partner, c.MD5Key
		opts.Legacy.Charset = alipaynotify.Charset(strings.ToLower(c.LegacyCharset))
		if c.NotifyVerifyURL != "" {
			opts.Legacy.NotifyVerify, opts.Legacy.NotifyVerifyURL = true, c.NotifyVerifyURL
		}
	}
	return opts
}

// Shop is the example merchant: the middleware configured from a Config,
// and the business handler and return page to run behind it.
type Shop struct {
	// Middleware verifies callbacks and runs Handle once per business event.
	Middleware *middleware.Middleware

	logger  *slog.Logger
	mu      sync.Mutex // one line at a time on out; guards settled
	out     io.Writer
	close   func() error
	settled map[string]bool // orders Handle saw paid or closed

	stopReconciler func() // stops the Reconciler and waits; nil when off
}

// New builds the shop: the verifier, the dedupe store (Redis when
// c.RedisURL is set, else in memory), and the middleware with hooks that log
// to logger. Handle writes its lines to out. Close the shop when done.
func New(c Config, out io.Writer, logger *slog.Logger) (*Shop, error) {
	v, err := alipaynotify.NewVerifier(c.VerifierOptions())
	if err != nil {
		return nil, err
	}
	s := &Shop{logger: logger, out: out, settled: map[string]bool{}}
	var store dedupe.Store
	if c.RedisURL != "" {
		ropts, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		client := redis.NewClient(ropts)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := client.Ping(ctx).Err(); err != nil {
			client.Close()
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		rs, err := redisstore.New(client, redisstore.Options{})
		if err != nil {
			client.Close()
			return nil, err
		}
		store, s.close = rs, client.Close
		logger.Info("dedupe state in Redis", "addr", ropts.Addr, "db", ropts.DB)
	} else {
		mem := dedupe.NewMemoryStore()
		store, s.close = mem, mem.Close
		logger.Warn("dedupe state in memory: this process only, forgotten on restart; set REDIS_URL for production")
	}
	s.Middleware, err = middleware.New(middleware.Options{
		Verifier: v,
		Store:    store,
		Logger:   logger,
		Hooks:    LogHooks(logger),
	})
	if err != nil {
		s.close()
		return nil, err
	}
	if err := s.startReconciler(c, v); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// Close stops the Reconciler, if it runs, and releases the dedupe store.
func (s *Shop) Close() error {
	if s.stopReconciler != nil {
		s.stopReconciler()
	}
	return s.close()
}

// LogHooks returns middleware hooks that log every step to logger. (The
// middleware itself already logs rejections, failures and store errors.)
func LogHooks(logger *slog.Logger) middleware.Hooks {
	return middleware.Hooks{
		Verified: func(ctx context.Context, n *alipaynotify.Notification) {
			logger.DebugContext(ctx, "verified", "source", n.Source, "event", n.Event().String())
		},
		Duplicate: func(ctx context.Context, n *alipaynotify.Notification) {
			logger.InfoContext(ctx, "duplicate, handled before", "source", n.Source, "event", n.Event().String())
		},
		WaitedInFlight: func(ctx context.Context, n *alipaynotify.Notification, d time.Duration) {
			logger.InfoContext(ctx, "waited for another delivery", "event", n.Event().String(), "waited", d)
		},
		Stale: func(ctx context.Context, n *alipaynotify.Notification) {
			logger.WarnContext(ctx, "stale: a later status was handled already", "event", n.Event().String())
		},
		Handled: func(ctx context.Context, n *alipaynotify.Notification, d time.Duration) {
			logger.InfoContext(ctx, "handled", "source", n.Source, "event", n.Event().String(), "took", d)
		},
	}
}

// Line is what Handle prints, one JSON object per line. Absent fields are
// empty strings; amounts are decimal text such as "88.88".
type Line struct {
	Event       string `json:"event"` // always "handled"
	Source      string `json:"source"`
	Protocol    string `json:"protocol"`
	SignType    string `json:"sign_type"`
	Charset     string `json:"charset"`
	AppID       string `json:"app_id"`
	Partner     string `json:"partner"`
	OutTradeNo  string `json:"out_trade_no"`
	TradeNo     string `json:"trade_no"`
	TradeStatus string `json:"trade_status"`
	// RefundStatus is a legacy escrow trade's refund_status: a refund
	// request keeps the trade_status and changes only this.
	RefundStatus string `json:"refund_status"`
	TotalAmount  string `json:"total_amount"`
	RefundFee    string `json:"refund_fee"`
	OutBizNo     string `json:"out_biz_no"`
	Subject      string `json:"subject"`
	Stale        bool   `json:"stale"`
}

// Handle is the business handler (a middleware.HandlerFunc): the middleware
// runs it once per business event, whether the event arrives by notify or by
// return. A real shop would mark the order paid here, fenced by the claim
// token; this one prints a Line. An error makes Alipay retry.
func (s *Shop) Handle(ctx context.Context, n *alipaynotify.Notification) error {
	line := Line{
		Event:       "handled",
		Source:      string(n.Source),
		Protocol:    string(n.Protocol),
		SignType:    string(n.SignType),
		Charset:     string(n.Charset),
		AppID:       n.AppID,
		Partner:     n.Partner,
		OutTradeNo:  n.OutTradeNo,
		TradeNo:     n.TradeNo,
		TradeStatus: string(n.TradeStatus),
		Subject:     n.Subject,
	}
	if r := n.Refund; r != nil {
		line.RefundStatus, line.OutBizNo = string(r.Status), r.OutBizNo
	}
	line.TotalAmount = n.TotalAmount.String() // "" when the callback signs none
	if has(n, "refund_fee") {
		line.RefundFee = n.Refund.Fee.String()
	}
	if d, ok := middleware.DeliveryFromContext(ctx); ok {
		line.Stale = d.Stale
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	enc := json.NewEncoder(s.out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(line); err != nil { // one Write, ending in a newline
		return err
	}
	if n.TradeStatus.Paid() || n.TradeStatus == alipaynotify.TradeClosed {
		s.settled[n.OutTradeNo] = true // a real shop: UPDATE orders SET state = ...
	}
	return nil
}

func has(n *alipaynotify.Notification, keys ...string) bool {
	for _, k := range keys {
		if _, ok := n.Params.Lookup(k); ok {
			return true
		}
	}
	return false
}

// Page is the return page as an http.HandlerFunc, for every router (on gin,
// gin.WrapF(shop.Page)): it renders the delivery the middleware put in the
// request's context.
func (s *Shop) Page(w http.ResponseWriter, r *http.Request) {
	d, _ := middleware.DeliveryFromContext(r.Context())
	RenderPage(w, d)
}

// pageTemplate is the buyer's page: Chinese first, English beneath, like
// the middleware's own error pages.
var pageTemplate = template.Must(template.New("return").Parse(`<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>支付成功 · Payment received</title></head>
<body>
<h1>支付成功<br><small lang="en">Payment received</small></h1>
<p>订单 <strong id="order">{{.OutTradeNo}}</strong>{{with .Subject}}（{{.}}）{{end}}{{with .Amount}}，{{.}} 元{{end}}。<br>
<span lang="en">Order {{.OutTradeNo}}{{with .Subject}} ({{.}}){{end}}{{with .Amount}}, {{.}} CNY{{end}}.</span></p>
<p>{{.MessageZH}}<br><span lang="en">{{.Message}}</span></p>
<p><small>outcome: <span id="outcome">{{.Outcome}}</span></small></p>
</body>
</html>
`))

// RenderPage writes the return page for a verified delivery: 200 with the
// order number and the outcome, whatever the outcome, so the buyer always
// sees a page, in Chinese with English beneath. (Unverifiable returns never
// get here; the middleware answers them with 400.) Use it from any
// framework's page handler.
func RenderPage(w http.ResponseWriter, d *middleware.Delivery) {
	if d == nil || d.Notification == nil {
		http.Error(w, "无法显示支付结果。\nNo payment result to show.", http.StatusInternalServerError)
		return
	}
	n := d.Notification
	data := struct {
		OutTradeNo, Subject, Amount, MessageZH, Message, Outcome string
	}{
		OutTradeNo: n.OutTradeNo,
		Subject:    n.Subject,
		Amount:     n.TotalAmount.String(), // "" on a mobile web return, which signs no amount
		Outcome:    d.Outcome.String(),
	}
	switch {
	case d.Outcome.Acknowledged():
		data.MessageZH, data.Message = "谢谢！您的订单已确认。", "Thank you! Your order is confirmed."
	case d.Outcome == middleware.OutcomeInFlight:
		data.MessageZH, data.Message = "谢谢！我们正在确认您的订单。", "Thank you! We are confirming your order right now."
	default:
		data.MessageZH, data.Message = "支付宝已收到您的付款，我们会尽快确认您的订单。", "Alipay has your payment; we will confirm your order shortly."
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = pageTemplate.Execute(w, data)
}

// Serve serves h on addr until ctx is done, then shuts down gracefully:
// it stops accepting, lets requests in progress (and so business handlers
// holding a claim) finish for up to 20 seconds, and returns.
func Serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * middleware.DefaultLease,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(),
		"notify_url", "http://"+ln.Addr().String()+"/alipay/notify",
		"return_url", "http://"+ln.Addr().String()+"/alipay/return")

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}
