package alipayops_test

import (
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
	"github.com/alipaynotify/alipaynotify/middleware"
	alipayops "github.com/alipaynotify/alipaynotify/ops"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// shop is a merchant's business handler that counts its runs per event and
// fails with failWith while that is set.
type shop struct {
	mu       sync.Mutex
	runs     map[string]int
	failWith error
	// started and release, when set, make each run say it started and wait
	// to be released.
	started, release chan struct{}
}

func newShop() *shop { return &shop{runs: map[string]int{}} }

func (s *shop) handle(_ context.Context, n *alipaynotify.Notification) error {
	if s.started != nil {
		s.started <- struct{}{}
		<-s.release
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWith != nil {
		return s.failWith
	}
	s.runs[n.Event().String()]++
	return nil
}

func (s *shop) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith = err
}

func (s *shop) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := 0
	for _, n := range s.runs {
		t += n
	}
	return t
}

// env is a merchant: a middleware over a store, its notify endpoint and
// its ops page.
type env struct {
	signer *alipaytest.Signer
	mw     *middleware.Middleware
	shop   *shop
	notify http.Handler
	ops    http.Handler
	logs   *strings.Builder
}

type envOptions struct {
	store   dedupe.Store
	actions bool
	actor   func(*http.Request) string
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	s := alipaytest.NewSigner(alipaytest.TestKey())
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{s.PublicKeyPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, nil))
	mw, err := middleware.New(middleware.Options{Verifier: v, Store: o.store, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mw.Wait)
	e := &env{signer: s, mw: mw, shop: newShop(), logs: logs}
	business := middleware.HandlerFunc(e.shop.handle)
	e.notify = mw.Notify(business)
	if o.actor == nil {
		o.actor = func(*http.Request) string { return "ops-alice" }
	}
	e.ops, err = alipayops.Handler(alipayops.Options{Middleware: mw, Business: business, AllowActions: o.actions, Actor: o.actor, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// deliver posts m to the notify endpoint and returns the answer's body.
func (e *env) deliver(t *testing.T, m *alipaytest.Message) string {
	t.Helper()
	w := httptest.NewRecorder()
	e.notify.ServeHTTP(w, m.Request("/alipay/notify"))
	return w.Body.String()
}

// do serves one request to the ops page.
func (e *env) do(method, target string, form url.Values, header http.Header) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	e.ops.ServeHTTP(w, r)
	return w
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// session opens the page at target as a browser would and returns its
// session cookie and the form token it embeds.
func (e *env) session(t *testing.T, target string) (cookie, token string) {
	t.Helper()
	w := e.do("GET", target, nil, nil)
	m := tokenRE.FindStringSubmatch(w.Body.String())
	if w.Code != 200 || m == nil {
		t.Fatalf("GET %s: %d, no token in\n%s", target, w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == "alipayops_session" {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict", c)
			}
			return c.Name + "=" + c.Value, html.UnescapeString(m[1])
		}
	}
	t.Fatalf("GET %s set no session cookie", target)
	return "", ""
}

const merchant = alipaytest.DefaultAppID

// fixture makes a merchant with a handled order ORDER-OK and a dead letter
// for ORDER-DL, whose handler failed with a hostile error message.
func fixture(t *testing.T, o envOptions) *env {
	t.Helper()
	e := newEnv(t, o)
	if got := e.deliver(t, e.signer.NewTrade("ORDER-OK", "9.90").Paid()); got != "success" {
		t.Fatalf("ORDER-OK: %q", got)
	}
	e.shop.fail(errors.New(`db down <img src=x onerror=alert(1)>`))
	if got := e.deliver(t, e.signer.NewTrade("ORDER-DL", "12.00").Paid()); got != "fail" {
		t.Fatalf("ORDER-DL: %q", got)
	}
	e.shop.fail(nil)
	return e
}

func TestHandlerOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	biz := middleware.HandlerFunc(e.shop.handle)
	actor := func(*http.Request) string { return "x" }
	for _, tc := range []struct {
		name string
		opts alipayops.Options
		ok   bool
	}{
		{"no middleware", alipayops.Options{}, false},
		{"read-only", alipayops.Options{Middleware: e.mw}, true},
		{"actions without business", alipayops.Options{Middleware: e.mw, AllowActions: true, Actor: actor}, false},
		{"actions without actor", alipayops.Options{Middleware: e.mw, AllowActions: true, Business: biz}, false},
		{"negative MaxListed", alipayops.Options{Middleware: e.mw, MaxListed: -1}, false},
		{"actions", alipayops.Options{Middleware: e.mw, AllowActions: true, Business: biz, Actor: actor}, true},
	} {
		h, err := alipayops.Handler(tc.opts)
		if tc.ok != (err == nil) || tc.ok != (h != nil) {
			t.Errorf("%s: %v, %v", tc.name, h, err)
		}
		if !tc.ok && !errors.Is(err, alipayops.ErrConfig) {
			t.Errorf("%s: %v does not wrap ErrConfig", tc.name, err)
		}
	}
}

// TestReadRoutes: every page a read-only operator sees, with bad input,
// unknown orders and hostile strings, and the security headers of each.
func TestReadRoutes(t *testing.T) {
	t.Parallel()
	e := fixture(t, envOptions{})
	for _, tc := range []struct {
		name, method, target string
		status               int
		want, wantNot        []string
	}{
		{"home", "GET", "/", 200, []string{"查询订单", "Look up an order", `value="` + merchant + `"`, "Read-only"}, []string{`method="post"`}},
		{"handled order", "GET", "/trade?merchant=" + merchant + "&order=ORDER-OK", 200,
			[]string{"TRADE_SUCCESS", "已处理 done", "北京时间", ">notify<"}, []string{`method="post"`, "Forget"}},
		{"failed order", "GET", "/trade?order=ORDER-DL", 200,
			[]string{"失败 failed", "1 次 attempts", "db down &lt;img src=x onerror=alert(1)&gt;"}, []string{"<img", `method="post"`}},
		{"unknown order", "GET", "/trade?merchant=" + merchant + "&order=NOPE-1", 404, []string{"No record of order NOPE-1"}, nil},
		{"hostile order", "GET", "/trade?order=" + url.QueryEscape(`<script>alert(1)</script>`), 404,
			[]string{"&lt;script&gt;alert(1)&lt;/script&gt;"}, []string{"<script>"}},
		{"no order", "GET", "/trade?merchant=" + merchant, 400, []string{"Enter the order&#39;s out_trade_no"}, nil},
		{"order too long", "GET", "/trade?order=" + strings.Repeat("9", alipayops.MaxOutTradeNo+1), 400, []string{"Not a valid out_trade_no"}, nil},
		{"control character", "GET", "/trade?order=A%00B", 400, []string{"Not a valid out_trade_no"}, nil},
		{"unknown merchant", "GET", "/trade?merchant=" + url.QueryEscape(`2088"><b>`) + "&order=ORDER-OK", 400,
			[]string{"Unknown merchant: 2088&#34;&gt;&lt;b&gt;"}, []string{"<b>"}},
		{"dead letters", "GET", "/deadletters", 200,
			[]string{"ORDER-DL", "TRADE_SUCCESS", "<td>1</td>", "db down &lt;img"}, []string{"<img", "ORDER-OK", "Replay all", "notify_id", "sign="}},
		{"unknown page", "GET", "/admin", 404, nil, nil},
		{"POST to a page", "POST", "/trade", 405, nil, nil},
		{"GET an action", "GET", "/replay", 405, nil, nil},
		{"GET replay-all", "GET", "/replay-all", 405, nil, nil},
		{"GET forget", "GET", "/forget", 405, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(tc.method, tc.target, nil, nil)
			body := w.Body.String()
			if w.Code != tc.status {
				t.Fatalf("%s %s: %d, want %d\n%s", tc.method, tc.target, w.Code, tc.status, body)
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("missing %q in\n%s", s, body)
				}
			}
			for _, s := range tc.wantNot {
				if strings.Contains(body, s) {
					t.Errorf("unexpected %q in\n%s", s, body)
				}
			}
			h := w.Header()
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if h.Get("Cache-Control") != "no-store" || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v", h)
			}
		})
	}
}

// TestReadOnlyRefusesActions: without AllowActions every action is refused
// with 403, whatever it carries, and runs nothing.
func TestReadOnlyRefusesActions(t *testing.T) {
	t.Parallel()
	e := fixture(t, envOptions{})
	trade := dedupe.TradeOf(merchant, "ORDER-DL")
	for _, target := range []string{"/replay", "/replay-all", "/forget"} {
		form := url.Values{"trade": {trade}, "id": {"TRADE_SUCCESS"}, "merchant": {merchant}, "order": {"ORDER-OK"}, "confirm": {"yes"}, "csrf": {"x"}}
		if w := e.do("POST", target, form, nil); w.Code != 403 || !strings.Contains(w.Body.String(), "read-only") {
			t.Errorf("POST %s: %d\n%s", target, w.Code, w.Body)
		}
	}
	if e.shop.total() != 1 {
		t.Errorf("handler ran %d times, want 1 (ORDER-OK only)", e.shop.total())
	}
	if dls, err := e.mw.DeadLetters(context.Background(), 10); err != nil || len(dls) != 1 {
		t.Errorf("dead letters: %v %v", dls, err)
	}
}

// TestActionCSRF: an action needs the token of the browser's own session
// and a same-origin request; anything else is refused with 403 and runs
// nothing.
func TestActionCSRF(t *testing.T) {
	t.Parallel()
	e := fixture(t, envOptions{actions: true})
	cookie, token := e.session(t, "/deadletters")
	otherCookie, otherToken := e.session(t, "/deadletters")
	if otherCookie == cookie || otherToken == token {
		t.Fatal("two sessions share a cookie or a token")
	}
	trade := dedupe.TradeOf(merchant, "ORDER-DL")
	form := func(tok string) url.Values {
		return url.Values{"trade": {trade}, "id": {"TRADE_SUCCESS"}, "csrf": {tok}}
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"no token", url.Values{"trade": {trade}, "id": {"TRADE_SUCCESS"}}, hdr("Cookie", cookie)},
		{"no cookie", form(token), nil},
		{"wrong token", form(token[:len(token)-2] + "AA"), hdr("Cookie", cookie)},
		{"another session's token", form(otherToken), hdr("Cookie", cookie)},
		{"malformed cookie", form(token), hdr("Cookie", "alipayops_session=abc")},
		{"cross-site fetch", form(token), hdr("Cookie", cookie, "Sec-Fetch-Site", "cross-site")},
		{"foreign origin", form(token), hdr("Cookie", cookie, "Origin", "https://evil.example")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do("POST", "/replay", tc.form, tc.header)
			if w.Code != 403 || !strings.Contains(w.Body.String(), "security token") {
				t.Errorf("%d\n%s", w.Code, w.Body)
			}
		})
	}
	if e.shop.total() != 1 {
		t.Fatalf("a refused action ran the handler: %d runs", e.shop.total())
	}
	// The same request with the session's token goes through.
	w := e.do("POST", "/replay", form(token), hdr("Cookie", cookie, "Sec-Fetch-Site", "same-origin", "Origin", "http://example.com"))
	if w.Code != 200 || !strings.Contains(w.Body.String(), ">handled<") || e.shop.total() != 2 {
		t.Fatalf("a valid replay: %d, %d runs\n%s", w.Code, e.shop.total(), w.Body)
	}
}

// TestActions: replay one, replay all, forget, each with bad input, and
// the log of who did what.
func TestActions(t *testing.T) {
	t.Parallel()
	e := fixture(t, envOptions{actions: true})
	cookie, token := e.session(t, "/trade?order=ORDER-OK")
	post := func(target string, form url.Values) *httptest.ResponseRecorder {
		form.Set("csrf", token)
		return e.do("POST", target, form, http.Header{"Cookie": {cookie}})
	}
	trade := dedupe.TradeOf(merchant, "ORDER-DL")
	for _, tc := range []struct {
		name, target string
		form         url.Values
		status       int
		want         string
	}{
		{"replay without event", "/replay", url.Values{"trade": {trade}}, 400, "Name the event to replay"},
		{"replay unknown", "/replay", url.Values{"trade": {trade}, "id": {"TRADE_CLOSED"}}, 404, "No such dead letter"},
		{"replay hostile", "/replay", url.Values{"trade": {merchant + "|<i>x</i>"}, "id": {"<b>"}}, 404, "&lt;i&gt;x&lt;/i&gt; &lt;b&gt;"},
		{"forget without confirmation", "/forget", url.Values{"order": {"ORDER-OK"}, "id": {"TRADE_SUCCESS"}}, 400, "Tick the confirmation"},
		{"forget without event", "/forget", url.Values{"order": {"ORDER-OK"}, "confirm": {"yes"}}, 400, "Name the event to forget"},
		{"forget without order", "/forget", url.Values{"id": {"TRADE_SUCCESS"}, "confirm": {"yes"}}, 400, "out_trade_no"},
		{"forget an event never done", "/forget", url.Values{"order": {"ORDER-OK"}, "id": {"TRADE_CLOSED"}, "confirm": {"yes"}}, 200, "TRADE_CLOSED was not done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := post(tc.target, tc.form)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Errorf("%d, want %d with %q\n%s", w.Code, tc.status, tc.want, w.Body)
			}
		})
	}
	if e.shop.total() != 1 {
		t.Fatalf("bad actions ran the handler: %d runs", e.shop.total())
	}

	// Replay all: the one dead letter runs once, and the list is empty.
	w := post("/replay-all", url.Values{})
	if w.Code != 200 || !strings.Contains(w.Body.String(), ">handled<") || !strings.Contains(w.Body.String(), "Replayed 1 of 1") || e.shop.total() != 2 {
		t.Fatalf("replay all: %d, %d runs\n%s", w.Code, e.shop.total(), w.Body)
	}
	e.mw.Wait()
	if w := e.do("GET", "/deadletters", nil, nil); !strings.Contains(w.Body.String(), "No dead letters") {
		t.Errorf("dead letters after replay all:\n%s", w.Body)
	}
	// Forget ORDER-OK's payment: the next delivery runs the handler again.
	w = post("/forget", url.Values{"order": {"ORDER-OK"}, "id": {"TRADE_SUCCESS"}, "confirm": {"yes"}})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Forgot TRADE_SUCCESS") {
		t.Fatalf("forget: %d\n%s", w.Code, w.Body)
	}
	if got := e.deliver(t, e.signer.NewTrade("ORDER-OK", "9.90").Paid()); got != "success" || e.shop.total() != 3 {
		t.Fatalf("redelivery after forget: %q, %d runs", got, e.shop.total())
	}
	logs := e.logs.String()
	for _, s := range []string{"actor=ops-alice", "replayed a dead letter", "outcome=handled", "forgot a handled event"} {
		if !strings.Contains(logs, s) {
			t.Errorf("the log lacks %q:\n%s", s, logs)
		}
	}
}

// TestActionNeedsActor: an action whose Actor cannot tell who asks is
// refused.
func TestActionNeedsActor(t *testing.T) {
	t.Parallel()
	e := fixture(t, envOptions{actions: true, actor: func(r *http.Request) string { return r.Header.Get("X-User") }})
	cookie, token := e.session(t, "/deadletters")
	form := url.Values{"trade": {dedupe.TradeOf(merchant, "ORDER-DL")}, "id": {"TRADE_SUCCESS"}, "csrf": {token}}
	if w := e.do("POST", "/replay", form, http.Header{"Cookie": {cookie}}); w.Code != 403 || !strings.Contains(w.Body.String(), "unknown") {
		t.Errorf("no actor: %d\n%s", w.Code, w.Body)
	}
	if w := e.do("POST", "/replay", form, http.Header{"Cookie": {cookie}, "X-User": {"ops-bob"}}); w.Code != 200 || e.shop.total() != 2 {
		t.Errorf("with an actor: %d, %d runs\n%s", w.Code, e.shop.total(), w.Body)
	}
}

// unsupported is a dedupe.Store without the operator interfaces.
type unsupported struct{ dedupe.Store }

// TestUnsupportedStore: a store without Inspector and DeadLetterStore gets a
// clear page, not a crash.
func TestUnsupportedStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{store: unsupported{dedupe.NewMemoryStore()}})
	for _, target := range []string{"/trade?order=ORDER-1", "/deadletters"} {
		if w := e.do("GET", target, nil, nil); w.Code != 501 || !strings.Contains(w.Body.String(), "does not support") {
			t.Errorf("GET %s: %d\n%s", target, w.Code, w.Body)
		}
	}
}

// TestInFlight: an order whose handler is running shows in flight, with the
// lease left.
func TestInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.shop.started, e.shop.release = make(chan struct{}), make(chan struct{})
	done := make(chan string)
	go func() { done <- e.deliver(t, e.signer.NewTrade("ORDER-RUN", "3.00").Paid()) }()
	<-e.shop.started
	w := e.do("GET", "/trade?order=ORDER-RUN", nil, nil)
	close(e.shop.release)
	if got := <-done; got != "success" {
		t.Errorf("the delivery answered %q", got)
	}
	if body := w.Body.String(); w.Code != 200 || !strings.Contains(body, "处理中 in flight") || !strings.Contains(body, "lease left") {
		t.Errorf("%d\n%s", w.Code, body)
	}
}
