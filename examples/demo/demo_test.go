package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
)

// testConfig is the demo's configuration with the test binary's cached key,
// so that each test does not pay for generating one.
func testConfig() config {
	cfg := defaultConfig()
	cfg.Key = alipaytest.TestKey()
	return cfg
}

// summaryNumbers reads the numbers of the summary block.
func summaryNumbers(t *testing.T, out string) map[string]int {
	t.Helper()
	i := strings.Index(out, "\nSummary")
	if i < 0 {
		t.Fatalf("no summary in:\n%s", out)
	}
	got := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z_ ]+?) +(\d+)  `).FindAllStringSubmatch(out[i:], -1) {
		n, _ := strconv.Atoi(m[2])
		got[m[1]] = n
	}
	return got
}

// wantSummary is the demo's day, delivery by delivery:
//
//	1001 paid, handler fails twice      3 deliveries, 3 runs (2 failed)
//	1002 paid + 2 copies + return       4 deliveries, 1 run, 3 duplicates
//	1003 paid (GBK)                     1 delivery,   1 run
//	1004 paid + 2 refunds, acks lost    6 deliveries, 3 runs, 3 duplicates
//	1005 finished, then paid (stale)    2 deliveries, 2 runs
//	1006 paid (MD5, notify_verify)      1 delivery,   1 run
//	1007 escrow: 4 statuses, re-sent    8 deliveries, 4 runs, 4 duplicates
//	1008 mobile web paid + return       2 deliveries, 1 run,  1 duplicate
//	1010 paid, tries 1-4 lost           1 delivery (try 5), 1 duplicate: the
//	                                    run was the Reconciler's query
//	forged signature, tampered amount   2 deliveries, refused
//
// notify_verify: 1006 once, each of 1007's 8 deliveries (a re-send has a
// notify_id of its own), 1008's notification once.
var wantSummary = map[string]int{
	"deliveries":           30,
	"notifications":        15,
	"events handled":       15,
	"handler runs":         17,
	"duplicates absorbed":  12,
	"stale deliveries":     1,
	"notify_verify checks": 10,
	"found by query":       1,
	"refused":              2,
}

func checkSummary(t *testing.T, out string) {
	t.Helper()
	got := summaryNumbers(t, out)
	for k, want := range wantSummary {
		if got[k] != want {
			t.Errorf("%s = %d, want %d", k, got[k], want)
		}
	}
	for _, s := range []string{
		"15 acknowledged",
		"of 1 payments whose notifications were all lost",
		"the lost payment found by query",
		"of 2 forged callbacks",
		`subject "西湖龙井茶 250克" decoded from gbk`,
		"(try 3)  ",
		"OK: every event handled exactly once",
		"TRADE_SUCCESS, 8 attempts, last error \"database busy\"",
		"replays the dead letter (ops page): handled, handler ran 1 time(s)",
		"(a late copy)  200 success  duplicate: handler skipped",
		"Recovered: 1 dead letter, handled exactly once.",
		"\n" + timelineLegend + "\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	// Order numbers carry a run prefix on Redis (ORDER-<run>-1007).
	for _, re := range []string{
		// The re-send races the original: either of the two runs the handler.
		`ORDER-(\w+-)?1007 WAIT_BUYER_CONFIRM_GOODS \[MD5\] \(re-sent\) +200 success +(duplicate|handler ran)`,
		`ORDER-(\w+-)?1008 TRADE_SUCCESS \[mobile web\]`,
		// The lost payment: found by the Reconciler's query between the
		// checkout's +20m and Alipay's late retry, which is a duplicate.
		`(?m)^\+00:(2\d|[3-9]\d):\d\d +merchant +POST gateway alipay.trade.query ORDER-(\w+-)?1010 +TRADE_SUCCESS +handler ran ✓ \(recovered by query`,
		`(?m)^\+01:24:00 +alipay +POST notify_url ORDER-(\w+-)?1010 TRADE_SUCCESS \(try 5; tries 1-4 lost\) +200 success +duplicate: handler skipped`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s", re)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	if err := run(context.Background(), &out, testConfig()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the demo took %s, want < 20s", d)
	}
	checkSummary(t, out.String())
	// The flaky order is acknowledged at its third try, Alipay's +12m.
	if !regexp.MustCompile(`(?m)^\+00:12:00 +alipay +POST notify_url ORDER-1001 TRADE_SUCCESS \(try 3\) +200 success +handler ran`).MatchString(out.String()) {
		t.Errorf("no acknowledgement of ORDER-1001 at +00:12:00:\n%s", out.String())
	}
}

// TestDemoFails: a merchant that never acknowledges an order makes the demo
// fail (and exit non-zero).
func TestDemoFails(t *testing.T) {
	cfg := testConfig()
	cfg.Speed = 360_000 // Alipay's 24h22m in a quarter of a second
	cfg.FlakyFailures = 8
	var out bytes.Buffer
	err := run(context.Background(), &out, cfg)
	if err == nil || !strings.Contains(err.Error(), "ORDER-1001 TRADE_SUCCESS: NOT ACKNOWLEDGED") {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "\nFAIL\n") || strings.Count(out.String(), "ORDER-1001 TRADE_SUCCESS") < 8 {
		t.Fatalf("output:\n%s", out.String())
	}
}

func TestMain(m *testing.M) { redistest.Main(m) }

// TestDemoRedis runs the demo on the Redis store (the shared test Redis of
// internal/redistest).
func TestDemoRedis(t *testing.T) {
	addr := redistest.Addr(t)
	cfg := testConfig()
	cfg.RedisURL = "redis://" + addr
	var out bytes.Buffer
	if err := run(context.Background(), &out, cfg); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Redis ("+addr+") dedupe store") {
		t.Errorf("not on Redis:\n%s", out.String())
	}
	checkSummary(t, out.String())
}
