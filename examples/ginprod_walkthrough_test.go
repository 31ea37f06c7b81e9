package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
)

// TestGinProdWalkthrough is the newcomer's path through the library (issue
// 16, "Show"), as a merchant takes it:
//
//  1. copy examples/ginprod into a module of their own and build it there;
//  2. configure it with a wrong key, then the right one: a private key fails
//     at start-up naming it; the app's own public key (应用公钥), well formed
//     but not Alipay's, starts, refuses every callback, and logs the hint
//     that names 支付宝公钥;
//  3. run the simulator (cmd/alipaysim, with a scenario file naming the
//     shop's orders) at it, with Redis;
//  4. read /metrics: the counts match the simulator's report.
func TestGinProdWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a copied module and runs the simulator: skipped with -short")
	}
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	dir := t.TempDir()

	// 1. Copy the example, as a merchant would, and build the copy as a
	// module of its own against this repository (the replace directive
	// stands in for "go get github.com/alipaynotify/alipaynotify"), with
	// alipaysim beside it.
	var shopBin, simBin string
	built := make(chan error, 2)
	go func() {
		var err error
		shopBin, err = buildCopiedExample(goBin, filepath.Join(dir, "shop"))
		built <- err
	}()
	go func() {
		simBin = filepath.Join(dir, "alipaysim")
		args := []string{"build", "-o", simBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command(goBin, append(args, "../cmd/alipaysim")...).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("building alipaysim: %v\n%s", err, out)
		}
		built <- err
	}()
	for range 2 {
		if err := <-built; err != nil {
			t.Fatal(err)
		}
	}

	// The keys: Alipay's pair (the simulator signs with its private half),
	// and the app's own pair (应用公钥/应用私钥), the usual mix-up.
	alipayKey, appKey := alipaytest.TestKey(), alipaytest.SecondTestKey()
	files := map[string]string{
		"alipay_public_key.pem":  alipayKey.PublicKeyPEM(),
		"alipay_private_key.pem": alipayKey.PrivateKeyPKCS8PEM(),
		"app_public_key.pem":     appKey.PublicKeyPEM(),
		"app_private_key.pem":    appKey.PrivateKeyPKCS8PEM(),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The shop's orders, which the scenario below pays.
	prefix := "WALK" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ordersFile := filepath.Join(dir, "orders.txt")
	orders := "# out_trade_no amount\n" +
		prefix + "-PAID-1 88.88\n" + prefix + "-PAID-2 88.88\n" + prefix + "-PAID-3 88.88\n" +
		"\n" + prefix + "-REFUND 50.00\n" + prefix + "-LATE 20.00\n" + prefix + "-GBK 12.34\n"
	if err := os.WriteFile(ordersFile, []byte(orders), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(publicKeyFile string, extra ...string) []string {
		return append([]string{
			"ALIPAY_APP_ID=" + alipaytest.DefaultAppID,
			"ALIPAY_PUBLIC_KEY_FILE=" + filepath.Join(dir, publicKeyFile),
			"ALIPAY_ORDERS_FILE=" + ordersFile,
			"REDIS_URL=redis://" + redistest.Addr(t) + "/0",
		}, extra...)
	}

	// 2a. Nothing configured, then a private key where Alipay's public key
	// goes: start-up fails and says what is missing, or what was pasted and
	// what belongs there.
	if err := os.WriteFile(filepath.Join(dir, "empty.pem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env  []string
		want []string
	}{
		{nil, []string{"ALIPAY_APP_ID", "ALIPAY_PUBLIC_KEY_FILE", "ALIPAY_ORDERS_FILE", "REDIS_URL"}},
		{env("empty.pem"), []string{"ALIPAY_PUBLIC_KEY_FILE", "empty"}},
		{env("app_private_key.pem"), []string{"ALIPAY_PUBLIC_KEY_FILE", "private key", "支付宝公钥"}},
		{env("alipay_private_key.pem"), []string{"ALIPAY_PUBLIC_KEY_FILE", "private key", "支付宝公钥"}},
	} {
		cmd := exec.Command(shopBin)
		cmd.Env = append(c.env, "ADDR=127.0.0.1:0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("%v: exit %v, want status 1\n%s", c.env, err, stderr.String())
		}
		for _, w := range c.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%v: start-up error does not say %q:\n%s", c.env, w, stderr.String())
			}
		}
	}

	// 2b. The app's own public key (应用公钥): well formed, so the server
	// starts, but every callback fails its signature, and after a few the
	// hint names the right key.
	s := startShop(t, shopBin, env("app_public_key.pem"))
	signer := alipaytest.NewSigner(alipayKey)
	for i := range 3 {
		s.notify(t, signer.Paid(fmt.Sprintf("%s-PAID-%d", prefix, i+1), "88.88"), "fail")
	}
	// Standard error is copied from a pipe: the hint, logged before the
	// third answer, may take a moment to arrive.
	if !s.waitStderr(10*time.Second, "支付宝公钥", "应用公钥") {
		t.Fatalf("no key hint after 3 signature failures:\n%s", s.stderr.String())
	}
	m := scrape(t, s.url+"/metrics") // on ADDR by default
	if got := m.value("alipaynotify_rejected_total", "source", "notify", "reason", "signature"); got != 3 {
		t.Errorf("wrong key: rejected_total{reason=signature} = %v, want 3", got)
	}
	if got := m.sum("alipaynotify_handled_total"); got != 0 {
		t.Errorf("wrong key: handled_total = %v, want 0", got)
	}
	s.stop(t)

	// 2c and 3. The right key, metrics on a listener of their own, and the
	// simulator playing a day of Alipay at it.
	// Port 0 again: the metrics listener picks a free port and logs it.
	s = startShop(t, shopBin, env("alipay_public_key.pem", "METRICS_ADDR=127.0.0.1:0"))
	metricsAddr := s.listening(t, "metrics")
	if code, _ := get(t, s.url+"/metrics"); code != http.StatusNotFound {
		t.Errorf("with METRICS_ADDR set, /metrics on ADDR answers %d, want 404", code)
	}
	scenario := fmt.Sprintf(`{
  "name": "newcomer",
  "trades": [
    {"story": "paid", "out_trade_no": %[1]q, "amount": "88.88", "race_return": true, "duplicates": 2, "repeat": 3},
    {"story": "partial_refund", "out_trade_no": %[2]q, "amount": "50.00", "refunds": ["10.00", "5.00"], "lost_acks": 1},
    {"story": "finished", "out_trade_no": %[3]q, "amount": "20.00", "out_of_order": true, "duplicates": 1},
    {"story": "paid", "out_trade_no": %[4]q, "amount": "12.34", "charset": "gbk", "subject": "中文商品"}
  ],
  "hostile": ["forged_signature", "tampered_amount", "garbage_body", "oversized_body", "wrong_method"]
}`, prefix+"-PAID", prefix+"-REFUND", prefix+"-LATE", prefix+"-GBK")
	scenarioFile := filepath.Join(dir, "scenario.json")
	if err := os.WriteFile(scenarioFile, []byte(scenario), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sim := exec.CommandContext(ctx, simBin, "-url", s.url, "-key", filepath.Join(dir, "alipay_private_key.pem"),
		"-scenario", scenarioFile, "-speed", "3600", "-seed", "16", "-json", "-progress", "0")
	var simErr bytes.Buffer
	sim.Stderr = &simErr
	out, err := sim.Output()
	if err != nil {
		t.Fatalf("alipaysim: %v\n%s\n%s", err, simErr.String(), out)
	}
	var rep simReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("alipaysim -json: %v\n%s", err, out)
	}
	if !rep.Passed {
		t.Fatalf("the simulator's report did not pass: %+v\n%s", rep.Totals, out)
	}

	// The business handler's lines: one per event, none twice.
	lines := map[string]int{}
	staleLines := 0
	deadline := time.After(2 * time.Second)
drain:
	for {
		select {
		case line := <-s.lines:
			var l struct {
				OutTradeNo   string `json:"out_trade_no"`
				TradeStatus  string `json:"trade_status"`
				OutBizNo     string `json:"out_biz_no"`
				RefundStatus string `json:"refund_status"`
				Stale        bool   `json:"stale"`
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("not a JSON line: %q", line)
			}
			lines[l.OutTradeNo+"|"+l.TradeStatus+"|"+l.RefundStatus+"|"+l.OutBizNo]++
			if l.Stale {
				staleLines++
			}
		case <-deadline:
			break drain
		}
	}
	for k, n := range lines {
		if n != 1 {
			t.Errorf("event %s handled %d times", k, n)
		}
	}

	// 4. The metrics against the report.
	m = scrape(t, "http://"+metricsAddr+"/metrics")
	var notifyPosts, returnGets, genuine, hostilePosts float64
	for _, r := range rep.Results {
		for _, a := range r.Answers {
			switch {
			case r.Kind == "return":
				returnGets++
				genuine++
			case a.Method != http.MethodPost: // wrong_method: 405 before the middleware
			case r.Kind == "notify":
				notifyPosts++
				genuine++
			default:
				notifyPosts++
				hostilePosts++
			}
		}
	}
	handled := m.sum("alipaynotify_handled_total")
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"handled_total (all sources) = the report's notification events", handled, float64(rep.Totals.Notifications)},
		{"handled_total = the handler's distinct lines", handled, float64(len(lines))},
		{"received_total{notify} = POSTs to notify_url", m.value("alipaynotify_received_total", "source", "notify"), notifyPosts},
		{"received_total{return} = return visits", m.value("alipaynotify_received_total", "source", "return"), returnGets},
		{"deliveries_total = received_total", m.sum("alipaynotify_deliveries_total"), notifyPosts + returnGets},
		{"duplicates + in-flight = genuine deliveries - handled",
			m.sum("alipaynotify_duplicates_total") + m.value("alipaynotify_deliveries_total", "outcome", "in_flight"), genuine - handled},
		{"duplicates_total = deliveries_total{duplicate}", m.sum("alipaynotify_duplicates_total"), m.value("alipaynotify_deliveries_total", "outcome", "duplicate")},
		{"failed_total = 0", m.sum("alipaynotify_failed_total"), 0},
		{"rejected_total = hostile POSTs", m.sum("alipaynotify_rejected_total"), hostilePosts},
		{"rejected_total{signature} = forged + tampered", m.value("alipaynotify_rejected_total", "reason", "signature"), 2},
		{"rejected_total{malformed} = garbage", m.value("alipaynotify_rejected_total", "reason", "malformed"), 1},
		{"rejected_total{body_too_large} = oversized", m.value("alipaynotify_rejected_total", "reason", "body_too_large"), 1},
		{"stale_total = lines flagged stale", m.sum("alipaynotify_stale_total"), float64(staleLines)},
		{"deliveries_in_progress = 0", m.value("alipaynotify_deliveries_in_progress"), 0},
		{"store_errors_total = 0", m.sum("alipaynotify_store_errors_total"), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if staleLines != 1 {
		t.Errorf("%d stale events handled, want 1 (the out-of-order trade's TRADE_SUCCESS)", staleLines)
	}
	if rep.Totals.Copies == 0 || rep.Totals.LostAcks == 0 || rep.Totals.Returns == 0 {
		t.Errorf("the scenario sent no duplicates, lost acks or returns: %+v", rep.Totals)
	}

	// The order check is on: a genuine payment of an order the shop never
	// created, and one of the wrong amount, are refused after the signature.
	s.notify(t, signer.Paid(prefix+"-NOT-IN-BOOK", "1.00"), "fail")
	s.notify(t, signer.Paid(prefix+"-GBK", "99.99"), "fail") // the order is 12.34
	if err := os.WriteFile(ordersFile, []byte(orders+prefix+"-NEW 5.00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.notify(t, signer.Paid(prefix+"-NEW", "5.01"), "fail")
	s.notify(t, signer.Paid(prefix+"-NEW", "5.00"), "success") // added while it runs
	m = scrape(t, "http://"+metricsAddr+"/metrics")
	if got := m.value("alipaynotify_rejected_total", "reason", "order"); got != 3 {
		t.Errorf("rejected_total{reason=order} = %v, want 3", got)
	}
	if got := m.sum("alipaynotify_handled_total"); got != handled+1 {
		t.Errorf("handled_total = %v after the new order, want %v", got, handled+1)
	}
	s.stop(t)
	for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("a log line is not JSON: %q", line)
		}
	}
}

// simReport is the part of alipaysim's -json report the walkthrough reads.
type simReport struct {
	Passed bool `json:"passed"`
	Totals struct {
		Notifications int `json:"notifications"`
		Returns       int `json:"returns"`
		Hostile       int `json:"hostile"`
		Deliveries    int `json:"deliveries"`
		Copies        int `json:"copies"`
		LostAcks      int `json:"lost_acks"`
	} `json:"totals"`
	Results []struct {
		Kind    string `json:"kind"`
		Answers []struct {
			Method string `json:"method"`
		} `json:"answers"`
	} `json:"results"`
}

// buildCopiedExample copies examples/ginprod's Go files into dir, writes a
// go.mod requiring this repository (through a replace directive) at the
// versions this repository's go.mod names, and builds the copy.
func buildCopiedExample(goBin, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	srcs, err := filepath.Glob("ginprod/*.go")
	if err != nil || len(srcs) == 0 {
		return "", fmt.Errorf("no examples/ginprod/*.go: %v", err)
	}
	for _, src := range srcs {
		if strings.HasSuffix(src, "_test.go") {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), data, 0o644); err != nil {
			return "", err
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	repoMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	// The merchant's go.mod: this repository, and the versions it was
	// tested with (what "go get" would pick), so that the build needs no
	// module the repository's go.sum does not list.
	requires := regexp.MustCompile(`(?s)require \((.*?)\)`).FindAllSubmatch(repoMod, -1)
	var mod strings.Builder
	fmt.Fprintf(&mod, "module example.com/shop\n\ngo 1.26.0\n\nrequire github.com/alipaynotify/alipaynotify v0.0.0\n\n")
	for _, r := range requires {
		fmt.Fprintf(&mod, "require (%s)\n\n", r[1])
	}
	fmt.Fprintf(&mod, "replace github.com/alipaynotify/alipaynotify => %s\n", root)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod.String()), 0o644); err != nil {
		return "", err
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "shop")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goBin, append(args, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the copied example in %s: %v\n%s\ngo.mod:\n%s", dir, err, out, mod.String())
	}
	return bin, nil
}

// metrics is one scrape of a /metrics endpoint.
type metrics map[string]*dto.MetricFamily

func scrape(t *testing.T, url string) metrics {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", url, code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return mfs
}

// value sums the series of name whose labels include the pairs given.
func (m metrics) value(name string, labels ...string) float64 {
	mf, ok := m[name]
	if !ok {
		return 0
	}
	total := 0.0
series:
	for _, s := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue series
			}
		}
		switch {
		case s.Counter != nil:
			total += s.GetCounter().GetValue()
		case s.Gauge != nil:
			total += s.GetGauge().GetValue()
		case s.Histogram != nil:
			total += float64(s.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// sum adds every series of name.
func (m metrics) sum(name string) float64 { return m.value(name) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// waitStderr waits until the server's standard error holds every one of
// want, and reports whether it did within timeout.
func (s *server) waitStderr(timeout time.Duration, want ...string) bool {
	deadline := time.Now().Add(timeout)
	for {
		got, all := s.stderr.String(), true
		for _, w := range want {
			all = all && strings.Contains(got, w)
		}
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		// A poll: the pipe's copy is another goroutine's, with no signal.
		time.Sleep(20 * time.Millisecond)
	}
}

// listening returns the address the server logged it listens on for what
// it serves ("metrics"), from its JSON log lines.
func (s *server) listening(t *testing.T, serves string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(s.stderr.String(), "\n") {
			var l struct{ Msg, Serves, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" && l.Serves == serves {
				return l.Addr
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("exited (%v) before listening for %s:\n%s", s.err, serves, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"listening\" log line for %s:\n%s", serves, s.stderr.String())
		}
		// A poll: the pipe's copy is another goroutine's, with no signal.
		time.Sleep(20 * time.Millisecond)
	}
}

// startShop runs the shop with env and ADDR on port 0, and waits until it
// logs the address it listens on: unlike start's free port, picked before the
// process binds it, no parallel test can take it meanwhile. The process is
// killed when the test ends.
func startShop(t *testing.T, bin string, env []string) *server {
	t.Helper()
	s := launch(t, bin, append(env, "ADDR=127.0.0.1:0"))
	s.url = "http://" + s.listening(t, "callbacks")
	return s
}
