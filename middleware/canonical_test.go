package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// TestRetentionOutlivesCallbackAge: a handled event must be remembered for
// longer than the verifier accepts its callbacks, or an old callback would
// find no done mark and run the handler again.
func TestRetentionOutlivesCallbackAge(t *testing.T) {
	t.Parallel()
	v := testVerifier(t)
	for _, tc := range []struct {
		retention time.Duration
		ok        bool
	}{
		{0, true}, // the default, 190 days, outlives the default 180-day notification window
		{alipaynotify.DefaultMaxNotifyAge + time.Hour, true},
		{alipaynotify.DefaultMaxNotifyAge, false},
		{30 * 24 * time.Hour, false},
	} {
		_, err := middleware.New(middleware.Options{Verifier: v, Retention: tc.retention})
		if (err == nil) != tc.ok {
			t.Errorf("Retention %v: err = %v, want ok=%v", tc.retention, err, tc.ok)
		}
	}
}

// TestExpiredReturn: a return older than MaxReturnAge never reaches the
// business handler, and the buyer's page says the link expired.
func TestExpiredReturn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, middleware.Options{})
	old := alipaytest.NewSigner(alipaytest.TestKey())
	old.Now = func() time.Time { return time.Now().Add(-alipaynotify.DefaultMaxReturnAge - time.Minute) }
	w := f.serve(old.NewTrade("EXPIRED-1", "3.00").Return().Request("/alipay/return"))
	if w.Code != http.StatusGone || !strings.Contains(w.Body.String(), "过期") || !strings.Contains(w.Body.String(), "expired") {
		t.Fatalf("page: %d %q, want 410 saying the link expired", w.Code, w.Body.String())
	}
	if f.rec.total() != 0 {
		t.Fatalf("the handler ran %d times for an expired return", f.rec.total())
	}
	// A fresh return of the same order is handled.
	w = f.serve(f.signer.NewTrade("EXPIRED-1", "3.00").Return().Request("/alipay/return"))
	if w.Code != http.StatusOK || f.rec.total() != 1 {
		t.Fatalf("fresh return: %d %q, runs %d", w.Code, w.Body.String(), f.rec.total())
	}
}

// TestCallbackKindsStayApart: a notification sent to the return route is not
// a return (its missing status would be inferred as TRADE_SUCCESS), and a
// return sent to the notify route is not a notification. Neither runs the
// handler.
func TestCallbackKindsStayApart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, middleware.Options{})
	trade := f.signer.NewTrade("KINDS-1", "3.00")
	closed := trade.ClosedUnpaid()
	w := f.serve(httptest.NewRequest(http.MethodGet, "/alipay/return?"+string(closed.Encode()), nil))
	if w.Code != http.StatusBadRequest {
		t.Fatalf("notification as a return: %d %q", w.Code, w.Body.String())
	}
	if code, body := f.notify(t, trade.Return()); code == http.StatusOK || body != "fail" {
		t.Fatalf("return as a notification: %d %q", code, body)
	}
	if f.rec.total() != 0 {
		t.Fatalf("the handler ran %d times", f.rec.total())
	}
}

// TestGatewayMessageNeverTradeEvent: a gateway message is keyed by its
// notify_type and notify_id, so one carrying trade fields does not stand for
// the trade's payment: the trade's own notification still runs the handler.
func TestGatewayMessageNeverTradeEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, middleware.Options{})
	trade := f.signer.NewTrade("GATEWAY-1", "3.00")
	msg := f.signer.Notify(alipaytest.Fields{"notify_type": "servicemarket_order_notify", "out_trade_no": "GATEWAY-1", "trade_status": "TRADE_SUCCESS"})
	if code, body := f.notify(t, msg); code != http.StatusOK || body != "success" {
		t.Fatalf("gateway message: %d %q", code, body)
	}
	if code, body := f.notify(t, trade.Paid()); code != http.StatusOK || body != "success" {
		t.Fatalf("payment: %d %q", code, body)
	}
	if f.rec.total() != 2 {
		t.Fatalf("runs = %d, want 2 (the gateway message and the payment)", f.rec.total())
	}
}
