package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

// TestReconcile: one query of one order, against the fake gateway, through
// the middleware: a paid or closed status runs the handler once and the
// callbacks of it are duplicates; not found and WAIT_BUYER_PAY deliver
// nothing and are no errors; gateway errors, timeouts and bad signatures
// are errors and deliver nothing.
func TestReconcile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		protocol  alipaynotify.Protocol
		status    string // "" leaves the trade unknown to the gateway
		fault     alipaytest.Fault
		timeout   time.Duration
		failRuns  int32
		wantState reconcile.State
		wantOut   middleware.Outcome // 0: not delivered
		wantErr   []error
		wantRuns  int
		// then is a callback after the query, answered "success"; thenRuns
		// the handler's runs after it, thenStale whether the callback's
		// event ran flagged Stale (delivered once, as the middleware does).
		then      func(tr *alipaytest.Trade) *alipaytest.Message
		thenRuns  int
		thenStale bool
	}{
		{name: "paid", status: "TRADE_SUCCESS", wantState: reconcile.StatePaid, wantOut: middleware.OutcomeHandled, wantRuns: 1,
			then: (*alipaytest.Trade).Paid, thenRuns: 1},
		{name: "paid, legacy", protocol: alipaynotify.ProtocolMapi, status: "TRADE_SUCCESS", wantState: reconcile.StatePaid, wantOut: middleware.OutcomeHandled, wantRuns: 1,
			then: (*alipaytest.Trade).Paid, thenRuns: 1},
		{name: "closed", status: "TRADE_CLOSED", wantState: reconcile.StateClosed, wantOut: middleware.OutcomeHandled, wantRuns: 1,
			then: (*alipaytest.Trade).ClosedUnpaid, thenRuns: 1},
		{name: "finished before success: the late success notify is stale", status: "TRADE_FINISHED", wantState: reconcile.StatePaid,
			wantOut: middleware.OutcomeHandled, wantRuns: 1, then: (*alipaytest.Trade).Paid, thenRuns: 2, thenStale: true},
		{name: "not found", wantState: reconcile.StateNotFound},
		{name: "not found, legacy", protocol: alipaynotify.ProtocolMapi, wantState: reconcile.StateNotFound},
		{name: "wait buyer pay", status: "WAIT_BUYER_PAY", wantState: reconcile.StateNotPaid,
			then: (*alipaytest.Trade).Paid, thenRuns: 1},
		{name: "gateway error", status: "TRADE_SUCCESS", fault: alipaytest.Fault{Code: "20000", SubCode: "isp.unknow-error"}, wantErr: []error{alipaynotify.ErrGateway}},
		{name: "bad signature", status: "TRADE_SUCCESS", fault: alipaytest.Fault{BadSignature: true}, wantErr: []error{alipaynotify.ErrSignature}},
		{name: "bad signature, legacy", protocol: alipaynotify.ProtocolMapi, status: "TRADE_SUCCESS", fault: alipaytest.Fault{BadSignature: true}, wantErr: []error{alipaynotify.ErrSignature}},
		{name: "HTTP 500", status: "TRADE_SUCCESS", fault: alipaytest.Fault{HTTPStatus: http.StatusInternalServerError}, wantErr: []error{reconcile.ErrHTTPStatus}},
		{name: "answer about another order", status: "TRADE_SUCCESS", fault: alipaytest.Fault{AnswerAbout: "SOMEONE-ELSE"}, wantErr: []error{alipaynotify.ErrMalformed}},
		{name: "timeout", status: "TRADE_SUCCESS", fault: alipaytest.Fault{Hang: true}, timeout: time.Second, // not shorter: a loaded machine's TLS handshake must not count as the timeout
			wantErr: []error{reconcile.ErrUnreachable, context.DeadlineExceeded}},
		{name: "handler fails", status: "TRADE_SUCCESS", failRuns: 1, wantState: reconcile.StatePaid, wantOut: middleware.OutcomeFailed,
			wantErr: []error{reconcile.ErrNotDelivered}, then: (*alipaytest.Trade).Paid, thenRuns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, worldOptions{protocol: tt.protocol, recOpts: reconcile.ReconcilerOptions{QueryTimeout: tt.timeout}})
			s := w.signer
			if tt.protocol == alipaynotify.ProtocolMapi {
				s = w.legacy
			}
			tr := s.NewTrade("R-"+strings.ReplaceAll(tt.name, " ", "-")[:min(20, len(tt.name))], "25.00")
			if tt.status != "" {
				w.gateway.SetStatus(tr, tt.status)
			}
			if tt.fault.AnswerAbout != "" {
				w.gateway.SetStatus(s.NewTrade(tt.fault.AnswerAbout, "1.00"), "TRADE_SUCCESS")
			}
			w.gateway.SetFault(tt.fault)
			w.biz.fail.Store(tt.failRuns)

			res, err := w.rec.Reconcile(context.Background(), tr.OutTradeNo)
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("err = %v", err)
			}
			if res.OutTradeNo != tr.OutTradeNo || res.State != tt.wantState {
				t.Errorf("result %s %v, want %s %v", res.OutTradeNo, res.State, tr.OutTradeNo, tt.wantState)
			}
			switch {
			case tt.wantOut == 0 && res.Delivery != nil:
				t.Errorf("delivered (%v), want not delivered", res.Delivery.Outcome)
			case tt.wantOut != 0 && (res.Delivery == nil || res.Delivery.Outcome != tt.wantOut):
				t.Errorf("delivery %+v, want outcome %v", res.Delivery, tt.wantOut)
			}
			if (res.Notification != nil) != (tt.wantState >= reconcile.StateNotPaid) {
				t.Errorf("notification %v for state %v", res.Notification, res.State)
			}
			if got := w.biz.total(); got != tt.wantRuns {
				t.Errorf("handler ran %d times, want %d", got, tt.wantRuns)
			}
			if got := w.gateway.Queries(tr.OutTradeNo); got != 1 {
				t.Errorf("%d queries, want 1", got)
			}
			if tt.then == nil {
				return
			}
			w.gateway.SetFault(alipaytest.Fault{})
			m := tt.then(tr)
			if body := w.notify(m); body != "success" {
				t.Fatalf("the notify after the query answered %q", body)
			}
			runs, stale := w.biz.ran(w.verifyNotify(t, m))
			if w.biz.total() != tt.thenRuns || stale != tt.thenStale {
				t.Errorf("after the notify: %d runs (%d of its event), stale %v; want %d runs, stale %v", w.biz.total(), runs, stale, tt.thenRuns, tt.thenStale)
			}
			// Asking again learns nothing new: the event is a duplicate.
			if res, err := w.rec.Reconcile(context.Background(), tr.OutTradeNo); err != nil || (res.Delivery != nil && res.Delivery.Outcome != middleware.OutcomeDuplicate) {
				t.Errorf("asking again: %+v %v", res.Delivery, err)
			}
			if w.biz.total() != tt.thenRuns {
				t.Errorf("asking again ran the handler: %d runs", w.biz.total())
			}
		})
	}
}

// TestReconcileRefusesWhatTheMiddlewareDidNotVerify: a Querier answering
// with a hand-built Notification, nothing, another order, or a status
// nobody knows never runs the handler.
func TestReconcileRefusesWhatTheMiddlewareDidNotVerify(t *testing.T) {
	t.Parallel()
	handBuilt := &alipaynotify.Notification{Source: alipaynotify.SourceQuery, Protocol: alipaynotify.ProtocolOpenPlatform,
		AppID: alipaytest.DefaultAppID, OutTradeNo: "HB-1", TradeNo: "2024", TradeStatus: alipaynotify.TradeSuccess, TotalAmount: alipaynotify.AmountPresent(100)}
	other := *handBuilt
	other.OutTradeNo = "HB-2"
	unknown := *handBuilt
	unknown.TradeStatus = "TRADE_TELEPORTED"
	tests := []struct {
		name    string
		answer  *alipaynotify.Notification
		wantErr error
		state   reconcile.State
	}{
		{"hand-built", handBuilt, middleware.ErrNotVerified, reconcile.StatePaid},
		{"nothing", nil, reconcile.ErrBadAnswer, reconcile.StateNoAnswer},
		{"another order", &other, reconcile.ErrBadAnswer, reconcile.StateNoAnswer},
		{"unknown status", &unknown, reconcile.ErrUnknownStatus, reconcile.StateNoAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := querierFunc(func(context.Context, string) (*alipaynotify.Notification, error) { return tt.answer, nil })
			w := newWorld(t, worldOptions{recOpts: reconcile.ReconcilerOptions{Querier: q}})
			res, err := w.rec.Reconcile(context.Background(), "HB-1")
			if !errors.Is(err, tt.wantErr) || res.State != tt.state {
				t.Errorf("%v %v, want %v %v", res.State, err, tt.state, tt.wantErr)
			}
			if tt.wantErr == middleware.ErrNotVerified && !errors.Is(err, reconcile.ErrNotDelivered) {
				t.Errorf("err = %v, want ErrNotDelivered", err)
			}
			if w.biz.total() != 0 {
				t.Errorf("the handler ran %d times", w.biz.total())
			}
		})
	}
}

// querierFunc is a Querier from a function.
type querierFunc func(ctx context.Context, outTradeNo string) (*alipaynotify.Notification, error)

func (f querierFunc) QueryTrade(ctx context.Context, outTradeNo string) (*alipaynotify.Notification, error) {
	return f(ctx, outTradeNo)
}

// TestNewReconcilerOptions: every option is checked once, with an error
// naming it; the zero values are the defaults.
func TestNewReconcilerOptions(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	otherClient := newClient(t, w.gateway, reconcile.Options{}) // its own Verifier
	q := querierFunc(func(context.Context, string) (*alipaynotify.Notification, error) {
		return nil, alipaynotify.ErrTradeNotFound
	})
	valid := func() reconcile.ReconcilerOptions {
		return reconcile.ReconcilerOptions{Middleware: w.mw, Business: w.handler, Querier: q}
	}
	tests := []struct {
		name  string
		edit  func(o *reconcile.ReconcilerOptions)
		field string // "" for valid
	}{
		{"defaults", func(*reconcile.ReconcilerOptions) {}, ""},
		{"no middleware", func(o *reconcile.ReconcilerOptions) { o.Middleware = nil }, "Middleware"},
		{"no business", func(o *reconcile.ReconcilerOptions) { o.Business = nil }, "Business"},
		{"no querier", func(o *reconcile.ReconcilerOptions) { o.Querier = nil }, "Querier"},
		{"a client with another verifier", func(o *reconcile.ReconcilerOptions) { o.Querier = otherClient }, "Querier"},
		{"negative interval", func(o *reconcile.ReconcilerOptions) { o.Interval = -time.Second }, "Interval"},
		{"interval beyond a year", func(o *reconcile.ReconcilerOptions) { o.Interval = 400 * 24 * time.Hour }, "Interval"},
		{"the longest interval and jitter", func(o *reconcile.ReconcilerOptions) { o.Interval, o.Jitter = 365*24*time.Hour, 365*24*time.Hour-1 }, ""},
		{"jitter as long as the interval", func(o *reconcile.ReconcilerOptions) { o.Interval, o.Jitter = time.Second, time.Second }, "Jitter"},
		{"negative jitter", func(o *reconcile.ReconcilerOptions) { o.Jitter = -1 }, "Jitter"},
		{"negative concurrency", func(o *reconcile.ReconcilerOptions) { o.Concurrency = -1 }, "Concurrency"},
		{"negative rate", func(o *reconcile.ReconcilerOptions) { o.Rate = -1 }, "Rate"},
		{"NaN rate", func(o *reconcile.ReconcilerOptions) { o.Rate = nan() }, "Rate"},
		{"rate beyond one a nanosecond", func(o *reconcile.ReconcilerOptions) { o.Rate = 2e9 }, "Rate"},
		{"negative query timeout", func(o *reconcile.ReconcilerOptions) { o.QueryTimeout = -1 }, "QueryTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.edit(&o)
			_, err := reconcile.NewReconciler(o)
			var fe *alipaynotify.FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.field != "" && (!errors.Is(err, alipaynotify.ErrConfig) || !errors.As(err, &fe) || fe.Field != tt.field):
				t.Fatalf("err = %v, want ErrConfig naming %s", err, tt.field)
			}
		})
	}
	// Run needs Pending; Reconcile does not.
	r, err := reconcile.NewReconciler(valid())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); !errors.Is(err, alipaynotify.ErrConfig) {
		t.Errorf("Run without Pending: %v", err)
	}
	if res, err := r.Reconcile(context.Background(), "X-1"); err != nil || res.State != reconcile.StateNotFound {
		t.Errorf("Reconcile without Pending: %v %v", res.State, err)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

// TestReconcileLogsAndHooks: one log record per delivered status and per
// failure, identity only (no buyer data), and Hooks.Queried once per query.
func TestReconcileLogsAndHooks(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	var queried []reconcile.Result
	var queriedErrs []error
	w := newWorld(t, worldOptions{recOpts: reconcile.ReconcilerOptions{
		Logger: slog.New(slog.NewJSONHandler(&syncWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Hooks: reconcile.Hooks{Queried: func(_ context.Context, r reconcile.Result, err error) {
			mu.Lock()
			defer mu.Unlock()
			queried = append(queried, r)
			queriedErrs = append(queriedErrs, err)
		}},
	}})
	paid := w.signer.NewTrade("LOG-PAID", "9.99")
	w.gateway.SetStatus(paid, "TRADE_SUCCESS")
	ctx := context.Background()
	if _, err := w.rec.Reconcile(ctx, paid.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	w.gateway.SetFault(alipaytest.Fault{HTTPStatus: http.StatusBadGateway})
	if _, err := w.rec.Reconcile(ctx, "LOG-FAIL"); !errors.Is(err, reconcile.ErrHTTPStatus) {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	if strings.Count(out, "reconciled a status by query") != 1 || strings.Count(out, "reconciliation failed") != 1 {
		t.Errorf("want one delivery and one failure record:\n%s", out)
	}
	if !strings.Contains(out, `"event":"`+alipaytest.DefaultAppID) || !strings.Contains(out, "LOG-FAIL") {
		t.Errorf("records lack the event identity or the order:\n%s", out)
	}
	for _, personal := range []string{alipaytest.DefaultBuyerID, "159****5620"} {
		if strings.Contains(out, personal) {
			t.Errorf("the log carries buyer data %q:\n%s", personal, out)
		}
	}
	if len(queried) != 2 || queried[0].State != reconcile.StatePaid || queriedErrs[0] != nil ||
		queried[1].OutTradeNo != "LOG-FAIL" || !errors.Is(queriedErrs[1], reconcile.ErrHTTPStatus) {
		t.Errorf("hooks saw %+v %v", queried, queriedErrs)
	}
}

// syncWriter serialises writes to w.
type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
