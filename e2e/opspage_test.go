package e2e_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
	alipayops "github.com/alipaynotify/alipaynotify/ops"
)

// screenshotEnv names the file the test writes a PNG screenshot of the
// dead-letter list to (docs/ops-page.png for the README):
//
//	ALIPAYNOTIFY_OPS_SCREENSHOT=$PWD/../docs/ops-page.png go test ./...
const screenshotEnv = "ALIPAYNOTIFY_OPS_SCREENSHOT"

// chromiumEnv overrides the browser binary.
const chromiumEnv = "ALIPAYNOTIFY_CHROMIUM"

// chromium returns the path of the browser: $ALIPAYNOTIFY_CHROMIUM, or the
// first of Debian's chromium and its usual other names on $PATH. The test
// fails, never skips, without one: scripts/test.sh installs it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(chromiumEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("no Chromium found: install Debian's chromium package (apt-get install chromium) or set $%s", chromiumEnv)
	return ""
}

// counter is the merchant's business handler: it counts its runs per
// order and fails while told to.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
	fail bool
}

func (c *counter) handle(_ context.Context, n *alipaynotify.Notification) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return errors.New("ledger service timeout: connection refused")
	}
	c.runs[n.OutTradeNo]++
	return nil
}

func (c *counter) setFail(b bool) { c.mu.Lock(); c.fail = b; c.mu.Unlock() }

func (c *counter) count(order string) int { c.mu.Lock(); defer c.mu.Unlock(); return c.runs[order] }

// TestOpsPageInChromium: in a real headless Chromium, an operator searches
// a failed order, opens the dead letters and replays one; the business
// handler runs exactly once and the order shows handled.
func TestOpsPageInChromium(t *testing.T) {
	signer := alipaytest.NewSigner(alipaytest.TestKey())
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{signer.PublicKeyPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	mw, err := middleware.New(middleware.Options{Verifier: v, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	shop := &counter{runs: map[string]int{}}
	business := middleware.HandlerFunc(shop.handle)
	ops, err := alipayops.Handler(alipayops.Options{Middleware: mw, Business: business, AllowActions: true, Logger: logger,
		Actor: func(*http.Request) string { return "e2e-operator" }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/alipay/notify", mw.Notify(business))
	mux.Handle("/ops/", http.StripPrefix("/ops", ops))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer mw.Wait()

	// One handled order, two whose handler failed: two dead letters.
	post := func(m *alipaytest.Message) string {
		resp, err := http.Post(srv.URL+"/alipay/notify", "application/x-www-form-urlencoded", strings.NewReader(string(m.Encode())))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	post(signer.NewTrade("ORDER-WEB-0", "5.00").Paid())
	shop.setFail(true)
	for _, o := range []string{"ORDER-WEB-1", "ORDER-WEB-2"} {
		if got := post(signer.NewTrade(o, "88.80").Paid()); got != "fail" {
			t.Fatalf("%s: %q", o, got)
		}
	}
	post(signer.NewTrade("ORDER-WEB-1", "88.80").Paid()) // Alipay's retry
	shop.setFail(false)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.WindowSize(1200, 860),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox as root
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	defer cancelBrowser()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("Chromium did not start (%s): %v", chromium(t), err)
	}

	text := func(sel string, into *string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			s, err := chromedp.Text(chromedp.CSS(sel))(ctx, tg)
			*into = s
			return chromedp.Void{}, err
		}
	}
	var events, letters, results, after string
	var png []byte
	err = chromedp.Do(ctx,
		// Search the order with the form.
		chromedp.Navigate(srv.URL+"/ops/"),
		chromedp.WaitVisible(chromedp.CSS(`#order`)),
		chromedp.SendKeys(chromedp.CSS(`#order`), "ORDER-WEB-1"),
		chromedp.Click(chromedp.CSS(`#search`)),
		chromedp.WaitVisible(chromedp.CSS(`#events`)),
		text(`#events`, &events),
		// The dead letters, through the header's link.
		chromedp.Click(chromedp.CSS(`header a[href="deadletters"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#letters`)),
		text(`#letters`, &letters),
		func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			var err error
			png, err = chromedp.FullScreenshot(100)(ctx, tg) // quality 100: PNG
			return chromedp.Void{}, err
		},
		// Replay ORDER-WEB-1's.
		chromedp.Click(chromedp.CSS(`#letters tr[data-order="ORDER-WEB-1"] button.replay`)),
		chromedp.WaitVisible(chromedp.CSS(`#results`)),
		text(`#results`, &results),
		// The order now shows handled, by the replay.
		chromedp.Click(chromedp.CSS(`#results a`)),
		chromedp.WaitVisible(chromedp.CSS(`#events`)),
		text(`#events`, &after),
	)
	if err != nil {
		t.Fatalf("in Chromium: %v", err)
	}
	if !strings.Contains(events, "失败 failed") || !strings.Contains(events, "2 次 attempts") || !strings.Contains(events, "ledger service timeout") {
		t.Errorf("the failed order's events:\n%s", events)
	}
	if !strings.Contains(letters, "ORDER-WEB-1") || !strings.Contains(letters, "ORDER-WEB-2") || strings.Contains(letters, "ORDER-WEB-0") {
		t.Errorf("the dead letters:\n%s", letters)
	}
	if !strings.Contains(results, "ORDER-WEB-1") || !strings.Contains(results, "handled") {
		t.Errorf("the replay's result:\n%s", results)
	}
	if !strings.Contains(after, "已处理 done") || !strings.Contains(after, "replay") {
		t.Errorf("the order after the replay:\n%s", after)
	}
	if n := shop.count("ORDER-WEB-1"); n != 1 {
		t.Errorf("the handler ran %d times for ORDER-WEB-1, want exactly 1", n)
	}
	if n := shop.count("ORDER-WEB-2"); n != 0 {
		t.Errorf("the handler ran %d times for ORDER-WEB-2, which nobody replayed", n)
	}
	if path := os.Getenv(screenshotEnv); path != "" {
		if err := os.WriteFile(filepath.Clean(path), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(png))
	}
}
