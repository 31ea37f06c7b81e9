package simulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/internal/simulator"
)

// fast plays an hour of Alipay's schedule in 10 ms: the whole 24h22m
// schedule in about a quarter of a second.
const fast = 360_000

func run(t *testing.T, cfg simulator.Config, sc *simulator.Scenario) *simulator.Report {
	t.Helper()
	sim, err := simulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := sim.Run(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func table(rep *simulator.Report) string {
	var b bytes.Buffer
	rep.WriteTable(&b, false)
	return b.String()
}

// TestEveryEventHandledOnce plays every story with duplicates, lost
// acknowledgements, racing returns and out-of-order delivery against the
// real middleware: every notification is acknowledged and every business
// event handled exactly once.
func TestEveryEventHandledOnce(t *testing.T) {
	// Four days between the steps that must not overlap: about a second at
	// this speed, so that the later status is handled before the earlier
	// one arrives even on a loaded machine under -race (a quarter of a
	// second was not always enough for a mobile web 0001 decryption).
	const day = simulator.Duration(4 * 24 * time.Hour)
	m := newMerchant(t, merchantOptions{})
	sc := &simulator.Scenario{Name: "all stories", Trades: []simulator.Trade{
		{Story: simulator.StoryPaid, RaceReturn: true, Duplicates: 3, Repeat: 5},
		// Time between the out-of-order steps, so that the late status
		// really arrives after the other.
		{Story: simulator.StoryFinished, OutOfOrder: true, Duplicates: 1, Interval: day},
		// In-order stories get the same time between steps: at this speed 30
		// simulated minutes are 5 ms, and a loaded machine may deliver the
		// later status first, which would (rightly) flag the earlier stale.
		{Story: simulator.StoryFinished, RaceReturn: true, Interval: day},
		{Story: simulator.StoryClosedUnpaid, Duplicates: 2},
		{Story: simulator.StoryPartialRefund, Amount: "100.00", Refunds: []string{"10.00", "5.00"}, LostAcks: 1, Duplicates: 2},
		{Story: simulator.StoryFullRefund, Refunds: []string{"20.00"}, OutOfOrder: true, RaceReturn: true, Interval: day},
		{Story: simulator.StoryPaid, SignType: "RSA", Charset: "gb2312"},
		{Story: simulator.StoryPartialRefund, SignType: "MD5", Refunds: []string{"1.00"}},
		// Legacy escrow and dual-function trades (MD5).
		{Story: simulator.StoryEscrowFinished, RaceReturn: true, Duplicates: 3, LostAcks: 1, Interval: day},
		{Story: simulator.StoryEscrowRefunded, OutOfOrder: true, Interval: day, Subject: "中文商品", Duplicates: 2},
		{Story: simulator.StoryDualInstant, RaceReturn: true, Duplicates: 1, Repeat: 2, Interval: day},
		// Legacy mobile web (alipay.wap.*).
		{Story: simulator.StoryPaid, SignType: "WAP_MD5", RaceReturn: true, Duplicates: 3},
		{Story: simulator.StoryFinished, SignType: "WAP_0001", RaceReturn: true, OutOfOrder: true, Interval: day, Duplicates: 1},
	}}
	rep := run(t, m.config(fast), sc)
	if !rep.OK() {
		t.Fatalf("report not OK:\n%s", table(rep))
	}
	// Count the genuine notify events: each must have run exactly once.
	events := 0
	for _, r := range rep.Results {
		if r.Kind == simulator.KindNotify {
			events++
		}
	}
	runs := m.runs()
	if len(runs) != events {
		t.Errorf("%d events handled, want %d\n%s", len(runs), events, table(rep))
	}
	for ev, n := range runs {
		if n != 1 {
			t.Errorf("event %s handled %d times", ev, n)
		}
	}
	// The out-of-order trades: the latest status first, then each earlier
	// one delivered once and flagged stale: TRADE_SUCCESS of the finished
	// and full_refund trades and of the mobile web one, and WAIT_BUYER_PAY,
	// WAIT_SELLER_SEND_GOODS and WAIT_BUYER_CONFIRM_GOODS of the escrow
	// trade refunded last (its refund request is not ranked: not stale).
	m.mu.Lock()
	staleStatus := map[string]int{}
	for ev := range m.stale {
		parts := strings.Split(ev, "|")
		staleStatus[parts[2]+"|"+parts[3]]++
	}
	if len(m.stale) != 6 || staleStatus["TRADE_SUCCESS|"] != 3 || staleStatus["WAIT_BUYER_PAY|"] != 1 ||
		staleStatus["WAIT_SELLER_SEND_GOODS|"] != 1 || staleStatus["WAIT_BUYER_CONFIRM_GOODS|"] != 1 {
		t.Errorf("stale deliveries %v", m.stale)
	}
	m.mu.Unlock()
	tot := rep.Totals
	copies := 5*3 + 2*1 + 1*2 + 3*2 + // open platform and mapi trades
		4*3 + 5*2 + 2*2*1 + // escrow and dual-function
		3 + 2*1 // mobile web
	if tot.Copies != copies || tot.LostAcks != 3+4 || tot.Returns != 12 || tot.ReturnsOK != 12 {
		t.Errorf("totals %+v", tot)
	}
	// Every request carried the delivery header, matching an answer.
	ids := map[string]bool{}
	for _, r := range rep.Results {
		for _, a := range r.Answers {
			ids[a.DeliveryID] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.headers) != tot.Deliveries {
		t.Errorf("merchant saw %d requests, report has %d deliveries", len(m.headers), tot.Deliveries)
	}
	for _, h := range m.headers {
		if !ids[h] {
			t.Errorf("request with unknown delivery header %q", h)
		}
	}
}

// TestRetriesFollowSchedule: a merchant failing the first K runs is
// acknowledged at try K+1, at the scheduled simulated time.
func TestRetriesFollowSchedule(t *testing.T) {
	offsets := simulator.Offsets(simulator.AlipaySchedule)
	want := []time.Duration{0, 2 * time.Minute, 12 * time.Minute, 22 * time.Minute, 82 * time.Minute,
		202 * time.Minute, 562 * time.Minute, 1462 * time.Minute}
	for i := range want {
		if offsets[i] != want[i] {
			t.Fatalf("offsets %v, want %v", offsets, want)
		}
	}
	for _, k := range []int{0, 1, 3, 7} {
		m := newMerchant(t, merchantOptions{failFirst: k})
		start := 5 * time.Minute
		rep := run(t, m.config(fast), &simulator.Scenario{Trades: []simulator.Trade{
			{Story: simulator.StoryPaid, Start: simulator.Duration(start)},
		}})
		r := rep.Results[0]
		if !r.Acknowledged || r.AckAttempt != k+1 || r.AckAt != start+offsets[k] || r.Attempts != k+1 {
			t.Fatalf("k=%d: ack %v at try %d %s after %d tries\n%s", k, r.Acknowledged, r.AckAttempt, simulator.FormatSim(r.AckAt), r.Attempts, table(rep))
		}
		for i, a := range r.Answers {
			if a.Scheduled != start+offsets[i] || a.Sent < a.Scheduled {
				t.Errorf("k=%d try %d scheduled %s sent %s, want %s", k, i+1, simulator.FormatSim(a.Scheduled), simulator.FormatSim(a.Sent), simulator.FormatSim(start+offsets[i]))
			}
			if a.NotifyID != r.NotifyID {
				t.Errorf("try %d changed notify_id", i+1)
			}
			wantBody, wantStatus := "fail", 500
			if i == k {
				wantBody, wantStatus = "success", 200
			}
			if a.Body != wantBody || a.Status != wantStatus || a.Success != (i == k) {
				t.Errorf("k=%d try %d: %s", k, i+1, a.Short())
			}
		}
		if len(m.runs()) != 1 || m.failures() != k {
			t.Errorf("k=%d: runs %v, failures %d", k, m.runs(), m.failures())
		}
	}
}

// TestNeverAcknowledged: a merchant that always fails gets all 8 tries and
// the event is reported unacknowledged.
func TestNeverAcknowledged(t *testing.T) {
	m := newMerchant(t, merchantOptions{always: true})
	rep := run(t, m.config(fast), &simulator.Scenario{Trades: []simulator.Trade{{Story: simulator.StoryPaid}}})
	r := rep.Results[0]
	if rep.OK() || r.Acknowledged || r.Attempts != 8 || !r.Done || r.Outcome() != "NOT ACKNOWLEDGED" {
		t.Fatalf("ok=%v %+v", rep.OK(), r)
	}
	if got := r.Answers[7].Scheduled; got != 24*time.Hour+22*time.Minute {
		t.Errorf("last try at %s", simulator.FormatSim(got))
	}
	if !strings.Contains(table(rep), "FAIL") {
		t.Errorf("table:\n%s", table(rep))
	}
}

// TestHostileRefused: every hostile input is refused by the middleware and
// never reaches the business handler.
func TestHostileRefused(t *testing.T) {
	m := newMerchant(t, merchantOptions{})
	var sc simulator.Scenario
	for _, k := range simulator.HostileKinds {
		sc.Hostile = append(sc.Hostile, simulator.Hostile{Kind: k})
		sc.Hostile = append(sc.Hostile, simulator.Hostile{Kind: k, SignType: "MD5", Charset: "gbk", At: simulator.Duration(time.Minute)})
	}
	cfg := m.config(fast)
	cfg.OversizeBytes = 200 << 10
	rep := run(t, cfg, &sc)
	if !rep.OK() || rep.Totals.Refused != 2*len(simulator.HostileKinds) {
		t.Fatalf("not all refused:\n%s", table(rep))
	}
	wantStatus := map[simulator.HostileKind]int{
		simulator.HostileForgedSignature: 400, simulator.HostileTamperedAmount: 400, simulator.HostileGarbageBody: 400,
		simulator.HostileOversizedBody: 413, simulator.HostileWrongMethod: 405,
	}
	for _, r := range rep.Results {
		if got := r.Answers[0].Status; got != wantStatus[r.Hostile] {
			t.Errorf("%s: status %d, want %d", r.ID, got, wantStatus[r.Hostile])
		}
	}
	if len(m.runs()) != 0 {
		t.Errorf("handler ran for hostile input: %v", m.runs())
	}
	if len(m.rejected) != len(sc.Hostile)-2 { // wrong method is refused before verification
		t.Errorf("%d rejections recorded", len(m.rejected))
	}
}

// TestHostileAccepted: a merchant answering "success" to anything fails the
// run.
func TestHostileAccepted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "success")
	}))
	defer srv.Close()
	rep := run(t, simulator.Config{NotifyURL: srv.URL, Key: alipaytest.TestKey(), Speed: fast},
		&simulator.Scenario{Hostile: []simulator.Hostile{{Kind: simulator.HostileForgedSignature}}})
	if rep.OK() || rep.Results[0].Refused || rep.Results[0].Outcome() != "ACCEPTED" {
		t.Fatalf("forged callback accepted but report OK:\n%s", table(rep))
	}
}

// TestCharsetsAndLegacy: GBK and GB2312 payloads with Chinese text, and
// legacy MD5 callbacks (with the notify_verify remote check), are
// acknowledged and decoded.
func TestCharsetsAndLegacy(t *testing.T) {
	gw := alipaytest.NewNotifyVerifyServer()
	defer gw.Close()
	m := newMerchant(t, merchantOptions{})
	legacy := newMerchant(t, merchantOptions{verify: alipaytestLegacyOptions(gw)})
	sc := &simulator.Scenario{Trades: []simulator.Trade{
		{OutTradeNo: "GBK-1", Story: simulator.StoryPaid, Charset: "gbk", Subject: "龙井茶 250克", RaceReturn: true},
		{OutTradeNo: "GB2312-1", Story: simulator.StoryFinished, Charset: "GB2312", Subject: "中文商品"},
		{OutTradeNo: "MD5-1", Story: simulator.StoryPaid, SignType: "MD5", Subject: "旧接口订单"},
	}}
	rep := run(t, m.config(fast), sc)
	if !rep.OK() {
		t.Fatalf("%s", table(rep))
	}
	for order, want := range map[string]string{"GBK-1": "龙井茶 250克", "GB2312-1": "中文商品", "MD5-1": "旧接口订单"} {
		if got := m.subjects[order]; got != want {
			t.Errorf("%s subject %q, want %q", order, got, want)
		}
	}
	if rep.Results[0].Charset != "gbk" || rep.Results[0].Subject != "龙井茶 250克" {
		t.Errorf("event info %+v", rep.Results[0].Event)
	}

	// Legacy MD5 with notify_verify against a fake gateway that learns the
	// notify_ids the simulator sends.
	cfg := legacy.config(fast)
	cfg.Gateway = gw
	rep = run(t, cfg, &simulator.Scenario{Trades: []simulator.Trade{
		{Story: simulator.StoryPartialRefund, SignType: "MD5", Refunds: []string{"1.00"}, Duplicates: 1},
		{Story: simulator.StoryPaid, SignType: "WAP_MD5", Duplicates: 1}, // mobile web: notify_id inside notify_data
	}})
	if !rep.OK() || len(legacy.runs()) != 3 {
		t.Fatalf("runs %v\n%s", legacy.runs(), table(rep))
	}
	if len(gw.Requests()) < 3 {
		t.Errorf("the merchant called notify_verify %d times for 3 events", len(gw.Requests()))
	}

	// A GBK escrow trade: legacy callbacks name no charset, so this
	// merchant expects gbk (Legacy.Charset); the Chinese subject and the
	// shipping address arrive as UTF-8, each of the five steps once.
	gbkOpts := alipaytestLegacyOptions(gw)
	gbkOpts.Legacy.Charset = alipaynotify.GBK
	gbk := newMerchant(t, merchantOptions{verify: gbkOpts})
	cfg = gbk.config(fast)
	cfg.Gateway = gw
	rep = run(t, cfg, &simulator.Scenario{Trades: []simulator.Trade{
		{OutTradeNo: "ESCROW-GBK", Story: simulator.StoryEscrowRefunded, Charset: "gbk", Subject: "龙井茶 250克", Duplicates: 1, RaceReturn: true},
	}})
	if !rep.OK() || len(gbk.runs()) != 5 {
		t.Fatalf("runs %v\n%s", gbk.runs(), table(rep))
	}
	for ev, n := range gbk.runs() {
		if n != 1 {
			t.Errorf("event %s handled %d times", ev, n)
		}
	}
	if got := gbk.subjects["ESCROW-GBK"]; got != "龙井茶 250克" {
		t.Errorf("escrow subject %q", got)
	}
	want := alipaytest.DefaultReceiver
	if got := gbk.receivers["ESCROW-GBK"]; got.Name != want.Name || got.Address != want.Address || got.Mobile != want.Mobile {
		t.Errorf("escrow receiver %+v", got.Masked())
	}
}

// TestStrictSuccess: only a body of exactly "success" acknowledges; a
// trailing newline, another case, a page or a redirect do not.
func TestStrictSuccess(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		ok     bool
	}{
		{"exact", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "success") }, true},
		{"exact with 500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500); io.WriteString(w, "success") }, true},
		{"newline", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "success\n") }, false},
		{"upper", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "SUCCESS") }, false},
		{"page", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>success</html>") }, false},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/ok" {
				io.WriteString(w, "success")
				return
			}
			http.Redirect(w, r, "/ok", http.StatusFound)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(tc.answer))
			defer srv.Close()
			rep := run(t, simulator.Config{NotifyURL: srv.URL + "/notify", Key: alipaytest.TestKey(), Speed: fast * 10},
				&simulator.Scenario{Trades: []simulator.Trade{{Story: simulator.StoryPaid}}})
			if r := rep.Results[0]; r.Acknowledged != tc.ok || (tc.ok && r.Attempts != 1) || (!tc.ok && r.Attempts != 8) {
				t.Fatalf("acknowledged %v after %d tries: %s", r.Acknowledged, r.Attempts, r.Answers[0].Short())
			}
		})
	}
}

// TestTimeoutRetried: an answer slower than the timeout counts as a
// failure and the notification is retried.
func TestTimeoutRetried(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		io.WriteString(w, "success")
	}))
	defer srv.Close()
	defer close(release)
	rep := run(t, simulator.Config{NotifyURL: srv.URL, Key: alipaytest.TestKey(), Speed: fast, Timeout: 100 * time.Millisecond},
		&simulator.Scenario{Trades: []simulator.Trade{{Story: simulator.StoryPaid}}})
	r := rep.Results[0]
	if !r.Acknowledged || r.AckAttempt != 2 || r.Answers[0].Err != "timeout" {
		t.Fatalf("%+v", r)
	}
}

// TestWorkersBound: no more deliveries in flight than Config.Workers.
func TestWorkersBound(t *testing.T) {
	// Each run takes 50 ms (and duplicates wait for it), so the three
	// workers are busy at once even on a loaded machine.
	m := newMerchant(t, merchantOptions{sleep: 50 * time.Millisecond})
	cfg := m.config(fast)
	cfg.Workers = 3
	rep := run(t, cfg, &simulator.Scenario{Trades: []simulator.Trade{{Story: simulator.StoryPaid, Duplicates: 4, Repeat: 10}}})
	if !rep.OK() {
		t.Fatalf("%s", table(rep))
	}
	if got := m.maxFlight.Load(); got > 3 || got < 2 {
		t.Errorf("max in flight %d, want 2..3", got)
	}
}

// TestCancel: stopping the run returns the report so far, marked
// interrupted.
func TestCancel(t *testing.T) {
	m := newMerchant(t, merchantOptions{always: true})
	sim, err := simulator.New(m.config(3600)) // 24h22m would take 24 s
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err := sim.Run(ctx, &simulator.Scenario{Trades: []simulator.Trade{{Story: simulator.StoryPaid}}})
	if err == nil || rep == nil || !rep.Interrupted || rep.OK() {
		t.Fatalf("err %v, report %+v", err, rep)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("cancel took %s", time.Since(start))
	}
	if r := rep.Results[0]; r.Attempts < 2 || r.Outcome() != "interrupted" {
		t.Errorf("%+v", r)
	}
}

// TestReportJSON: the JSON report carries the results and totals.
func TestReportJSON(t *testing.T) {
	m := newMerchant(t, merchantOptions{failFirst: 1})
	rep := run(t, m.config(fast), &simulator.Scenario{Name: "json", Trades: []simulator.Trade{{Story: simulator.StoryPaid}}})
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Scenario string `json:"scenario"`
		Passed   bool   `json:"passed"`
		Results  []struct {
			Attempts   int   `json:"attempts"`
			AckAttempt int   `json:"ack_attempt"`
			AckAtNS    int64 `json:"ack_at_ns"`
			Answers    []struct {
				Status int    `json:"status"`
				Body   string `json:"body"`
			} `json:"answers"`
		} `json:"results"`
		Totals simulator.Totals `json:"totals"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	r := got.Results[0]
	if got.Scenario != "json" || !got.Passed || r.Attempts != 2 || r.AckAttempt != 2 || r.AckAtNS != int64(2*time.Minute) ||
		r.Answers[0].Body != "fail" || got.Totals.Deliveries != 2 || got.Totals.Retries != 1 {
		t.Fatalf("%s", b.String())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []simulator.Config{
		{},
		{NotifyURL: "ftp://x"},
		{NotifyURL: "http://x/notify?id=1"},
		{NotifyURL: "http://x", Speed: -1},
		{NotifyURL: "http://x", Schedule: []time.Duration{}},
	} {
		if _, err := simulator.New(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	sim, err := simulator.New(simulator.Config{NotifyURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for sc, want := range map[*simulator.Scenario]string{
		{Trades: []simulator.Trade{{Story: "paid"}}}:                       "trades[0].sign_type: RSA2 needs Alipay's private key",
		{Trades: []simulator.Trade{{Story: "paid", SignType: "MD5"}}}:      "trades[0].sign_type: MD5 needs the partner's MD5 key",
		{Hostile: []simulator.Hostile{{Kind: "forged_signature"}}}:         "hostile[0].sign_type: MD5 needs the partner's MD5 key",
		{Trades: []simulator.Trade{{Story: "escrow_finished"}}}:            "trades[0].sign_type: MD5 needs the partner's MD5 key",
		{Trades: []simulator.Trade{{Story: "paid", SignType: "WAP_MD5"}}}:  "trades[0].sign_type: WAP_MD5 needs the partner's MD5 key",
		{Trades: []simulator.Trade{{Story: "paid", SignType: "WAP_0001"}}}: "trades[0].sign_type: WAP_0001 needs Alipay's WAP private key and the merchant's public key",
	} {
		if err := sim.CheckScenario(sc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	sim, err = simulator.New(simulator.Config{NotifyURL: "http://127.0.0.1:1", MD5Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	err = sim.CheckScenario(&simulator.Scenario{Trades: []simulator.Trade{{Story: "paid", SignType: "MD5", RaceReturn: true}}})
	if err == nil || err.Error() != "scenario: trades[0].race_return: needs a return URL" {
		t.Errorf("got %v", err)
	}
}

func TestProgressPrinter(t *testing.T) {
	var log bytes.Buffer
	p := simulator.NewProgressPrinter(&bytes.Buffer{}, &log, time.Millisecond)
	p.Update(simulator.Progress{Simulated: time.Hour, Events: 3})
	time.Sleep(2 * time.Millisecond) // a real duration: the printer prints once per 1ms interval
	p.Update(simulator.Progress{Simulated: 2 * time.Hour, Events: 3, Done: 1, Notifications: 2, Acknowledged: 1, Waiting: 2, NextAt: 3 * time.Hour})
	p.Update(simulator.Progress{Simulated: 3 * time.Hour, Events: 3, Done: 3, Finished: true})
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "+02:00:00") || !strings.Contains(lines[0], "next +03:00:00 (2 waiting)") || !strings.Contains(lines[1], "3/3 done") {
		t.Fatalf("progress lines:\n%s", log.String())
	}
	// A short run prints nothing.
	log.Reset()
	p = simulator.NewProgressPrinter(nil, &log, time.Hour)
	p.Update(simulator.Progress{})
	p.Update(simulator.Progress{Finished: true})
	if log.Len() != 0 {
		t.Fatalf("short run printed %q", log.String())
	}
}

func TestFormatSimAndSchedule(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "+00:00:00", 2 * time.Minute: "+00:02:00", 24*time.Hour + 22*time.Minute: "+24:22:00", -time.Second: "-00:00:01"} {
		if got := simulator.FormatSim(d); got != want {
			t.Errorf("FormatSim(%s) = %s, want %s", d, got, want)
		}
	}
	s, err := simulator.ParseSchedule("0, 2m,10m,10m,1h,2h,6h,15h")
	if err != nil || len(s) != 8 || s[7] != 15*time.Hour {
		t.Fatalf("%v %v", s, err)
	}
	for _, bad := range []string{"", "0,x", "0,-1m"} {
		if _, err := simulator.ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q): no error", bad)
		}
	}
}

// TestLostAcksExhaustSchedule: when every "success" is lost, Alipay gives
// up after its last try and the event is reported unacknowledged (and the
// run still ends).
func TestLostAcksExhaustSchedule(t *testing.T) {
	m := newMerchant(t, merchantOptions{})
	cfg := m.config(fast)
	cfg.Schedule = []time.Duration{0, time.Minute, time.Minute}
	rep := run(t, cfg, &simulator.Scenario{Trades: []simulator.Trade{{Story: simulator.StoryPaid, LostAcks: 5}}})
	r := rep.Results[0]
	if rep.OK() || rep.Interrupted || !r.Done || r.Acknowledged || r.Attempts != 3 || rep.Totals.LostAcks != 3 {
		t.Fatalf("%s", table(rep))
	}
	if len(m.runs()) != 1 {
		t.Fatalf("runs %v", m.runs())
	}
}
