package middleware_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// escrowRanks is the status order of docs/protocol-legacy.md, "Escrow event
// identity and rank", restated here so that the test does not trust the code
// under test for it.
var escrowRanks = map[string]int{
	"WAIT_BUYER_PAY":           10,
	"WAIT_SELLER_SEND_GOODS":   20,
	"WAIT_BUYER_CONFIRM_GOODS": 30,
	"TRADE_FINISHED":           40,
	"TRADE_CLOSED":             40,
}

// escrowMessage is one notification of the story with the event identity
// docs/protocol-legacy.md, "Escrow event identity and rank", gives it:
// partner | out_trade_no | trade_status | refund_status | gmt_refund.
type escrowMessage struct {
	name  string
	m     *alipaytest.Message
	event string
	rank  int
	// refund events are never stale: refund rounds do not follow the trade
	// status order.
	refund bool
}

// escrowStory is a whole escrow trade in GBK, as Alipay notifies it.
//
// The two WAIT_BUYER_PAY notifications differ in content (the second one
// reports the buyer's logistics choice and address, is_total_fee_adjust=N)
// but not in identity: the event identity (docs/protocol-legacy.md, "Escrow
// event identity and rank") leaves logistics_*, receive_* and
// is_total_fee_adjust out of it, so the second is a duplicate and the handler
// sees whichever arrives first. The WAIT_SELLER_SEND_GOODS re-sent a day
// later with a new notify_id (docs/protocol-legacy.md, "Which escrow changes
// are notified") is a duplicate too. The refund request keeps trade_status
// WAIT_BUYER_CONFIRM_GOODS but adds refund_status and gmt_refund: a new
// event.
func escrowStory(outTradeNo string) []escrowMessage {
	s := alipaytest.NewLegacySigner(alipaytest.DefaultPID, alipaytest.DefaultMD5Key)
	s.Charset = "gbk"
	tr := s.NewEscrowTrade(outTradeNo, "44.00", "2", "10.00")
	paid := tr.Paid()
	msgs := []escrowMessage{
		{name: "created", m: tr.WaitBuyerPay()},
		{name: "logistics chosen", m: tr.LogisticsChosen()},
		{name: "paid", m: paid},
		{name: "paid, re-sent a day later", m: tr.Resent(paid)},
		{name: "shipped", m: tr.Shipped()},
		{name: "refund requested", m: tr.RefundRequested()},
		{name: "refund succeeded", m: tr.RefundSucceeded()},
	}
	for i := range msgs {
		m := msgs[i].m
		msgs[i].event = strings.Join([]string{alipaytest.DefaultPID, outTradeNo, m.Get("trade_status"), m.Get("refund_status"), m.Get("gmt_refund")}, "|")
		msgs[i].rank = escrowRanks[m.Get("trade_status")]
		msgs[i].refund = m.Get("refund_status") != ""
	}
	return msgs
}

// escrowRun is what the business handler saw of one event.
type escrowRun struct {
	runs     int
	stale    bool
	adjust   bool // IsTotalFeeAdjust of the run's notification
	subject  string
	receiver alipaynotify.Receiver
	charset  alipaynotify.Charset
}

type escrowLedger struct {
	mu   sync.Mutex
	runs map[string]*escrowRun
	// failNext makes the next run of the named trade status fail once.
	failNext string
}

func (l *escrowLedger) handle(ctx context.Context, n *alipaynotify.Notification) error {
	d, ok := middleware.DeliveryFromContext(ctx)
	if !ok {
		return errors.New("no delivery in context")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failNext != "" && string(n.TradeStatus) == l.failNext {
		l.failNext = ""
		return errors.New("order database unavailable")
	}
	key := n.Event().String()
	r := l.runs[key]
	if r == nil {
		r = &escrowRun{}
		l.runs[key] = r
	}
	r.runs++
	r.stale = d.Stale
	r.adjust = n.Legacy.IsTotalFeeAdjust
	r.subject = n.Subject
	r.charset = n.Charset
	if n.Legacy.Receiver != nil {
		r.receiver = *n.Legacy.Receiver
	}
	return nil
}

type escrowServer struct {
	srv    *httptest.Server
	ledger *escrowLedger
	logs   *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newEscrowServer runs the real middleware (memory store) behind a real
// HTTP server, configured the legacy way: partner, MD5 key, GBK.
func newEscrowServer(t *testing.T) *escrowServer {
	t.Helper()
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key, Charset: alipaynotify.GBK},
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	mw, err := middleware.New(middleware.Options{Verifier: v, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	es := &escrowServer{ledger: &escrowLedger{runs: map[string]*escrowRun{}}, logs: logs}
	mux := http.NewServeMux()
	mux.Handle("/alipay/notify", mw.Notify(middleware.HandlerFunc(es.ledger.handle)))
	es.srv = httptest.NewServer(mux)
	t.Cleanup(es.srv.Close)
	return es
}

// deliver POSTs m once and returns Alipay's view of the answer.
func (es *escrowServer) deliver(m *alipaytest.Message) (int, string, error) {
	req, err := m.ClientRequest(context.Background(), es.srv.URL+"/alipay/notify")
	if err != nil {
		return 0, "", err
	}
	resp, err := es.srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// deliverAll POSTs every message of ms at once and reports any delivery
// that was not acknowledged with "success".
func (es *escrowServer) deliverAll(t *testing.T, ms []escrowMessage) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(ms))
	for _, em := range ms {
		wg.Go(func() {
			code, body, err := es.deliver(em.m)
			if err != nil || code != http.StatusOK || body != "success" {
				errs <- fmt.Errorf("%s: %d %q %v", em.name, code, body, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// An escrow trade replayed in shuffled order with Alipay-style retries
// (each message delivered one to four times, some copies at once, some
// much later) through the real middleware: each distinct event reaches the
// handler exactly once; a status arriving after a higher one was handled is
// flagged Stale, refund steps never are; the GBK text arrives as UTF-8.
func TestEscrowTradeExactlyOnce(t *testing.T) {
	t.Parallel()
	type plan struct {
		name  string
		order []int // indexes into the story; nil: shuffled by seed
		seed  uint64
	}
	plans := []plan{
		{name: "in order", order: []int{0, 1, 2, 3, 4, 5, 6}},
		{name: "reversed", order: []int{6, 5, 4, 3, 2, 1, 0}},
		{name: "logistics choice before creation", order: []int{1, 0, 3, 2, 5, 4, 6}},
	}
	for _, seed := range []uint64{1, 2, 3, 5, 8, 13, 21, 34, 2024, 20131104} {
		plans = append(plans, plan{name: fmt.Sprintf("seed %d", seed), seed: seed})
	}
	for i, p := range plans {
		t.Run(p.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(p.seed, uint64(i)))
			story := escrowStory(fmt.Sprintf("ESCROW-MW-%02d", i))
			order := p.order
			if order == nil {
				order = rng.Perm(len(story))
			}
			es := newEscrowServer(t)

			// Expected: events in order of first delivery; stale when a
			// higher rank was handled before (refund events never are).
			type expect struct {
				stale  bool
				adjust bool
			}
			want := map[string]expect{}
			var handledRanks []int
			var late []escrowMessage
			for _, idx := range order {
				em := story[idx]
				if _, seen := want[em.event]; !seen {
					stale := !em.refund && slices.ContainsFunc(handledRanks, func(r int) bool { return r > em.rank })
					want[em.event] = expect{stale: stale, adjust: em.m.Get("is_total_fee_adjust") == "Y"}
					handledRanks = append(handledRanks, em.rank)
				}
				copies := 1 + rng.IntN(4)
				now := 1 + rng.IntN(copies) // delivered now (at once); the rest are late retries
				burst := make([]escrowMessage, now)
				for j := range burst {
					burst[j] = em
				}
				es.deliverAll(t, burst)
				for range copies - now {
					late = append(late, em)
				}
			}
			rng.Shuffle(len(late), func(a, b int) { late[a], late[b] = late[b], late[a] })
			es.deliverAll(t, late)

			var stale []string
			for ev, w := range want {
				if w.stale {
					stale = append(stale, ev[strings.Index(ev, "|")+1:])
				}
			}
			slices.Sort(stale)
			t.Logf("order %v, %d late retries, expected stale: %v", order, len(late), stale)
			if len(want) != 5 {
				t.Fatalf("story has %d distinct events, want 5", len(want))
			}
			es.ledger.mu.Lock()
			defer es.ledger.mu.Unlock()
			if len(es.ledger.runs) != len(want) {
				t.Errorf("handler saw %d events, want %d: %v", len(es.ledger.runs), len(want), slices.Sorted(maps.Keys(es.ledger.runs)))
			}
			for ev, w := range want {
				r := es.ledger.runs[ev]
				if r == nil {
					t.Errorf("%s: never handled", ev)
					continue
				}
				if r.runs != 1 {
					t.Errorf("%s: handled %d times", ev, r.runs)
				}
				if r.stale != w.stale {
					t.Errorf("%s: Stale = %v, want %v", ev, r.stale, w.stale)
				}
				if r.adjust != w.adjust {
					t.Errorf("%s: handled the is_total_fee_adjust=%v copy, want the first delivered (%v)", ev, r.adjust, w.adjust)
				}
				if r.charset != alipaynotify.GBK || r.subject != "测试商品：蓝牙耳机 A+B 套装" {
					t.Errorf("%s: charset %s subject %q", ev, r.charset, r.subject)
				}
				if strings.Contains(ev, "|WAIT_BUYER_PAY|") && r.adjust {
					continue // the creation notification carries no address
				}
				if r.receiver.Address != alipaytest.DefaultReceiver.Address || r.receiver.Name != alipaytest.DefaultReceiver.Name {
					t.Errorf("%s: receiver %q %q, want the UTF-8 address", ev, r.receiver.Name, r.receiver.Address)
				}
			}
		})
	}
}

// A failing handler makes Alipay retry; the middleware's log line about it
// names the event without the buyer's address, phone or name.
func TestEscrowFailureIsRetriedAndLoggedWithoutPII(t *testing.T) {
	t.Parallel()
	es := newEscrowServer(t)
	story := escrowStory("ESCROW-MW-FAIL")
	paid := story[2]
	es.ledger.failNext = "WAIT_SELLER_SEND_GOODS"
	if code, body, err := es.deliver(paid.m); err != nil || code == http.StatusOK || body != "fail" {
		t.Fatalf("failing delivery: %d %q %v", code, body, err)
	}
	es.deliverAll(t, []escrowMessage{paid, story[3], paid})
	if r := es.ledger.runs[paid.event]; r == nil || r.runs != 1 {
		t.Fatalf("runs after retry = %+v, want 1", r)
	}
	logs := es.logs.String()
	if !strings.Contains(logs, paid.event) {
		t.Errorf("failure log does not name the event %s:\n%s", paid.event, logs)
	}
	r := alipaytest.DefaultReceiver
	for _, s := range []string{r.Name, r.Address, "文三路", r.Phone, r.Mobile, "蓝牙耳机", "buyer@example.com"} {
		if strings.Contains(logs, s) {
			t.Errorf("log contains %q:\n%s", s, logs)
		}
	}
}
