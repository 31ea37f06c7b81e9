package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// newWAPFixture serves WAP callbacks (MD5 and 0001) through the real
// middleware; the middleware itself needs no WAP-specific option.
func newWAPFixture(t *testing.T, opts middleware.Options, returnStatus alipaynotify.TradeStatus) *fixture {
	t.Helper()
	rsa := alipaytest.NewWAPRSASigner(nil, nil)
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: rsa.MerchantPrivateKeyPEM(), PublicKeys: []string{rsa.AlipayPublicKeyPEM()}, ReturnStatus: returnStatus}},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.Verifier = v
	return newFixture(t, opts)
}

func wapSigners() map[string]*alipaytest.WAPSigner {
	return map[string]*alipaytest.WAPSigner{
		"MD5":  alipaytest.NewWAPSigner("", ""),
		"0001": alipaytest.NewWAPRSASigner(nil, nil),
	}
}

func (f *fixture) returnPage(t *testing.T, m *alipaytest.Message) *middleware.Delivery {
	t.Helper()
	w := f.serve(m.Request("/alipay/return"))
	if w.Code != 200 {
		t.Fatalf("return page: %d %q", w.Code, w.Body.String())
	}
	return <-f.pages
}

func (f *fixture) runsOf(key string) (int, bool) {
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	return f.rec.runs[key], f.rec.stale[key]
}

// TestWAPNotifyAndReturnOnce: a WAP payment notification and the buyer's
// call_back_url return are one event, in either order; retries of the
// notification answer "success" without running the handler again.
func TestWAPNotifyAndReturnOnce(t *testing.T) {
	t.Parallel()
	for name, s := range wapSigners() {
		t.Run(name, func(t *testing.T) {
			f := newWAPFixture(t, middleware.Options{}, "")
			// Notification first, then the return and retries.
			paid := s.Notify(alipaytest.Fields{"out_trade_no": "WAP-1", "trade_no": wapTradeNo(1), "total_fee": "9.90"})
			for i := 0; i < 3; i++ {
				if code, body := f.notify(t, paid); code != 200 || body != "success" {
					t.Fatalf("notify %d: %d %q", i, code, body)
				}
			}
			ret := s.Return(alipaytest.Fields{"out_trade_no": "WAP-1", "trade_no": wapTradeNo(1)})
			if d := f.returnPage(t, ret); d.Outcome != middleware.OutcomeDuplicate || !d.Notification.StatusInferred {
				t.Fatalf("return after notify: %v %v", d.Outcome, d.Err)
			}
			// Return first, then the notification (re-sent with a new notify_id).
			if d := f.returnPage(t, s.Return(alipaytest.Fields{"out_trade_no": "WAP-2", "trade_no": wapTradeNo(2)})); d.Outcome != middleware.OutcomeHandled {
				t.Fatalf("return first: %v", d.Outcome)
			}
			for i := 0; i < 2; i++ {
				m := s.Notify(alipaytest.Fields{"out_trade_no": "WAP-2", "trade_no": wapTradeNo(2)})
				if code, body := f.notify(t, m); code != 200 || body != "success" {
					t.Fatalf("notify after return: %d %q", code, body)
				}
			}
			if f.rec.total() != 2 || f.rec.maxRuns() != 1 {
				t.Fatalf("handler runs: total %d, max per event %d; want 2, 1", f.rec.total(), f.rec.maxRuns())
			}
			if n, _ := f.runsOf(alipaytest.DefaultPID + "|WAP-1|TRADE_SUCCESS||"); n != 1 {
				t.Fatalf("WAP-1 ran %d times", n)
			}
		})
	}
}

// TestWAPRetryAfterFailure: a failed handler answers "fail"; Alipay's retry
// runs it again; once handled, every retry answers "success".
func TestWAPRetryAfterFailure(t *testing.T) {
	t.Parallel()
	for name, s := range wapSigners() {
		t.Run(name, func(t *testing.T) {
			f := newWAPFixture(t, middleware.Options{}, "")
			paid := s.Notify(alipaytest.Fields{"out_trade_no": "WAP-3"})
			f.rec.fail.Store(1)
			if code, body := f.notify(t, paid); code != 500 || body != "fail" {
				t.Fatalf("failing handler: %d %q", code, body)
			}
			for i := 0; i < 3; i++ {
				if code, body := f.notify(t, paid); code != 200 || body != "success" {
					t.Fatalf("retry %d: %d %q", i, code, body)
				}
			}
			if f.rec.total() != 1 {
				t.Fatalf("handler ran %d times, want 1", f.rec.total())
			}
			forged := paid.Tampered("v", "2.0") // a signed field changed in flight
			if code, body := f.notify(t, forged); code != 400 || body != "fail" {
				t.Fatalf("forged: %d %q", code, body)
			}
		})
	}
}

// TestWAPFinishedAndReturn: the return stands for TRADE_SUCCESS by default.
// On a contract whose only notification is TRADE_FINISHED (普通即时到账)
// the two are then different events: the return after TRADE_FINISHED is
// delivered once, flagged Stale (skipped with SkipStale). With
// Legacy.WAP.ReturnStatus TRADE_FINISHED they dedupe.
func TestWAPFinishedAndReturn(t *testing.T) {
	t.Parallel()
	s := alipaytest.NewWAPRSASigner(nil, nil)
	finished := s.Notify(alipaytest.Fields{"out_trade_no": "WAP-4", "trade_no": wapTradeNo(4), "trade_status": "TRADE_FINISHED", "gmt_close": "2013-12-03 18:01:40"})
	ret := s.Return(alipaytest.Fields{"out_trade_no": "WAP-4", "trade_no": wapTradeNo(4)})
	successKey := alipaytest.DefaultPID + "|WAP-4|TRADE_SUCCESS||"
	finishedKey := alipaytest.DefaultPID + "|WAP-4|TRADE_FINISHED||"

	for _, skip := range []bool{false, true} {
		f := newWAPFixture(t, middleware.Options{SkipStale: skip}, "")
		if code, body := f.notify(t, finished); code != 200 || body != "success" {
			t.Fatalf("finished: %d %q", code, body)
		}
		d := f.returnPage(t, ret)
		runs, stale := f.runsOf(successKey)
		switch {
		case skip && (d.Outcome != middleware.OutcomeSkippedStale || runs != 0):
			t.Fatalf("SkipStale: outcome %v, runs %d", d.Outcome, runs)
		case !skip && (d.Outcome != middleware.OutcomeHandled || !d.Stale || runs != 1 || !stale):
			t.Fatalf("stale return: outcome %v stale %v runs %d", d.Outcome, d.Stale, runs)
		}
		if n, _ := f.runsOf(finishedKey); n != 1 {
			t.Fatalf("finished ran %d times", n)
		}
	}

	// Return first: TRADE_SUCCESS handled, then TRADE_FINISHED is a new
	// (later) event and runs too.
	f := newWAPFixture(t, middleware.Options{}, "")
	if d := f.returnPage(t, ret); d.Outcome != middleware.OutcomeHandled {
		t.Fatalf("return first: %v", d.Outcome)
	}
	if code, body := f.notify(t, finished); code != 200 || body != "success" {
		t.Fatalf("finished: %d %q", code, body)
	}
	if f.rec.total() != 2 {
		t.Fatalf("runs %d, want 2", f.rec.total())
	}

	// Legacy.WAP.ReturnStatus TRADE_FINISHED: one event in either order.
	g := newWAPFixture(t, middleware.Options{}, alipaynotify.TradeFinished)
	if d := g.returnPage(t, ret); d.Outcome != middleware.OutcomeHandled || d.Notification.TradeStatus != alipaynotify.TradeFinished {
		t.Fatalf("return: %v %s", d.Outcome, d.Notification.TradeStatus)
	}
	if code, body := g.notify(t, finished); code != 200 || body != "success" {
		t.Fatalf("finished: %d %q", code, body)
	}
	if d := g.returnPage(t, ret); d.Outcome != middleware.OutcomeDuplicate {
		t.Fatalf("second return: %v", d.Outcome)
	}
	if n, _ := g.runsOf(finishedKey); n != 1 || g.rec.total() != 1 {
		t.Fatalf("runs %d (total %d), want 1", n, g.rec.total())
	}
}

// TestWAPWrongRoute: a WAP notification sent to the return URL, or a return
// POSTed to notify_url, is refused.
func TestWAPWrongRoute(t *testing.T) {
	t.Parallel()
	f := newWAPFixture(t, middleware.Options{}, "")
	s := alipaytest.NewWAPSigner("", "")
	if w := f.serve(alipaytest.NewReturnRequest("/alipay/return", s.Notify(nil))); w.Code != 400 {
		t.Fatalf("notify on return URL: %d", w.Code)
	}
	if w := f.serve(alipaytest.NewNotifyRequest("/alipay/notify", s.Return(nil))); w.Code != 400 || w.Body.String() != "fail" {
		t.Fatalf("return on notify URL: %d %q", w.Code, w.Body.String())
	}
	if f.rec.total() != 0 {
		t.Fatal("handler ran")
	}
}

// wapTradeNo is a trade_no of a mobile web trade created today: a
// call_back_url return's age is bounded by the date its trade_no begins with.
func wapTradeNo(i int) string {
	return time.Now().In(alipaynotify.ChinaTime).Format("20060102") + fmt.Sprintf("310000%02d", i)
}

// TestWAPReturnCheckOrderRecipe is issue 16: with the documented CheckOrder
// recipe (look the order up, then n.CheckTotalAmount), the buyer's mobile web
// call_back_url return, which signs no amount, reaches the handler and the
// success page, while a notification whose amount differs from the order's
// is refused and never runs the handler.
func TestWAPReturnCheckOrderRecipe(t *testing.T) {
	t.Parallel()
	orders := map[string]alipaynotify.Amount{"WAP-16A": 990, "WAP-16B": 990, "WAP-16C": 0}
	checkOrder := func(_ context.Context, n *alipaynotify.Notification) error {
		want, ok := orders[n.OutTradeNo]
		if !ok {
			return errors.New("unknown order")
		}
		return n.CheckTotalAmount(want)
	}
	for name, s := range wapSigners() {
		t.Run(name, func(t *testing.T) {
			rsa := alipaytest.NewWAPRSASigner(nil, nil)
			v, err := alipaynotify.NewVerifier(alipaynotify.Options{
				Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key,
					WAP: alipaynotify.WAPOptions{MerchantPrivateKey: rsa.MerchantPrivateKeyPEM(), PublicKeys: []string{rsa.AlipayPublicKeyPEM()}}},
				CheckOrder: checkOrder,
			})
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, middleware.Options{Verifier: v})

			// The buyer comes back first: no amount signed, the handler runs
			// and the buyer sees the page.
			d := f.returnPage(t, s.Return(alipaytest.Fields{"out_trade_no": "WAP-16A", "trade_no": wapTradeNo(16)}))
			if d.Outcome != middleware.OutcomeHandled || d.Notification.TotalAmount.Present() {
				t.Fatalf("return: outcome %v, amount %q", d.Outcome, d.Notification.TotalAmount)
			}
			// Its notification, with the order's amount, is the same event.
			paid := s.Notify(alipaytest.Fields{"out_trade_no": "WAP-16A", "trade_no": wapTradeNo(16), "total_fee": "9.90"})
			if code, body := f.notify(t, paid); code != 200 || body != "success" {
				t.Fatalf("notify with the order's amount: %d %q", code, body)
			}

			// A notification for another amount is refused, every time.
			cheap := s.Notify(alipaytest.Fields{"out_trade_no": "WAP-16B", "trade_no": wapTradeNo(17), "total_fee": "0.01"})
			for i := 0; i < 2; i++ {
				if code, body := f.notify(t, cheap); code != 400 || body != "fail" {
					t.Fatalf("notify with another amount: %d %q", code, body)
				}
			}
			// A free order's notification says 0.00, which matches 0.00.
			free := s.Notify(alipaytest.Fields{"out_trade_no": "WAP-16C", "trade_no": wapTradeNo(18), "total_fee": "0.00"})
			if code, body := f.notify(t, free); code != 200 || body != "success" {
				t.Fatalf("notify of a 0.00 order: %d %q", code, body)
			}
			// An unknown order's return is refused: the recipe still looks
			// the order up.
			if w := f.serve(s.Return(alipaytest.Fields{"out_trade_no": "WAP-16X", "trade_no": wapTradeNo(19)}).Request("/alipay/return")); w.Code != 400 {
				t.Fatalf("unknown order's return: %d", w.Code)
			}

			for key, want := range map[string]int{
				alipaytest.DefaultPID + "|WAP-16A|TRADE_SUCCESS||": 1,
				alipaytest.DefaultPID + "|WAP-16B|TRADE_SUCCESS||": 0,
				alipaytest.DefaultPID + "|WAP-16C|TRADE_SUCCESS||": 1,
			} {
				if n, _ := f.runsOf(key); n != want {
					t.Errorf("%s ran %d times, want %d", key, n, want)
				}
			}
		})
	}
}
