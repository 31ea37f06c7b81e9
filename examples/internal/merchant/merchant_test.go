package merchant_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/examples/internal/merchant"
	"github.com/alipaynotify/alipaynotify/middleware"
)

var envVars = []string{"ADDR", "ALIPAY_APP_ID", "ALIPAY_PUBLIC_KEY_FILE", "ALIPAY_PARTNER", "ALIPAY_MD5_KEY",
	"ALIPAY_NOTIFY_VERIFY_URL", "ALIPAY_LEGACY_CHARSET", "REDIS_URL"}

func TestFromEnv(t *testing.T) {
	pem := filepath.Join(t.TempDir(), "alipay.pem")
	if err := os.WriteFile(pem, []byte(alipaytest.TestKey().PublicKeyPEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	open := map[string]string{"ALIPAY_APP_ID": alipaytest.DefaultAppID, "ALIPAY_PUBLIC_KEY_FILE": pem}
	legacy := map[string]string{"ALIPAY_PARTNER": alipaytest.DefaultPID, "ALIPAY_MD5_KEY": alipaytest.DefaultMD5Key}
	both := map[string]string{}
	for k, v := range open {
		both[k] = v
	}
	for k, v := range legacy {
		both[k] = v
	}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"nothing", nil, "no Alipay credentials"},
		{"open", open, ""},
		{"legacy", legacy, ""},
		{"both", both, ""},
		{"app id alone", map[string]string{"ALIPAY_APP_ID": "1"}, "ALIPAY_PUBLIC_KEY_FILE"},
		{"partner alone", map[string]string{"ALIPAY_PARTNER": alipaytest.DefaultPID}, "ALIPAY_MD5_KEY"},
		{"missing key file", map[string]string{"ALIPAY_APP_ID": "1", "ALIPAY_PUBLIC_KEY_FILE": pem + ".missing"}, "ALIPAY_PUBLIC_KEY_FILE"},
		{"notify_verify without legacy", map[string]string{"ALIPAY_APP_ID": "1", "ALIPAY_PUBLIC_KEY_FILE": pem, "ALIPAY_NOTIFY_VERIFY_URL": "http://x"}, "ALIPAY_NOTIFY_VERIFY_URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := fromEnv(t, envVars, tc.env, tc.wantErr)
			if !ok {
				return
			}
			if c.Addr != merchant.DefaultAddr || c.LegacyCharset != "utf-8" {
				t.Fatalf("defaults: %+v", c)
			}
			if _, err := alipaynotify.NewVerifier(c.VerifierOptions()); err != nil {
				t.Fatalf("verifier: %v", err)
			}
		})
	}
}

func newShop(t *testing.T) (*merchant.Shop, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	shop, err := merchant.New(merchant.Config{AppID: alipaytest.DefaultAppID, AlipayPublicKey: alipaytest.TestKey().PublicKeyPEM()},
		&out, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shop.Close() })
	return shop, &out
}

func TestHandleLine(t *testing.T) {
	shop, out := newShop(t)
	v := shop.Middleware.Verifier()
	trade := alipaytest.NewSigner(nil).NewTrade("LINE-1", "88.88")
	trade.Extra = alipaytest.Fields{"subject": "<商品> & \"x\""}
	for _, m := range []*alipaytest.Message{trade.Paid(), trade.PartialRefund("RF-1", "0.50")} {
		n, err := v.VerifyNotify(context.Background(), m.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if err := shop.Handle(middleware.NewContext(context.Background(), n), n); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", out.String())
	}
	var paid, refund merchant.Line
	if err := json.Unmarshal([]byte(lines[0]), &paid); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &refund); err != nil {
		t.Fatal(err)
	}
	if paid.Event != "handled" || paid.TotalAmount != "88.88" || paid.RefundFee != "" || paid.OutBizNo != "" ||
		paid.Subject != "<商品> & \"x\"" || paid.Source != "notify" || paid.Protocol != "open" {
		t.Fatalf("paid line: %+v", paid)
	}
	if refund.RefundFee != "0.50" || refund.OutBizNo != "RF-1" {
		t.Fatalf("refund line: %+v", refund)
	}
}

func TestRenderPageEscapes(t *testing.T) {
	n := &alipaynotify.Notification{OutTradeNo: "<b>ORDER</b>", Subject: "<script>alert(1)</script>", TotalAmount: alipaynotify.AmountPresent(8888)}
	w := httptest.NewRecorder()
	merchant.RenderPage(w, &middleware.Delivery{Notification: n, Outcome: middleware.OutcomeHandled})
	body := w.Body.String()
	if w.Code != 200 || strings.Contains(body, "<script>") || strings.Contains(body, "<b>") ||
		!strings.Contains(body, "&lt;b&gt;ORDER&lt;/b&gt;") || !strings.Contains(body, "88.88") || !strings.Contains(body, ">handled<") {
		t.Fatalf("%d\n%s", w.Code, body)
	}
	// Chinese first, English beneath.
	zh, en := strings.Index(body, "谢谢！您的订单已确认。"), strings.Index(body, "Thank you! Your order is confirmed.")
	if zh < 0 || en < zh || !strings.Contains(body, `lang="zh-CN"`) || !strings.Contains(body, "支付成功") {
		t.Errorf("not Chinese with English beneath:\n%s", body)
	}
	w = httptest.NewRecorder()
	merchant.RenderPage(w, nil)
	if w.Code != 500 {
		t.Fatalf("no delivery: %d", w.Code)
	}
}

// TestCheckOrderRecipe is issue 16 end to end: with an order book, the
// shop's CheckOrder (the recipe) lets the buyer's mobile web call_back_url
// return, which signs no amount, through to the success page, and refuses a
// notification whose amount is not the order's, or an unknown order.
func TestCheckOrderRecipe(t *testing.T) {
	var out bytes.Buffer
	tradeNo := time.Now().In(alipaynotify.ChinaTime).Format("20060102") + "3100001616"
	shop, err := merchant.New(merchant.Config{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key,
		Orders: merchant.OrderBook{"WAP-16": 990, "WAP-16-CHEAP": 990}}, &out, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shop.Close() })
	mux := http.NewServeMux()
	mux.Handle("/alipay/notify", shop.Middleware.Notify(middleware.HandlerFunc(shop.Handle)))
	mux.Handle("/alipay/return", shop.Middleware.Return(middleware.HandlerFunc(shop.Handle), http.HandlerFunc(shop.Page)))
	wap := alipaytest.NewWAPSigner("", "")
	cases := []struct {
		name     string
		req      *http.Request
		code     int
		contains string
	}{
		{"return without amount", wap.Return(alipaytest.Fields{"out_trade_no": "WAP-16", "trade_no": tradeNo}).Request("/alipay/return"),
			200, "Thank you! Your order is confirmed."},
		{"notification with the order's amount", wap.Notify(alipaytest.Fields{"out_trade_no": "WAP-16", "trade_no": tradeNo, "total_fee": "9.90"}).Request("/alipay/notify"),
			200, "success"},
		{"notification with another amount", wap.Notify(alipaytest.Fields{"out_trade_no": "WAP-16-CHEAP", "total_fee": "0.01"}).Request("/alipay/notify"),
			400, "fail"},
		{"return of an unknown order", wap.Return(alipaytest.Fields{"out_trade_no": "WAP-UNKNOWN"}).Request("/alipay/return"),
			400, "could not be verified"},
	}
	for _, tc := range cases {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, tc.req)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.contains) {
			t.Errorf("%s: %d %q; want %d with %q", tc.name, w.Code, w.Body.String(), tc.code, tc.contains)
		}
		if tc.code == 200 && strings.Contains(w.Body.String(), "CNY") {
			t.Errorf("%s: the page shows an amount the return never sent: %q", tc.name, w.Body.String())
		}
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("handler lines: %q; want the return's alone (the notification is its duplicate)", out.String())
	}
	var l merchant.Line
	if err := json.Unmarshal([]byte(lines[0]), &l); err != nil || l.Source != "return" || l.OutTradeNo != "WAP-16" || l.TotalAmount != "" {
		t.Fatalf("line %+v, %v", l, err)
	}
}

// fromEnv sets vars as env gives them (unset ones empty) and runs FromEnv.
// With wantErr it checks that FromEnv fails with an error mentioning it and
// reports false; otherwise it checks that FromEnv succeeds.
func fromEnv(t *testing.T, vars []string, env map[string]string, wantErr string) (merchant.Config, bool) {
	t.Helper()
	for _, k := range vars {
		t.Setenv(k, env[k])
	}
	c, err := merchant.FromEnv()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one mentioning %s", err, wantErr)
		}
		return c, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, true
}
