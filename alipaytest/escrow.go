package alipaytest

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Receiver is the buyer's shipping address of an escrow trade, sent as
// receive_name, receive_address, receive_zip, receive_phone and
// receive_mobile. Empty fields are left out of the callbacks.
type Receiver struct {
	// Name is receive_name.
	Name string
	// Address is receive_address.
	Address string
	// Zip is receive_zip.
	Zip string
	// Phone is receive_phone (a landline).
	Phone string
	// Mobile is receive_mobile.
	Mobile string
}

// DefaultReceiver is the shipping address NewEscrowTrade starts with: a
// made-up address with CJK text and spaces inside values, like real ones.
var DefaultReceiver = Receiver{
	Name:    "张三",
	Address: "浙江省杭州市西湖区文三路 100 号",
	Zip:     "310000",
	Phone:   "0571-88158090",
	Mobile:  "13800000000",
}

// Escrow and dual-function services (docs/protocol-legacy.md, "Escrow and
// dual-function").
const (
	// ServiceEscrow is create_partner_trade_by_buyer, 纯担保交易.
	ServiceEscrow = "create_partner_trade_by_buyer"
	// ServiceDual is trade_create_by_buyer, 标准双接口: the buyer pays through
	// escrow or instantly.
	ServiceDual = "trade_create_by_buyer"
)

// EscrowTrade tells the story of one legacy escrow or dual-function trade
// (create_partner_trade_by_buyer, trade_create_by_buyer;
// docs/protocol-legacy.md, "Escrow and dual-function") as the mapi
// notifications Alipay sends about it:
//
//	WaitBuyerPay → LogisticsChosen → Paid → Shipped → Finished
//	                                 Paid | Shipped → RefundRequested → RefundSucceeded
//	WaitBuyerPay → InstantFinished (dual-function instant branch)
//
// Every message has the field shapes of docs/protocol-legacy.md, "Escrow
// notification fields": price, quantity, discount and total_fee (= price ×
// quantity + logistics_fee + discount), the logistics_* and receive_* fields
// once the buyer chose them, gmt_* times of the story, is_total_fee_adjust,
// use_coupon, payment_type=1, no _input_charset and no partner, in the
// unsorted wire order of real notifications (sign and sign_type in the
// middle). Each message has a fresh notify_id and a notify_time one second
// after its event (the creation one: at gmt_create).
//
// The exported fields may be changed between calls to shape later messages
// (a test can, say, move ShippedAt); messages already built keep their
// values. Methods panic on misuse, like the rest of the package. An
// EscrowTrade is safe for concurrent use as long as its fields are not
// changed meanwhile.
type EscrowTrade struct {
	// Service is the trade's service, reported as exterface by Return.
	// Default: ServiceDual (which has both branches).
	Service string
	// OutTradeNo is the merchant's order number.
	OutTradeNo string
	// TradeNo is Alipay's trade number (28 digits), generated.
	TradeNo string
	// Price, Quantity, LogisticsFee and Discount are the request's amounts
	// as sent ("44.00", "2", "10.00", "0.00"; Discount may be negative).
	Price, Quantity, LogisticsFee, Discount string
	// Subject and Body are the order's title and description; an empty Body
	// is not sent. Default subject: "测试商品：蓝牙耳机 A+B 套装".
	Subject, Body string
	// BuyerID and BuyerEmail are the buyer's account (buyer_email may be an
	// e-mail address or a mobile number). Default: DefaultBuyerID and
	// "buyer@example.com".
	BuyerID, BuyerEmail string
	// LogisticsType and LogisticsPayment are the chosen logistics group.
	// Default: EXPRESS, and BUYER_PAY when LogisticsFee is not zero,
	// SELLER_PAY otherwise.
	LogisticsType, LogisticsPayment string
	// ShippedLogisticsType, when set, replaces logistics_type from the
	// shipment on (real samples switched from EXPRESS to DIRECT). Default:
	// unchanged.
	ShippedLogisticsType string
	// Receiver is the shipping address confirmed at the cashier; nil sends
	// no receive_* field. Default: a copy of DefaultReceiver.
	Receiver *Receiver
	// Created is gmt_create. Default: the Signer's clock, whole seconds.
	Created time.Time
	// LogisticsModified is gmt_logistics_modify. Default: Created + 40s.
	LogisticsModified time.Time
	// PaidAt is gmt_payment. Default: Created + 90s.
	PaidAt time.Time
	// ShippedAt is gmt_send_goods. Default: PaidAt + 5h.
	ShippedAt time.Time
	// FinishedAt is gmt_close of Finished. Default: ShippedAt + 10 days,
	// the observed confirmation timeout.
	FinishedAt time.Time
	// RefundRequestedAt is gmt_refund of RefundRequested. Default:
	// ShippedAt + 18h.
	RefundRequestedAt time.Time
	// RefundedAt is gmt_refund and gmt_close of RefundSucceeded. Default:
	// RefundRequestedAt + 3 min.
	RefundedAt time.Time
	// ResendAfter is how much later than the original Resent's notify_time
	// is. Default: 24h, as the one re-send observed (docs/protocol-legacy.md,
	// "Which escrow changes are notified").
	ResendAfter time.Duration
	// Extra fields are applied to every message of the story, after the
	// story's own fields (so they can override them).
	Extra Fields

	s *Signer

	mu     sync.Mutex
	status string // the trade's current trade_status
}

// NewEscrowTrade starts the story of order outTradeNo at price ("44.00")
// times quantity ("2") plus logisticsFee ("10.00"). It panics if an amount
// is not a non-negative decimal with at most two places or quantity is not a
// positive integer.
func (s *Signer) NewEscrowTrade(outTradeNo, price, quantity, logisticsFee string) *EscrowTrade {
	for _, a := range []string{price, logisticsFee} {
		if _, err := ParseCents(a); err != nil {
			panic(err)
		}
	}
	if q, err := strconv.Atoi(quantity); err != nil || q <= 0 || strconv.Itoa(q) != quantity {
		panic(fmt.Sprintf("alipaytest: quantity %q is not a positive integer", quantity))
	}
	created := s.now().Truncate(time.Second)
	fee, _ := ParseCents(logisticsFee)
	payment := "SELLER_PAY"
	if fee != 0 {
		payment = "BUYER_PAY"
	}
	rcv := DefaultReceiver
	t := &EscrowTrade{
		Service:           ServiceDual,
		OutTradeNo:        outTradeNo,
		TradeNo:           tradeNo(created),
		Price:             price,
		Quantity:          quantity,
		LogisticsFee:      logisticsFee,
		Discount:          "0.00",
		Subject:           "测试商品：蓝牙耳机 A+B 套装",
		BuyerID:           DefaultBuyerID,
		BuyerEmail:        "buyer@example.com",
		LogisticsType:     "EXPRESS",
		LogisticsPayment:  payment,
		Receiver:          &rcv,
		Created:           created,
		LogisticsModified: created.Add(40 * time.Second),
		PaidAt:            created.Add(90 * time.Second),
		ResendAfter:       24 * time.Hour,
		s:                 s,
		status:            "WAIT_BUYER_PAY",
	}
	t.ShippedAt = t.PaidAt.Add(5 * time.Hour)
	t.FinishedAt = t.ShippedAt.Add(10 * 24 * time.Hour)
	t.RefundRequestedAt = t.ShippedAt.Add(18 * time.Hour)
	t.RefundedAt = t.RefundRequestedAt.Add(3 * time.Minute)
	return t
}

// TotalFee returns total_fee: price × quantity + logistics_fee + discount.
// It panics if an amount is malformed.
func (t *EscrowTrade) TotalFee() string {
	price := mustSignedCents(t.Price)
	fee := mustSignedCents(t.LogisticsFee)
	discount := mustSignedCents(t.Discount)
	q, err := strconv.ParseInt(t.Quantity, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("alipaytest: quantity %q is not an integer", t.Quantity))
	}
	return FormatCents(price*q + fee + discount)
}

func mustSignedCents(s string) int64 {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	c, err := ParseCents(s)
	if err != nil {
		panic(err)
	}
	if neg {
		return -c
	}
	return c
}

// Status returns the trade's current trade_status: WAIT_BUYER_PAY until Paid,
// then the status of the last state-changing message built.
func (t *EscrowTrade) Status() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

func (t *EscrowTrade) setStatus(s string) {
	t.mu.Lock()
	t.status = s
	t.mu.Unlock()
}

// escrowStep says which optional parts a notification carries.
type escrowStep struct {
	status       string
	notifyAt     time.Time
	feeAdjust    bool // is_total_fee_adjust=Y (creation)
	logistics    bool // logistics_*, receive_*, gmt_logistics_modify
	paid         bool // gmt_payment
	shipped      bool // gmt_send_goods (and ShippedLogisticsType)
	closeAt      time.Time
	refundStatus string
	refundAt     time.Time
}

// params builds a notification in the wire order of real escrow
// notifications (docs/protocol-legacy.md, "Escrow notification fields": the
// escrow logs).
func (t *EscrowTrade) params(st escrowStep) *WireParams {
	p := NewWireParams(
		"discount", t.Discount,
		"out_trade_no", t.OutTradeNo,
		"sign_type", "",
	)
	rcv := t.Receiver
	if !st.logistics {
		rcv = nil
	}
	set := func(k, v string) {
		if v != "" {
			p.Set(k, v)
		}
	}
	if st.logistics {
		lt := t.LogisticsType
		if st.shipped && t.ShippedLogisticsType != "" {
			lt = t.ShippedLogisticsType
		}
		set("logistics_type", lt)
	}
	if rcv != nil {
		set("receive_zip", rcv.Zip)
	}
	if st.logistics {
		set("logistics_fee", t.LogisticsFee)
	}
	p.Set("trade_no", t.TradeNo)
	p.Set("gmt_create", FormatTime(t.Created))
	if st.logistics {
		set("logistics_payment", t.LogisticsPayment)
	}
	if rcv != nil {
		set("receive_mobile", rcv.Mobile)
		set("receive_phone", rcv.Phone)
		set("receive_name", rcv.Name)
		set("receive_address", rcv.Address)
	}
	p.Set("payment_type", "1")
	p.Set("buyer_id", t.BuyerID)
	p.Set("subject", t.Subject)
	set("body", t.Body)
	p.Set("buyer_email", t.BuyerEmail)
	p.Set("quantity", t.Quantity)
	adjust := "N"
	if st.feeAdjust {
		adjust = "Y"
	}
	p.Set("is_total_fee_adjust", adjust)
	p.Set("seller_email", "seller@example.com")
	p.Set("use_coupon", "N")
	if st.refundStatus != "" {
		p.Set("refund_status", st.refundStatus)
		p.Set("gmt_refund", FormatTime(st.refundAt))
	}
	if st.shipped {
		p.Set("gmt_send_goods", FormatTime(t.ShippedAt))
	}
	p.Set("notify_type", "trade_status_sync")
	p.Set("notify_time", FormatTime(st.notifyAt))
	p.Set("sign", "")
	p.Set("seller_id", t.s.sellerID())
	if st.logistics {
		p.Set("gmt_logistics_modify", FormatTime(t.LogisticsModified))
	}
	p.Set("notify_id", legacyNotifyID())
	p.Set("trade_status", st.status)
	if !st.closeAt.IsZero() {
		p.Set("gmt_close", FormatTime(st.closeAt))
	}
	if st.paid {
		p.Set("gmt_payment", FormatTime(t.PaidAt))
	}
	p.Set("total_fee", t.TotalFee())
	p.Set("price", t.Price)
	t.Extra.applyTo(p)
	return p
}

func (t *EscrowTrade) notify(st escrowStep) *Message {
	return t.s.MustSign(t.params(st))
}

// WaitBuyerPay is the notification of the trade's creation, sent when the
// buyer reaches the cashier: WAIT_BUYER_PAY, is_total_fee_adjust=Y, no
// logistics_* or receive_*, notify_time at gmt_create.
func (t *EscrowTrade) WaitBuyerPay() *Message {
	return t.notify(escrowStep{status: "WAIT_BUYER_PAY", notifyAt: t.Created, feeAdjust: true})
}

// LogisticsChosen is the second WAIT_BUYER_PAY some trades get when the
// buyer picks the logistics and confirms the address before paying:
// is_total_fee_adjust=N with logistics_*, receive_* and
// gmt_logistics_modify. Under the event identity of docs/protocol-legacy.md,
// "Escrow event identity and rank", it is the same event as WaitBuyerPay.
func (t *EscrowTrade) LogisticsChosen() *Message {
	return t.notify(escrowStep{status: "WAIT_BUYER_PAY", notifyAt: t.LogisticsModified.Add(time.Second), logistics: true})
}

// Paid is the escrow payment: WAIT_SELLER_SEND_GOODS with gmt_payment; the
// money is held by Alipay.
func (t *EscrowTrade) Paid() *Message {
	t.setStatus("WAIT_SELLER_SEND_GOODS")
	return t.notify(escrowStep{status: "WAIT_SELLER_SEND_GOODS", notifyAt: t.PaidAt.Add(time.Second), logistics: true, paid: true})
}

// Shipped is the shipment (send_goods_confirm_by_platform or the seller's
// web action): WAIT_BUYER_CONFIRM_GOODS with gmt_send_goods.
func (t *EscrowTrade) Shipped() *Message {
	t.setStatus("WAIT_BUYER_CONFIRM_GOODS")
	return t.notify(escrowStep{status: "WAIT_BUYER_CONFIRM_GOODS", notifyAt: t.ShippedAt.Add(time.Second), logistics: true, paid: true, shipped: true})
}

// Finished is the escrow end: TRADE_FINISHED with gmt_send_goods and
// gmt_close (FinishedAt) after gmt_payment; the money goes to the seller.
func (t *EscrowTrade) Finished() *Message {
	t.setStatus("TRADE_FINISHED")
	return t.notify(escrowStep{status: "TRADE_FINISHED", notifyAt: t.FinishedAt.Add(time.Second), logistics: true, paid: true, shipped: true, closeAt: t.FinishedAt})
}

// InstantFinished is the dual-function instant branch (即时到账):
// TRADE_FINISHED straight from WAIT_BUYER_PAY, gmt_close equal to
// gmt_payment, no gmt_send_goods.
func (t *EscrowTrade) InstantFinished() *Message {
	t.setStatus("TRADE_FINISHED")
	return t.notify(escrowStep{status: "TRADE_FINISHED", notifyAt: t.PaidAt.Add(time.Second), logistics: true, paid: true, closeAt: t.PaidAt})
}

// RefundRequested is the buyer's refund request: the trade's current
// status (WAIT_SELLER_SEND_GOODS or WAIT_BUYER_CONFIRM_GOODS) with
// refund_status=WAIT_SELLER_AGREE and gmt_refund (RefundRequestedAt). It
// panics unless the trade is paid and not finished.
func (t *EscrowTrade) RefundRequested() *Message {
	status := t.Status()
	if status != "WAIT_SELLER_SEND_GOODS" && status != "WAIT_BUYER_CONFIRM_GOODS" {
		panic("alipaytest: RefundRequested needs a paid, unfinished escrow trade; status is " + status)
	}
	return t.notify(escrowStep{
		status: status, notifyAt: t.RefundRequestedAt.Add(time.Second), logistics: true, paid: true,
		shipped: status == "WAIT_BUYER_CONFIRM_GOODS", refundStatus: "WAIT_SELLER_AGREE", refundAt: t.RefundRequestedAt,
	})
}

// RefundSucceeded is the full refund that ends the trade: TRADE_CLOSED with
// refund_status=REFUND_SUCCESS and gmt_refund = gmt_close = RefundedAt.
func (t *EscrowTrade) RefundSucceeded() *Message {
	shipped := t.Status() == "WAIT_BUYER_CONFIRM_GOODS"
	t.setStatus("TRADE_CLOSED")
	return t.notify(escrowStep{
		status: "TRADE_CLOSED", notifyAt: t.RefundedAt.Add(time.Second), logistics: true, paid: true,
		shipped: shipped, closeAt: t.RefundedAt, refundStatus: "REFUND_SUCCESS", refundAt: t.RefundedAt,
	})
}

// Resent is m delivered again as Alipay once did a day later
// (docs/protocol-legacy.md, "Which escrow changes are notified"): the same
// parameters in the same order with a fresh notify_id and notify_time moved
// ResendAfter later, re-signed with the trade's Signer. Under the event
// identity of docs/protocol-legacy.md, "Escrow event identity and rank", it
// is the same event as m.
func (t *EscrowTrade) Resent(m *Message) *Message {
	p := m.Params.Clone()
	sent, err := time.ParseInLocation(timeLayout, p.Get("notify_time"), ChinaTime)
	if err != nil {
		sent = t.s.now()
	}
	p.Set("notify_id", legacyNotifyID())
	p.Set("notify_time", FormatTime(sent.Add(t.ResendAfter)))
	out := t.s.MustSign(p)
	out.Kind = m.Kind
	return out
}

// Return is the return_url redirect of the buyer's browser, reporting the
// trade's status at redirect time (a real escrow return carried
// WAIT_BUYER_CONFIRM_GOODS because the seller had already shipped;
// docs/protocol-legacy.md, "Escrow return_url"): is_success=T,
// exterface=Service, a return-style notify_id, the amount, party, logistics
// and receive_* fields, and buyer_actions/seller_actions once shipped.
func (t *EscrowTrade) Return() *Message {
	status := t.Status()
	p := NewWireParams(
		"is_success", "T",
		"exterface", or(t.Service, ServiceDual),
		"notify_id", legacyReturnNotifyID(),
		"notify_time", FormatTime(t.s.now()),
		"notify_type", "trade_status_sync",
		"out_trade_no", t.OutTradeNo,
		"trade_no", t.TradeNo,
		"trade_status", status,
		"payment_type", "1",
		"subject", t.Subject,
		"price", t.Price,
		"quantity", t.Quantity,
		"discount", t.Discount,
		"total_fee", t.TotalFee(),
		"seller_id", t.s.sellerID(),
		"seller_email", "seller@example.com",
		"buyer_id", t.BuyerID,
		"buyer_email", t.BuyerEmail,
		"logistics_type", t.LogisticsType,
		"logistics_fee", t.LogisticsFee,
		"logistics_payment", t.LogisticsPayment,
	)
	if r := t.Receiver; r != nil {
		for _, kv := range [][2]string{{"receive_name", r.Name}, {"receive_address", r.Address}, {"receive_zip", r.Zip}, {"receive_phone", r.Phone}, {"receive_mobile", r.Mobile}} {
			if kv[1] != "" {
				p.Set(kv[0], kv[1])
			}
		}
	}
	if status == "WAIT_BUYER_CONFIRM_GOODS" {
		p.Set("gmt_send_goods", FormatTime(t.ShippedAt))
		p.Set("buyer_actions", "REFUND,CONFIRM_GOODS")
		p.Set("seller_actions", "EXTEND_TIMEOUT")
	}
	p.Set("sign", "")
	p.Set("sign_type", "")
	t.Extra.applyTo(p)
	m := t.s.MustSign(p)
	m.Kind = ReturnKind
	return m
}
