package dedupe

import "github.com/alipaynotify/alipaynotify"

// markPrefix names the IDs that record "this trade reached status S through a
// refund event". Plain status events are their own marks: their ID is the
// status name.
const markPrefix = "reached:"

// EventFor maps a verified notification to the Event a Store keys on.
//
//   - Trade is "merchant|out_trade_no"; ID is the trade status, plus the
//     refund status and refund identity for refund events (see
//     alipaynotify.Event). notify_id and notify_time are never part of it:
//     Alipay re-sends one state with new ones.
//   - A non-refund event lists as Outranked every status ranking above its
//     own (and those statuses' refund marks): if any was handled, it is stale.
//   - A refund event is never stale; completing it marks its status as
//     reached, so earlier statuses arriving late are flagged stale.
//   - Binding is Alipay's trade_no: one out_trade_no must keep one trade_no.
//     Callers that do not want the check clear it.
//   - Gateway messages (servicemarket_order_notify, ...) are keyed by
//     notify_type and notify_id, never as trade events, whatever trade
//     fields they carry.
func EventFor(n *alipaynotify.Notification) Event {
	if n.GatewayMessage() {
		return Event{Trade: n.Merchant() + "|~" + n.NotifyType, ID: n.NotifyID}
	}
	e := n.Event()
	ev := Event{Trade: e.Trade(), ID: e.ID(), Binding: n.TradeNo}
	if e.IsRefund() {
		if e.TradeStatus.Known() {
			ev.Mark = markPrefix + string(e.TradeStatus)
		}
		return ev
	}
	for _, s := range e.TradeStatus.OutrankedBy() {
		ev.Outranked = append(ev.Outranked, string(s), markPrefix+string(s))
	}
	return ev
}
