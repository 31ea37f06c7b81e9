package alipaynotify

// TradeStatus is Alipay's trade_status. Unknown values are preserved as sent.
type TradeStatus string

// Trade statuses of the open platform (docs/protocol.md, "Trade status") and
// of the legacy mapi escrow and dual-function services
// (docs/protocol-legacy.md, "Escrow trade statuses").
const (
	// WaitBuyerPay: the trade exists and is not paid.
	WaitBuyerPay TradeStatus = "WAIT_BUYER_PAY"
	// TradeSuccess: paid, refundable.
	TradeSuccess TradeStatus = "TRADE_SUCCESS"
	// TradeFinished: paid and final (no refunds, or the refund window ended;
	// escrow: the buyer confirmed receipt).
	TradeFinished TradeStatus = "TRADE_FINISHED"
	// TradeClosed: closed unpaid, or fully refunded.
	TradeClosed TradeStatus = "TRADE_CLOSED"

	// WaitSellerSendGoods: escrow, paid, money held by Alipay, not shipped.
	WaitSellerSendGoods TradeStatus = "WAIT_SELLER_SEND_GOODS"
	// WaitBuyerConfirmGoods: escrow, shipped, waiting for the buyer.
	WaitBuyerConfirmGoods TradeStatus = "WAIT_BUYER_CONFIRM_GOODS"
	// WaitSellerConfirmTrade: older escrow state (trade created, seller to confirm).
	WaitSellerConfirmTrade TradeStatus = "WAIT_SELLER_CONFIRM_TRADE"
	// WaitSysConfirmPay: older escrow state (payment being confirmed).
	WaitSysConfirmPay TradeStatus = "WAIT_SYS_CONFIRM_PAY"
	// WaitSysPaySeller: older escrow state (buyer confirmed, Alipay paying the seller).
	WaitSysPaySeller TradeStatus = "WAIT_SYS_PAY_SELLER"
)

// statusRanks orders statuses along a trade's life, for stale detection. A
// status that ranks below one already handled for the same trade is stale.
var statusRanks = map[TradeStatus]int{
	WaitBuyerPay:           10,
	WaitSellerConfirmTrade: 10,
	WaitSysConfirmPay:      15,
	TradeSuccess:           20,
	WaitSellerSendGoods:    20,
	WaitBuyerConfirmGoods:  30,
	WaitSysPaySeller:       35,
	TradeFinished:          40,
	TradeClosed:            40,
}

// Rank orders the status along a trade's life: WAIT_BUYER_PAY (10) <
// TRADE_SUCCESS, WAIT_SELLER_SEND_GOODS (20) < WAIT_BUYER_CONFIRM_GOODS (30) <
// TRADE_FINISHED, TRADE_CLOSED (40). Unknown statuses rank 0: never stale and
// never making others stale.
func (s TradeStatus) Rank() int { return statusRanks[s] }

// Known reports whether the status is one this package ranks.
func (s TradeStatus) Known() bool { return statusRanks[s] != 0 }

// Paid reports whether the status means the buyer has paid: TRADE_SUCCESS,
// TRADE_FINISHED, or the escrow states in which Alipay holds the money.
func (s TradeStatus) Paid() bool {
	switch s {
	case TradeSuccess, TradeFinished, WaitSellerSendGoods, WaitBuyerConfirmGoods, WaitSysPaySeller:
		return true
	}
	return false
}

// Terminal reports whether no later status can follow.
func (s TradeStatus) Terminal() bool { return s == TradeFinished || s == TradeClosed }

// OutrankedBy lists the known statuses ranking strictly above s, in a fixed
// order. A handled status from this list makes s stale.
func (s TradeStatus) OutrankedBy() []TradeStatus {
	r := s.Rank()
	if r == 0 {
		return nil
	}
	var out []TradeStatus
	for _, st := range rankedStatuses {
		if statusRanks[st] > r {
			out = append(out, st)
		}
	}
	return out
}

var rankedStatuses = []TradeStatus{
	WaitBuyerPay, WaitSellerConfirmTrade, WaitSysConfirmPay, TradeSuccess, WaitSellerSendGoods,
	WaitBuyerConfirmGoods, WaitSysPaySeller, TradeFinished, TradeClosed,
}

// RefundStatus is the legacy escrow refund_status (WAIT_SELLER_AGREE,
// REFUND_SUCCESS, REFUND_CLOSED, ...). Refund statuses are not ranked: refund
// rounds loop.
type RefundStatus string

// Refund statuses seen in legacy escrow notifications
// (docs/protocol-legacy.md, "Escrow refund status").
const (
	RefundWaitSellerAgree RefundStatus = "WAIT_SELLER_AGREE"
	RefundSuccess         RefundStatus = "REFUND_SUCCESS"
	RefundClosed          RefundStatus = "REFUND_CLOSED"
)
