package alipaynotify

// Branch says how the buyer paid a legacy dual-function trade
// (trade_create_by_buyer, 标准双接口): through escrow (担保交易) or instantly
// (即时到账). No field of a notification names it (docs/protocol-legacy.md,
// "Telling the branch").
type Branch string

const (
	// BranchEscrow: Alipay holds the money until the buyer confirms receipt
	// (WAIT_SELLER_SEND_GOODS → WAIT_BUYER_CONFIRM_GOODS → TRADE_FINISHED).
	BranchEscrow Branch = "escrow"
	// BranchInstant: the buyer paid instantly and the trade went
	// WAIT_BUYER_PAY → TRADE_FINISHED.
	BranchInstant Branch = "instant"
	// BranchUnknown: the notification alone does not tell.
	BranchUnknown Branch = "unknown"
)

// Branch guesses the branch of a legacy dual-function trade from this
// notification alone:
//
//   - WAIT_SELLER_SEND_GOODS and WAIT_BUYER_CONFIRM_GOODS exist only in
//     escrow: BranchEscrow.
//   - TRADE_FINISHED without gmt_send_goods and with gmt_close equal to
//     gmt_payment: BranchInstant.
//   - TRADE_FINISHED with gmt_send_goods and gmt_close after gmt_payment:
//     BranchEscrow.
//   - anything else (WAIT_BUYER_PAY, TRADE_CLOSED, missing or contradictory
//     times, open-platform callbacks): BranchUnknown.
//
// The TRADE_FINISHED rule held in every real sample but is not documented by
// Alipay (UNCONFIRMED; docs/protocol-legacy.md, "Telling the branch").
// Alipay's own rule is history-based: a trade your store knows as
// WAIT_BUYER_PAY that reports WAIT_SELLER_SEND_GOODS was paid through escrow,
// one that reports TRADE_FINISHED was paid instantly. Prefer that stored
// history, and use Branch only when no earlier state of the trade is known.
func (n *Notification) Branch() Branch {
	if n.Protocol != ProtocolMapi {
		return BranchUnknown
	}
	switch n.TradeStatus {
	case WaitSellerSendGoods, WaitBuyerConfirmGoods:
		return BranchEscrow
	case TradeFinished:
		if n.GmtPayment.IsZero() || n.GmtClose.IsZero() {
			return BranchUnknown
		}
		switch {
		case n.Legacy.GmtSendGoods.IsZero() && n.GmtClose.Equal(n.GmtPayment):
			return BranchInstant
		case !n.Legacy.GmtSendGoods.IsZero() && n.GmtClose.After(n.GmtPayment):
			return BranchEscrow
		}
	}
	return BranchUnknown
}

// FundsHeld reports whether Alipay holds the buyer's money in escrow: the
// trade is paid but not released to the seller (WAIT_SELLER_SEND_GOODS,
// WAIT_BUYER_CONFIRM_GOODS; ranks 20-30), so it can still be refunded
// without the seller giving money back. A refund request (RefundStatus) does
// not change it: the money stays held until the refund ends the trade.
func (n *Notification) FundsHeld() bool {
	return n.TradeStatus == WaitSellerSendGoods || n.TradeStatus == WaitBuyerConfirmGoods
}

// Logistics is the logistics group a legacy escrow or dual-function trade
// reports (logistics_type, logistics_fee, logistics_payment). Requests may
// offer up to three groups; notifications report the chosen one in the
// unsuffixed fields.
type Logistics struct {
	// Type is logistics_type: EXPRESS, POST or EMS as requested; DIRECT (no
	// logistics) has been seen from the shipment on.
	Type string
	// Fee is logistics_fee.
	Fee Amount
	// Payment is logistics_payment: SELLER_PAY or BUYER_PAY
	// (BUYER_PAY_AFTER_RECEIVE in old kits).
	Payment string
}

// Receiver is the buyer's shipping address from a legacy escrow or
// dual-function callback (receive_name, receive_address, receive_zip,
// receive_phone, receive_mobile); any field may be empty.
//
// It is personal data. String, Format (every fmt verb), LogValue,
// MarshalJSON and Masked show it masked ("张*", "浙江省***", "31****",
// "138****0000"; see mask.go), so printing, logging or JSON-encoding a
// Receiver never writes the address out; read the fields to use it.
type Receiver struct {
	// Name is receive_name.
	Name string
	// Address is receive_address.
	Address string
	// Zip is receive_zip.
	Zip string
	// Phone is receive_phone (a landline, e.g. "0571-88158090").
	Phone string
	// Mobile is receive_mobile.
	Mobile string
}

// logistics returns n.Legacy.Logistics, allocating it on first use.
func (n *Notification) logistics() *Logistics {
	if n.Legacy.Logistics == nil {
		n.Legacy.Logistics = new(Logistics)
	}
	return n.Legacy.Logistics
}

// receiver returns n.Legacy.Receiver, allocating it on first use.
func (n *Notification) receiver() *Receiver {
	if n.Legacy.Receiver == nil {
		n.Legacy.Receiver = new(Receiver)
	}
	return n.Legacy.Receiver
}

// refund returns n.Refund, allocating it on first use.
func (n *Notification) refund() *Refund {
	if n.Refund == nil {
		n.Refund = new(Refund)
	}
	return n.Refund
}
