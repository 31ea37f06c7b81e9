package simulator

import "strconv"

// stepKind is what one event of a trade's story is. Its String is the name
// reports give it (Event.Step).
type stepKind uint8

// The step kinds: the notifications of the open-platform and instant-transfer
// stories (paid to fullRefund), those of the escrow stories, named after
// alipaytest.EscrowTrade's methods (waitBuyerPay to instantFinished; their
// payment and end are stepPaid and stepFinished), and the buyer's return
// visit.
const (
	stepPaid stepKind = iota + 1
	stepFinished
	stepClosed
	stepRefund
	stepFullRefund
	stepWaitBuyerPay
	stepShipped
	stepRefundRequested
	stepRefundSucceeded
	stepInstantFinished
	stepReturn
)

var stepNames = [...]string{
	stepPaid:            "paid",
	stepFinished:        "finished",
	stepClosed:          "closed",
	stepRefund:          "refund",
	stepFullRefund:      "full_refund",
	stepWaitBuyerPay:    "wait_buyer_pay",
	stepShipped:         "shipped",
	stepRefundRequested: "refund_requested",
	stepRefundSucceeded: "refund_succeeded",
	stepInstantFinished: "instant_finished",
	stepReturn:          "return",
}

// String returns the step's name in reports: "paid", "full_refund",
// "wait_buyer_pay", "return"...
func (k stepKind) String() string {
	if int(k) < len(stepNames) && stepNames[k] != "" {
		return stepNames[k]
	}
	return "stepKind(" + strconv.Itoa(int(k)) + ")"
}

// step is one notification of a story.
type step struct {
	kind   stepKind
	status string // trade_status
	refund string // amount of a partial refund
	bizNo  int    // refund number (1-based) for refunds
}

// The steps of the escrow stories.
var (
	escrowWaitBuyerPay    = step{kind: stepWaitBuyerPay, status: "WAIT_BUYER_PAY"}
	escrowPaid            = step{kind: stepPaid, status: "WAIT_SELLER_SEND_GOODS"}
	escrowShipped         = step{kind: stepShipped, status: "WAIT_BUYER_CONFIRM_GOODS"}
	escrowFinished        = step{kind: stepFinished, status: "TRADE_FINISHED"}
	escrowRefundRequested = step{kind: stepRefundRequested, status: "WAIT_BUYER_CONFIRM_GOODS"}
	escrowRefundSucceeded = step{kind: stepRefundSucceeded, status: "TRADE_CLOSED"}
	dualInstantFinished   = step{kind: stepInstantFinished, status: "TRADE_FINISHED"}
)

// steps returns the notifications of the trade's story, in story order.
func (t *Trade) steps() []step {
	paid := step{kind: stepPaid, status: "TRADE_SUCCESS"}
	switch t.Story {
	case StoryEscrowFinished:
		return []step{escrowWaitBuyerPay, escrowPaid, escrowShipped, escrowFinished}
	case StoryEscrowRefunded:
		return []step{escrowWaitBuyerPay, escrowPaid, escrowShipped, escrowRefundRequested, escrowRefundSucceeded}
	case StoryDualInstant:
		return []step{escrowWaitBuyerPay, dualInstantFinished}
	case StoryPaid:
		return []step{paid}
	case StoryFinished:
		return []step{paid, {kind: stepFinished, status: "TRADE_FINISHED"}}
	case StoryClosedUnpaid:
		return []step{{kind: stepClosed, status: "TRADE_CLOSED"}}
	}
	s := []step{paid}
	for i, r := range t.Refunds {
		s = append(s, step{kind: stepRefund, status: "TRADE_SUCCESS", refund: r, bizNo: i + 1})
	}
	if t.Story == StoryFullRefund {
		s = append(s, step{kind: stepFullRefund, status: "TRADE_CLOSED", bizNo: len(t.Refunds) + 1})
	}
	return s
}
