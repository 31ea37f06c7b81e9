package middleware_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// TestDeliver: a notification the middleware's Verifier produced goes
// through the same exactly-once path as a callback (handled once, then the
// callback is a duplicate); a hand-built or refused one never runs the
// handler; a panicking handler fails the delivery without crashing the
// caller and releases the claim.
func TestDeliver(t *testing.T) {
	t.Parallel()
	f := newFixture(t, middleware.Options{Logger: discardLogger()})
	v := f.mw.Verifier()
	business := middleware.HandlerFunc(f.rec.handle)
	ctx := context.Background()

	paid := f.signer.NewTrade("ORDER-D1", "1.00").Paid()
	n, err := v.VerifyNotify(ctx, paid.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if d := f.mw.Deliver(ctx, n, business); d.Outcome != middleware.OutcomeHandled {
		t.Fatalf("first delivery: %v %v", d.Outcome, d.Err)
	}
	if code, body := f.notify(t, paid); code != 200 || body != "success" {
		t.Fatalf("the callback after Deliver: %d %q", code, body)
	}
	if d := f.mw.Deliver(ctx, n, business); d.Outcome != middleware.OutcomeDuplicate {
		t.Fatalf("second Deliver: %v, want duplicate", d.Outcome)
	}
	if runs := f.rec.total(); runs != 1 {
		t.Fatalf("handler ran %d times, want 1", runs)
	}

	forged := *n
	forged.OutTradeNo = "ORDER-D2"
	other, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{f.signer.PublicKeyPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	fromOther, err := other.VerifyNotify(ctx, f.signer.NewTrade("ORDER-D3", "1.00").Paid().Encode())
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]*alipaynotify.Notification{
		"nil": nil, "hand-built": {OutTradeNo: "ORDER-D4", TradeStatus: alipaynotify.TradeSuccess},
		"copied": &forged, "another verifier's": fromOther,
	} {
		d := f.mw.Deliver(ctx, n, business)
		if d.Outcome != middleware.OutcomeRejected || !errors.Is(d.Err, middleware.ErrNotVerified) {
			t.Errorf("%s notification: %v %v, want rejected with ErrNotVerified", name, d.Outcome, d.Err)
		}
	}
	if runs := f.rec.total(); runs != 1 {
		t.Fatalf("a refused notification ran the handler: %d runs", runs)
	}

	// A panic: failed, released (the next delivery runs), no crash.
	n5, err := v.VerifyNotify(ctx, f.signer.NewTrade("ORDER-D5", "1.00").Paid().Encode())
	if err != nil {
		t.Fatal(err)
	}
	f.rec.panics.Store(1)
	if d := f.mw.Deliver(ctx, n5, business); d.Outcome != middleware.OutcomeFailed || !errors.Is(d.Err, middleware.ErrHandlerPanic) {
		t.Fatalf("panicking handler: %v %v", d.Outcome, d.Err)
	}
	if d := f.mw.Deliver(ctx, n5, business); d.Outcome != middleware.OutcomeHandled {
		t.Fatalf("after the panic: %v %v, want handled", d.Outcome, d.Err)
	}
}

// TestDeliverReceived: a return older than MaxReturnAge, verified again at
// the time it was received, is delivered; verified now it is expired.
func TestDeliverReceived(t *testing.T) {
	t.Parallel()
	f := newFixture(t, middleware.Options{Logger: discardLogger()})
	v := f.mw.Verifier()
	at := time.Now().Add(-3 * time.Hour)
	ret := f.signer.Return(alipaytest.Fields{"timestamp": alipaytest.FormatTime(at)})
	if _, err := v.VerifyReturn(context.Background(), ret.String()); !errors.Is(err, alipaynotify.ErrExpired) {
		t.Fatalf("a 3-hour-old return verified now: %v, want ErrExpired", err)
	}
	n, err := v.VerifyReceived(context.Background(), alipaynotify.SourceReturn, ret.Encode(), at.Add(time.Second))
	if err != nil {
		t.Fatalf("verified at its arrival: %v", err)
	}
	if d := f.mw.Deliver(context.Background(), n, middleware.HandlerFunc(f.rec.handle)); d.Outcome != middleware.OutcomeHandled {
		t.Fatalf("replayed return: %v %v", d.Outcome, d.Err)
	}
	if _, err := v.VerifyReceived(context.Background(), alipaynotify.SourceReturn, ret.Encode(), time.Now().Add(time.Hour)); !errors.Is(err, alipaynotify.ErrExpired) {
		t.Errorf("a receivedAt in the future: %v, want ErrExpired", err)
	}
}
