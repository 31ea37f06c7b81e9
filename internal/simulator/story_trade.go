package simulator

import (
	"fmt"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// trade builds an open platform or instant-transfer (mapi) trade.
func (b *tradeBuilder) trade(st alipaytest.SignType) error {
	t := b.tp.t
	s, setClock := b.p.signer(st, b.cs)
	setClock(time.Duration(t.Start))
	tr := s.NewTrade(b.tp.order, t.amount())
	if t.Subject != "" {
		tr.Extra = alipaytest.Fields{"subject": t.Subject}
	}
	b.gateway(func() *alipaytest.Trade { return tr })
	steps := t.steps()
	for i, stp := range steps {
		at := b.at(i, len(steps))
		setClock(at)
		var m *alipaytest.Message
		bizNo := fmt.Sprintf("%s-R%d", tr.OutTradeNo, stp.bizNo)
		id := tr.OutTradeNo + " " + stp.status
		switch stp.kind {
		case stepPaid:
			m = tr.Paid()
		case stepFinished:
			m = tr.Finished()
		case stepClosed:
			m = tr.ClosedUnpaid()
		case stepRefund:
			m = tr.PartialRefund(bizNo, stp.refund)
			id = fmt.Sprintf("%s refund R%d", tr.OutTradeNo, stp.bizNo)
		case stepFullRefund:
			m = tr.FullRefund(bizNo)
			id = fmt.Sprintf("%s full refund R%d", tr.OutTradeNo, stp.bizNo)
		default:
			return fmt.Errorf("no %s step in a %s trade", stp.kind, t.Story)
		}
		err := b.notify(stp, id, at, m, m.Get, func() (*alipaytest.Message, error) {
			// A re-send of the same state: new notify_id, signed again.
			params := m.Params.Clone()
			params.Set("notify_id", s.NotifyParams(nil).Get("notify_id"))
			return s.Sign(params)
		})
		if err != nil {
			return err
		}
		if stp.kind == stepPaid && t.RaceReturn {
			ret := func() (*alipaytest.Message, error) { return tr.Return(), nil }
			if err := b.raceReturn(at, setClock, ret, ""); err != nil {
				return err
			}
		}
	}
	return nil
}
