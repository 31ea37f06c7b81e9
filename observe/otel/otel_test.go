package alipayotel_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
	alipayotel "github.com/alipaynotify/alipaynotify/observe/otel"
)

const (
	partner = "2088101122136241"
	md5Key  = "760bdzec6y9goq7ctyx96ezkz78287de"
)

// rig is a middleware traced into an in-memory span recorder, serving
// both routes with one business handler.
type rig struct {
	rec     *tracetest.SpanRecorder
	tp      *sdktrace.TracerProvider
	mux     *http.ServeMux
	failing bool
}

func newRig(t *testing.T, opts alipayotel.Options, vopts alipaynotify.Options) *rig {
	t.Helper()
	r := &rig{rec: tracetest.NewSpanRecorder()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.rec))
	t.Cleanup(func() { r.tp.Shutdown(context.Background()) })
	opts.TracerProvider = r.tp
	v, err := alipaynotify.NewVerifier(vopts)
	if err != nil {
		t.Fatal(err)
	}
	store := dedupe.NewMemoryStore()
	t.Cleanup(func() { store.Close() })
	mw, err := middleware.New(middleware.Options{
		Verifier: v,
		Store:    store,
		Logger:   slog.New(slog.DiscardHandler),
		Hooks:    alipayotel.New(opts).Hooks(),
	})
	if err != nil {
		t.Fatal(err)
	}
	business := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		if r.failing {
			return errors.New("db down for buyer 13800138000")
		}
		return nil
	})
	r.mux = http.NewServeMux()
	r.mux.Handle("POST /alipay/notify", mw.Notify(business))
	r.mux.Handle("GET /alipay/return", mw.Return(business, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})))
	return r
}

func openOptions() alipaynotify.Options {
	return alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
	}
}

// send delivers m and returns the one delivery span it made.
func (r *rig) send(t *testing.T, req *http.Request) sdktrace.ReadOnlySpan {
	t.Helper()
	before := len(r.rec.Ended())
	w := httptest.NewRecorder()
	r.mux.ServeHTTP(w, req)
	var found []sdktrace.ReadOnlySpan
	for _, s := range r.rec.Ended()[before:] {
		if !strings.HasPrefix(s.Name(), "alipaynotify.store.") {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d delivery spans, want 1 (answer %d %q)", len(found), w.Code, w.Body.String())
	}
	return found[0]
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func eventNames(s sdktrace.ReadOnlySpan) []string {
	var names []string
	for _, e := range s.Events() {
		names = append(names, e.Name)
	}
	return names
}

func TestDeliverySpans(t *testing.T) {
	r := newRig(t, alipayotel.Options{}, openOptions())
	signer := alipaytest.NewSigner(nil)
	trade := signer.NewTrade("ORDER-1", "88.88")
	paid := trade.Paid()
	tampered := signer.Paid("ORDER-2", "1.00").Tampered("total_amount", "0.01")

	type want struct {
		name    string
		attrs   map[attribute.Key]string
		events  []string
		status  codes.Code
		desc    string
		absent  []attribute.Key
		storeOp bool
	}
	tests := []struct {
		name string
		req  func() *http.Request
		want want
	}{
		{"first notify", func() *http.Request { return paid.Request("/alipay/notify") }, want{
			name: "alipaynotify.notify",
			attrs: map[attribute.Key]string{
				alipayotel.AttrSource: "notify", alipayotel.AttrProtocol: "open", alipayotel.AttrSignType: "RSA2",
				alipayotel.AttrCharset: "utf-8", alipayotel.AttrMerchant: alipaytest.DefaultAppID,
				alipayotel.AttrOutTradeNo: "ORDER-1", alipayotel.AttrTradeNo: paid.Get("trade_no"),
				alipayotel.AttrTradeStatus: "TRADE_SUCCESS", alipayotel.AttrOutcome: "handled",
			},
			events:  []string{"verified", "handled"},
			status:  codes.Unset,
			absent:  []attribute.Key{alipayotel.AttrRejectReason, alipayotel.AttrStale},
			storeOp: true,
		}},
		{"the same notify again", func() *http.Request { return paid.Request("/alipay/notify") }, want{
			name:    "alipaynotify.notify",
			attrs:   map[attribute.Key]string{alipayotel.AttrOutcome: "duplicate", alipayotel.AttrOutTradeNo: "ORDER-1"},
			events:  []string{"verified", "duplicate"},
			status:  codes.Unset,
			storeOp: true,
		}},
		{"the return after it", func() *http.Request { return trade.Return().Request("/alipay/return") }, want{
			name: "alipaynotify.return",
			attrs: map[attribute.Key]string{
				alipayotel.AttrSource: "return", alipayotel.AttrStatusInferred: "true", alipayotel.AttrOutcome: "duplicate",
			},
			events: []string{"verified", "duplicate"},
			status: codes.Unset,
		}},
		{"a tampered amount", func() *http.Request { return tampered.Request("/alipay/notify") }, want{
			name: "alipaynotify.notify",
			attrs: map[attribute.Key]string{
				alipayotel.AttrSource: "notify", alipayotel.AttrRejectReason: "signature", alipayotel.AttrOutcome: "rejected",
			},
			status: codes.Error,
			desc:   "rejected: signature",
			absent: []attribute.Key{alipayotel.AttrOutTradeNo, alipayotel.AttrTradeStatus},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(r.rec.Ended())
			s := r.send(t, tt.req())
			if s.Name() != tt.want.name {
				t.Errorf("span %q, want %q", s.Name(), tt.want.name)
			}
			got := attrs(s)
			for k, v := range tt.want.attrs {
				if got[k].String() != v {
					t.Errorf("%s = %q, want %q", k, got[k].String(), v)
				}
			}
			for _, k := range tt.want.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s set: %q", k, got[k].String())
				}
			}
			if ev := eventNames(s); strings.Join(ev, ",") != strings.Join(tt.want.events, ",") {
				t.Errorf("events %v, want %v", ev, tt.want.events)
			}
			if st := s.Status(); st.Code != tt.want.status || st.Description != tt.want.desc {
				t.Errorf("status %v %q, want %v %q", st.Code, st.Description, tt.want.status, tt.want.desc)
			}
			var claims int
			for _, c := range r.rec.Ended()[before:] {
				if !strings.HasPrefix(c.Name(), "alipaynotify.store.") {
					continue
				}
				if c.Parent().SpanID() != s.SpanContext().SpanID() {
					t.Errorf("store span %s is not a child of the delivery span", c.Name())
				}
				if c.Name() == "alipaynotify.store.claim" {
					claims++
				}
				if c.EndTime().Before(c.StartTime()) || c.StartTime().Before(s.StartTime()) {
					t.Errorf("store span %s placed at %v..%v outside the delivery %v..", c.Name(), c.StartTime(), c.EndTime(), s.StartTime())
				}
			}
			if tt.want.storeOp && claims != 1 {
				t.Errorf("%d store.claim spans, want 1", claims)
			}
		})
	}
}

func TestFailedHandler(t *testing.T) {
	for _, record := range []bool{false, true} {
		r := newRig(t, alipayotel.Options{RecordErrorMessages: record}, openOptions())
		r.failing = true
		s := r.send(t, alipaytest.NewSigner(nil).Paid("ORDER-F", "5.00").Request("/alipay/notify"))
		if st := s.Status(); st.Code != codes.Error || st.Description != "failed" {
			t.Errorf("record=%v: status %v %q, want Error \"failed\"", record, st.Code, st.Description)
		}
		if got := attrs(s)[alipayotel.AttrOutcome].String(); got != "failed" {
			t.Errorf("record=%v: outcome %q", record, got)
		}
		ev := strings.Join(eventNames(s), ",")
		if !strings.Contains(ev, "handler_failed") || !strings.Contains(ev, "dead_lettered") {
			t.Errorf("record=%v: events %s, want handler_failed and dead_lettered", record, ev)
		}
		if has := strings.Contains(ev, "exception"); has != record {
			t.Errorf("record=%v: exception event recorded = %v (events %s)", record, has, ev)
		}
	}
}

// TestNoPersonalData sends callbacks full of buyer data, on both protocols,
// and finds none of it in any span, attribute or event.
func TestNoPersonalData(t *testing.T) {
	legacy := alipaynotify.Options{}
	legacy.Legacy.Partner, legacy.Legacy.MD5Key = partner, md5Key
	open := alipaytest.NewSigner(nil).Notify(alipaytest.Fields{
		"out_trade_no":   "ORDER-P",
		"buyer_logon_id": "zhang***@example.com",
		"buyer_id":       "2088102177846880",
		"subject":        "张三的订单",
		"body":           "送到 北京市朝阳区 13800138000",
	})
	escrow := alipaytest.NewLegacySigner(partner, md5Key).NewEscrowTrade("ORDER-E", "44.00", "2", "10.00")
	escrow.WaitBuyerPay()
	escrowPaid := escrow.Paid()
	for _, tc := range []struct {
		name  string
		vopts alipaynotify.Options
		msg   *alipaytest.Message
		keys  []string
	}{
		{"open", openOptions(), open, []string{"buyer_logon_id", "buyer_id", "subject", "body"}},
		{"legacy escrow", legacy, escrowPaid, []string{"buyer_email", "buyer_id", "seller_email", "subject",
			"receive_name", "receive_address", "receive_zip", "receive_phone", "receive_mobile"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, alipayotel.Options{}, tc.vopts)
			r.failing = true // the error text names a phone number too
			r.send(t, tc.msg.Request("/alipay/notify"))
			var secrets []string
			for _, k := range tc.keys {
				if v := tc.msg.Get(k); len(v) > 3 {
					secrets = append(secrets, v)
				}
			}
			secrets = append(secrets, "13800138000")
			if len(secrets) < 3 {
				t.Fatalf("the callback carries too little personal data to test: %v", secrets)
			}
			for _, s := range r.rec.Ended() {
				var values []string
				for _, kv := range s.Attributes() {
					values = append(values, kv.Value.String())
				}
				for _, e := range s.Events() {
					for _, kv := range e.Attributes {
						values = append(values, kv.Value.String())
					}
				}
				values = append(values, s.Status().Description)
				for _, v := range values {
					for _, p := range secrets {
						if strings.Contains(v, p) {
							t.Errorf("span %s carries %q", s.Name(), p)
						}
					}
				}
			}
		})
	}
}

// TestChildOfRequestSpan: a request that already carries a span (otelhttp)
// gets the delivery span as its child, and hooks joined after tracing see
// the delivery span in their context.
func TestChildOfRequestSpan(t *testing.T) {
	r := newRig(t, alipayotel.Options{}, openOptions())
	ctx, parent := r.tp.Tracer("test").Start(context.Background(), "POST /alipay/notify")
	req := alipaytest.NewSigner(nil).Paid("ORDER-C", "1.00").Request("/alipay/notify").WithContext(ctx)
	s := r.send(t, req)
	parent.End()
	if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("delivery span's parent %v, want the request's span %v", s.Parent().SpanID(), parent.SpanContext().SpanID())
	}
}

// TestForeignContext: hooks given a context this package did not start a
// span in (a Finished without Received) do nothing, and never end a span
// that is not theirs.
func TestForeignContext(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	h := alipayotel.New(alipayotel.Options{TracerProvider: tp}).Hooks()
	ctx, other := tp.Tracer("test").Start(context.Background(), "other")
	h.Finished(ctx, alipaynotify.SourceNotify, &middleware.Delivery{Outcome: middleware.OutcomeFailed})
	h.StoreCall(ctx, "claim", time.Millisecond, nil)
	h.Rejected(ctx, middleware.Rejection{Reason: middleware.ReasonSignature})
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("%d spans ended, want 0", n)
	}
	other.End()
	if got := rec.Ended(); len(got) != 1 || got[0].Status().Code != codes.Unset || len(got[0].Attributes()) != 0 {
		t.Errorf("the foreign span was changed: %+v", got)
	}
}
