package middleware_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// logBuffer is a concurrency-safe slog text sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// TestRejectionHook: every refusal reaches Hooks.Rejected with a stable
// reason label, and with the verified Notification exactly when the
// signature verified before a later check refused it; Hooks.Finished sees
// OutcomeRejected.
func TestRejectionHook(t *testing.T) {
	t.Parallel()
	s := alipaytest.NewSigner(alipaytest.TestKey())
	orderErr := errors.New("no such order")
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{s.PublicKeyPEM()},
		CheckOrder: func(_ context.Context, n *alipaynotify.Notification) error {
			if n.OutTradeNo == "UNKNOWN" {
				return orderErr
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	other := alipaytest.NewSigner(alipaytest.SecondTestKey())
	old := s.Return(alipaytest.Fields{"timestamp": alipaytest.FormatTime(time.Now().Add(-2 * time.Hour))})
	tests := []struct {
		name       string
		req        *http.Request
		reason     middleware.Reason
		verified   bool // Rejection.Notification is set
		wantStatus int
	}{
		{"bad signature", other.Paid("O-1", "1.00").Request("/notify"), middleware.ReasonSignature, false, http.StatusBadRequest},
		{"malformed", formPost("a=%zz"), middleware.ReasonMalformed, false, http.StatusBadRequest},
		{"CheckOrder", s.Paid("UNKNOWN", "1.00").Request("/notify"), middleware.ReasonOrder, true, http.StatusBadRequest},
		{"expired return", old.Request("/return"), middleware.ReasonExpired, true, http.StatusGone},
		{"too large", formPost("a=" + strings.Repeat("b", 5<<10)), middleware.ReasonBodyTooLarge, false, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []middleware.Rejection
			var finished []*middleware.Delivery
			mw, err := middleware.New(middleware.Options{Verifier: v, Store: dedupe.NewMemoryStore(), Logger: discardLogger(), MaxBodyBytes: 4 << 10,
				Hooks: middleware.Hooks{
					Rejected: func(_ context.Context, r middleware.Rejection) { got = append(got, r) },
					Finished: func(_ context.Context, _ alipaynotify.Source, d *middleware.Delivery) { finished = append(finished, d) },
				}})
			if err != nil {
				t.Fatal(err)
			}
			h := mw.Notify(middleware.HandlerFunc(func(context.Context, *alipaynotify.Notification) error { t.Error("handler ran"); return nil }))
			if tt.req.Method == http.MethodGet {
				h = mw.Return(middleware.HandlerFunc(func(context.Context, *alipaynotify.Notification) error { t.Error("handler ran"); return nil }), http.NotFoundHandler())
			}
			w := serveRequest(h, tt.req)
			if w.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tt.wantStatus)
			}
			if len(got) != 1 || len(finished) != 1 {
				t.Fatalf("Rejected fired %d times, Finished %d; want 1 and 1", len(got), len(finished))
			}
			r := got[0]
			if r.Reason != tt.reason || middleware.ReasonOf(r.Err) != tt.reason {
				t.Errorf("reason %q (ReasonOf %q), want %q; err %v", r.Reason, middleware.ReasonOf(r.Err), tt.reason, r.Err)
			}
			if (r.Notification != nil) != tt.verified {
				t.Errorf("Notification set = %v, want %v", r.Notification != nil, tt.verified)
			}
			if tt.reason == middleware.ReasonOrder && !errors.Is(r.Err, orderErr) {
				t.Errorf("CheckOrder's own error is not in the chain: %v", r.Err)
			}
			if d := finished[0]; d.Outcome != middleware.OutcomeRejected || d.Err != r.Err || d.Notification != r.Notification {
				t.Errorf("Finished got %+v, want OutcomeRejected with the rejection's error and notification", d)
			}
		})
	}
}

func formPost(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/notify", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func serveRequest(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestReasonOf: each sentinel has its label, a CheckOrder error that wraps
// another class still reads as "order", and unknown errors are "other".
func TestReasonOf(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]middleware.Reason{
		alipaynotify.ErrSignature: middleware.ReasonSignature,
		&alipaynotify.FieldError{Field: "x", Err: alipaynotify.ErrAmount}: middleware.ReasonAmount,
		errors.Join(alipaynotify.ErrOrder, alipaynotify.ErrAmount):        middleware.ReasonOrder,
		middleware.ErrTradeNoConflict:                                     middleware.ReasonTradeNoConflict,
		errors.New("something else"):                                      middleware.ReasonOther,
	} {
		if got := middleware.ReasonOf(err); got != want {
			t.Errorf("ReasonOf(%v) = %q, want %q", err, got, want)
		}
	}
}

type ctxKey struct{}

// TestHooksLifecycle: Received's context reaches every later hook and the
// business handler; Finished sees each delivery's outcome once, panics
// included; JoinHooks calls every set in order and chains contexts.
func TestHooksLifecycle(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls []string
	record := func(ctx context.Context, what string) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, what+"@"+ctx.Value(ctxKey{}).(string))
	}
	first := middleware.Hooks{
		Received: func(ctx context.Context, _ alipaynotify.Source) context.Context {
			return context.WithValue(ctx, ctxKey{}, "a")
		},
		Verified: func(ctx context.Context, _ *alipaynotify.Notification) { record(ctx, "verified1") },
		Finished: func(ctx context.Context, _ alipaynotify.Source, d *middleware.Delivery) {
			record(ctx, "finished1:"+d.Outcome.String())
		},
	}
	second := middleware.Hooks{
		Received: func(ctx context.Context, _ alipaynotify.Source) context.Context {
			return context.WithValue(ctx, ctxKey{}, ctx.Value(ctxKey{}).(string)+"b")
		},
		Verified:  func(ctx context.Context, _ *alipaynotify.Notification) { record(ctx, "verified2") },
		Duplicate: func(ctx context.Context, _ *alipaynotify.Notification) { record(ctx, "duplicate") },
		Finished: func(ctx context.Context, _ alipaynotify.Source, d *middleware.Delivery) {
			record(ctx, "finished2:"+d.Outcome.String())
		},
	}
	f := newFixture(t, middleware.Options{Logger: discardLogger(), Hooks: middleware.JoinHooks(first, middleware.Hooks{}, second)})
	f.rec.onRun = func() {}
	paid := f.signer.NewTrade("ORDER-H1", "1.00").Paid()
	f.notify(t, paid)
	f.notify(t, paid)
	want := []string{
		"verified1@ab", "verified2@ab", "finished1:handled@ab", "finished2:handled@ab",
		"verified1@ab", "verified2@ab", "duplicate@ab", "finished1:duplicate@ab", "finished2:duplicate@ab",
	}
	if strings.Join(calls, " ") != strings.Join(want, " ") {
		t.Errorf("hook calls\n got %v\nwant %v", calls, want)
	}

	// A panicking handler: Finished still reports the failure once.
	calls = nil
	f.rec.panics.Store(1)
	func() {
		defer func() { recover() }()
		f.notify(t, f.signer.NewTrade("ORDER-H2", "1.00").Paid())
	}()
	if got := strings.Join(calls, " "); !strings.Contains(got, "finished1:failed@ab") || !strings.Contains(got, "finished2:failed@ab") {
		t.Errorf("after a panic, hook calls %v lack Finished with OutcomeFailed", calls)
	}
}

// TestInMemoryStoreWarning: New warns once when it falls back to the
// in-memory store, and not when a store is given.
func TestInMemoryStoreWarning(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	if _, err := middleware.New(middleware.Options{Verifier: testVerifier(t), Logger: logs.logger()}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(logs.String(), "dedupe/redisstore"); got != 1 {
		t.Errorf("in-memory default: warning logged %d times, want 1:\n%s", got, logs.String())
	}
	var quiet logBuffer
	if _, err := middleware.New(middleware.Options{Verifier: testVerifier(t), Store: dedupe.NewMemoryStore(), Logger: quiet.logger()}); err != nil {
		t.Fatal(err)
	}
	if quiet.String() != "" {
		t.Errorf("an explicit store logged: %s", quiet.String())
	}
}

// TestSignatureHint: after a few signature failures in a row, the
// middleware names the usual cause (应用公钥 configured as 支付宝公钥), at
// most once per period; a verified callback resets the count.
func TestSignatureHint(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	f := newFixture(t, middleware.Options{Logger: logs.logger()})
	wrong := alipaytest.NewSigner(alipaytest.SecondTestKey())
	hints := func() int { return strings.Count(logs.String(), "应用公钥") }
	f.notify(t, wrong.Paid("O-S1", "1.00"))
	f.notify(t, wrong.Paid("O-S2", "1.00"))
	f.notify(t, f.signer.Paid("O-S3", "1.00")) // verified: the count restarts
	f.notify(t, wrong.Paid("O-S4", "1.00"))
	f.notify(t, wrong.Paid("O-S5", "1.00"))
	if hints() != 0 {
		t.Fatalf("hint logged although a callback verified in between:\n%s", logs.String())
	}
	for i := range 5 {
		f.notify(t, wrong.Paid("O-T"+string(rune('0'+i)), "1.00"))
	}
	if hints() != 1 {
		t.Errorf("hint logged %d times, want once per period:\n%s", hints(), logs.String())
	}
}

// TestUnknownCertSNWarning: a verified callback naming a certificate the
// Verifier was not given is logged once per serial number.
func TestUnknownCertSNWarning(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	f := newFixture(t, middleware.Options{Logger: logs.logger()})
	for i, sn := range []string{"newsn1", "newsn1", "newsn2", "newsn1"} {
		m := f.signer.NewTrade("O-C"+string(rune('0'+i)), "1.00").Paid()
		m.Params.Set("alipay_cert_sn", sn)
		f.notify(t, f.signer.MustSign(m.Params))
	}
	out := logs.String()
	if strings.Count(out, "alipay_cert_sn=newsn1") != 1 || strings.Count(out, "alipay_cert_sn=newsn2") != 1 {
		t.Errorf("want one warning per unknown serial:\n%s", out)
	}
	if f.rec.total() != 4 {
		t.Errorf("handler ran %d times, want 4: the warning must not refuse anything", f.rec.total())
	}
}

// TestCheckStore: a working store passes and keeps nothing of the probe; a
// failing or stalled store fails with ErrStore within StoreTimeout.
func TestCheckStore(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		store dedupe.Store
		ok    bool
	}{
		{"memory", dedupe.NewMemoryStore(), true},
		{"down", failingStore{}, false},
		{"stalled", stalledStore{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := middleware.New(middleware.Options{Verifier: testVerifier(t), Store: tt.store, StoreTimeout: 50 * time.Millisecond, Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			err = mw.CheckStore(context.Background())
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, middleware.ErrStore)) {
				t.Fatalf("CheckStore = %v, want ok=%v (errors wrapping ErrStore)", err, tt.ok)
			}
		})
	}
}

// stalledStore never answers until its context ends.
type stalledStore struct{ failingStore }

func (stalledStore) Claim(ctx context.Context, _ dedupe.Event, _ time.Duration) (dedupe.Claim, error) {
	<-ctx.Done()
	return dedupe.Claim{}, ctx.Err()
}
