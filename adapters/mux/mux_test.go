package alipaymux_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/mux"

	"github.com/alipaynotify/alipaynotify"
	alipaymux "github.com/alipaynotify/alipaynotify/adapters/mux"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

func newMiddleware(t testing.TB, hooks ...middleware.Hooks) (*middleware.Middleware, *alipaytest.Signer) {
	t.Helper()
	s := alipaytest.NewSigner(alipaytest.TestKey())
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{s.PublicKeyPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	opts := middleware.Options{Verifier: v, Logger: slog.New(slog.DiscardHandler)}
	for _, h := range hooks {
		opts.Hooks = h
	}
	m, err := middleware.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// business records what the business handler saw, per out_trade_no.
type business struct {
	mu    sync.Mutex
	runs  map[string]int
	shops map[string]string // out_trade_no -> mux.Vars(r)["shop"]
	fail  atomic.Int32
}

func newBusiness() *business {
	return &business{runs: map[string]int{}, shops: map[string]string{}}
}

func (b *business) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.fail.Add(-1) >= 0 {
		http.Error(w, "database down", http.StatusInternalServerError)
		return
	}
	n, ok := middleware.FromContext(r.Context())
	if !ok {
		http.Error(w, "no notification", http.StatusInternalServerError)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.runs[n.OutTradeNo]++
	b.shops[n.OutTradeNo] = mux.Vars(r)["shop"]
	w.WriteHeader(http.StatusNoContent)
}

func (b *business) count(order string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runs[order]
}

func page(w http.ResponseWriter, r *http.Request) {
	d, ok := middleware.DeliveryFromContext(r.Context())
	if !ok {
		http.Error(w, "no delivery", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "order %s (%s): %s", d.Notification.OutTradeNo, mux.Vars(r)["shop"], d.Outcome)
}

// routers builds the same notify and return routes both ways, on a subrouter
// under /alipay/{shop}.
func routers(m *middleware.Middleware, b *business) map[string]*mux.Router {
	helpers := mux.NewRouter()
	sub := helpers.PathPrefix("/alipay/{shop}").Subrouter()
	alipaymux.HandleNotify(sub, "/notify", m, b)
	alipaymux.HandleReturn(sub, "/return", m, b, http.HandlerFunc(page))

	mw := mux.NewRouter()
	alipay := mw.PathPrefix("/alipay/{shop}").Subrouter()
	notify := alipay.Path("/notify").Subrouter()
	notify.Use(alipaymux.NotifyMiddleware(m))
	notify.Methods(http.MethodPost).Handler(b)
	ret := alipay.Path("/return").Subrouter()
	ret.Use(alipaymux.ReturnMiddleware(m, b))
	ret.Methods(http.MethodGet).HandlerFunc(page)

	return map[string]*mux.Router{"route helpers": helpers, "middleware": mw}
}

func TestNotify(t *testing.T) {
	t.Parallel()
	for name := range routers(nil, nil) {
		t.Run(name, func(t *testing.T) {
			m, s := newMiddleware(t)
			b := newBusiness()
			r := routers(m, b)[name]

			paid := s.NewTrade("MUX-ONCE", "88.88").Paid()
			forged := paid.Tampered("total_amount", "0.01")
			if w := serve(r, forged.Request("/alipay/shop-1/notify")); w.Code != http.StatusBadRequest || w.Body.String() != "fail" {
				t.Fatalf("forged: %d %q", w.Code, w.Body.String())
			}
			if b.count("MUX-ONCE") != 0 {
				t.Fatal("business ran for a forged callback")
			}
			for i := range 3 {
				w := serve(r, paid.Request("/alipay/shop-1/notify"))
				if w.Code != http.StatusOK || w.Body.String() != "success" {
					t.Fatalf("delivery %d: %d %q", i, w.Code, w.Body.String())
				}
			}
			if got := b.count("MUX-ONCE"); got != 1 {
				t.Fatalf("business ran %d times, want 1", got)
			}
			if got := b.shops["MUX-ONCE"]; got != "shop-1" {
				t.Fatalf("mux.Vars in the business handler: shop = %q", got)
			}
			// mux answers a wrong method itself: 405, or 404 inside a
			// subrouter with sibling routes (gorilla/mux#751).
			if w := serve(r, httptest.NewRequest(http.MethodGet, "/alipay/shop-1/notify", nil)); w.Code != http.StatusMethodNotAllowed && w.Code != http.StatusNotFound {
				t.Fatalf("GET notify: %d", w.Code)
			}
		})
	}
}

func TestNotifyFailureThenRetry(t *testing.T) {
	t.Parallel()
	for name := range routers(nil, nil) {
		t.Run(name, func(t *testing.T) {
			m, s := newMiddleware(t)
			b := newBusiness()
			b.fail.Store(1)
			r := routers(m, b)[name]
			paid := s.NewTrade("MUX-RETRY", "1.00").Paid()
			if w := serve(r, paid.Request("/alipay/x/notify")); w.Code != 500 || w.Body.String() != "fail" {
				t.Fatalf("failing business: %d %q", w.Code, w.Body.String())
			}
			if w := serve(r, paid.Request("/alipay/x/notify")); w.Body.String() != "success" || b.count("MUX-RETRY") != 1 {
				t.Fatalf("retry: %q, runs %d", w.Body.String(), b.count("MUX-RETRY"))
			}
		})
	}
}

func TestReturn(t *testing.T) {
	t.Parallel()
	for name := range routers(nil, nil) {
		t.Run(name, func(t *testing.T) {
			m, s := newMiddleware(t)
			b := newBusiness()
			r := routers(m, b)[name]
			trade := s.NewTrade("MUX-RET", "9.90")
			ret := trade.Return()
			if w := serve(r, ret.Request("/alipay/shop-2/return")); w.Code != 200 || w.Body.String() != "order MUX-RET (shop-2): handled" {
				t.Fatalf("return: %d %q", w.Code, w.Body.String())
			}
			if w := serve(r, trade.Paid().Request("/alipay/shop-2/notify")); w.Body.String() != "success" {
				t.Fatalf("notify after return: %q", w.Body.String())
			}
			if w := serve(r, ret.Request("/alipay/shop-2/return")); w.Body.String() != "order MUX-RET (shop-2): duplicate" {
				t.Fatalf("reload: %q", w.Body.String())
			}
			if got := b.count("MUX-RET"); got != 1 {
				t.Fatalf("business ran %d times, want 1", got)
			}
			w := serve(r, ret.Tampered("total_amount", "0.01").Request("/alipay/shop-2/return"))
			if w.Code != http.StatusBadRequest {
				t.Fatalf("forged return: %d %q", w.Code, w.Body.String())
			}
			if w := serve(r, httptest.NewRequest(http.MethodPost, "/alipay/shop-2/return", nil)); w.Code != http.StatusMethodNotAllowed && w.Code != http.StatusNotFound {
				t.Fatalf("POST return: %d", w.Code)
			}
		})
	}
}

func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	// The business keeps the claim until every delivery has been verified,
	// so that the others arrive while it runs.
	const n = 10
	var verified atomic.Int32
	allVerified := make(chan struct{})
	m, s := newMiddleware(t, middleware.Hooks{Verified: func(context.Context, *alipaynotify.Notification) {
		if verified.Add(1) == n {
			close(allVerified)
		}
	}})
	var runs atomic.Int32
	r := mux.NewRouter()
	alipaymux.HandleNotify(r.PathPrefix("/alipay").Subrouter(), "/notify", m, middleware.HandlerFunc(func(context.Context, *alipaynotify.Notification) error {
		<-allVerified
		runs.Add(1)
		return nil
	}))
	srv := httptest.NewServer(r)
	defer srv.Close()
	paid := s.NewTrade("MUX-CONC", "1.00").Paid()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			req, err := paid.ClientRequest(context.Background(), srv.URL+"/alipay/notify")
			if err != nil {
				errs <- err
				return
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			if body, _ := io.ReadAll(resp.Body); string(body) != "success" {
				errs <- errors.New("answered " + string(body))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := runs.Load(); got != 1 {
		t.Fatalf("business ran %d times, want 1", got)
	}
}

func TestFromContextNeverPanics(t *testing.T) {
	t.Parallel()
	if _, ok := alipaymux.FromContext(nil); ok {
		t.Fatal("FromContext(nil) reported a notification")
	}
	if _, ok := alipaymux.DeliveryFromContext(httptest.NewRequest(http.MethodGet, "/", nil)); ok {
		t.Fatal("DeliveryFromContext of a bare request reported a delivery")
	}
	n := &alipaynotify.Notification{OutTradeNo: "MUX-CTX"}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req = req.WithContext(middleware.NewContext(req.Context(), n))
	if got, ok := alipaymux.FromContext(req); !ok || got != n {
		t.Fatal("middleware.NewContext not visible through alipaymux.FromContext")
	}
}
