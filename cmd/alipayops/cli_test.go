package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{}) // as main does
	redistest.Main(m)
}

// merchant is a running merchant service whose state is in Redis: its
// notify_url, a handler that counts its runs and fails while told to.
type merchant struct {
	signer *alipaytest.Signer
	store  *redisstore.Store
	mw     *middleware.Middleware
	url    string // notify_url
	mu     sync.Mutex
	runs   int
	fail   bool
}

func (m *merchant) handle(context.Context, *alipaynotify.Notification) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("ledger locked")
	}
	m.runs++
	return nil
}

func (m *merchant) setFail(b bool) { m.mu.Lock(); m.fail = b; m.mu.Unlock() }

func (m *merchant) total() int { m.mu.Lock(); defer m.mu.Unlock(); return m.runs }

// deliver POSTs msg to the merchant as Alipay does and returns the answer.
func (m *merchant) deliver(t *testing.T, msg *alipaytest.Message) string {
	t.Helper()
	resp, err := http.Post(m.url, "application/x-www-form-urlencoded", bytes.NewReader(msg.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// deployments are the Redis deployments the CLI is tested against: the
// store flags that name each, and a client for the merchant.
func deployments(t *testing.T) map[string]func(t *testing.T) (flags []string, client redis.UniversalClient) {
	return map[string]func(t *testing.T) ([]string, redis.UniversalClient){
		"single": func(t *testing.T) ([]string, redis.UniversalClient) {
			addr := redistest.Addr(t)
			return []string{"-redis", "redis://" + addr + "/0"}, redis.NewClient(&redis.Options{Addr: addr})
		},
		"cluster": func(t *testing.T) ([]string, redis.UniversalClient) {
			addrs := redistest.ClusterAddrs(t)
			return []string{"-redis-cluster", strings.Join(addrs, ",")}, redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		},
	}
}

// newMerchant starts a merchant over client, with keys under prefix.
func newMerchant(t *testing.T, client redis.UniversalClient, prefix string) *merchant {
	t.Helper()
	t.Cleanup(func() { client.Close() })
	st, err := redisstore.New(client, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	s := alipaytest.NewSigner(alipaytest.TestKey())
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{s.PublicKeyPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := middleware.New(middleware.Options{Verifier: v, Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	m := &merchant{signer: s, store: st, mw: mw}
	srv := httptest.NewServer(mw.Notify(middleware.HandlerFunc(m.handle)))
	t.Cleanup(func() { srv.Close(); mw.Wait() })
	m.url = srv.URL + "/alipay/notify"
	return m
}

// cmd runs the CLI with the store flags and returns its status and output.
func cmd(store []string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == "USER" {
			return "ops-carol"
		}
		return ""
	}
	code = runEnv(append(slices.Clone(store), args...), &out, &errOut, env)
	return code, out.String(), errOut.String()
}

var testPrefix struct {
	mu sync.Mutex
	n  int
}

func uniquePrefix() string {
	testPrefix.mu.Lock()
	defer testPrefix.mu.Unlock()
	testPrefix.n++
	return fmt.Sprintf("cli%d-%d", time.Now().UnixNano(), testPrefix.n)
}

// TestOperatorStory, on Redis and Cluster: a payment's handler fails; the
// CLI finds the order failed and lists its dead letter; a replay while the
// handler still fails exits 1; once fixed, a replay runs it exactly once
// and clears the dead letter; Alipay's late retry is a duplicate; forget
// makes the next delivery run the handler again.
func TestOperatorStory(t *testing.T) {
	for name, deploy := range deployments(t) {
		t.Run(name, func(t *testing.T) {
			flags, client := deploy(t)
			prefix := uniquePrefix()
			flags = append(flags, "-prefix", prefix)
			m := newMerchant(t, client, prefix)
			paid := m.signer.NewTrade("ORDER-CLI", "18.00").Paid()
			order := []string{"-merchant", alipaytest.DefaultAppID, "-order", "ORDER-CLI"}
			event := append(slices.Clone(order), "-event", "TRADE_SUCCESS")

			if code, _, errOut := cmd(flags, append([]string{"lookup"}, order...)...); code != exitNotFound {
				t.Fatalf("lookup before any delivery: %d %s", code, errOut)
			}
			m.setFail(true)
			for range 3 {
				if got := m.deliver(t, paid); got != "fail" {
					t.Fatalf("failing handler answered %q", got)
				}
			}
			code, out, errOut := cmd(flags, append([]string{"lookup"}, order...)...)
			if code != exitOK || !strings.Contains(out, "TRADE_SUCCESS") || !strings.Contains(out, "failed     3 attempts") || !strings.Contains(out, "ledger locked") {
				t.Fatalf("lookup of the failed order: %d\n%s%s", code, out, errOut)
			}
			code, out, _ = cmd(flags, "deadletters")
			if code != exitOK || !strings.Contains(out, "ORDER-CLI TRADE_SUCCESS: 3 attempts (notify source)") {
				t.Fatalf("deadletters: %d\n%s", code, out)
			}
			replay := append(append([]string{"replay"}, event...), "-notify-url", m.url)
			if code, out, _ := cmd(flags, replay...); code != exitFailed || !strings.Contains(out, "failed: the merchant answered 500 \"fail\"") {
				t.Fatalf("replay while the handler fails: %d\n%s", code, out)
			}
			m.setFail(false)
			if code, out, errOut := cmd(flags, replay...); code != exitOK || !strings.Contains(out, "TRADE_SUCCESS: replayed") || m.total() != 1 {
				t.Fatalf("replay: %d, %d runs\n%s%s", code, m.total(), out, errOut)
			}
			if code, _, _ := cmd(flags, replay...); code != exitNotFound {
				t.Fatalf("second replay: %d, want not found (the dead letter is cleared)", code)
			}
			if got := m.deliver(t, paid); got != "success" || m.total() != 1 {
				t.Fatalf("late retry: %q, %d runs", got, m.total())
			}
			code, out, _ = cmd(flags, append([]string{"lookup"}, order...)...)
			if code != exitOK || !strings.Contains(out, "done") || !strings.Contains(out, "source=notify") || strings.Contains(out, "failed") {
				t.Fatalf("lookup after the replay: %d\n%s", code, out)
			}

			code, out, errOut = cmd(flags, append([]string{"forget"}, event...)...)
			if code != exitOK || !strings.Contains(out, "forgot TRADE_SUCCESS") || !strings.Contains(errOut, "actor=ops-carol") || !strings.Contains(errOut, "event=TRADE_SUCCESS") {
				t.Fatalf("forget: %d\n%s%s", code, out, errOut)
			}
			if got := m.deliver(t, paid); got != "success" || m.total() != 2 {
				t.Fatalf("delivery after forget: %q, %d runs", got, m.total())
			}
			if code, _, _ := cmd(flags, append([]string{"forget", "-actor", "ops-dan"}, append(slices.Clone(order), "-event", "TRADE_CLOSED")...)...); code != exitNotFound {
				t.Fatalf("forget an event never done: %d", code)
			}
		})
	}
}

// TestReplayAll re-sends every dead letter, refuses to re-send a return,
// and reports each.
func TestReplayAll(t *testing.T) {
	flags, client := deployments(t)["single"](t)
	prefix := uniquePrefix()
	flags = append(flags, "-prefix", prefix)
	m := newMerchant(t, client, prefix)
	m.setFail(true)
	for _, o := range []string{"ORDER-A1", "ORDER-A2"} {
		m.deliver(t, m.signer.NewTrade(o, "1.00").Paid())
	}
	ret := dedupe.DeadLetter{Trade: dedupe.TradeOf(alipaytest.DefaultAppID, "ORDER-R"), ID: "TRADE_SUCCESS", Source: dedupe.SourceReturn, Body: []byte("out_trade_no=ORDER-R"), Err: "boom"}
	if _, err := m.store.RecordFailure(context.Background(), ret); err != nil {
		t.Fatal(err)
	}
	m.setFail(false)
	code, out, _ := cmd(flags, "-json", "replay", "-all", "-notify-url", m.url)
	if code != exitFailed {
		t.Fatalf("replay -all with a return: %d\n%s", code, out)
	}
	var got replayJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	status := map[string]string{}
	for _, r := range got.Results {
		status[r.OutTradeNo] = r.Status
	}
	want := map[string]string{"ORDER-A1": "replayed", "ORDER-A2": "replayed", "ORDER-R": "not_resendable"}
	if !maps.Equal(status, want) || m.total() != 2 {
		t.Fatalf("results %v (want %v), %d runs", status, want, m.total())
	}
	if code, out, _ := cmd(flags, "deadletters"); code != exitOK || !strings.Contains(out, "ORDER-R") || strings.Contains(out, "ORDER-A") {
		t.Fatalf("dead letters left: %d\n%s", code, out)
	}
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, v any) []string {
	t.Helper()
	o, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v is not an object", v)
	}
	return slices.Sorted(maps.Keys(o))
}

// TestJSONSchema pins the names scripts depend on.
func TestJSONSchema(t *testing.T) {
	flags, client := deployments(t)["single"](t)
	prefix := uniquePrefix()
	flags = append(flags, "-prefix", prefix)
	m := newMerchant(t, client, prefix)
	m.deliver(t, m.signer.NewTrade("ORDER-J", "2.00").Paid())
	m.setFail(true)
	m.deliver(t, m.signer.NewTrade("ORDER-J", "2.00").Finished())

	deadLetter := []string{"attempts", "error", "event", "first_failure", "last_failure", "merchant", "out_trade_no", "source", "trade"}
	var lookup map[string]any
	code, out, _ := cmd(flags, "-json", "lookup", "-merchant", alipaytest.DefaultAppID, "-order", "ORDER-J")
	if err := json.Unmarshal([]byte(out), &lookup); code != exitOK || err != nil {
		t.Fatalf("lookup -json: %d %v\n%s", code, err, out)
	}
	if got, want := keys(t, lookup), []string{"dead_letters", "events", "merchant", "out_trade_no", "trade", "trade_no_recorded"}; !slices.Equal(got, want) {
		t.Errorf("lookup keys %v, want %v", got, want)
	}
	events := lookup["events"].([]any)
	if len(events) != 1 {
		t.Fatalf("events %v", events)
	}
	if got, want := keys(t, events[0]), []string{"event", "handled_at", "lease_left_ms", "legacy", "source", "stale", "state"}; !slices.Equal(got, want) {
		t.Errorf("event keys %v, want %v", got, want)
	}
	if at, err := time.Parse(time.RFC3339, events[0].(map[string]any)["handled_at"].(string)); err != nil || !strings.HasSuffix(events[0].(map[string]any)["handled_at"].(string), "+08:00") || time.Since(at) > time.Hour {
		t.Errorf("handled_at %v: %v", events[0], err)
	}
	dls := lookup["dead_letters"].([]any)
	if len(dls) != 1 {
		t.Fatalf("dead letters %v", dls)
	}
	if got := keys(t, dls[0]); !slices.Equal(got, deadLetter) {
		t.Errorf("dead letter keys %v, want %v", got, deadLetter)
	}
	var list map[string]any
	code, out, _ = cmd(flags, "-json", "deadletters")
	if err := json.Unmarshal([]byte(out), &list); code != exitOK || err != nil || !slices.Equal(keys(t, list), []string{"dead_letters"}) {
		t.Fatalf("deadletters -json: %d %v\n%s", code, err, out)
	}
	if strings.Contains(out, "notify_id") || strings.Contains(out, "sign") {
		t.Errorf("deadletters -json shows the body:\n%s", out)
	}
	var forget map[string]any
	code, out, _ = cmd(flags, "-json", "forget", "-merchant", alipaytest.DefaultAppID, "-order", "ORDER-J", "-event", "TRADE_SUCCESS")
	if err := json.Unmarshal([]byte(out), &forget); code != exitOK || err != nil {
		t.Fatalf("forget -json: %d %v\n%s", code, err, out)
	}
	if got, want := keys(t, forget), []string{"actor", "at", "event", "trade", "was_done"}; !slices.Equal(got, want) {
		t.Errorf("forget keys %v, want %v", got, want)
	}
	var replay map[string]any
	code, out, _ = cmd(flags, "-json", "replay", "-all", "-notify-url", m.url)
	if err := json.Unmarshal([]byte(out), &replay); code != exitFailed || err != nil { // the handler still fails
		t.Fatalf("replay -json: %d %v\n%s", code, err, out)
	}
	results := replay["results"].([]any)
	if len(results) != 1 {
		t.Fatalf("results %v", results)
	}
	if got, want := keys(t, results[0]), []string{"answer", "detail", "event", "http_status", "merchant", "out_trade_no", "status", "trade"}; !slices.Equal(got, want) {
		t.Errorf("replay result keys %v, want %v", got, want)
	}
	var failure map[string]any
	code, out, _ = cmd(flags, "-json", "lookup", "-merchant", alipaytest.DefaultAppID, "-order", "NOPE")
	if err := json.Unmarshal([]byte(out), &failure); code != exitNotFound || err != nil || !slices.Equal(keys(t, failure), []string{"error", "exit"}) || failure["exit"] != float64(exitNotFound) {
		t.Fatalf("a failure with -json: %d %v\n%s", code, err, out)
	}
}

// TestUsageAndStore: bad command lines exit 2 and name the problem; an
// unreachable store exits 3.
func TestUsageAndStore(t *testing.T) {
	t.Parallel()
	store := []string{"-redis", "redis://127.0.0.1:1/0"}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", store, exitUsage, "no command"},
		{"unknown command", append(slices.Clone(store), "wipe"), exitUsage, "unknown command"},
		{"no store", []string{"deadletters"}, exitUsage, "exactly one of"},
		{"two stores", []string{"-redis", "redis://x:1", "-redis-cluster", "a:1", "deadletters"}, exitUsage, "exactly one of"},
		{"bad URL", []string{"-redis", "http://x", "deadletters"}, exitUsage, "-redis"},
		{"bad cluster", []string{"-redis-cluster", "nohost", "deadletters"}, exitUsage, "not host:port"},
		{"bad sentinel", []string{"-sentinel", "mymaster", "deadletters"}, exitUsage, "-sentinel"},
		{"bad prefix", []string{"-redis", "redis://x:1", "-prefix", "a{b", "deadletters"}, exitUsage, "Prefix"},
		{"bad timeout", append([]string{"-timeout", "0s"}, append(slices.Clone(store), "deadletters")...), exitUsage, "-timeout"},
		{"lookup without order", append(slices.Clone(store), "lookup", "-merchant", "2021"), exitUsage, "-order"},
		{"lookup stray argument", append(slices.Clone(store), "lookup", "-merchant", "2021", "-order", "O", "extra"), exitUsage, "unexpected argument"},
		{"deadletters limit", append(slices.Clone(store), "deadletters", "-limit", "0"), exitUsage, "-limit"},
		{"forget without event", append(slices.Clone(store), "forget", "-merchant", "2021", "-order", "O"), exitUsage, "-event"},
		{"replay neither", append(slices.Clone(store), "replay", "-notify-url", "http://x"), exitUsage, "-all"},
		{"replay both", append(slices.Clone(store), "replay", "-all", "-order", "O", "-notify-url", "http://x"), exitUsage, "-all"},
		{"replay half", append(slices.Clone(store), "replay", "-order", "O", "-notify-url", "http://x"), exitUsage, "-event"},
		{"replay no URL", append(slices.Clone(store), "replay", "-all"), exitUsage, "-notify-url"},
		{"replay bad URL", append(slices.Clone(store), "replay", "-all", "-notify-url", "ftp://x"), exitUsage, "-notify-url"},
		{"unreachable", append(slices.Clone(store), "deadletters"), exitUnreachable, "store failed"},
		{"unreachable lookup", append([]string{"-timeout", "2s"}, append(slices.Clone(store), "lookup", "-merchant", "2021", "-order", "O")...), exitUnreachable, "store failed"},
		{"help", []string{"-help"}, exitOK, "Exit status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := cmd(nil, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d (want %d), stderr:\n%s", code, tc.code, errOut)
			}
		})
	}
}

// TestClientOptions: each store flag makes the client it names.
func TestClientOptions(t *testing.T) {
	t.Parallel()
	o, err := clientOptions("redis://u:pw@h:6380/3", "", "", "")
	if err != nil || !slices.Equal(o.Addrs, []string{"h:6380"}) || o.DB != 3 || o.Username != "u" || o.Password != "pw" || o.IsClusterMode {
		t.Errorf("single: %+v %v", o, err)
	}
	o, err = clientOptions("", "a:1, b:2", "", "secret")
	if err != nil || !slices.Equal(o.Addrs, []string{"a:1", "b:2"}) || !o.IsClusterMode || o.Password != "secret" {
		t.Errorf("cluster: %+v %v", o, err)
	}
	o, err = clientOptions("", "", "mymaster,s1:26379,s2:26379", "secret")
	if err != nil || o.MasterName != "mymaster" || !slices.Equal(o.Addrs, []string{"s1:26379", "s2:26379"}) || o.Password != "secret" {
		t.Errorf("sentinel: %+v %v", o, err)
	}
	if _, ok := redis.NewUniversalClient(o).(*redis.Client); !ok {
		t.Error("sentinel options do not make a failover client")
	}
}
