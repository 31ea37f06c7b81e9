package alipaynotify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// canonicalVerifiers returns an open-platform and a legacy verifier with the
// default age windows, and the signers for them.
func canonicalVerifiers(t *testing.T) (open, legacy *alipaynotify.Verifier, os, ls *alipaytest.Signer) {
	t.Helper()
	os = alipaytest.NewSigner(alipaytest.TestKey())
	ls = alipaytest.NewLegacySigner(alipaytest.DefaultPID, alipaytest.DefaultMD5Key)
	var err error
	if open, err = alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{os.PublicKeyPEM()}}); err != nil {
		t.Fatal(err)
	}
	if legacy, err = alipaynotify.NewVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key}}); err != nil {
		t.Fatal(err)
	}
	return open, legacy, os, ls
}

// TestCanonicalRules: each rule that makes a signed callback mean one
// Notification, on genuinely signed callbacks.
func TestCanonicalRules(t *testing.T) {
	t.Parallel()
	open, legacy, os, ls := canonicalVerifiers(t)
	ctx := context.Background()
	cases := []struct {
		name     string
		v        *alipaynotify.Verifier
		m        *alipaytest.Message
		want     error // nil: verifies
		isReturn bool
		check    func(t *testing.T, n *alipaynotify.Notification)
	}{
		// "&k=" can be a boundary only where k sorts after the parameter's
		// own name; elsewhere it is text.
		{name: "free text with & and = that cannot be a boundary", v: open, m: os.Notify(alipaytest.Fields{"subject": "Tom&Jerry=best & a&b=c &s=1", "body": "c=d&a=b&body=x"}),
			check: func(t *testing.T, n *alipaynotify.Notification) {
				eq(t, n.Subject, "Tom&Jerry=best & a&b=c &s=1")
				eq(t, n.Body, "c=d&a=b&body=x")
			}},
		{name: "body a=b&c=d: c=… could take buyer_id as its text", v: open, m: os.Notify(alipaytest.Fields{"body": "a=b&c=d"}), want: alipaynotify.ErrAmbiguous},
		{name: "free text holding a name that sorts after it", v: open, m: os.Notify(alipaytest.Fields{"subject": "x&total_amount=99999.00"}), want: alipaynotify.ErrAmbiguous},
		{name: "free text holding an unknown name that sorts after it", v: open, m: os.Notify(alipaytest.Fields{"subject": "x&tax=1"}), want: alipaynotify.ErrAmbiguous},
		{name: "legacy free text holding a name that sorts next", v: legacy, m: ls.Notify(alipaytest.Fields{"body": "x&buyer_actions=REFUND"}), want: alipaynotify.ErrAmbiguous},
		{name: "a field of another protocol", v: legacy, m: ls.Notify(alipaytest.Fields{"total_amount": "99999.00"}), want: alipaynotify.ErrAmbiguous},
		{name: "a mobile web field on mapi", v: legacy, m: ls.Notify(alipaytest.Fields{"notify_data": "<notify/>"}), want: alipaynotify.ErrAmbiguous},
		{name: "timestamp on a trade notification", v: open, m: os.Notify(alipaytest.Fields{"timestamp": "2024-01-02 10:00:00"}), want: alipaynotify.ErrAmbiguous},
		{name: "passback_params as Alipay sends it", v: open, m: os.Notify(alipaytest.Fields{"passback_params": "a%3D1%26trade_no%3D2"}),
			check: func(t *testing.T, n *alipaynotify.Notification) { eq(t, n.PassbackParams, "a%3D1%26trade_no%3D2") }},
		{name: "trade_no not digits", v: open, m: os.Notify(alipaytest.Fields{"trade_no": "2024&x"}), want: alipaynotify.ErrAmbiguous},
		{name: "out_trade_no with a separator", v: open, m: os.Notify(alipaytest.Fields{"out_trade_no": "A|B"}), want: alipaynotify.ErrAmbiguous},
		{name: "out_trade_no with a space", v: open, m: os.Notify(alipaytest.Fields{"out_trade_no": "A B"}), want: alipaynotify.ErrAmbiguous},
		{name: "unknown trade_status", v: open, m: os.Notify(alipaytest.Fields{"trade_status": "TRADE_PAID"}), want: alipaynotify.ErrAmbiguous},
		{name: "notify_type outside the token alphabet", v: open, m: os.Notify(alipaytest.Fields{"notify_type": "trade status"}), want: alipaynotify.ErrAmbiguous},
		{name: "open notify_id with /", v: open, m: os.Notify(alipaytest.Fields{"notify_id": "ab/cd"}), want: alipaynotify.ErrAmbiguous},
		{name: "version 2.0", v: open, m: os.Notify(alipaytest.Fields{"version": "2.0"}), want: alipaynotify.ErrAmbiguous},
		{name: "negative amount", v: open, m: os.Notify(alipaytest.Fields{"receipt_amount": "-1.00"}), want: alipaynotify.ErrAmount},
		{name: "unknown key with capitals", v: open, m: os.Notify(alipaytest.Fields{"Trade_No": "1"}), want: alipaynotify.ErrAmbiguous},
		{name: "legacy refuses total_amount", v: legacy, m: ls.Notify(alipaytest.Fields{"total_fee": "1.00", "total_amount": "99999.00"}), want: alipaynotify.ErrAmbiguous},
		{name: "open refuses total_fee", v: open, m: os.Notify(alipaytest.Fields{"total_amount": "2.00", "total_fee": "99999.00"}), want: alipaynotify.ErrAmbiguous},
		{name: "legacy refuses the open refund fields", v: legacy, m: ls.Notify(alipaytest.Fields{"out_biz_no": "R1", "refund_fee": "1.00"}), want: alipaynotify.ErrAmbiguous},
		{name: "refund without gmt_refund", v: open, m: os.Notify(alipaytest.Fields{"out_biz_no": "R1", "refund_fee": "1.00"}), want: alipaynotify.ErrAmbiguous},
		{name: "escrow refund_status without gmt_refund", v: legacy, m: ls.Notify(alipaytest.Fields{"refund_status": "REFUND_SUCCESS"}), want: alipaynotify.ErrAmbiguous},
		{name: "notification without notify_type", v: open, m: os.Notify(alipaytest.Fields{"notify_type": alipaytest.Omit}), want: alipaynotify.ErrAmbiguous},
		{name: "open return without method", v: open, m: os.Return(alipaytest.Fields{"method": alipaytest.Omit}), isReturn: true, want: alipaynotify.ErrAmbiguous},
		{name: "open return with another method", v: open, m: os.Return(alipaytest.Fields{"method": "alipay.trade.pay"}), isReturn: true, want: alipaynotify.ErrAmbiguous},
		{name: "open return is inferred paid", v: open, m: os.Return(nil), isReturn: true,
			check: func(t *testing.T, n *alipaynotify.Notification) {
				eq(t, n.TradeStatus, alipaynotify.TradeSuccess)
				eq(t, n.StatusInferred, true)
			}},
		{name: "legacy return without is_success", v: legacy, m: ls.Return(alipaytest.Fields{"is_success": alipaytest.Omit}), isReturn: true, want: alipaynotify.ErrAmbiguous},
		{name: "legacy return is_success=F", v: legacy, m: ls.Return(alipaytest.Fields{"is_success": "F"}), isReturn: true, want: alipaynotify.ErrMalformed},
		{name: "legacy return as a notification", v: legacy, m: ls.Return(nil), want: alipaynotify.ErrAmbiguous},
		{name: "open return as a notification", v: open, m: os.Return(nil), want: alipaynotify.ErrAmbiguous},
		{name: "open notification as a return", v: open, m: os.Notify(nil), isReturn: true, want: alipaynotify.ErrAmbiguous},
		{name: "legacy notification as a return", v: legacy, m: ls.Notify(nil), isReturn: true, want: alipaynotify.ErrAmbiguous},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n *alipaynotify.Notification
			var err error
			if tc.isReturn {
				n, err = tc.v.VerifyReturn(ctx, tc.m.String())
			} else {
				n, err = tc.v.VerifyNotify(ctx, tc.m.Encode())
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if tc.check != nil {
					tc.check(t, n)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestUnsignedParamsReachNothing: an empty parameter is not signed under the
// drop-empty rule, so anyone can add one. It must change nothing, and the
// signature itself is not a parameter of the Notification either.
func TestUnsignedParamsReachNothing(t *testing.T) {
	t.Parallel()
	open, legacy, os, ls := canonicalVerifiers(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		v    *alipaynotify.Verifier
		m    *alipaytest.Message
	}{{"open", open, os.Notify(nil)}, {"legacy", legacy, ls.Notify(nil)}} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.v.VerifyNotify(ctx, tc.m.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := want.Params.Lookup("sign"); ok {
				t.Error("sign reached Params")
			}
			for _, k := range []string{"total_amount", "total_fee", "app_id", "charset", "_input_charset", "out_biz_no", "refund_fee", "gmt_refund", "notify_data", "request_token", "result", "method", "is_success", "zzz"} {
				if _, present := tc.m.Params.Lookup(k); present {
					continue
				}
				evil := tc.m.Clone()
				evil.Params.Set(k, "")
				got, err := tc.v.VerifyNotify(ctx, evil.Encode())
				if err != nil {
					t.Errorf("%s= appended: %v", k, err)
					continue
				}
				if got.Event() != want.Event() || got.TotalAmount != want.TotalAmount || len(got.Params) != len(want.Params) {
					t.Errorf("%s= appended changed the notification: %+v", k, got.Event())
				}
			}
		})
	}
}

// TestCallbackAge: returns live MaxReturnAge, notifications MaxNotifyAge,
// both by their signed time; the mobile web return by its trade_no's date.
func TestCallbackAge(t *testing.T) {
	t.Parallel()
	open, legacy, os, ls := canonicalVerifiers(t)
	ctx := context.Background()
	ago := func(s *alipaytest.Signer, d time.Duration) *alipaytest.Signer {
		c := *s
		c.Now = func() time.Time { return time.Now().Add(-d) }
		return &c
	}
	hour, day := time.Hour, 24*time.Hour
	for _, tc := range []struct {
		name     string
		v        *alipaynotify.Verifier
		m        *alipaytest.Message
		isReturn bool
		want     error
	}{
		{"open return 59m", open, ago(os, 59*time.Minute).Return(nil), true, nil},
		{"open return 61m", open, ago(os, 61*time.Minute).Return(nil), true, alipaynotify.ErrExpired},
		{"open return from the future", open, ago(os, -2*hour).Return(nil), true, nil},
		{"legacy return 61m", legacy, ago(ls, 61*time.Minute).Return(nil), true, alipaynotify.ErrExpired},
		{"open notify 179d", open, ago(os, 179*day).Notify(nil), false, nil},
		{"open notify 181d", open, ago(os, 181*day).Notify(nil), false, alipaynotify.ErrExpired},
		{"legacy notify 181d", legacy, ago(ls, 181*day).Notify(nil), false, alipaynotify.ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.isReturn {
				_, err = tc.v.VerifyReturn(ctx, tc.m.String())
			} else {
				_, err = tc.v.VerifyNotify(ctx, tc.m.Encode())
			}
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}

	// The mobile web return signs no time: its trade_no's creation date
	// bounds it, to MaxReturnAge plus two days.
	wap := alipaytest.NewWAPSigner(alipaytest.DefaultPID, alipaytest.DefaultMD5Key)
	wv, err := alipaynotify.NewVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key}})
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(alipaynotify.ChinaTime)
	for _, tc := range []struct {
		tradeNo string
		want    error
	}{
		{today.Format("20060102") + "31000001", nil},
		{today.AddDate(0, 0, -2).Format("20060102") + "31000001", nil},
		{today.AddDate(0, 0, -4).Format("20060102") + "31000001", alipaynotify.ErrExpired},
		{"2013120331000001", alipaynotify.ErrExpired},
		{"20139999", alipaynotify.ErrAmbiguous},
		{"1234", alipaynotify.ErrAmbiguous},
	} {
		_, err := wv.VerifyReturn(ctx, wap.Return(alipaytest.Fields{"trade_no": tc.tradeNo}).String())
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("WAP return, trade_no %s: err = %v, want %v", tc.tradeNo, err, tc.want)
		}
	}
}

// TestGatewayMessageIsNoTradeEvent: a gateway message is identified by its
// notify_type and notify_id, never as a trade event.
func TestGatewayMessageIsNoTradeEvent(t *testing.T) {
	t.Parallel()
	open, _, os, _ := canonicalVerifiers(t)
	m := os.Notify(alipaytest.Fields{"notify_type": "servicemarket_order_notify"})
	n, err := open.VerifyNotify(context.Background(), m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !n.GatewayMessage() {
		t.Fatal("not a gateway message")
	}
	paid, err := open.VerifyNotify(context.Background(), os.Notify(nil).Encode())
	if err != nil {
		t.Fatal(err)
	}
	if paid.GatewayMessage() {
		t.Fatal("a trade notification taken for a gateway message")
	}
}
