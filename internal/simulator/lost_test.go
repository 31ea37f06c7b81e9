package simulator_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/internal/simulator"
	"github.com/alipaynotify/alipaynotify/middleware"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

// reconcilingShop is a merchant whose notifications may never come: the
// middleware, a business handler that records each run and its source, and
// (when started) two Reconcilers, open platform and legacy, asking the
// simulator's gateway about the orders of the book the simulator writes.
type reconcilingShop struct {
	*httptest.Server
	mw       *middleware.Middleware
	business middleware.HandlerFunc
	verifier *alipaynotify.Verifier
	orders   string

	mu      sync.Mutex
	runs    map[string]int    // handler runs per event
	sources map[string]string // source of the run, per event
	final   map[string]bool   // orders seen reach a terminal status
}

func newReconcilingShop(t *testing.T, orders string) *reconcilingShop {
	t.Helper()
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
		Legacy:           alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: testMD5Key},
	})
	if err != nil {
		t.Fatal(err)
	}
	store := dedupe.NewMemoryStore()
	t.Cleanup(func() { store.Close() })
	mw, err := middleware.New(middleware.Options{Verifier: v, Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := &reconcilingShop{mw: mw, verifier: v, orders: orders,
		runs: map[string]int{}, sources: map[string]string{}, final: map[string]bool{}}
	s.business = func(ctx context.Context, n *alipaynotify.Notification) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		ev := n.Event().String()
		s.runs[ev]++
		s.sources[ev] = string(n.Source)
		if n.TradeStatus.Terminal() {
			s.final[n.OutTradeNo] = true
		}
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/notify", mw.Notify(s.business))
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// pending lists the orders of the book with the given prefix that have not
// reached a terminal status.
func (s *reconcilingShop) pending(prefix string) func(context.Context) ([]string, error) {
	return func(context.Context) ([]string, error) {
		f, err := os.Open(s.orders)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		var out []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			order, _, _ := strings.Cut(sc.Text(), " ")
			if strings.HasPrefix(order, prefix) && !s.final[order] {
				out = append(out, order)
			}
		}
		return out, sc.Err()
	}
}

// reconcile runs the Reconcilers against gatewayURL until ctx ends.
func (s *reconcilingShop) reconcile(t *testing.T, ctx context.Context, gatewayURL string) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	for _, o := range []struct {
		prefix string
		opts   reconcile.Options
	}{
		{"LOST-RSA", reconcile.Options{MerchantPrivateKey: alipaytest.SecondTestKey().PrivateKeyPKCS8PEM()}},
		{"LOST-MD5", reconcile.Options{Protocol: alipaynotify.ProtocolMapi, MD5Key: testMD5Key}},
	} {
		o.opts.Verifier, o.opts.GatewayURL = s.verifier, gatewayURL
		client, err := reconcile.New(o.opts)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := reconcile.NewReconciler(reconcile.ReconcilerOptions{
			Middleware: s.mw, Business: s.business, Querier: client, Pending: s.pending(o.prefix),
			Interval: 40 * time.Millisecond, Rate: 1000, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = rec.Run(ctx)
		}()
	}
	return &wg
}

// lostScenario: every notification of the LOST-* trades is lost for 30
// simulated minutes (tries 1 to 4 of Alipay's schedule); the finished
// trade's TRADE_FINISHED comes after the window, and one trade loses
// nothing.
func lostScenario() *simulator.Scenario {
	lose := simulator.Duration(30 * time.Minute)
	return &simulator.Scenario{Name: "lost", Trades: []simulator.Trade{
		{Story: "paid", OutTradeNo: "LOST-RSA-P", Repeat: 2, LoseNotifies: lose, Duplicates: 1},
		{Story: "finished", OutTradeNo: "LOST-RSA-F", Amount: "12.30", LoseNotifies: lose},
		{Story: "paid", OutTradeNo: "LOST-MD5-P", SignType: "MD5", LoseNotifies: lose},
		{Story: "paid", OutTradeNo: "KEPT-1"},
	}}
}

func newLostSimulator(t *testing.T, notifyURL, orders string) *simulator.Simulator {
	t.Helper()
	sim, err := simulator.New(simulator.Config{
		NotifyURL: notifyURL, Key: alipaytest.TestKey(), MD5Key: testMD5Key,
		QueryGateway: "127.0.0.1:0", AppPublicKey: alipaytest.SecondTestKey().PublicKey(), OrdersFile: orders,
		Speed: 3600, Seed: 11, RunID: "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	if !strings.HasPrefix(sim.GatewayURL(), "http://127.0.0.1:") || !strings.HasSuffix(sim.GatewayURL(), "/gateway.do") {
		t.Fatalf("GatewayURL %q", sim.GatewayURL())
	}
	return sim
}

// TestLostNotificationsFoundByQuery: the merchant's Reconcilers find every
// paid order through the simulator's gateway while its notifications are
// lost; the handler runs once per event, by query for the lost ones, and
// the late notifications are answered "success" as duplicates.
func TestLostNotificationsFoundByQuery(t *testing.T) {
	t.Parallel()
	orders := filepath.Join(t.TempDir(), "orders.txt")
	if err := os.WriteFile(orders, []byte("# the shop's order book\n\nOLD-1 1.00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	shop := newReconcilingShop(t, orders)
	sim := newLostSimulator(t, shop.URL+"/notify", orders)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recCtx, stopRec := context.WithCancel(ctx)
	wg := shop.reconcile(t, recCtx, sim.GatewayURL())
	rep, err := sim.Run(ctx, lostScenario())
	stopRec()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		rep.WriteTable(os.Stderr, false)
		t.Fatalf("report not OK: %+v", rep.Totals)
	}
	// LOST-RSA-P-1, -2, LOST-RSA-F's TRADE_SUCCESS and LOST-MD5-P are lost
	// and found; LOST-RSA-F's TRADE_FINISHED is due at the end of the
	// window, and KEPT-1 loses nothing.
	tot := rep.Totals
	if tot.Lost != 4 || tot.QueryVisible != 4 || tot.FoundByQuery != 4 || tot.LostTries != 16 || tot.Queries == 0 {
		t.Fatalf("totals %+v", tot)
	}
	for _, res := range rep.Results {
		lost := res.TradeStatus == "TRADE_SUCCESS" && strings.HasPrefix(res.OutTradeNo, "LOST")
		if lost != (res.LostTries == 4) || lost != res.FoundByQuery {
			t.Errorf("%s: lost tries %d, found by query %v", res.ID, res.LostTries, res.FoundByQuery)
		}
		if lost && (res.Answers[0].Attempt != 5 || !res.Acknowledged || res.Queries == 0 || res.FoundAt >= res.Answers[0].Sent) {
			t.Errorf("%s: late notify %+v, queries %d, found at %s", res.ID, res.Answers[0], res.Queries, simulator.FormatSim(res.FoundAt))
		}
		if lost && res.Outcome() != "found by query; late notify acknowledged" {
			t.Errorf("%s: outcome %q", res.ID, res.Outcome())
		}
	}
	shop.mu.Lock()
	defer shop.mu.Unlock()
	if len(shop.runs) != tot.Notifications {
		t.Errorf("%d events handled, %d notified: %v", len(shop.runs), tot.Notifications, shop.runs)
	}
	for _, res := range rep.Results {
		ev := alipaytest.DefaultAppID + "|" + res.OutTradeNo + "|" + res.TradeStatus + "||"
		if res.SignType == "MD5" {
			ev = alipaytest.DefaultPID + "|" + res.OutTradeNo + "|" + res.TradeStatus + "||"
		}
		want := "notify"
		if res.FoundByQuery {
			want = "query"
		}
		if shop.runs[ev] != 1 || shop.sources[ev] != want {
			t.Errorf("%s: handled %d times, by %q; want once, by %s (%v)", ev, shop.runs[ev], shop.sources[ev], want, shop.runs)
		}
	}
	book, err := os.ReadFile(orders)
	if err != nil {
		t.Fatal(err)
	}
	want := "# the shop's order book\n\nOLD-1 1.00\n"
	lines := strings.SplitAfter(strings.TrimPrefix(string(book), want), "\n")
	got := map[string]bool{}
	for _, l := range lines {
		if l != "" {
			got[l] = true
		}
	}
	for _, l := range []string{"LOST-RSA-P-1 88.88\n", "LOST-RSA-P-2 88.88\n", "LOST-RSA-F 12.30\n", "LOST-MD5-P 88.88\n", "KEPT-1 88.88\n"} {
		if !got[l] {
			t.Errorf("order book lacks %q:\n%s", l, book)
		}
	}
	if !strings.HasPrefix(string(book), want) || len(got) != 5 {
		t.Errorf("order book:\n%s", book)
	}
}

// TestLostNotificationsNotReconciled: a merchant that never asks the
// gateway handles the late notifications (answering "success"), but the
// report fails each lost payment as not found by query.
func TestLostNotificationsNotReconciled(t *testing.T) {
	t.Parallel()
	orders := filepath.Join(t.TempDir(), "orders.txt")
	shop := newReconcilingShop(t, orders)
	sim := newLostSimulator(t, shop.URL+"/notify", orders)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := sim.Run(ctx, lostScenario())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Totals.Acknowledged != rep.Totals.Notifications || rep.Totals.FoundByQuery != 0 || rep.Totals.QueryVisible != 4 {
		t.Fatalf("report OK=%v, totals %+v", rep.OK(), rep.Totals)
	}
	var b strings.Builder
	rep.WriteTable(&b, true)
	if n := strings.Count(b.String(), "NOT FOUND BY QUERY"); n != 4 {
		t.Errorf("%d rows NOT FOUND BY QUERY, want 4:\n%s", n, b.String())
	}
	if !strings.Contains(b.String(), "4 tries lost, 0 queries, none found it") || !strings.Contains(b.String(), "0/4 found by query first") {
		t.Errorf("table:\n%s", b.String())
	}
}

// TestLostNotificationsValidation: lose_notifies is checked like the other
// trade fields.
func TestLostNotificationsValidation(t *testing.T) {
	t.Parallel()
	sim, err := simulator.New(simulator.Config{NotifyURL: "http://127.0.0.1:1/notify", ReturnURL: "http://127.0.0.1:1/return", Key: alipaytest.TestKey()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		trade simulator.Trade
		want  string
	}{
		{simulator.Trade{Story: "paid", LoseNotifies: -1}, "trades[0].lose_notifies: must not be negative"},
		{simulator.Trade{Story: "paid", LoseNotifies: simulator.Duration(time.Hour), RaceReturn: true}, "trades[0].race_return: a trade whose notifications are lost"},
		{simulator.Trade{Story: "paid", LoseNotifies: simulator.Duration(25 * time.Hour)}, "trades[0].lose_notifies: 25h0m0s is longer than the schedule's last try (24h22m0s after the first)"},
	} {
		err := sim.CheckScenario(&simulator.Scenario{Trades: []simulator.Trade{tt.trade}})
		var se *simulator.ScenarioError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.trade, err, tt.want)
		}
	}
	sc, err := simulator.ParseScenario([]byte(`{"gateway": "127.0.0.1:9090", "trades": [{"story": "paid", "lose_notifies": "30m"}]}`))
	if err != nil || sc.Gateway != "127.0.0.1:9090" || time.Duration(sc.Trades[0].LoseNotifies) != 30*time.Minute {
		t.Errorf("ParseScenario: %+v, %v", sc, err)
	}
	if _, err := simulator.New(simulator.Config{NotifyURL: "http://127.0.0.1:1/", Key: alipaytest.TestKey(), QueryGateway: "127.0.0.1:0"}); err == nil ||
		!strings.Contains(err.Error(), "app public key") {
		t.Errorf("a gateway without the app public key: %v", err)
	}
	if _, err := simulator.New(simulator.Config{NotifyURL: "http://127.0.0.1:1/", MD5Key: "k", QueryGateway: "256.0.0.1:0"}); err == nil {
		t.Error("a gateway on a bad address started")
	}
}
