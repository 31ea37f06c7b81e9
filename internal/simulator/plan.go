package simulator

import (
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// planner turns a scenario into events.
type planner struct {
	sim   *Simulator
	rng   *mrand.Rand
	runID string
	epoch time.Time
	evs   []*event
	n     int // generated order numbers
}

// add appends a hostile event (trades fill their own slots).
func (p *planner) add(ev *event) {
	ev.info.Index = len(p.evs)
	p.evs = append(p.evs, ev)
}

// signer returns a signer for one trade (or hostile input) whose clock is
// set by the returned function before each message is built, so that
// notify_time and the other timestamps follow simulated time.
func (p *planner) signer(st alipaytest.SignType, charset string) (*alipaytest.Signer, func(time.Duration)) {
	var at time.Time
	s := &alipaytest.Signer{
		Key:      p.sim.cfg.Key,
		SignType: st,
		AppID:    p.sim.cfg.AppID,
		Partner:  p.sim.cfg.Partner,
		SellerID: p.sim.cfg.SellerID,
		MD5Key:   p.sim.cfg.MD5Key,
		Charset:  charset,
		Gateway:  p.sim.cfg.Gateway,
		Now:      func() time.Time { return at },
	}
	if st == alipaytest.SignMD5 {
		s.Protocol = alipaytest.ProtocolMapi
	}
	return s, func(sim time.Duration) { at = p.epoch.Add(sim) }
}

// tradePlan is one trade to build: its order number, where its events go
// in the plan, and the random offset of its return visit.
type tradePlan struct {
	t         *Trade
	order     string
	base      int // index of its first event
	returnOff time.Duration
	checkout  *checkout // nil without Config.OrdersFile
}

// plan builds every event. Trades are signed in parallel (RSA signing is
// the bulk of the work for large scenarios); everything random or numbered
// is decided beforehand, in scenario order, so the plan does not depend on
// scheduling.
func (p *planner) plan(sc *Scenario) ([]*event, error) {
	var plans []tradePlan
	n := 0
	for ti := range sc.Trades {
		t := &sc.Trades[ti]
		for k := 1; k <= t.repeat(); k++ {
			tp := tradePlan{t: t, order: p.orderNo(t, k), base: n}
			if p.sim.cfg.OrdersFile != "" {
				tp.checkout = &checkout{order: tp.order, amount: t.amount(), at: time.Duration(t.Start)}
			}
			n += len(t.steps())
			if t.RaceReturn {
				w := p.sim.cfg.RaceWindow
				tp.returnOff = time.Duration(p.rng.Int64N(int64(2*w)+1)) - w
				n++
			}
			plans = append(plans, tp)
		}
	}
	p.evs = make([]*event, n)

	var (
		wg      sync.WaitGroup
		next    atomic.Int64
		errOnce sync.Once
		err     error
	)
	for range min(runtime.GOMAXPROCS(0), len(plans)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(plans) {
					return
				}
				if e := p.trade(plans[i]); e != nil {
					errOnce.Do(func() { err = e })
					return
				}
			}
		}()
	}
	wg.Wait()
	if err != nil {
		return nil, err
	}
	for _, h := range sc.Hostile {
		if err := p.hostile(h); err != nil {
			return nil, err
		}
	}
	return p.evs, nil
}

func (p *planner) orderNo(t *Trade, k int) string {
	if t.OutTradeNo == "" {
		p.n++
		return fmt.Sprintf("SIM-%s-%d", p.runID, p.n)
	}
	if t.repeat() > 1 {
		return fmt.Sprintf("%s-%d", t.OutTradeNo, k)
	}
	return t.OutTradeNo
}

// trade builds the events of one trade into p.evs[tp.base:].
//
// The scenario was validated first (amounts, refunds, charset, subject,
// keys), so the alipaytest story methods, which panic on misuse, are called
// only with what they accept; the signing the simulator does itself goes
// through alipaytest's error-returning methods.
func (p *planner) trade(tp tradePlan) error {
	t := tp.t
	sg, _ := t.signing()
	cs, _ := canonicalCharset(t.Charset)
	b := &tradeBuilder{p: p, tp: tp, slot: tp.base, cs: cs, signType: sg.name()}
	var err error
	switch {
	case sg.wap:
		err = b.wap(sg.st)
	case t.Story.isEscrow():
		err = b.escrow()
	default:
		err = b.trade(sg.st)
	}
	if err != nil {
		return fmt.Errorf("simulator: building trade %s: %w", tp.order, err)
	}
	return nil
}

// tradeBuilder builds the events of one trade in story order.
type tradeBuilder struct {
	p        *planner
	tp       tradePlan
	slot     int    // where the next event goes in p.evs
	cs       string // charset
	signType string // as the scenario names it
	// gwTrade is the trade as the query gateway answers it (nil without
	// one); step counts the story's notifications added so far.
	gwTrade *alipaytest.Trade
	step    int
}

// gateway sets the trade the query gateway answers about, when there is
// one: build makes it.
func (b *tradeBuilder) gateway(build func() *alipaytest.Trade) {
	if b.p.sim.gw != nil {
		b.gwTrade = build()
	}
}

// queryVisible reports whether a trade query reports the step, so that a
// Reconciler can find it: payments and closings, not refunds (a query
// reports trade statuses only) nor WAIT_BUYER_PAY (not delivered).
func queryVisible(stp step) bool {
	switch stp.kind {
	case stepPaid, stepFinished, stepClosed, stepShipped, stepInstantFinished:
		return true
	}
	return false
}

func (b *tradeBuilder) add(ev *event) {
	ev.info.Index = b.slot
	b.p.evs[b.slot] = ev
	b.slot++
}

// at returns the simulated time of step i of n (latest first with
// OutOfOrder).
func (b *tradeBuilder) at(i, n int) time.Duration {
	t := b.tp.t
	if t.OutOfOrder {
		i = n - 1 - i
	}
	return time.Duration(t.Start) + time.Duration(i)*t.interval()
}

// notify adds the notification m of step stp: fields reads its business
// fields, and resend signs the same state again under a new notify_id,
// for the odd duplicates (even ones repeat m itself).
func (b *tradeBuilder) notify(stp step, id string, at time.Duration, m *alipaytest.Message, fields func(string) string, resend func() (*alipaytest.Message, error)) error {
	t := b.tp.t
	ev := &event{
		info: Event{
			ID:           id,
			Kind:         KindNotify,
			OutTradeNo:   b.tp.order,
			Step:         stp.kind.String(),
			TradeStatus:  fields("trade_status"),
			RefundStatus: fields("refund_status"),
			OutBizNo:     fields("out_biz_no"),
			RefundFee:    fields("refund_fee"),
			NotifyID:     fields("notify_id"),
			Charset:      b.cs,
			SignType:     b.signType,
			Subject:      fields("subject"),
			Start:        at,
			Copies:       t.Duplicates,
			LostAcks:     t.LostAcks,
		},
		msg:      m,
		lostAcks: t.LostAcks,
		checkout: b.tp.checkout,
		visible:  queryVisible(stp),
	}
	if t.LoseNotifies > 0 {
		ev.info.LoseUntil = time.Duration(t.Start) + time.Duration(t.LoseNotifies)
	}
	if b.gwTrade != nil {
		ev.gwStep = &gatewayStep{trade: b.gwTrade, index: b.step, status: stp.status,
			at: time.Duration(t.Start) + time.Duration(b.step)*t.interval()}
	}
	b.step++
	for c := 1; c <= t.Duplicates; c++ {
		if c%2 == 0 {
			ev.copies = append(ev.copies, m)
			continue
		}
		c, err := resend()
		if err != nil {
			return err
		}
		ev.copies = append(ev.copies, c)
	}
	b.add(ev)
	return nil
}

// raceReturn adds the buyer's return visit racing the payment notification
// sent at paidAt: it sets the signer's clock to the visit's simulated time
// and build makes the return there. subject is the order's title for the
// report; "" means the return's subject parameter.
func (b *tradeBuilder) raceReturn(paidAt time.Duration, setClock func(time.Duration), build func() (*alipaytest.Message, error), subject string) error {
	at := max(paidAt+b.tp.returnOff, 0)
	setClock(at)
	rm, err := build()
	if err != nil {
		return err
	}
	if subject == "" {
		subject = rm.Get("subject")
	}
	b.add(&event{
		info: Event{
			ID:         b.tp.order + " return",
			Kind:       KindReturn,
			OutTradeNo: b.tp.order,
			Step:       stepReturn.String(),
			NotifyID:   rm.Get("notify_id"),
			Charset:    b.cs,
			SignType:   b.signType,
			Subject:    subject,
			Start:      at,
		},
		msg:      rm,
		checkout: b.tp.checkout,
	})
	return nil
}
