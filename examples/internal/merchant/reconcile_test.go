package merchant_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/examples/internal/merchant"
	"github.com/alipaynotify/alipaynotify/middleware"
)

func TestFileOrders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders.txt")
	book := merchant.NewFileOrders(path)
	ctx := context.Background()
	if list, err := book.List(); err != nil || len(list) != 0 {
		t.Fatalf("missing file: %v, %v", list, err)
	}
	if _, err := book.OrderAmount(ctx, "A-1"); !errors.Is(err, merchant.ErrUnknownOrder) {
		t.Fatalf("missing file: %v", err)
	}
	os.WriteFile(path, []byte("# the book\n\nA-1 88.88\n  A-2\t0.01  \nA-1 1.00\nA-3 100"), 0o644)
	for no, want := range map[string]alipaynotify.Amount{"A-1": 8888, "A-2": 1, "A-3": 10000} {
		if a, err := book.OrderAmount(ctx, no); err != nil || a != want {
			t.Errorf("%s: %v, %v; want %v", no, a, err, want)
		}
	}
	if list, err := book.List(); err != nil || strings.Join(list, ",") != "A-1,A-2,A-3" {
		t.Fatalf("List = %v, %v", list, err)
	}
	// Appended by another process: seen at the next call.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("\nA-4 4.00\n")
	f.Close()
	if a, err := book.OrderAmount(ctx, "A-4"); err != nil || a != 400 {
		t.Fatalf("appended order: %v, %v", a, err)
	}
	for _, tc := range []struct{ content, reason string }{
		{"A-1 88.88\nA-5\n", ":2: 1 fields"},
		{"A-1 88.88 x\n", ":1: 3 fields"},
		{"A-1 8.888\n", `:1: amount "8.888"`},
		{"A-1 -1.00\n", `:1: amount "-1.00"`},
	} {
		os.WriteFile(path, []byte(tc.content), 0o644)
		// A rewrite of the same size within the mtime's granularity is
		// not noticed: use a new book.
		_, err := merchant.NewFileOrders(path).List()
		var le *merchant.OrderLineError
		if !errors.As(err, &le) || !errors.Is(err, merchant.ErrOrderLine) || !strings.Contains(err.Error(), path+tc.reason) {
			t.Errorf("%q: %v, want an OrderLineError %s", tc.content, err, tc.reason)
		}
	}
}

func TestFromEnvReconcile(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "alipay.pem")
	appKey := filepath.Join(dir, "app_private.pem")
	os.WriteFile(pem, []byte(alipaytest.TestKey().PublicKeyPEM()), 0o600)
	os.WriteFile(appKey, []byte(alipaytest.SecondTestKey().PrivateKeyPKCS8PEM()), 0o600)
	vars := append(envVars, "ALIPAY_ORDERS_FILE", "ALIPAY_APP_PRIVATE_KEY_FILE", "ALIPAY_GATEWAY_URL", "ALIPAY_RECONCILE_INTERVAL")
	open := map[string]string{"ALIPAY_APP_ID": alipaytest.DefaultAppID, "ALIPAY_PUBLIC_KEY_FILE": pem}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range open {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"all set", with(map[string]string{"ALIPAY_ORDERS_FILE": filepath.Join(dir, "orders.txt"), "ALIPAY_APP_PRIVATE_KEY_FILE": appKey,
			"ALIPAY_GATEWAY_URL": "http://127.0.0.1:9090/gateway.do", "ALIPAY_RECONCILE_INTERVAL": "250ms"}), ""},
		{"bad interval", with(map[string]string{"ALIPAY_RECONCILE_INTERVAL": "5"}), "ALIPAY_RECONCILE_INTERVAL"},
		{"negative interval", with(map[string]string{"ALIPAY_RECONCILE_INTERVAL": "-1s"}), "ALIPAY_RECONCILE_INTERVAL"},
		{"missing app key", with(map[string]string{"ALIPAY_APP_PRIVATE_KEY_FILE": appKey + ".missing"}), "ALIPAY_APP_PRIVATE_KEY_FILE"},
		{"app key without app", map[string]string{"ALIPAY_PARTNER": alipaytest.DefaultPID, "ALIPAY_MD5_KEY": "k", "ALIPAY_APP_PRIVATE_KEY_FILE": appKey}, "needs ALIPAY_APP_ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := fromEnv(t, vars, tc.env, tc.wantErr)
			if !ok {
				return
			}
			if _, ok := c.Orders.(*merchant.FileOrders); !ok || c.OrdersFile == "" || c.AppPrivateKey == "" ||
				c.GatewayURL != "http://127.0.0.1:9090/gateway.do" || c.ReconcileInterval != 250*time.Millisecond {
				t.Fatalf("config %+v", c)
			}
		})
	}
	// Today's configurations: no order book, no reconciler settings.
	for _, k := range vars {
		t.Setenv(k, open[k])
	}
	c, err := merchant.FromEnv()
	if err != nil || c.Orders != nil || c.OrdersFile != "" || c.AppPrivateKey != "" || c.GatewayURL != "" || c.ReconcileInterval != 0 {
		t.Fatalf("%+v, %v", c, err)
	}
}

// syncBuffer is a bytes.Buffer safe for the handler's and the logger's
// concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// lines returns the handler's lines so far.
func (b *syncBuffer) lines(t *testing.T) []merchant.Line {
	t.Helper()
	var out []merchant.Line
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if l == "" {
			continue
		}
		var line merchant.Line
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, line)
	}
	return out
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestShopReconciles: with an orders file and the app's private key, the
// shop's Reconciler asks the gateway (plain HTTP on loopback) about the
// orders of the book; a paid order is handled once, by query, and its late
// notification is a duplicate; paid and closed orders leave the pending
// list, an order Alipay does not know stays on it.
func TestShopReconciles(t *testing.T) {
	gw := alipaytest.NewGatewayHandler(alipaytest.GatewayOptions{MerchantPublicKey: alipaytest.SecondTestKey().PublicKey()})
	t.Cleanup(gw.Close)
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	signer := alipaytest.NewSigner(nil)
	paid, closed := signer.NewTrade("REC-1", "88.88"), signer.NewTrade("REC-3", "5.00")
	gw.SetStatus(paid, "TRADE_SUCCESS")
	gw.SetStatus(closed, "TRADE_CLOSED")
	orders := filepath.Join(t.TempDir(), "orders.txt")
	os.WriteFile(orders, []byte("# book\nREC-1 88.88\nREC-2 10.00\nREC-3 5.00\n"), 0o644)

	var out, logs syncBuffer
	shop, err := merchant.New(merchant.Config{
		AppID: alipaytest.DefaultAppID, AlipayPublicKey: alipaytest.TestKey().PublicKeyPEM(),
		Orders: merchant.NewFileOrders(orders), OrdersFile: orders,
		AppPrivateKey: alipaytest.SecondTestKey().PrivateKeyPKCS8PEM(), GatewayURL: srv.URL + "/gateway.do",
		ReconcileInterval: 20 * time.Millisecond,
	}, &out, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer shop.Close()
	if !strings.Contains(logs.String(), "reconciler on") || !strings.Contains(logs.String(), "gateway="+srv.URL+"/gateway.do") {
		t.Errorf("start-up log:\n%s", logs.String())
	}
	waitFor(t, "both orders handled", func() bool { return len(out.lines(t)) >= 2 })
	q1, q2, q3 := gw.Queries("REC-1"), gw.Queries("REC-2"), gw.Queries("REC-3")
	// Two more ticks: the one in flight may still ask about REC-1 and
	// REC-3, the next one must not.
	waitFor(t, "two more ticks", func() bool { return gw.Queries("REC-2") >= q2+2 })
	if n := gw.Queries("REC-1") - q1; n > 1 {
		t.Errorf("REC-1 asked about %d more times after it was paid", n)
	}
	if n := gw.Queries("REC-3") - q3; n > 1 {
		t.Errorf("REC-3 asked about %d more times after it closed", n)
	}
	// The late notification of REC-1 is a duplicate.
	w := httptest.NewRecorder()
	shop.Middleware.Notify(middleware.HandlerFunc(shop.Handle)).ServeHTTP(w, paid.Paid().Request("/alipay/notify"))
	if w.Body.String() != "success" {
		t.Fatalf("late notify: %d %q", w.Code, w.Body.String())
	}
	if err := shop.Close(); err != nil {
		t.Fatal(err)
	}
	lines := out.lines(t)
	got := map[string]string{}
	for _, l := range lines {
		got[l.OutTradeNo+" "+l.TradeStatus] += l.Source + " "
	}
	if len(lines) != 2 || got["REC-1 TRADE_SUCCESS"] != "query " || got["REC-3 TRADE_CLOSED"] != "query " {
		t.Fatalf("handler lines %v\n%s", got, out.String())
	}
}

// TestShopReconcilerOff: an orders file without query credentials checks
// orders but runs no Reconciler, and says so.
func TestShopReconcilerOff(t *testing.T) {
	var logs syncBuffer
	orders := filepath.Join(t.TempDir(), "orders.txt")
	shop, err := merchant.New(merchant.Config{AppID: alipaytest.DefaultAppID, AlipayPublicKey: alipaytest.TestKey().PublicKeyPEM(),
		Orders: merchant.NewFileOrders(orders), OrdersFile: orders}, &bytes.Buffer{}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer shop.Close()
	if !strings.Contains(logs.String(), "reconciler off: ALIPAY_ORDERS_FILE is set but no query credentials") {
		t.Errorf("log:\n%s", logs.String())
	}
	// Reconciler settings without an order book: said to be unused.
	var logs2 syncBuffer
	shop2, err := merchant.New(merchant.Config{AppID: alipaytest.DefaultAppID, AlipayPublicKey: alipaytest.TestKey().PublicKeyPEM(),
		AppPrivateKey: alipaytest.SecondTestKey().PrivateKeyPKCS8PEM()}, &bytes.Buffer{}, slog.New(slog.NewTextHandler(&logs2, nil)))
	if err != nil {
		t.Fatal(err)
	}
	shop2.Close()
	if !strings.Contains(logs2.String(), "reconciler off: it needs ALIPAY_ORDERS_FILE") {
		t.Errorf("log:\n%s", logs2.String())
	}
	// A gateway URL that is not https nor loopback is refused at start.
	_, err = merchant.New(merchant.Config{AppID: alipaytest.DefaultAppID, AlipayPublicKey: alipaytest.TestKey().PublicKeyPEM(),
		Orders: merchant.NewFileOrders(orders), OrdersFile: orders, AppPrivateKey: alipaytest.SecondTestKey().PrivateKeyPKCS8PEM(),
		GatewayURL: "http://gateway.example.com/gateway.do"}, &bytes.Buffer{}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, alipaynotify.ErrConfig) {
		t.Errorf("http gateway off loopback: %v", err)
	}
}
