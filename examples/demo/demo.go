package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/internal/simulator"
	"github.com/alipaynotify/alipaynotify/middleware"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

// config tunes the demo.
type config struct {
	// Speed is the time compression: simulated seconds per wall-clock
	// second.
	Speed float64
	// RedisURL, when set, keeps the dedupe state in Redis.
	RedisURL string
	// Seed makes the return page's race repeatable (0: random).
	Seed uint64
	// Key is Alipay's signing key. Default: a fresh RSA-2048 key.
	Key *alipaytest.KeyPair
	// FlakyFailures is how many times the handler fails for the flaky order
	// before it succeeds. Alipay tries 8 times: 8 or more is an order the
	// merchant never acknowledges.
	FlakyFailures int
}

func defaultConfig() config { return config{Speed: 1800, FlakyFailures: 2} }

// The orders of the demo's traffic.
const (
	orderFlaky   = "1001" // the handler fails twice before it succeeds
	orderRace    = "1002" // return page racing the notification, duplicates
	orderGBK     = "1003" // GBK payload with a Chinese subject
	orderRefunds = "1004" // two partial refunds, acknowledgements lost
	orderLate    = "1005" // TRADE_FINISHED first, TRADE_SUCCESS late
	orderLegacy  = "1006" // legacy MD5 with notify_verify
	orderEscrow  = "1007" // legacy escrow (担保交易): four status changes, each re-sent
	orderWAP     = "1008" // legacy mobile web (alipay.wap.*), return racing
	orderGivenUp = "1009" // the handler fails on all 8 tries: a dead letter, replayed
	orderLost    = "1010" // every notification lost for 30m, no return: found by query
)

// The lost order: its notifications are lost in transit for lostFor after
// it starts (Alipay's tries 1 to 4), and the merchant's Reconciler asks
// Alipay about orders still unpaid reconcileAfter after checkout.
const (
	lostStart      = 2 * time.Minute
	lostFor        = 30 * time.Minute
	reconcileAfter = 20 * time.Minute
	// reconcileTick is the Reconciler's interval in simulated time; its
	// wall-clock interval is reconcileTick/Speed, at least
	// minReconcileInterval, so above maxReconcileSpeed the ticks cannot
	// keep up with the story and the lost order is left out.
	reconcileTick        = 3 * time.Minute
	minReconcileInterval = 10 * time.Millisecond
	maxReconcileSpeed    = float64(reconcileTick / minReconcileInterval)
)

// scenario is 100 minutes of realistic Alipay traffic: every kind of
// delivery a merchant meets in a day, compressed.
//
// With lost, one more payment loses all its notifications for a while.
func scenario(prefix string, lost bool) *simulator.Scenario {
	at := func(d time.Duration) simulator.Duration { return simulator.Duration(d) }
	sc := &simulator.Scenario{
		Name: "100 minutes of Alipay traffic",
		Trades: []simulator.Trade{
			{OutTradeNo: prefix + orderFlaky, Story: simulator.StoryPaid, Amount: "59.00", Subject: "Coffee beans 1kg"},
			{OutTradeNo: prefix + orderRace, Story: simulator.StoryPaid, Amount: "128.00", Subject: "Headphones",
				Start: at(time.Minute), RaceReturn: true, Duplicates: 2},
			{OutTradeNo: prefix + orderGBK, Story: simulator.StoryPaid, Amount: "36.50", Subject: "西湖龙井茶 250克",
				Charset: "gbk", Start: at(3 * time.Minute)},
			{OutTradeNo: prefix + orderRefunds, Story: simulator.StoryPartialRefund, Amount: "100.00", Subject: "Running shoes",
				Refunds: []string{"10.00", "5.00"}, LostAcks: 1, Start: at(5 * time.Minute), Interval: at(20 * time.Minute)},
			{OutTradeNo: prefix + orderLate, Story: simulator.StoryFinished, Amount: "20.00", Subject: "E-book",
				OutOfOrder: true, Start: at(10 * time.Minute), Interval: at(50 * time.Minute)},
			{OutTradeNo: prefix + orderLegacy, Story: simulator.StoryPaid, Amount: "9.90", Subject: "Phone case",
				SignType: "MD5", Start: at(15 * time.Minute)},
			{OutTradeNo: prefix + orderEscrow, Story: simulator.StoryEscrowFinished, Amount: "299.00", Subject: "Desk lamp",
				Duplicates: 1, Start: at(40 * time.Minute), Interval: at(20 * time.Minute)},
			{OutTradeNo: prefix + orderWAP, Story: simulator.StoryPaid, Amount: "15.00", Subject: "Phone charger",
				SignType: "WAP_MD5", RaceReturn: true, Start: at(45 * time.Minute)},
		},
		Hostile: []simulator.Hostile{
			{Kind: simulator.HostileForgedSignature, At: at(20 * time.Minute)},
			{Kind: simulator.HostileTamperedAmount, At: at(30 * time.Minute)},
		},
	}
	if lost {
		sc.Trades = append(sc.Trades, simulator.Trade{OutTradeNo: prefix + orderLost, Story: simulator.StoryPaid, Amount: "66.00",
			Subject: "Bluetooth speaker", LoseNotifies: at(lostFor), Start: at(lostStart)})
	}
	return sc
}

// errDatabaseBusy is what the flaky order's handler fails with.
var errDatabaseBusy = errors.New("database busy")

// note is what the merchant did with one delivery.
type note struct {
	ran, stale, duplicate bool
	failed, rejected      error
	subject               string
	charset               alipaynotify.Charset
	signType              alipaynotify.SignType
}

type noteKey struct{}

// shop is the merchant: its business handler "marks orders paid" and
// records, per delivery, what happened.
type shop struct {
	failFirst map[string]int // out_trade_no → runs to fail

	mu         sync.Mutex
	failed     map[string]int  // out_trade_no → runs failed so far
	handled    map[string]int  // event → successful runs
	heard      map[string]bool // out_trade_no → the handler ran for it, failing or not
	notes      map[string]*note
	failedRuns int
	duplicates int
	stale      int
}

func newShop(failFirst map[string]int) *shop {
	return &shop{failFirst: failFirst, failed: map[string]int{}, handled: map[string]int{}, heard: map[string]bool{}, notes: map[string]*note{}}
}

// track gives every request a note, found again by the simulator's delivery
// header.
func (s *shop) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := &note{}
		s.mu.Lock()
		s.notes[r.Header.Get(simulator.DeliveryHeader)] = n
		s.mu.Unlock()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), noteKey{}, n)))
	})
}

func (s *shop) note(ctx context.Context, f func(*note)) {
	if n, ok := ctx.Value(noteKey{}).(*note); ok {
		s.mu.Lock()
		f(n)
		s.mu.Unlock()
	}
}

// markPaid is the business handler.
func (s *shop) markPaid(ctx context.Context, n *alipaynotify.Notification) error {
	d, _ := middleware.DeliveryFromContext(ctx)
	s.mu.Lock()
	fail := s.failed[n.OutTradeNo] < s.failFirst[n.OutTradeNo]
	s.heard[n.OutTradeNo] = true
	if fail {
		s.failed[n.OutTradeNo]++
		s.failedRuns++
	} else {
		s.handled[n.Event().String()]++
	}
	s.mu.Unlock()
	s.note(ctx, func(nt *note) {
		if fail {
			nt.failed = errDatabaseBusy
			return
		}
		nt.ran, nt.stale = true, d != nil && d.Stale
		nt.subject, nt.charset, nt.signType = n.Subject, n.Charset, n.SignType
	})
	if fail {
		return errDatabaseBusy
	}
	return nil
}

func (s *shop) hooks() middleware.Hooks {
	return middleware.Hooks{
		Rejected: func(ctx context.Context, r middleware.Rejection) {
			s.note(ctx, func(n *note) { n.rejected = r.Err })
		},
		Duplicate: func(ctx context.Context, _ *alipaynotify.Notification) {
			s.note(ctx, func(n *note) { n.duplicate = true })
			s.mu.Lock()
			s.duplicates++
			s.mu.Unlock()
		},
		Stale: func(ctx context.Context, _ *alipaynotify.Notification) {
			s.mu.Lock()
			s.stale++
			s.mu.Unlock()
		},
	}
}

// returnPage is what the buyer sees after paying: Chinese, with English
// beneath.
func returnPage(w http.ResponseWriter, r *http.Request) {
	d, _ := middleware.DeliveryFromContext(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	order := d.Notification.OutTradeNo
	if d.Outcome.Acknowledged() {
		fmt.Fprintf(w, "谢谢！订单 %s 已支付。\nThank you! Order %s is paid.", order, order)
		return
	}
	fmt.Fprintf(w, "谢谢！我们正在确认订单 %s 的付款。\nThank you! We are confirming the payment of order %s.", order, order)
}

// summary is what the demo counts.
type summary struct {
	deliveries, events, handlerRuns, failedRuns, duplicates, stale int
	notifications, acknowledged, hostile, refused, notifyVerify    int
	lost, foundByQuery, queries                                    int
	simulated, wall                                                time.Duration
}

// run starts the merchant, plays the traffic at it and writes the timeline and
// the summary to w. It fails when the merchant did not behave.
func run(ctx context.Context, w io.Writer, cfg config) error {
	// Alipay's side: a fresh RSA key for the open platform, a partner with
	// an MD5 key for the legacy gateway, and a fake notify_verify gateway.
	key := cfg.Key
	if key == nil {
		k, err := alipaytest.NewKeyPair(2048)
		if err != nil {
			return err
		}
		key = k
	}
	md5Key := randomHex(16)
	gateway := alipaytest.NewNotifyVerifyServer()
	defer gateway.Close()

	// The merchant.
	verifier, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{key.PublicKeyPEM()},
		Legacy:           alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: md5Key, NotifyVerify: true, NotifyVerifyURL: gateway.GatewayURL()},
	})
	if err != nil {
		return err
	}
	store, storeName, prefix, closeStore, err := openStore(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	defer closeStore()
	sh := newShop(map[string]int{prefix + orderFlaky: cfg.FlakyFailures, prefix + orderGivenUp: len(simulator.AlipaySchedule)})
	mw, err := middleware.New(middleware.Options{
		Verifier: verifier,
		Store:    store,
		Logger:   slog.New(slog.DiscardHandler), // the timeline tells the story
		Hooks:    sh.hooks(),
	})
	if err != nil {
		return err
	}
	business := middleware.HandlerFunc(sh.markPaid)
	mux := http.NewServeMux()
	mux.Handle("/alipay/notify", mw.Notify(business))
	mux.Handle("/alipay/return", mw.Return(business, http.HandlerFunc(returnPage)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sh.track(mux), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Shutdown(context.WithoutCancel(ctx))
	base := "http://" + ln.Addr().String()

	fmt.Fprintf(w, "Merchant on %s: alipaynotify verifier + middleware, %s dedupe store.\n", base, storeName)
	fmt.Fprintf(w, "Alipay: a fresh RSA-2048 key (app %s) and a legacy partner %s with an MD5 key and notify_verify.\n",
		alipaytest.DefaultAppID, alipaytest.DefaultPID)

	// Alipay's side, played by the simulator, with Alipay's trade-query
	// gateway on loopback.
	var mu sync.Mutex
	var rows []row
	var started atomic.Pointer[time.Time] // simulated time 0
	sim, err := simulator.New(simulator.Config{
		NotifyURL:    base + "/alipay/notify",
		ReturnURL:    base + "/alipay/return",
		Key:          key,
		MD5Key:       md5Key,
		Gateway:      gateway,
		QueryGateway: "127.0.0.1:0",
		AppPublicKey: appKey.PublicKey(),
		Speed:        cfg.Speed,
		Seed:         cfg.Seed,
		OnStart:      func(t time.Time) { started.Store(&t) },
		OnDelivery: func(ev simulator.Event, a simulator.Answer) {
			mu.Lock()
			rows = append(rows, row{ev: ev, a: a})
			mu.Unlock()
		},
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	reconciling := cfg.Speed <= maxReconcileSpeed
	if reconciling {
		fmt.Fprintf(w, "Alipay's query gateway on %s; the merchant's Reconciler asks it about orders not heard of %s after checkout.\n",
			sim.GatewayURL(), reconcileAfter)
	} else {
		fmt.Fprintf(w, "At ×%g the Reconciler's ticks cannot keep up (above ×%g): the lost payment is left out.\n", cfg.Speed, maxReconcileSpeed)
	}
	fmt.Fprintf(w, "Playing 100 minutes of Alipay traffic at ×%g (Alipay's 2-minute retry takes %s)...\n\n",
		cfg.Speed, (time.Duration(float64(2*time.Minute) / cfg.Speed)).Round(time.Millisecond))
	sc := scenario(prefix, reconciling)
	stopReconciler := func() {}
	if reconciling {
		stopReconciler, err = startReconciler(mw, business, verifier, sim.GatewayURL(), sh, sc, cfg.Speed, &started, func(q row) {
			mu.Lock()
			rows = append(rows, q)
			mu.Unlock()
		})
		if err != nil {
			return err
		}
	}
	rep, err := sim.Run(ctx, sc)
	stopReconciler()
	if err != nil {
		return err
	}

	sm := summary{
		deliveries: rep.Totals.Deliveries, notifications: rep.Totals.Notifications, acknowledged: rep.Totals.Acknowledged,
		hostile: rep.Totals.Hostile, refused: rep.Totals.Refused, notifyVerify: len(gateway.Requests()),
		lost: rep.Totals.QueryVisible, foundByQuery: rep.Totals.FoundByQuery, queries: rep.Totals.Queries,
		simulated: rep.Simulated, wall: rep.Wall,
	}
	sh.mu.Lock()
	writeTimeline(w, rows, sh.notes)
	sm.events, sm.failedRuns, sm.duplicates, sm.stale = len(sh.handled), sh.failedRuns, sh.duplicates, sh.stale
	var twice []string
	for ev, n := range sh.handled {
		sm.handlerRuns += n
		if n != 1 {
			twice = append(twice, fmt.Sprintf("%s ran %d times", ev, n))
		}
	}
	sh.mu.Unlock()
	sm.handlerRuns += sm.failedRuns
	writeSummary(w, sm)
	recovered := recoverDeadLetter(ctx, w, mw, business, sh, alipaytest.NewSigner(key), base+"/alipay/notify", prefix+orderGivenUp)

	// The verdict.
	var problems []string
	if !rep.OK() {
		for _, r := range rep.Results {
			if !r.OK {
				problems = append(problems, fmt.Sprintf("%s: %s", r.ID, r.Outcome()))
			}
		}
	}
	slices.Sort(twice)
	problems = append(problems, twice...)
	if sm.events != sm.notifications {
		problems = append(problems, fmt.Sprintf("%d events handled, want %d (one per notification)", sm.events, sm.notifications))
	}
	if recovered != nil {
		problems = append(problems, "dead letter: "+recovered.Error())
	}
	if len(problems) > 0 {
		fmt.Fprintf(w, "\nFAIL\n  %s\n", strings.Join(problems, "\n  "))
		return fmt.Errorf("the merchant misbehaved: %s", strings.Join(problems, "; "))
	}
	lostNote := ""
	if reconciling {
		lostNote = "the lost payment found by query, "
	}
	fmt.Fprintln(w, "\nOK: every event handled exactly once, every notification acknowledged, forged callbacks refused, "+
		lostNote+"the dead letter recovered.")
	return nil
}

// openStore returns the dedupe store: Redis when url is set, else memory.
// With Redis the order numbers get a per-run prefix, since the state of
// earlier runs is still there.
func openStore(ctx context.Context, url string) (dedupe.Store, string, string, func(), error) {
	if url == "" {
		st := dedupe.NewMemoryStore()
		return st, "in-memory", "ORDER-", func() { st.Close() }, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, "", "", nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	client := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		client.Close()
		return nil, "", "", nil, fmt.Errorf("REDIS_URL: cannot reach Redis at %s: %w", opts.Addr, err)
	}
	st, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		client.Close()
		return nil, "", "", nil, err
	}
	return st, "Redis (" + opts.Addr + ")", "ORDER-" + randomHex(3) + "-", func() { client.Close() }, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// row is one delivery of the timeline, or one query of the merchant's
// Reconciler (q set).
type row struct {
	ev simulator.Event
	a  simulator.Answer
	q  *queryRow
}

// queryRow is a query the Reconciler sent and what came of it.
type queryRow struct {
	at    time.Duration // simulated
	order string
	res   reconcile.Result
	err   error
}

// at is the row's simulated time.
func (r row) at() time.Duration {
	if r.q != nil {
		return r.q.at
	}
	return r.a.Scheduled
}

// writeTimeline prints the deliveries in simulated-time order with the
// merchant's side of each.
func writeTimeline(w io.Writer, rows []row, notes map[string]*note) {
	slices.SortStableFunc(rows, func(x, y row) int {
		return cmp.Or(cmp.Compare(x.at(), y.at()), cmp.Compare(x.ev.Index, y.ev.Index), cmp.Compare(x.a.Copy, y.a.Copy))
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tFROM\tREQUEST\tANSWER\tMERCHANT")
	for _, r := range rows {
		if r.q != nil {
			fmt.Fprintf(tw, "%s\tmerchant\t%s\t%s\t%s\n", simulator.FormatSim(r.q.at), "POST gateway alipay.trade.query "+r.q.order,
				queryAnswer(r.q), querySide(r.q))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n",
			simulator.FormatSim(r.a.Scheduled), from(r.ev), request(r.ev, r.a), answer(r.ev, r.a), merchantSide(r.a, notes[r.a.DeliveryID]))
	}
	tw.Flush()
	fmt.Fprintln(w, timelineLegend)
}

// timelineLegend is printed under the timeline: rows sent at the same moment
// race, and the two kinds of copies differ by their notify_id.
const timelineLegend = "Rows follow the schedule, but copies sent at once race: whichever arrives first runs the handler. " +
	"(duplicate): the same notify_id again; (re-sent): the same status under a new notify_id. " +
	"(tries 1-4 lost): every notification of the order was lost in transit and the buyer never came back; " +
	"the merchant's Reconciler found the payment by asking Alipay (alipay.trade.query), so Alipay's late retry is a duplicate."

func from(ev simulator.Event) string {
	switch ev.Kind {
	case simulator.KindReturn:
		return "browser"
	case simulator.KindHostile:
		return "attacker"
	}
	return "alipay"
}

func request(ev simulator.Event, a simulator.Answer) string {
	var s string
	switch ev.Kind {
	case simulator.KindReturn:
		s = "GET return_url " + ev.OutTradeNo + " (racing the notification)"
	case simulator.KindHostile:
		s = "POST notify_url " + strings.ReplaceAll(string(ev.Hostile), "_", " ")
	default:
		s = "POST notify_url " + ev.OutTradeNo + " " + ev.TradeStatus
		if ev.OutBizNo != "" {
			s += " refund " + ev.OutBizNo[strings.LastIndexByte(ev.OutBizNo, '-')+1:]
		}
		if ev.Charset != "utf-8" {
			s += " [" + ev.Charset + "]"
		}
		switch ev.SignType {
		case "MD5":
			s += " [MD5]"
		case "WAP_MD5", "WAP_0001":
			s += " [mobile web]"
		}
	}
	switch {
	case a.Copy > 0 && a.NotifyID == ev.NotifyID:
		s += " (duplicate)"
	case a.Copy > 0:
		s += " (re-sent)"
	case ev.LoseUntil > 0 && a.Attempt > 1:
		s += fmt.Sprintf(" (try %d; tries 1-%d lost)", a.Attempt, a.Attempt-1)
	case a.Attempt > 1:
		s += fmt.Sprintf(" (try %d)", a.Attempt)
	}
	return s
}

// queryAnswer is what the gateway said.
func queryAnswer(q *queryRow) string {
	switch {
	case q.err != nil:
		return "error: " + q.err.Error()
	case q.res.Notification != nil:
		return string(q.res.Notification.TradeStatus)
	}
	return q.res.State.String()
}

// querySide is what the merchant did with the answer.
func querySide(q *queryRow) string {
	switch {
	case q.res.Delivery == nil:
		return "nothing to deliver"
	case q.res.Delivery.Outcome == middleware.OutcomeHandled:
		return "handler ran ✓ (recovered by query: every notification was lost)"
	case q.res.Delivery.Outcome == middleware.OutcomeDuplicate:
		return "duplicate: handler skipped"
	}
	return q.res.Delivery.Outcome.String()
}

// startReconciler runs the merchant's Reconciler until the returned
// function is called: every tick (three simulated minutes) it asks the
// gateway about the open-platform orders of the scenario that nothing was
// heard of reconcileAfter after their checkout (a payment whose handler
// failed is Alipay's to retry), and reports each query to add.
func startReconciler(mw *middleware.Middleware, business http.Handler, v *alipaynotify.Verifier, gatewayURL string, sh *shop,
	sc *simulator.Scenario, speed float64, started *atomic.Pointer[time.Time], add func(row)) (func(), error) {
	client, err := reconcile.New(reconcile.Options{Verifier: v, MerchantPrivateKey: appKey.PrivateKeyPKCS8PEM(), GatewayURL: gatewayURL})
	if err != nil {
		return nil, err
	}
	simNow := func() time.Duration {
		t0 := started.Load()
		if t0 == nil {
			return -1 // the simulation has not started
		}
		return time.Duration(float64(time.Since(*t0)) * speed)
	}
	rec, err := reconcile.NewReconciler(reconcile.ReconcilerOptions{
		Middleware: mw, Business: business, Querier: client,
		Pending: func(context.Context) ([]string, error) {
			now := simNow()
			sh.mu.Lock()
			defer sh.mu.Unlock()
			var out []string
			for _, t := range sc.Trades {
				if (t.SignType == "" || t.SignType == "RSA2") && time.Duration(t.Start)+reconcileAfter <= now && !sh.heard[t.OutTradeNo] {
					out = append(out, t.OutTradeNo)
				}
			}
			return out, nil
		},
		Interval: max(time.Duration(float64(reconcileTick)/speed), minReconcileInterval),
		Rate:     1000,
		Logger:   slog.New(slog.DiscardHandler),
		Hooks: reconcile.Hooks{Queried: func(_ context.Context, r reconcile.Result, err error) {
			add(row{q: &queryRow{at: simNow().Round(time.Second), order: r.OutTradeNo, res: r, err: err}})
		}},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = rec.Run(ctx)
	}()
	return func() { cancel(); <-done }, nil
}

// appKey is the merchant's app key pair (应用私钥 and 应用公钥): its private
// half signs the Reconciler's queries, and Alipay's gateway checks them
// with the public half.
var appKey = alipaytest.SecondTestKey()

func answer(ev simulator.Event, a simulator.Answer) string {
	if a.Err != "" {
		return "error: " + a.Err
	}
	body := a.Body
	if ev.Kind == simulator.KindReturn {
		body = "page"
	}
	return fmt.Sprintf("%d %s", a.Status, body)
}

func merchantSide(a simulator.Answer, n *note) string {
	switch {
	case n == nil:
		return "-"
	case n.rejected != nil:
		return "refused: " + strings.TrimPrefix(n.rejected.Error(), "alipaynotify: ")
	case n.failed != nil:
		return "handler failed (" + n.failed.Error() + "): Alipay will retry"
	case n.ran:
		s := "handler ran ✓"
		if n.stale {
			s += " (flagged stale: a later status was handled first)"
		}
		if n.charset != alipaynotify.UTF8 {
			s += fmt.Sprintf(" subject %q decoded from %s", n.subject, n.charset)
		}
		if n.signType == alipaynotify.SignMD5 {
			s += " (MD5 + notify_verify)"
		}
		if a.Lost {
			s += "; the answer is lost on the way back: Alipay will retry"
		}
		return s
	case n.duplicate:
		return "duplicate: handler skipped"
	case a.Status == http.StatusMethodNotAllowed:
		return "refused: wrong method"
	}
	return "-"
}

func writeSummary(w io.Writer, s summary) {
	fmt.Fprintf(w, "\nSummary (simulated %s in %s)\n", simulator.FormatSim(s.simulated), s.wall.Round(time.Millisecond))
	line := func(label string, v int, note string) {
		fmt.Fprintf(w, "  %-24s %3d  %s\n", label, v, note)
	}
	line("deliveries", s.deliveries, "HTTP requests from Alipay, the browser and the attacker")
	line("notifications", s.notifications, fmt.Sprintf("%d acknowledged with \"success\"", s.acknowledged))
	line("events handled", s.events, "each exactly once")
	line("handler runs", s.handlerRuns, fmt.Sprintf("%d failed (database busy) and were retried by Alipay", s.failedRuns))
	line("duplicates absorbed", s.duplicates, "answered \"success\" without running the handler")
	line("stale deliveries", s.stale, "delivered once, flagged: a later status came first")
	line("notify_verify checks", s.notifyVerify, "legacy notifications confirmed with Alipay")
	line("found by query", s.foundByQuery, fmt.Sprintf("of %d payments whose notifications were all lost (gateway queries: %d)", s.lost, s.queries))
	line("refused", s.refused, fmt.Sprintf("of %d forged callbacks", s.hostile))
}

// recoverDeadLetter plays issue 17's story after the traffic: Alipay tries
// one more payment 8 times (its 24h22m schedule, back to back) and the
// handler fails every time, so Alipay gives up; the payment is a dead
// letter; the handler is fixed (its failures, "database busy", are used up) and an operator
// replays the dead letter in-process, as the ops page's replay button does
// (package ops; cmd/alipayops re-sends it to notify_url instead); it runs
// once, and Alipay's late retry is a duplicate. It reports what went wrong.
func recoverDeadLetter(ctx context.Context, w io.Writer, mw *middleware.Middleware, business http.Handler, sh *shop,
	signer *alipaytest.Signer, notifyURL, order string) error {
	fmt.Fprintf(w, "\nRecovering a dead letter: the handler of %s fails on all of Alipay's tries\n", order)
	paid := signer.NewTrade(order, "42.00").Paid()
	post := func() (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, notifyURL, strings.NewReader(string(paid.Encode())))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
		return fmt.Sprintf("%d %s", resp.StatusCode, b), err
	}
	for i, at := range simulator.Offsets(simulator.AlipaySchedule) {
		got, err := post()
		if err != nil {
			return err
		}
		if got != "500 fail" {
			return fmt.Errorf("try %d was answered %q, want a failure", i+1, got)
		}
		then := ": Alipay will retry"
		if i == len(simulator.AlipaySchedule)-1 {
			then = ": Alipay's last try"
		}
		fmt.Fprintf(w, "  %s  alipay  POST notify_url %s TRADE_SUCCESS (try %d)  %s  handler failed (%v)%s\n", simulator.FormatSim(at), order, i+1, got, errDatabaseBusy, then)
	}
	dls, err := mw.DeadLetters(ctx, 10)
	if err != nil {
		return err
	}
	var dl *dedupe.DeadLetter
	for i := range dls {
		if strings.HasSuffix(dls[i].Trade, "|"+order) {
			dl = &dls[i]
		}
	}
	if dl == nil {
		return fmt.Errorf("%s is not a dead letter after Alipay gave up", order)
	}
	fmt.Fprintf(w, "  Alipay gives up. Dead letter: %s %s, %d attempts, last error %q\n", order, dl.ID, dl.Attempts, dl.Err)
	before := sh.runs(order)
	d := mw.Replay(ctx, *dl, business)
	fmt.Fprintf(w, "  The handler is fixed; an operator replays the dead letter (ops page): %s, handler ran %d time(s)\n", d.Outcome, sh.runs(order)-before)
	replayed := sh.runs(order)
	got, err := post()
	if err != nil {
		return err
	}
	side := "duplicate: handler skipped"
	if sh.runs(order) != replayed {
		side = "handler ran again"
	}
	fmt.Fprintf(w, "  +24:30:00  alipay  POST notify_url %s TRADE_SUCCESS (a late copy)  %s  %s\n", order, got, side)
	mw.Wait()
	left, err := mw.DeadLetters(ctx, 10)
	if err != nil {
		return err
	}
	switch {
	case dl.Attempts != len(simulator.AlipaySchedule):
		return fmt.Errorf("%d attempts recorded, want %d", dl.Attempts, len(simulator.AlipaySchedule))
	case d.Outcome != middleware.OutcomeHandled:
		return fmt.Errorf("the replay ended %s (%v)", d.Outcome, d.Err)
	case sh.runs(order) != before+1:
		return fmt.Errorf("the handler ran %d times, want exactly once", sh.runs(order)-before)
	case got != "200 success":
		return fmt.Errorf("the late retry was answered %q", got)
	case len(left) != 0:
		return fmt.Errorf("%d dead letters left after the replay", len(left))
	}
	fmt.Fprintln(w, "  Recovered: 1 dead letter, handled exactly once.")
	return nil
}

// runs returns how many times the handler succeeded for an order.
func (s *shop) runs(order string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for ev, c := range s.handled {
		if strings.Contains(ev, "|"+order+"|") {
			n += c
		}
	}
	return n
}
