package alipaynotify

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// Source says how a callback arrived.
type Source string

const (
	// SourceNotify is Alipay's server-to-server POST to notify_url, retried
	// until the merchant answers "success".
	SourceNotify Source = "notify"
	// SourceReturn is the buyer's browser GET to return_url: once, if at all.
	SourceReturn Source = "return"
	// SourceQuery is the merchant's own trade query (alipay.trade.query on
	// the open platform, single_trade_query on legacy mapi): the status
	// Alipay reports when asked. It carries no notify_id and may report a
	// later status than the callbacks did; its Event is the one the
	// notification of the same status has.
	SourceQuery Source = "query"
)

// Protocol says which Alipay protocol family a callback belongs to.
type Protocol string

const (
	// ProtocolOpenPlatform is the modern open platform (app_id, RSA2/RSA).
	ProtocolOpenPlatform Protocol = "open"
	// ProtocolMapi is the legacy mapi gateway (partner + MD5 key, or RSA).
	ProtocolMapi Protocol = "mapi"
	// ProtocolWAP is the legacy mobile web payment (alipay.wap.*): an async
	// notification whose business fields sit in the notify_data XML, and a
	// call_back_url browser return. Its merchant identity is Options.Legacy.Partner.
	ProtocolWAP Protocol = "wap"
)

// SignType is the signature algorithm of a callback.
type SignType string

const (
	// SignRSA2 is SHA256withRSA.
	SignRSA2 SignType = "RSA2"
	// SignRSA is SHA1withRSA.
	SignRSA SignType = "RSA"
	// SignMD5 is the legacy partner-key MD5 digest.
	SignMD5 SignType = "MD5"
	// SignWAPRSA is sec_id=0001 (and the return's sign_type=0001): SHA1withRSA
	// with Alipay's WAP key; in a notification, notify_data is also encrypted
	// to the merchant's key.
	SignWAPRSA SignType = "0001"
)

// Param is one callback parameter, decoded to UTF-8.
type Param struct {
	Key, Value string
}

// Params holds every parameter of a callback, sorted by key, so that fields
// this package does not know yet are never lost.
type Params []Param

// Lookup returns the value of key and whether it was present.
func (p Params) Lookup(key string) (string, bool) {
	lo, hi := 0, len(p) // binary search: Params are sorted by key
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p[m].Key < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(p) || p[lo].Key != key {
		return "", false
	}
	return p[lo].Value, true
}

// Get returns the value of key, or "" if it is absent.
func (p Params) Get(key string) string {
	v, _ := p.Lookup(key)
	return v
}

// FundBill is one entry of fund_bill_list: how much was paid through which
// channel.
type FundBill struct {
	// FundChannel is e.g. "ALIPAYACCOUNT", "PCREDIT", "BANKCARD".
	FundChannel string `json:"fundChannel"`
	// Amount is the amount paid through the channel.
	Amount Amount `json:"amount"`
	// RealAmount is the channel's real amount, when Alipay sends it.
	RealAmount Amount `json:"realAmount,omitempty"`
	// FundType is the bank card type, when Alipay sends it.
	FundType string `json:"fundType,omitempty"`
}

// Refund describes the refund a notification reports (open platform: partial
// or full refunds; legacy escrow: refund_status changes). Every refund
// notification signs gmt_refund.
type Refund struct {
	// OutBizNo is the merchant's refund request number (open platform).
	OutBizNo string
	// Fee is refund_fee: the total refunded so far (cumulative; open
	// platform, where every refund notification signs it). Legacy refunds
	// carry no refund_fee, so it is 0.00 on them: read it only when
	// Protocol is ProtocolOpenPlatform.
	Fee Amount
	// Time is gmt_refund in China time.
	Time time.Time
	// Status is the legacy escrow refund_status (empty on the open platform).
	Status RefundStatus
}

// Notification is a verified Alipay callback. Every field comes from signed
// parameters; text is UTF-8 whatever charset Alipay used; money is exact;
// times are in China time (UTC+8). Fields of the legacy mapi and mobile web
// protocols only sit in Legacy; the refund a notification reports, in Refund.
type Notification struct {
	// Source is notify (server POST), return (browser GET) or query (the
	// merchant asked Alipay).
	Source Source
	// Protocol is the open platform, legacy mapi or legacy mobile web (WAP).
	Protocol Protocol
	// SignType is the verified signature algorithm.
	SignType SignType
	// Charset is the charset the callback was signed in.
	Charset Charset

	// AppID is the receiving app (open platform).
	AppID string
	// AuthAppID is the authorising app (ISV setups; equals AppID otherwise).
	AuthAppID string
	// Partner is the configured partner ID (legacy mapi and mobile web).
	Partner string
	// NotifyID identifies a delivery chain: retries reuse it. It is not an
	// event identity.
	NotifyID string
	// NotifyType is e.g. "trade_status_sync".
	NotifyType string
	// NotifyActionType is notify_action_type when sent (open platform, e.g.
	// "payByAccountAction", "closeTradeAction", "reverseAction"; its
	// meaning is not documented by Alipay: use TradeStatus).
	NotifyActionType string
	// NotifyTime is when Alipay sent the notification.
	NotifyTime time.Time
	// Version is the protocol version ("1.0").
	Version string
	// Method is the return's method (e.g. "alipay.trade.page.pay.return").
	Method string
	// Timestamp is the return's timestamp.
	Timestamp time.Time

	// TradeNo is Alipay's trade number.
	TradeNo string
	// OutTradeNo is the merchant's order number.
	OutTradeNo string
	// TradeStatus is the trade's status. For a modern page-pay return, which
	// carries none, it is TRADE_SUCCESS and StatusInferred is set.
	TradeStatus TradeStatus
	// StatusInferred is set when TradeStatus was not sent but implied.
	StatusInferred bool
	// Refund is the refund the notification reports (out_biz_no, refund_fee,
	// gmt_refund, refund_status), nil when it reports none.
	Refund *Refund

	// BuyerID is the buyer's 2088... user ID.
	BuyerID string
	// BuyerLogonID is the buyer's masked logon (open platform).
	BuyerLogonID string
	// BuyerOpenID is the buyer's open ID, when sent.
	BuyerOpenID string
	// SellerID is the seller's 2088... ID.
	SellerID string
	// SellerEmail is the seller's account.
	SellerEmail string

	// TotalAmount is the order amount: total_amount, or legacy total_fee.
	// It is absent, not 0.00, on a callback that signs none (the mobile web
	// call_back_url return, gateway messages): compare it with your order
	// through CheckTotalAmount.
	TotalAmount OptionalAmount
	// ReceiptAmount is what the merchant actually received (open platform).
	// Absent on returns and on notifications of an unpaid or closed trade;
	// 0.00 when it is sent as such (a payment made wholly with the
	// merchant's own vouchers).
	ReceiptAmount OptionalAmount
	// InvoiceAmount is the amount that can be invoiced (open platform),
	// absent when not sent, as ReceiptAmount.
	InvoiceAmount OptionalAmount
	// BuyerPayAmount is what the buyer paid (open platform), absent when not
	// sent, as ReceiptAmount; 0.00 when the buyer paid nothing of their own
	// (points or vouchers only).
	BuyerPayAmount OptionalAmount
	// PointAmount is the part paid with points; 0.00 when not sent, which
	// means none was.
	PointAmount Amount
	// SendBackFee is the amount actually refunded (face-to-face); 0.00 when
	// not sent, which means nothing was.
	SendBackFee Amount

	// Subject is the order title.
	Subject string
	// Body is the order description.
	Body string

	// GmtCreate is when the trade was created.
	GmtCreate time.Time
	// GmtPayment is when it was paid.
	GmtPayment time.Time
	// GmtClose is when it was closed or finished.
	GmtClose time.Time

	// FundBillList is fund_bill_list parsed; FundBillListRaw its JSON text.
	FundBillList    []FundBill
	FundBillListRaw string
	// VoucherDetailList is voucher_detail_list parsed as JSON objects;
	// VoucherDetailListRaw its JSON text.
	VoucherDetailList    []map[string]any
	VoucherDetailListRaw string
	// PassbackParams is passback_params exactly as signed (it is URL-encoded
	// by the merchant, so it still holds %XX escapes).
	PassbackParams string

	// Legacy holds the fields only legacy mapi and mobile web callbacks
	// carry; it is zero on the open platform.
	Legacy LegacyFields

	// Params holds every signed parameter, UTF-8, sorted by key: empty
	// parameters and sign are left out.
	Params Params

	// verifiedBy is the Verifier that produced this Notification, and self
	// its address then: nil for one built by hand (tests, NewContext), and a
	// copy no longer matches self. See Verifier.Produced.
	verifiedBy *Verifier
	self       *Notification
}

// LegacyFields are the fields of legacy mapi and mobile web callbacks that
// the open platform does not have.
type LegacyFields struct {
	// BuyerEmail is the buyer's account.
	BuyerEmail string
	// Price is the unit price.
	Price Amount
	// Quantity is the quantity text (e.g. "1").
	Quantity string
	// Discount is the discount (may be negative).
	Discount Amount
	// ExtraCommonParam is the pass-back parameter, as sent.
	ExtraCommonParam string
	// PaymentType is payment_type ("1": purchase of goods).
	PaymentType string
	// IsTotalFeeAdjust is is_total_fee_adjust=Y. Legacy escrow sends Y on the
	// WAIT_BUYER_PAY of a trade's creation (and, reportedly, after a seller
	// price change) and N afterwards.
	IsTotalFeeAdjust bool
	// UseCoupon is use_coupon=Y.
	UseCoupon bool
	// GmtSendGoods is when the seller shipped (escrow, from
	// WAIT_BUYER_CONFIRM_GOODS on).
	GmtSendGoods time.Time
	// GmtLogisticsModify is the last change of the logistics data (escrow).
	// It may lag one step behind.
	GmtLogisticsModify time.Time
	// Logistics is the chosen logistics group (logistics_type, logistics_fee,
	// logistics_payment) of an escrow or dual-function trade, nil when the
	// callback carries none of those fields, as on the WAIT_BUYER_PAY of a
	// trade's creation.
	Logistics *Logistics
	// Receiver is the buyer's shipping address (receive_*) of an escrow or
	// dual-function trade, nil when the callback carries no receive_* field.
	// It is personal data: it prints masked (String, Format, LogValue), the
	// Notification's LogValue leaves it out, and printing the Notification
	// with fmt prints it masked.
	Receiver *Receiver
	// BuyerActions is a return's buyer_actions (e.g. "REFUND,CONFIRM_GOODS";
	// the vocabulary is unconfirmed).
	BuyerActions string
	// SellerActions is a return's seller_actions (e.g. "EXTEND_TIMEOUT").
	SellerActions string
	// Exterface is the service a return reports (e.g.
	// "create_direct_pay_by_user", "trade_create_by_buyer").
	Exterface string
	// IsSuccess is a return's is_success=T (notifications carry none).
	IsSuccess bool
}

// CheckTotalAmount is the amount half of the order check Alipay tells
// merchants to make (docs/protocol.md, "What to check after the
// signature"), for Options.CheckOrder:
//
//	CheckOrder: func(ctx context.Context, n *alipaynotify.Notification) error {
//		order, err := orders.Find(ctx, n.OutTradeNo) // your lookup
//		if err != nil {
//			return err // an unknown order is refused
//		}
//		return n.CheckTotalAmount(order.Amount)
//	},
//
// It returns nil when the callback carries the order amount and it equals
// want, and an error matching ErrAmountMismatch, naming both amounts and
// nothing else, when it differs.
//
// Two kinds of callback sign no amount, and for them an absent amount
// returns nil:
//
//   - the mobile web (ProtocolWAP) call_back_url return, which signs only
//     out_trade_no, request_token, result and trade_no
//     (docs/protocol-legacy.md, "Return to call_back_url");
//   - gateway messages (GatewayMessage), which are not trade events
//     (docs/protocol.md, "notify_type and gateway messages").
//
// Accepting the return without an amount is safe: the amount was fixed
// server to server when your server created the trade
// (alipay.wap.trade.create.direct, signed with your key), so a return
// Alipay signed for your out_trade_no reports the payment of that trade at
// that amount; and the trade's notification, which always signs total_fee,
// goes through this check when it arrives (an amount that differs refuses
// it, so Alipay keeps retrying and you see it). Every other callback (open
// platform, legacy mapi, escrow and mobile web notifications, open-platform
// and legacy returns) signs its amount (total_amount or total_fee), so on
// those an absent amount is refused with ErrMalformed rather than taken
// for a match.
func (n *Notification) CheckTotalAmount(want Amount) error {
	key := "total_amount"
	if n.Protocol != ProtocolOpenPlatform {
		key = "total_fee"
	}
	got, ok := n.TotalAmount.Get()
	switch {
	case !ok && n.signsNoAmount():
		return nil
	case !ok:
		return fieldErr(ErrMalformed, key, "missing: this kind of callback signs the order amount")
	case got != want:
		return fieldErr(ErrAmountMismatch, key, "the callback says "+got.String()+", the order "+want.String())
	}
	return nil
}

// signsNoAmount reports whether n is a kind of callback that carries no
// order amount: a mobile web call_back_url return or a gateway message.
func (n *Notification) signsNoAmount() bool {
	return (n.Protocol == ProtocolWAP && n.Source == SourceReturn) || n.GatewayMessage()
}

// PassbackParamsDecoded returns passback_params URL-decoded once more, the
// value the merchant originally encoded.
func (n *Notification) PassbackParamsDecoded() (string, error) {
	return url.QueryUnescape(n.PassbackParams)
}

// Merchant returns the merchant identity the notification belongs to: the
// app_id on the open platform, the partner on legacy mapi and WAP.
func (n *Notification) Merchant() string {
	if n.Protocol != ProtocolOpenPlatform {
		return n.Partner
	}
	return n.AppID
}

// Event is the identity of a business event: what the handler runs once for.
// Alipay re-sends the same event with a new notify_id and notify_time, so
// those are not part of it.
type Event struct {
	// Merchant is the app_id or partner.
	Merchant string
	// OutTradeNo is the merchant's order number.
	OutTradeNo string
	// TradeStatus is the status the event reports.
	TradeStatus TradeStatus
	// RefundStatus is the legacy escrow refund status, if any.
	RefundStatus RefundStatus
	// Refund identifies a refund: out_biz_no, else gmt_refund and refund_fee
	// as sent ("gmt_refund|refund_fee", or gmt_refund alone when there is no
	// refund_fee, as in legacy escrow). Empty for non-refund events.
	Refund string
}

// Event returns the notification's event identity.
func (n *Notification) Event() Event {
	e := Event{Merchant: n.Merchant(), OutTradeNo: n.OutTradeNo, TradeStatus: n.TradeStatus}
	if r := n.Refund; r != nil {
		e.RefundStatus = r.Status
		switch gr, fee := n.Params.Get("gmt_refund"), n.refundFeeText(); {
		case r.OutBizNo != "":
			e.Refund = r.OutBizNo
		case fee != "":
			e.Refund = gr + "|" + fee
		default:
			e.Refund = gr
		}
	}
	return e
}

// IsRefund reports whether the event is a refund step. Refund events are
// never stale: refund rounds do not follow the trade status order.
func (e Event) IsRefund() bool { return e.Refund != "" || e.RefundStatus != "" }

// Trade returns the identity of the trade the event belongs to:
// "merchant|out_trade_no". Merchant IDs are digits, so the first '|'
// separates the two unambiguously.
func (e Event) Trade() string { return e.Merchant + "|" + e.OutTradeNo }

// ID returns the event's identity within its trade:
// "status|refund_status|refund". Only the last part can hold arbitrary text,
// so the encoding is unambiguous.
func (e Event) ID() string {
	if !e.IsRefund() {
		return string(e.TradeStatus)
	}
	return string(e.TradeStatus) + "|" + string(e.RefundStatus) + "|" + e.Refund
}

// String returns "merchant|out_trade_no|status|refund_status|refund".
func (e Event) String() string {
	return e.Trade() + "|" + string(e.TradeStatus) + "|" + string(e.RefundStatus) + "|" + e.Refund
}

// fill populates the typed fields from n.Params in one pass: a known field
// of another protocol is refused, every known field is checked against its
// grammar, and only the fields of the notification's own protocol are read
// (fields.go).
func (n *Notification) fill() error { return n.fillSpecs(nil) }

// fillSpecs is fill with the fields entry of each parameter looked up
// already: specs[i] is n.Params[i]'s, or nil for a name fields does not
// have. With specs nil (or not one per parameter), fill looks them up.
func (n *Notification) fillSpecs(specs []*fieldSpec) error {
	legacy := n.Protocol != ProtocolOpenPlatform
	by := readers(n.Protocol)
	if len(specs) != len(n.Params) {
		specs = nil
	}
	for i, p := range n.Params {
		var spec *fieldSpec
		if specs != nil {
			spec = specs[i]
		} else {
			spec, _ = lookupField(p.Key)
		}
		if spec == nil || p.Value == "" {
			continue
		}
		if spec.by&by == 0 {
			return fieldErr(ErrAmbiguous, p.Key, "a field of another protocol than "+string(n.Protocol))
		}
		if err := checkGrammar(spec.grammar, legacy, p.Key, p.Value); err != nil {
			return err
		}
		if spec.set == nil {
			continue
		}
		if err := spec.set(n, p.Key, p.Value); err != nil {
			return err
		}
	}
	if n.Refund != nil && n.Refund.Time.IsZero() {
		// Every refund notification signs gmt_refund. Without it, a refund
		// field may have been split out of the free text before it, a
		// boundary the signature does not cover.
		return fieldErr(ErrAmbiguous, "gmt_refund", "a refund notification signs gmt_refund")
	}
	return nil
}

// refundFeeText is refund_fee as sent, on the protocol that has it (the open
// platform; legacy refunds carry none).
func (n *Notification) refundFeeText() string {
	if n.Protocol != ProtocolOpenPlatform {
		return ""
	}
	return n.Params.Get("refund_fee")
}

// parseFundBills parses fund_bill_list: a JSON array of objects whose values
// are strings, keys matched exactly as Alipay writes them (fundChannel,
// amount, realAmount, fundType; others are skipped). Some notifications have
// been reported with the JSON HTML-escaped (&quot;); the signature covers the
// text as sent, so it is unescaped only for parsing.
func parseFundBills(raw string) ([]FundBill, error) {
	var scratch [4]fundBillWire // a usual list has one or two entries
	wire, ok := scanFundBills(htmlUnescapeQuotes(raw), scratch[:0])
	if !ok {
		return nil, fieldErr(ErrMalformed, "fund_bill_list", "not a JSON array of objects with string values")
	}
	bills := make([]FundBill, len(wire))
	for i, w := range wire {
		bills[i] = FundBill{FundChannel: w.FundChannel, FundType: w.FundType}
		var err error
		if bills[i].Amount, err = ParseAmount(w.Amount); err != nil {
			return nil, fieldErr(ErrAmount, "fund_bill_list", "amount: "+err.Error())
		}
		if w.RealAmount != "" {
			if bills[i].RealAmount, err = ParseAmount(w.RealAmount); err != nil {
				return nil, fieldErr(ErrAmount, "fund_bill_list", "realAmount: "+err.Error())
			}
		}
	}
	return bills, nil
}

// fundBillWire is one fund_bill_list entry as text.
type fundBillWire struct {
	FundChannel, Amount, RealAmount, FundType string
}

// scanFundBills parses the fund_bill_list JSON into out: an array of flat
// objects whose values are JSON strings. It is the only parser of the field
// (encoding/json would match keys case-insensitively, so "FundChannel" would
// count as fundChannel): plain strings are sliced from s without copying,
// and a string with escapes is decoded by encoding/json.
func scanFundBills(s string, out []fundBillWire) ([]fundBillWire, bool) {
	i := 0
	ws := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	str := func() (string, bool) {
		if i >= len(s) || s[i] != '"' {
			return "", false
		}
		start, escaped := i+1, false
		for j := start; j < len(s); j++ {
			switch s[j] {
			case '\\':
				escaped = true
				j++ // the escaped byte
			case '"':
				i = j + 1
				if !escaped {
					return s[start:j], true
				}
				var v string
				if err := json.Unmarshal([]byte(s[start-1:j+1]), &v); err != nil {
					return "", false
				}
				return v, true
			}
		}
		return "", false
	}
	ws()
	if i >= len(s) || s[i] != '[' {
		return nil, false
	}
	i++
	for {
		ws()
		if i < len(s) && s[i] == ']' && len(out) == 0 {
			i++
			break
		}
		if i >= len(s) || s[i] != '{' {
			return nil, false
		}
		i++
		var w fundBillWire
		for {
			ws()
			k, ok := str()
			if !ok {
				return nil, false
			}
			ws()
			if i >= len(s) || s[i] != ':' {
				return nil, false
			}
			i++
			ws()
			v, ok := str()
			if !ok {
				return nil, false
			}
			switch k {
			case "fundChannel":
				w.FundChannel = v
			case "amount":
				w.Amount = v
			case "realAmount":
				w.RealAmount = v
			case "fundType":
				w.FundType = v
			}
			ws()
			if i < len(s) && s[i] == ',' {
				i++
				continue
			}
			if i < len(s) && s[i] == '}' {
				i++
				break
			}
			return nil, false
		}
		out = append(out, w)
		ws()
		if i < len(s) && s[i] == ',' {
			i++
			continue
		}
		if i < len(s) && s[i] == ']' {
			i++
			break
		}
		return nil, false
	}
	ws()
	return out, i == len(s)
}

func htmlUnescapeQuotes(s string) string {
	if strings.Contains(s, "&quot;") {
		return strings.ReplaceAll(s, "&quot;", `"`)
	}
	return s
}
