package simulator

import (
	"fmt"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// escrow builds a legacy escrow or dual-function trade (MD5): one price
// (the amount) times quantity 1, no logistics fee, each gmt_* time at its
// step's simulated time.
func (b *tradeBuilder) escrow() error {
	t := b.tp.t
	s, setClock := b.p.signer(alipaytest.SignMD5, b.cs)
	start := time.Duration(t.Start)
	setClock(start)
	tr := s.NewEscrowTrade(b.tp.order, t.amount(), "1", "0.00")
	if t.Subject != "" {
		tr.Subject = t.Subject
	}
	steps := t.steps()
	// Step i is notified at start + i × interval, a second after it
	// happened (the creation: at once, notify_time = gmt_create). With
	// OutOfOrder a step is delivered at another step's time but still
	// reports when it happened.
	clock := func(i int) time.Time { return b.p.epoch.Add(start + time.Duration(i)*t.interval()) }
	tr.ResendAfter = time.Second // duplicates are sent with the first try
	tr.Created = clock(0)
	tr.LogisticsModified = tr.Created
	tr.PaidAt = clock(1).Add(-time.Second)
	if len(steps) > 2 {
		tr.ShippedAt = clock(2).Add(-time.Second)
		tr.FinishedAt = clock(3).Add(-time.Second)
		tr.RefundRequestedAt = tr.FinishedAt
	}
	if len(steps) > 4 {
		tr.RefundedAt = clock(4).Add(-time.Second)
	}
	b.gateway(func() *alipaytest.Trade {
		return &alipaytest.Trade{OutTradeNo: tr.OutTradeNo, TradeNo: tr.TradeNo, TotalAmount: tr.TotalFee(), Created: tr.Created, PaidAt: tr.PaidAt}
	})
	story := map[step]func() *alipaytest.Message{
		escrowWaitBuyerPay:    tr.WaitBuyerPay,
		escrowPaid:            tr.Paid,
		escrowShipped:         tr.Shipped,
		escrowFinished:        tr.Finished,
		dualInstantFinished:   tr.InstantFinished,
		escrowRefundRequested: tr.RefundRequested,
		escrowRefundSucceeded: tr.RefundSucceeded,
	}
	for i, stp := range steps {
		at := b.at(i, len(steps))
		setClock(at)
		build, ok := story[stp]
		if !ok {
			return fmt.Errorf("no %s step in a %s trade", stp.kind, t.Story)
		}
		m := build()
		id := tr.OutTradeNo + " " + stp.status
		switch stp {
		case escrowRefundRequested:
			id += " refund WAIT_SELLER_AGREE"
		case escrowRefundSucceeded:
			id += " refund REFUND_SUCCESS"
		}
		resend := func() (*alipaytest.Message, error) { return tr.Resent(m), nil }
		if err := b.notify(stp, id, at, m, m.Get, resend); err != nil {
			return err
		}
		if (stp == escrowPaid || stp == dualInstantFinished) && t.RaceReturn {
			ret := func() (*alipaytest.Message, error) { return tr.Return(), nil }
			if err := b.raceReturn(at, setClock, ret, ""); err != nil {
				return err
			}
		}
	}
	return nil
}
