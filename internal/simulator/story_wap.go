package simulator

import (
	"maps"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// wap builds a legacy mobile web trade (alipay.wap.*): notifications whose
// business fields travel in notify_data, and the call_back_url return.
func (b *tradeBuilder) wap(st alipaytest.SignType) error {
	t := b.tp.t
	cfg := b.p.sim.cfg
	var now time.Time
	s := &alipaytest.WAPSigner{
		SecID: st, Partner: cfg.Partner, SellerID: cfg.SellerID, MD5Key: cfg.MD5Key,
		AlipayKey: cfg.WAPKey, MerchantPublicKey: cfg.MerchantPublicKey, Gateway: cfg.Gateway,
		Now: func() time.Time { return now },
	}
	setClock := func(at time.Duration) { now = b.p.epoch.Add(at) }
	setClock(time.Duration(t.Start))
	// One trade_no, gmt_create and gmt_payment for the whole trade, as
	// alipaytest.WAPTrade keeps them (its messages are not used here because
	// the event needs the business fields, which a sec_id=0001 message
	// carries encrypted).
	base := s.NotifyFields(nil)
	fields := alipaytest.Fields{
		"out_trade_no": b.tp.order, "trade_no": base.Get("trade_no"), "total_fee": t.amount(),
		"gmt_create": base.Get("gmt_create"), "gmt_payment": base.Get("gmt_payment"),
	}
	if t.Subject != "" {
		fields["subject"] = t.Subject
	}
	b.gateway(func() *alipaytest.Trade {
		at := b.p.epoch.Add(time.Duration(t.Start)).Truncate(time.Second)
		return &alipaytest.Trade{OutTradeNo: b.tp.order, TradeNo: fields["trade_no"], TotalAmount: t.amount(), Created: at, PaidAt: at}
	})
	sign := func(p *alipaytest.WireParams) (*alipaytest.Message, error) {
		return s.SignNotifyData(alipaytest.WAPNotifyXML(p))
	}
	steps := t.steps()
	for i, stp := range steps {
		at := b.at(i, len(steps))
		setClock(at)
		f := maps.Clone(fields)
		f["trade_status"] = stp.status
		if stp.kind == stepFinished {
			f["gmt_close"] = alipaytest.FormatTime(now)
		}
		p := s.NotifyFields(f)
		m, err := sign(p)
		if err != nil {
			return err
		}
		// A re-send: the same fields at the same clock, with the fresh
		// notify_id NotifyFields gives every call.
		resend := func() (*alipaytest.Message, error) { return sign(s.NotifyFields(f)) }
		if err := b.notify(stp, b.tp.order+" "+stp.status, at, m, p.Get, resend); err != nil {
			return err
		}
		if stp.kind == stepPaid && t.RaceReturn {
			ret := func() (*alipaytest.Message, error) {
				return s.SignReturn(s.ReturnParams(alipaytest.Fields{"out_trade_no": b.tp.order, "trade_no": fields["trade_no"]}))
			}
			if err := b.raceReturn(at, setClock, ret, p.Get("subject")); err != nil {
				return err
			}
		}
	}
	return nil
}
