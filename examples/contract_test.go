// Package examples_test checks the runnable examples from the outside, the
// way Alipay and a buyer's browser see them: each example is built, started
// with nothing but environment variables, and spoken to over HTTP with
// callbacks signed by alipaytest; its business handler's JSON lines on
// standard output tell how often it ran and what it saw.
package examples_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
)

var examples = []string{"nethttp", "gin", "mux"}

var build struct {
	once sync.Once
	dir  string
	out  []byte
	err  error
}

func TestMain(m *testing.M) {
	code := redistest.Run(m)
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// binary returns the path of the built example, building all of them once
// with one go build.
func binary(t *testing.T, name string) string {
	t.Helper()
	build.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			build.err = err
			return
		}
		if build.dir, build.err = os.MkdirTemp("", "alipaynotify-examples-"); build.err != nil {
			return
		}
		args := []string{"build", "-o", build.dir + string(filepath.Separator)}
		if raceEnabled {
			args = append(args, "-race")
		}
		for _, e := range examples {
			args = append(args, "./"+e)
		}
		build.out, build.err = exec.Command(goBin, args...).CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("building the examples: %v\n%s", build.err, build.out)
	}
	return filepath.Join(build.dir, name)
}

// lockedBuffer collects a process's standard error for failure reports.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is one running example.
type server struct {
	url    string
	cmd    *exec.Cmd
	lines  chan string // standard output, line by line
	stderr *lockedBuffer
	exited chan struct{}
	err    error // cmd.Wait's result, once exited is closed
	client *http.Client
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// launch runs bin with env, collecting its standard output line by line
// and its standard error. The process is killed when the test ends.
func launch(t *testing.T, bin string, env []string) *server {
	t.Helper()
	s := &server{
		cmd:    exec.Command(bin),
		lines:  make(chan string, 100),
		stderr: &lockedBuffer{},
		exited: make(chan struct{}),
		client: &http.Client{Timeout: 15 * time.Second},
	}
	s.cmd.Env = env
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	go func() {
		<-scanned // Wait closes stdout: read it all first
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("%s standard error:\n%s", filepath.Base(bin), s.stderr.String())
		}
	})
	return s
}

// start runs an example (a merchant.Serve server) with env and ADDR on
// port 0, and waits until it logs the address it listens on: no other
// process can take that port between a pick and the bind. The process is
// killed when the test ends.
func start(t *testing.T, bin string, env []string) *server {
	t.Helper()
	s := launch(t, bin, append([]string{"ADDR=127.0.0.1:0"}, env...))
	listening := regexp.MustCompile(`msg=listening addr=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listening.FindStringSubmatch(s.stderr.String()); m != nil {
			s.url = "http://" + m[1]
			return s
		}
		select {
		case <-s.exited:
			t.Fatalf("%s exited (%v) before listening:\n%s", bin, s.err, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log its address within 10s:\n%s", bin, s.stderr.String())
		}
		// A poll: standard error is copied by another goroutine, with no signal.
		time.Sleep(20 * time.Millisecond)
	}
}

// startOnFreePort runs bin with env and ADDR on a free port picked first,
// for a program that does not log its address, and waits until it listens.
func startOnFreePort(t *testing.T, bin string, env []string) *server {
	t.Helper()
	var lastErr string
	for attempt := 0; attempt < 3; attempt++ { // the free port may be taken meanwhile
		addr := freePort(t)
		s := launch(t, bin, append([]string{"ADDR=" + addr}, env...))
		s.url = "http://" + addr
		if s.waitListening(10 * time.Second) {
			return s
		}
		select {
		case <-s.exited:
			lastErr = fmt.Sprintf("exited: %v\n%s", s.err, s.stderr.String())
		default:
			t.Fatalf("%s did not listen on %s within 10s:\n%s", bin, addr, s.stderr.String())
		}
	}
	t.Fatalf("%s did not start: %s", bin, lastErr)
	return nil
}

func (s *server) waitListening(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.url, "http://"), time.Second); err == nil {
			c.Close()
			return true
		}
		// A poll, not an ordering guess: the example is another process and
		// its listening socket is the only sign that it is ready.
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// send delivers a signed message to path and returns the status, the
// Content-Type and the body.
func (s *server) send(t *testing.T, path string, m *alipaytest.Message) (int, string, string) {
	t.Helper()
	req, err := m.ClientRequest(context.Background(), s.url+path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// notify delivers m to notify_url and checks the answer.
func (s *server) notify(t *testing.T, m *alipaytest.Message, wantBody string) {
	t.Helper()
	code, _, body := s.send(t, "/alipay/notify", m)
	if body != wantBody {
		t.Fatalf("notify %s: got %d %q, want %q", m.Get("out_trade_no"), code, body, wantBody)
	}
	if (wantBody == "success") != (code == http.StatusOK) {
		t.Fatalf("notify %s: status %d with body %q", m.Get("out_trade_no"), code, body)
	}
}

// nextLine returns the next JSON line the business handler printed. Lines are
// read in order, so a line printed by mistake (a duplicate that ran the
// handler) shows up here instead of the one expected.
func (s *server) nextLine(t *testing.T) map[string]any {
	t.Helper()
	select {
	case line, ok := <-s.lines:
		if !ok {
			t.Fatalf("the example exited (%v) instead of printing a line", s.err)
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("standard output line is not one JSON object: %q: %v", line, err)
		}
		return obj
	case <-time.After(10 * time.Second):
		t.Fatal("no line on standard output within 10s")
	}
	return nil
}

// expectLine reads the next line and checks want's fields, plus the presence
// and types of every field of the contract.
func (s *server) expectLine(t *testing.T, want map[string]any) map[string]any {
	t.Helper()
	got := s.nextLine(t)
	for _, k := range []string{"event", "source", "protocol", "app_id", "partner", "out_trade_no", "trade_no",
		"trade_status", "refund_status", "total_amount", "refund_fee", "out_biz_no", "subject"} {
		if _, ok := got[k].(string); !ok {
			t.Errorf("line lacks string %q: %v", k, got)
		}
	}
	if _, ok := got["stale"].(bool); !ok {
		t.Errorf("line lacks bool \"stale\": %v", got)
	}
	if got["event"] != "handled" {
		t.Errorf("event = %v, want handled", got["event"])
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("line %s = %#v, want %#v (line %v)", k, got[k], v, got)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return got
}

// stop sends SIGTERM and checks the example shuts down cleanly.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
		if s.err != nil {
			t.Fatalf("exit after SIGTERM: %v", s.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGTERM")
	}
}

func TestExamples(t *testing.T) {
	pemFile := filepath.Join(t.TempDir(), "alipay_public_key.pem")
	if err := os.WriteFile(pemFile, []byte(alipaytest.TestKey().PublicKeyPEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	type variant struct {
		name, example string
		legacyCharset string // ALIPAY_LEGACY_CHARSET, "" for the default
		redis         bool   // REDIS_URL set to the shared test Redis
	}
	variants := []variant{
		{name: "nethttp", example: "nethttp", legacyCharset: "gbk"},
		{name: "gin", example: "gin"},
		{name: "mux", example: "mux"},
	}
	for _, ex := range examples {
		variants = append(variants, variant{name: ex + "-redis", example: ex, redis: true})
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			bin := binary(t, v.example)
			gw := alipaytest.NewNotifyVerifyServer()
			t.Cleanup(gw.Close)
			env := []string{
				"ALIPAY_APP_ID=" + alipaytest.DefaultAppID,
				"ALIPAY_PUBLIC_KEY_FILE=" + pemFile,
				"ALIPAY_PARTNER=" + alipaytest.DefaultPID,
				"ALIPAY_MD5_KEY=" + alipaytest.DefaultMD5Key,
				"ALIPAY_NOTIFY_VERIFY_URL=" + gw.GatewayURL(),
			}
			if v.legacyCharset != "" {
				env = append(env, "ALIPAY_LEGACY_CHARSET="+v.legacyCharset)
			}
			if v.redis {
				env = append(env, "REDIS_URL=redis://"+redistest.Addr(t)+"/0")
			}
			s := start(t, bin, env)
			prefix := strings.ToUpper(strings.ReplaceAll(v.name, "-", "")) + strconv.FormatInt(time.Now().UnixNano(), 36)
			contract(t, s, gw, v.legacyCharset, prefix)
			s.stop(t)
			if !v.redis {
				return
			}
			// With REDIS_URL the state outlives the process: a restarted
			// example answers a handled event's re-delivery without
			// running the handler.
			if !strings.Contains(s.stderr.String(), "dedupe state in Redis") {
				t.Fatalf("REDIS_URL set but the example did not say it uses Redis:\n%s", s.stderr.String())
			}
			signer := alipaytest.NewSigner(alipaytest.TestKey())
			paid := signer.NewTrade(prefix+"R", "5.00").Paid()
			s = start(t, bin, env)
			s.notify(t, paid, "success")
			s.expectLine(t, map[string]any{"out_trade_no": prefix + "R"})
			s.stop(t)
			s = start(t, bin, env)
			s.notify(t, paid, "success")
			s.notify(t, signer.NewTrade(prefix+"S", "5.00").Paid(), "success")
			s.expectLine(t, map[string]any{"out_trade_no": prefix + "S"}) // not R again
			s.stop(t)
		})
	}
}

// contract is the checkable contract of every example. Order numbers start
// with prefix, so runs against a shared Redis never collide.
func contract(t *testing.T, s *server, gw *alipaytest.NotifyVerifyServer, legacyCharset, prefix string) {
	signer := alipaytest.NewSigner(alipaytest.TestKey())

	// A genuine notification runs the business handler once.
	a := signer.NewTrade(prefix+"A", "88.88")
	a.Extra = alipaytest.Fields{"subject": "测试商品 A&B"}
	paid := a.Paid()
	s.notify(t, paid, "success")
	s.expectLine(t, map[string]any{
		"source": "notify", "protocol": "open", "app_id": alipaytest.DefaultAppID,
		"out_trade_no": prefix + "A", "trade_no": paid.Get("trade_no"), "trade_status": "TRADE_SUCCESS",
		"total_amount": "88.88", "refund_fee": "", "out_biz_no": "", "subject": "测试商品 A&B", "stale": false,
	})

	// Its duplicate and a forgery answer without running it (checked by the
	// next line being the return's).
	s.notify(t, paid, "success")
	s.notify(t, paid.Tampered("total_amount", "0.01"), "fail")

	// A return for a new trade runs it, shows a page, and makes the trade's
	// notification a duplicate.
	b := signer.NewTrade(prefix+"B", "10.50")
	ret := b.Return()
	code, ctype, body := s.send(t, "/alipay/return", ret)
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/html") ||
		!strings.Contains(body, prefix+"B") || !strings.Contains(body, `id="outcome">handled<`) {
		t.Fatalf("return page: %d %q\n%s", code, ctype, body)
	}
	s.expectLine(t, map[string]any{
		"source": "return", "out_trade_no": prefix + "B", "trade_status": "TRADE_SUCCESS", "total_amount": "10.50",
	})
	s.notify(t, b.Paid(), "success")

	// A partial refund is an event of its own.
	refund := a.PartialRefund(prefix+"RF1", "10.00")
	s.notify(t, refund, "success")
	s.expectLine(t, map[string]any{
		"source": "notify", "out_trade_no": prefix + "A", "trade_status": "TRADE_SUCCESS",
		"refund_fee": "10.00", "out_biz_no": prefix + "RF1", "total_amount": "88.88",
	})

	// A callback signed in GBK reaches the handler as UTF-8.
	gbk := &alipaytest.Signer{Key: alipaytest.TestKey(), Charset: "gbk"}
	c := gbk.NewTrade(prefix+"C", "12.34")
	c.Extra = alipaytest.Fields{"subject": "中文商品（测试）"}
	s.notify(t, c.Paid(), "success")
	s.expectLine(t, map[string]any{"out_trade_no": prefix + "C", "subject": "中文商品（测试）", "total_amount": "12.34"})

	// Legacy mapi with the partner's MD5 key, checked with notify_verify.
	legacy := alipaytest.NewLegacySigner("", "")
	legacy.Gateway = gw
	if legacyCharset != "" {
		legacy.Charset = legacyCharset
	}
	d := legacy.NewTrade(prefix+"D", "66.60")
	d.Extra = alipaytest.Fields{"subject": "即时到账"}
	s.notify(t, d.Paid(), "success")
	s.expectLine(t, map[string]any{
		"source": "notify", "protocol": "mapi", "partner": alipaytest.DefaultPID, "out_trade_no": prefix + "D",
		"trade_status": "TRADE_SUCCESS", "total_amount": "66.60", "subject": "即时到账",
	})
	// A correctly signed legacy notification whose notify_id Alipay does not
	// know fails the remote check.
	unknown := alipaytest.NewLegacySigner("", "")
	unknown.Charset = legacy.Charset
	s.notify(t, unknown.NewTrade(prefix+"D2", "1.00").Paid(), "fail")

	// Legacy mobile web (alipay.wap.*) with sec_id=MD5 uses the same legacy
	// configuration; its call_back_url return dedupes against the notify.
	wap := alipaytest.NewWAPSigner("", "")
	wap.Gateway = gw
	wapNotify := wap.Notify(alipaytest.Fields{"out_trade_no": prefix + "W", "trade_status": "TRADE_SUCCESS", "total_fee": "7.70", "subject": "手机网页支付"})
	s.notify(t, wapNotify, "success")
	s.expectLine(t, map[string]any{
		"source": "notify", "protocol": "wap", "partner": alipaytest.DefaultPID, "out_trade_no": prefix + "W",
		"trade_status": "TRADE_SUCCESS", "total_amount": "7.70", "subject": "手机网页支付",
	})
	s.notify(t, wapNotify, "success")
	if code, _, body := s.send(t, "/alipay/return", wap.Return(alipaytest.Fields{"out_trade_no": prefix + "W", "trade_no": wapTradeNo(t, wapNotify)})); code != http.StatusOK {
		t.Fatalf("WAP return: %d %q", code, body)
	}

	// A legacy escrow trade (担保交易) with the same legacy configuration:
	// each status change once, Alipay's re-send of the same state with a new
	// notify_id a duplicate, and the buyer's refund request (same
	// trade_status, refund_status set) an event of its own.
	x := legacy.NewEscrowTrade(prefix+"X", "44.00", "2", "10.00")
	escrowLine := func(status, refundStatus string) map[string]any {
		return map[string]any{"source": "notify", "protocol": "mapi", "partner": alipaytest.DefaultPID, "out_trade_no": prefix + "X",
			"trade_no": x.TradeNo, "trade_status": status, "refund_status": refundStatus, "total_amount": "98.00", "subject": x.Subject}
	}
	s.notify(t, x.WaitBuyerPay(), "success")
	s.expectLine(t, escrowLine("WAIT_BUYER_PAY", ""))
	xPaid := x.Paid()
	s.notify(t, xPaid, "success")
	s.expectLine(t, escrowLine("WAIT_SELLER_SEND_GOODS", ""))
	s.notify(t, x.Resent(xPaid), "success")
	s.notify(t, x.Shipped(), "success")
	s.expectLine(t, escrowLine("WAIT_BUYER_CONFIRM_GOODS", ""))
	s.notify(t, x.RefundRequested(), "success")
	s.expectLine(t, escrowLine("WAIT_BUYER_CONFIRM_GOODS", "WAIT_SELLER_AGREE"))

	// Returns that cannot be verified get an error page and run nothing.
	unsigned := ret.Clone()
	unsigned.Params.Del("sign")
	for _, m := range []*alipaytest.Message{ret.Tampered("total_amount", "0.01"), unsigned} {
		if code, _, body := s.send(t, "/alipay/return", m); code < 400 {
			t.Fatalf("unverifiable return answered %d %q", code, body)
		}
	}

	// Nothing printed since the last expected line: the next line is this
	// trade's.
	e := signer.NewTrade(prefix+"E", "1.00")
	s.notify(t, e.Paid(), "success")
	s.expectLine(t, map[string]any{"out_trade_no": prefix + "E"})
}

// TestExampleWAPRSA: the nethttp example configured for sec_id=0001 (merchant
// private key + Alipay's WAP public key) decrypts and verifies WAP callbacks.
func TestExampleWAPRSA(t *testing.T) {
	dir := t.TempDir()
	wap := alipaytest.NewWAPRSASigner(nil, nil)
	pub, priv := filepath.Join(dir, "wap_public.pem"), filepath.Join(dir, "merchant_private.pem")
	if err := os.WriteFile(pub, []byte(wap.AlipayPublicKeyPEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(priv, []byte(wap.MerchantPrivateKeyPEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, binary(t, "nethttp"), []string{
		"ALIPAY_PARTNER=" + alipaytest.DefaultPID, "ALIPAY_PUBLIC_KEY_FILE=" + pub, "ALIPAY_MERCHANT_PRIVATE_KEY_FILE=" + priv,
	})
	prefix := "WAPRSA" + strconv.FormatInt(time.Now().UnixNano(), 36)
	m := wap.Notify(alipaytest.Fields{"out_trade_no": prefix, "trade_status": "TRADE_FINISHED", "total_fee": "3.30", "subject": "加密通知"})
	s.notify(t, m, "success")
	s.expectLine(t, map[string]any{"protocol": "wap", "out_trade_no": prefix, "trade_status": "TRADE_FINISHED", "total_amount": "3.30", "subject": "加密通知"})
	s.notify(t, m, "success")
	s.notify(t, m.Tampered("sign", strings.Repeat("A", 172)), "fail")
	n2 := wap.Notify(alipaytest.Fields{"out_trade_no": prefix + "2"})
	s.notify(t, n2, "success")
	s.expectLine(t, map[string]any{"out_trade_no": prefix + "2"})
	s.stop(t)
}

// TestExamplesNeedCredentials checks that an example without Alipay
// credentials exits 1 and says why.
func TestExamplesNeedCredentials(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(binary(t, name))
			cmd.Env = []string{"ADDR=127.0.0.1:0"}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1", err)
			}
			if !strings.Contains(stderr.String(), "ALIPAY_APP_ID") || !strings.Contains(stderr.String(), "ALIPAY_PARTNER") {
				t.Fatalf("stderr does not say which variables to set: %q", stderr.String())
			}
		})
	}
}

// wapTradeNo is the trade_no inside a mobile web notification's notify_data
// (MD5: plain XML), which the trade's call_back_url return carries too.
func wapTradeNo(t *testing.T, m *alipaytest.Message) string {
	t.Helper()
	match := regexp.MustCompile(`<trade_no>([0-9]+)</trade_no>`).FindStringSubmatch(m.Get("notify_data"))
	if match == nil {
		t.Fatalf("no trade_no in notify_data %q", m.Get("notify_data"))
	}
	return match[1]
}
