package alipaynotify

import (
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"
)

// Branch says how the buyer paid a legacy dual-function trade
// (trade_create_by_buyer, 标准双接口): through escrow (担保交易) or instantly
// (即时到账). No field of a notification names it (§11.7 of the protocol
// notes).
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
// Alipay (UNCONFIRMED, §11.7). Alipay's own rule is history-based: a trade
// your store knows as WAIT_BUYER_PAY that reports WAIT_SELLER_SEND_GOODS was
// paid through escrow, one that reports TRADE_FINISHED was paid instantly.
// Prefer that stored history, and use Branch only when no earlier state of
// the trade is known.
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
		case n.GmtSendGoods.IsZero() && n.GmtClose.Equal(n.GmtPayment):
			return BranchInstant
		case !n.GmtSendGoods.IsZero() && n.GmtClose.After(n.GmtPayment):
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
// It is personal data. String, LogValue and Masked show it masked ("张*",
// "浙江省***", "31****", "138****0000"), so printing or logging a Receiver
// never writes the address out; read the fields to use it.
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

// Masked returns r with every field masked: the name keeps its first
// character, the address its first three, the zip code its first two, phone
// numbers their first three and last four digits (last two for short
// numbers); the rest becomes '*'.
func (r Receiver) Masked() Receiver {
	return Receiver{
		Name:    maskName(r.Name),
		Address: maskKeep(r.Address, 3, 0, 3),
		Zip:     maskKeep(r.Zip, 2, 0, 0),
		Phone:   maskPhone(r.Phone),
		Mobile:  maskPhone(r.Mobile),
	}
}

// String returns the masked receiver, e.g.
// "{Name:张* Address:浙江省*** Zip:31**** Phone:057******8090 Mobile:138****0000}".
func (r Receiver) String() string {
	type plain Receiver // no methods: formats the fields, not String again
	return fmt.Sprintf("%+v", plain(r.Masked()))
}

// LogValue implements slog.LogValuer: the receiver as a group of masked
// fields.
func (r Receiver) LogValue() slog.Value {
	m := r.Masked()
	return slog.GroupValue(
		slog.String("name", m.Name),
		slog.String("address", m.Address),
		slog.String("zip", m.Zip),
		slog.String("phone", m.Phone),
		slog.String("mobile", m.Mobile),
	)
}

// LogValue implements slog.LogValuer, so that
// logger.Info("...", "notification", n) logs what identifies the callback
// and its business event — source, protocol, app_id or partner,
// out_trade_no, trade_no, trade_status, refund_status, amounts, notify_type
// and notify_id — and nothing about the buyer: never the receive_* address,
// buyer_email, buyer_logon_id, buyer_id, subject or body.
func (n *Notification) LogValue() slog.Value {
	if n == nil {
		return slog.StringValue("<nil>")
	}
	attrs := make([]slog.Attr, 0, 14)
	str := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	str("source", string(n.Source))
	str("protocol", string(n.Protocol))
	if n.Protocol == ProtocolOpenPlatform {
		str("app_id", n.AppID)
	} else {
		str("partner", n.Partner)
	}
	str("out_trade_no", n.OutTradeNo)
	str("trade_no", n.TradeNo)
	str("out_biz_no", n.OutBizNo)
	str("trade_status", string(n.TradeStatus))
	str("refund_status", string(n.RefundStatus))
	attrs = append(attrs, slog.String("total_amount", n.TotalAmount.String()))
	if n.RefundFee != 0 {
		attrs = append(attrs, slog.String("refund_fee", n.RefundFee.String()))
	}
	str("notify_type", n.NotifyType)
	str("notify_id", n.NotifyID)
	return slog.GroupValue(attrs...)
}

// Format implements fmt.Formatter: every verb prints n.Masked() (the
// fields, with %+v their names, with %#v as Go syntax of the masked copy,
// a maskedNotification), so that fmt.Printf("%+v", n) or log.Print(n)
// never writes the buyer's personal data. (fmt cannot call Format on a
// Notification held in an unexported struct field; print such a struct's
// notification with Masked.) Read the fields to use them.
func (n Notification) Format(s fmt.State, verb rune) {
	fmt.Fprintf(s, fmt.FormatString(s, verb), (*maskedNotification)(n.Masked()))
}

// maskedNotification is a Notification without its methods, so that Format
// prints its fields rather than calling itself.
type maskedNotification Notification

// piiParams are the parameters Masked masks in Params.
var piiParams = map[string]func(string) string{
	"receive_name":    maskName,
	"receive_address": func(s string) string { return maskKeep(s, 3, 0, 3) },
	"receive_zip":     func(s string) string { return maskKeep(s, 2, 0, 0) },
	"receive_phone":   maskPhone,
	"receive_mobile":  maskPhone,
	"buyer_email":     maskAccount,
	"buyer_logon_id":  maskAccount,
	"buyer_id":        maskID,
	"buyer_open_id":   maskID,
	"subject":         redact,
	"body":            redact,
}

// Masked returns a copy of n that is safe to print or log whole: Receiver
// masked as Receiver.Masked, BuyerEmail and BuyerLogonID masked
// ("b***@example.com", "139****0000"), BuyerID and BuyerOpenID masked
// ("2088********0002"), Subject and Body (free text that may
// name the buyer) replaced by "***", and the same parameters masked in
// Params. Everything else, the signature-derived identity included, is kept.
// The copy shares no mutable state with n except the fund bill and voucher
// lists.
func (n *Notification) Masked() *Notification {
	if n == nil {
		return nil
	}
	c := *n
	if n.Receiver != nil {
		r := n.Receiver.Masked()
		c.Receiver = &r
	}
	if n.Logistics != nil {
		l := *n.Logistics
		c.Logistics = &l
	}
	if n.Refund != nil {
		r := *n.Refund
		c.Refund = &r
	}
	c.BuyerEmail = maskAccount(n.BuyerEmail)
	c.BuyerLogonID = maskAccount(n.BuyerLogonID)
	c.BuyerID = maskID(n.BuyerID)
	c.BuyerOpenID = maskID(n.BuyerOpenID)
	c.Subject = redact(n.Subject)
	c.Body = redact(n.Body)
	c.Params = make(Params, len(n.Params))
	for i, p := range n.Params {
		if mask, ok := piiParams[p.Key]; ok {
			p.Value = mask(p.Value)
		}
		c.Params[i] = p
	}
	return &c
}

// logistics returns n.Logistics, allocating it on first use.
func (n *Notification) logistics() *Logistics {
	if n.Logistics == nil {
		n.Logistics = new(Logistics)
	}
	return n.Logistics
}

// receiver returns n.Receiver, allocating it on first use.
func (n *Notification) receiver() *Receiver {
	if n.Receiver == nil {
		n.Receiver = new(Receiver)
	}
	return n.Receiver
}

// maskKeep keeps the first head and last tail runes of s and replaces the
// rest with '*' (stars of them, or one per masked rune when stars is 0).
// Strings too short to hide anything become all stars.
func maskKeep(s string, head, tail, stars int) string {
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return ""
	}
	if n <= head+tail {
		return strings.Repeat("*", max(stars, n))
	}
	var b strings.Builder
	i := 0
	for _, r := range s {
		switch {
		case i < head || i >= n-tail:
			b.WriteRune(r)
		case stars == 0:
			b.WriteByte('*')
		case i == head:
			b.WriteString(strings.Repeat("*", stars))
		}
		i++
	}
	return b.String()
}

// maskName keeps a name's first character: "张三" → "张*", "欧阳娜娜" → "欧***".
func maskName(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= 1 {
		return maskKeep(s, 0, 0, 0)
	}
	return maskKeep(s, 1, 0, min(n-1, 3))
}

// maskPhone keeps the first three and last four characters of a number of
// at least eleven ("13800000000" → "138****0000"), the last two of a shorter
// one of at least six, and nothing of shorter ones.
func maskPhone(s string) string {
	switch n := utf8.RuneCountInString(s); {
	case n >= 11:
		return maskKeep(s, 3, 4, 0)
	case n >= 6:
		return maskKeep(s, 0, 2, 0)
	default:
		return maskKeep(s, 0, 0, 0)
	}
}

// maskAccount masks a buyer account, an e-mail address ("buyer@example.com"
// → "b***@example.com") or a mobile number.
func maskAccount(s string) string {
	if at := strings.LastIndexByte(s, '@'); at > 0 {
		return maskKeep(s[:at], 1, 0, 3) + s[at:]
	}
	return maskPhone(s)
}

// maskID keeps the first and last four characters of an account ID:
// "2088000000000002" → "2088********0002".
func maskID(s string) string { return maskKeep(s, 4, 4, 0) }

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}
