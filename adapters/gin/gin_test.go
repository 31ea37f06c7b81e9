package alipaygin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/alipaynotify/alipaynotify"
	alipaygin "github.com/alipaynotify/alipaynotify/adapters/gin"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// newMiddleware returns a middleware that accepts the default test signer's
// callbacks, and that signer.
func newMiddleware(t testing.TB, opts middleware.Options) (*middleware.Middleware, *alipaytest.Signer) {
	t.Helper()
	s := alipaytest.NewSigner(alipaytest.TestKey())
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{s.PublicKeyPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	opts.Verifier = v
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
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

// counter counts business runs per out_trade_no.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *counter) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[string]int{}
	}
	c.runs[key]++
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[key]
}

func TestNotifyOncePerEvent(t *testing.T) {
	t.Parallel()
	m, s := newMiddleware(t, middleware.Options{})
	var runs counter
	var after atomic.Int32
	r := gin.New()
	alipay := r.Group("/alipay")
	alipay.POST("/notify", alipaygin.NotifyMiddleware(m),
		func(c *gin.Context) {
			n, ok := alipaygin.FromContext(c)
			if !ok {
				c.AbortWithStatus(http.StatusInternalServerError)
				return
			}
			runs.add(n.OutTradeNo)
			// Alipay must never see this.
			c.Header("X-Business", "1")
			c.JSON(http.StatusCreated, gin.H{"order": n.OutTradeNo})
		},
		func(c *gin.Context) { after.Add(1) },
	)

	paid := s.NewTrade("GIN-ONCE", "88.88").Paid()
	for i := range 3 {
		w := serve(r, paid.Request("/alipay/notify"))
		if w.Code != http.StatusOK || w.Body.String() != "success" {
			t.Fatalf("delivery %d: %d %q", i, w.Code, w.Body.String())
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("delivery %d: Content-Type %q", i, ct)
		}
		if w.Header().Get("X-Business") != "" {
			t.Fatalf("delivery %d: the business handler's header leaked to Alipay", i)
		}
	}
	if got := runs.get("GIN-ONCE"); got != 1 {
		t.Fatalf("business ran %d times, want 1", got)
	}
	if got := after.Load(); got != 1 {
		t.Fatalf("the handler after the business ran %d times, want 1", got)
	}
}

func TestNotifyConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	// The business keeps the claim until every delivery has been verified,
	// so that the others arrive while it runs.
	const n = 10
	var verified atomic.Int32
	allVerified := make(chan struct{})
	m, s := newMiddleware(t, middleware.Options{Hooks: middleware.Hooks{Verified: func(context.Context, *alipaynotify.Notification) {
		if verified.Add(1) == n {
			close(allVerified)
		}
	}}})
	var runs atomic.Int32
	r := gin.New()
	r.POST("/alipay/notify", alipaygin.NotifyMiddleware(m), func(c *gin.Context) {
		<-allVerified
		runs.Add(1)
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	paid := s.NewTrade("GIN-CONC", "1.00").Paid()
	var wg sync.WaitGroup
	bodies := make([]string, n)
	for i := range n {
		wg.Go(func() {
			req, err := paid.ClientRequest(context.Background(), srv.URL+"/alipay/notify")
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			bodies[i] = string(b)
		})
	}
	wg.Wait()
	for i, b := range bodies {
		if b != "success" {
			t.Errorf("delivery %d answered %q", i, b)
		}
	}
	if got := runs.Load(); got != 1 {
		t.Fatalf("business ran %d times, want 1", got)
	}
}

func TestNotifyRejectedAborts(t *testing.T) {
	t.Parallel()
	m, s := newMiddleware(t, middleware.Options{})
	var business, after atomic.Int32
	var aborted atomic.Bool
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Next()
		aborted.Store(c.IsAborted())
	})
	r.POST("/alipay/notify", alipaygin.NotifyMiddleware(m),
		func(c *gin.Context) { business.Add(1) },
		func(c *gin.Context) { after.Add(1) },
	)
	r.GET("/alipay/notify", alipaygin.NotifyMiddleware(m), func(c *gin.Context) { business.Add(1) })

	paid := s.NewTrade("GIN-FORGED", "100.00").Paid()
	cases := []struct {
		name string
		req  *http.Request
		code int
	}{
		{"forged amount", paid.Tampered("total_amount", "0.01").Request("/alipay/notify"), http.StatusBadRequest},
		{"wrong key", alipaytest.NewSigner(alipaytest.SecondTestKey()).Paid("GIN-FORGED-2", "1.00").Request("/alipay/notify"), http.StatusBadRequest},
		{"garbage", httptest.NewRequest(http.MethodPost, "/alipay/notify", strings.NewReader("%%%")), http.StatusBadRequest},
		{"wrong method", httptest.NewRequest(http.MethodGet, "/alipay/notify", nil), http.StatusMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			aborted.Store(false)
			w := serve(r, tc.req)
			if w.Code != tc.code || w.Body.String() != "fail" {
				t.Fatalf("got %d %q, want %d \"fail\"", w.Code, w.Body.String(), tc.code)
			}
			if !aborted.Load() {
				t.Fatal("the context was not aborted")
			}
		})
	}
	if business.Load() != 0 || after.Load() != 0 {
		t.Fatalf("later handlers ran (business %d, after %d) for rejected callbacks", business.Load(), after.Load())
	}

	// A duplicate is answered by the middleware too: later handlers stop.
	for range 2 {
		if w := serve(r, paid.Request("/alipay/notify")); w.Body.String() != "success" {
			t.Fatalf("genuine: %d %q", w.Code, w.Body.String())
		}
		if !aborted.Load() {
			t.Fatal("the context was not aborted after the genuine delivery")
		}
	}
	if business.Load() != 1 || after.Load() != 1 {
		t.Fatalf("business ran %d times, after %d times; want 1 and 1", business.Load(), after.Load())
	}
}

// TestNotifyOutcome checks how what the later gin handlers do becomes the
// business outcome, and that a failure lets Alipay's retry run them again.
func TestNotifyOutcome(t *testing.T) {
	t.Parallel()
	errDB := errors.New("database down")
	cases := []struct {
		name   string
		fail   gin.HandlerFunc // what the business does on its first run
		failed bool
		cause  error // expected in the Failed hook's error
	}{
		{"nothing written", func(c *gin.Context) {}, false, nil},
		{"200 body", func(c *gin.Context) { c.String(http.StatusOK, "ok") }, false, nil},
		{"204", func(c *gin.Context) { c.Status(http.StatusNoContent) }, false, nil},
		{"abort alone", func(c *gin.Context) { c.Abort() }, false, nil},
		{"abort with 500", func(c *gin.Context) { c.AbortWithStatus(http.StatusInternalServerError) }, true, middleware.ErrHandlerStatus},
		{"status 503 unwritten", func(c *gin.Context) { c.Status(http.StatusServiceUnavailable) }, true, middleware.ErrHandlerStatus},
		{"json 409", func(c *gin.Context) { c.JSON(http.StatusConflict, gin.H{"error": "x"}) }, true, middleware.ErrHandlerStatus},
		{"c.Error with 200", func(c *gin.Context) { _ = c.Error(errDB); c.String(http.StatusOK, "ok") }, true, errDB},
		{"abort with error", func(c *gin.Context) { _ = c.AbortWithError(http.StatusBadGateway, errDB) }, true, errDB},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var failedErr error
			m, s := newMiddleware(t, middleware.Options{Hooks: middleware.Hooks{
				Failed: func(_ context.Context, _ *alipaynotify.Notification, err error, _ time.Duration) { failedErr = err },
			}})
			var runs, afterRuns int
			r := gin.New()
			r.POST("/n", alipaygin.NotifyMiddleware(m), func(c *gin.Context) {
				runs++
				if runs == 1 {
					tc.fail(c)
				}
			}, func(c *gin.Context) { afterRuns++ })

			paid := s.NewTrade(fmt.Sprintf("GIN-OUT-%d", i), "1.00").Paid()
			w := serve(r, paid.Request("/n"))
			if tc.failed {
				if w.Code != http.StatusInternalServerError || w.Body.String() != "fail" {
					t.Fatalf("first delivery: %d %q, want 500 \"fail\"", w.Code, w.Body.String())
				}
				if !errors.Is(failedErr, tc.cause) {
					t.Fatalf("Failed hook got %v, want %v", failedErr, tc.cause)
				}
				w = serve(r, paid.Request("/n"))
				if w.Code != http.StatusOK || w.Body.String() != "success" {
					t.Fatalf("retry: %d %q", w.Code, w.Body.String())
				}
				if runs != 2 {
					t.Fatalf("business ran %d times, want 2 (failure, then retry)", runs)
				}
				return
			}
			if w.Code != http.StatusOK || w.Body.String() != "success" {
				t.Fatalf("got %d %q, want 200 \"success\"", w.Code, w.Body.String())
			}
			if serve(r, paid.Request("/n")).Body.String() != "success" || runs != 1 {
				t.Fatalf("duplicate: business ran %d times, want 1", runs)
			}
		})
	}
}

func TestNotifyPanicReleasesClaim(t *testing.T) {
	t.Parallel()
	m, s := newMiddleware(t, middleware.Options{})
	var runs int
	r := gin.New()
	r.Use(gin.CustomRecovery(func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusInternalServerError) }))
	r.POST("/n", alipaygin.NotifyMiddleware(m), func(c *gin.Context) {
		runs++
		if runs == 1 {
			c.String(http.StatusOK, "half written")
			panic("boom")
		}
	})
	paid := s.NewTrade("GIN-PANIC", "1.00").Paid()
	w := serve(r, paid.Request("/n"))
	if w.Code != http.StatusInternalServerError || w.Body.String() == "success" {
		t.Fatalf("panicking business: %d %q", w.Code, w.Body.String())
	}
	if w = serve(r, paid.Request("/n")); w.Body.String() != "success" || runs != 2 {
		t.Fatalf("retry after panic: %q, runs %d", w.Body.String(), runs)
	}
}

func TestNotifyContext(t *testing.T) {
	t.Parallel()
	m, s := newMiddleware(t, middleware.Options{})
	type seen struct {
		gin, std, ginD *alipaynotify.Notification
		token          string
		ctxErr         error
	}
	var got seen
	var outerCtxErr error
	var outerRequestHasNotification bool
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Next()
		// After the chain, c.Request is the caller's again, not the claim's
		// (cancelled) one.
		outerCtxErr = c.Request.Context().Err()
		_, outerRequestHasNotification = middleware.FromContext(c.Request.Context())
	})
	g := r.Group("/alipay")
	g.POST("/notify", alipaygin.NotifyMiddleware(m), func(c *gin.Context) {
		got.gin, _ = alipaygin.FromContext(c)
		got.std, _ = middleware.FromContext(c.Request.Context())
		if d, ok := alipaygin.DeliveryFromContext(c); ok {
			got.ginD, got.token = d.Notification, d.ClaimToken
		}
		got.ctxErr = c.Request.Context().Err()
	})
	paid := s.NewTrade("GIN-CTX", "12.34").Paid()
	if w := serve(r, paid.Request("/alipay/notify")); w.Body.String() != "success" {
		t.Fatalf("%d %q", w.Code, w.Body.String())
	}
	if got.gin == nil || got.gin.OutTradeNo != "GIN-CTX" || got.gin.TotalAmount.String() != "12.34" {
		t.Fatalf("alipaygin.FromContext: %+v", got.gin)
	}
	if got.std != got.gin || got.ginD != got.gin {
		t.Fatal("middleware.FromContext, alipaygin.FromContext and DeliveryFromContext disagree")
	}
	if got.token == "" {
		t.Fatal("no claim token in the delivery")
	}
	if got.ctxErr != nil {
		t.Fatalf("the business saw a done context: %v", got.ctxErr)
	}
	if outerCtxErr != nil || outerRequestHasNotification {
		t.Fatalf("after Notify, the outer middleware sees ctx err %v, notification %v", outerCtxErr, outerRequestHasNotification)
	}
}

func TestFromContextNeverPanics(t *testing.T) {
	t.Parallel()
	if _, ok := alipaygin.FromContext(nil); ok {
		t.Fatal("nil context")
	}
	if _, ok := alipaygin.DeliveryFromContext(&gin.Context{}); ok {
		t.Fatal("zero context")
	}
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	if _, ok := alipaygin.FromContext(c); ok {
		t.Fatal("plain request")
	}
	// A handler unit test: middleware.NewContext is enough.
	n := &alipaynotify.Notification{OutTradeNo: "UNIT"}
	c.Request = c.Request.WithContext(middleware.NewContext(c.Request.Context(), n))
	if got, ok := alipaygin.FromContext(c); !ok || got != n {
		t.Fatal("middleware.NewContext not visible through alipaygin.FromContext")
	}
}

func TestNotifyRouteHandler(t *testing.T) {
	t.Parallel()
	m, s := newMiddleware(t, middleware.Options{})
	var runs, fails atomic.Int32
	fails.Store(1)
	var after atomic.Int32
	r := gin.New()
	r.Group("/alipay").POST("/notify", alipaygin.Notify(m, middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		if fails.Add(-1) >= 0 {
			return errors.New("database down")
		}
		if d, ok := middleware.DeliveryFromContext(ctx); !ok || d.Notification != n {
			return errors.New("no delivery in the context")
		}
		runs.Add(1)
		return nil
	})), func(c *gin.Context) { after.Add(1) })

	paid := s.NewTrade("GIN-TYPED", "5.00").Paid()
	want := []struct {
		code int
		body string
	}{{500, "fail"}, {200, "success"}, {200, "success"}}
	for i, w := range want {
		got := serve(r, paid.Request("/alipay/notify"))
		if got.Code != w.code || got.Body.String() != w.body {
			t.Fatalf("delivery %d: %d %q, want %d %q", i, got.Code, got.Body.String(), w.code, w.body)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("business succeeded %d times, want 1", runs.Load())
	}
	if after.Load() != 0 {
		t.Fatal("a handler after Notify ran")
	}
	if w := serve(r, paid.Tampered("out_trade_no", "OTHER").Request("/alipay/notify")); w.Body.String() != "fail" {
		t.Fatalf("forged: %q", w.Body.String())
	}
}

// TestReturn checks both return shapes: the page sees the outcome, the return
// and the notify of one trade run the business once between them, and an
// unverifiable return never reaches the page.
func TestReturn(t *testing.T) {
	t.Parallel()
	shapes := []struct {
		name  string
		route func(g *gin.RouterGroup, m *middleware.Middleware, business http.Handler, page gin.HandlerFunc)
	}{
		{"Return", func(g *gin.RouterGroup, m *middleware.Middleware, business http.Handler, page gin.HandlerFunc) {
			g.POST("/notify", alipaygin.Notify(m, business))
			g.GET("/return", alipaygin.Return(m, business, page))
		}},
		{"Return middleware", func(g *gin.RouterGroup, m *middleware.Middleware, business http.Handler, page gin.HandlerFunc) {
			g.POST("/notify", alipaygin.Notify(m, business))
			g.GET("/return", alipaygin.ReturnMiddleware(m, business), page)
		}},
		{"HandleReturn", func(g *gin.RouterGroup, m *middleware.Middleware, business http.Handler, page gin.HandlerFunc) {
			alipaygin.HandleNotify(g, "/notify", m, business)
			alipaygin.HandleReturn(g, "/return", m, business, page)
		}},
	}
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			m, s := newMiddleware(t, middleware.Options{})
			var runs counter
			var pages atomic.Int32
			business := middleware.HandlerFunc(func(_ context.Context, n *alipaynotify.Notification) error {
				runs.add(n.OutTradeNo)
				return nil
			})
			r := gin.New()
			g := r.Group("/alipay")
			shape.route(g, m, business, func(c *gin.Context) {
				pages.Add(1)
				d, ok := alipaygin.DeliveryFromContext(c)
				std, _ := middleware.FromContext(c.Request.Context())
				if !ok || std != d.Notification {
					c.String(http.StatusInternalServerError, "no delivery")
					return
				}
				c.String(http.StatusOK, "order %s: %s", d.Notification.OutTradeNo, d.Outcome)
			})

			trade := s.NewTrade("GIN-RET", "9.90")
			ret := trade.Return()
			if w := serve(r, ret.Request("/alipay/return")); w.Code != 200 || w.Body.String() != "order GIN-RET: handled" {
				t.Fatalf("first return: %d %q", w.Code, w.Body.String())
			}
			if w := serve(r, trade.Paid().Request("/alipay/notify")); w.Body.String() != "success" {
				t.Fatalf("notify after return: %q", w.Body.String())
			}
			if w := serve(r, ret.Request("/alipay/return")); w.Body.String() != "order GIN-RET: duplicate" {
				t.Fatalf("reload: %d %q", w.Code, w.Body.String())
			}
			if got := runs.get("GIN-RET"); got != 1 {
				t.Fatalf("business ran %d times, want 1", got)
			}
			n := pages.Load()
			w := serve(r, ret.Tampered("total_amount", "0.01").Request("/alipay/return"))
			if w.Code != http.StatusBadRequest || pages.Load() != n {
				t.Fatalf("forged return: %d %q, page ran: %v", w.Code, w.Body.String(), pages.Load() != n)
			}
		})
	}
}

// TestResponseController checks that a business handler can still extend its
// write deadline through http.ResponseController, while Flush and Hijack
// cannot send anything to Alipay early.
func TestResponseController(t *testing.T) {
	t.Parallel()
	m, s := newMiddleware(t, middleware.Options{})
	var deadlineErr, hijackErr error
	r := gin.New()
	r.POST("/n", alipaygin.NotifyMiddleware(m), func(c *gin.Context) {
		rc := http.NewResponseController(c.Writer)
		deadlineErr = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		c.String(http.StatusOK, "early")
		if err := rc.Flush(); err != nil {
			_ = c.Error(err)
		}
		_, _, hijackErr = rc.Hijack()
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	req, err := s.NewTrade("GIN-RC", "1.00").Paid().ClientRequest(context.Background(), srv.URL+"/n")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "success" {
		t.Fatalf("answer %q", b)
	}
	if deadlineErr != nil {
		t.Fatalf("SetWriteDeadline: %v", deadlineErr)
	}
	if hijackErr == nil {
		t.Fatal("Hijack succeeded in a notify's business handler")
	}
}
