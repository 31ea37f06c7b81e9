package alipaynotify

import (
	"encoding/json"
	"net/url"
	"slices"
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
)

// Protocol says which Alipay protocol family a callback belongs to.
type Protocol string

const (
	// ProtocolOpenPlatform is the modern open platform (app_id, RSA2/RSA).
	ProtocolOpenPlatform Protocol = "open"
	// ProtocolMapi is the legacy mapi gateway (partner + MD5 key, or RSA).
	ProtocolMapi Protocol = "mapi"
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
	i, ok := slices.BinarySearchFunc(p, key, func(e Param, k string) int { return strings.Compare(e.Key, k) })
	if !ok {
		return "", false
	}
	return p[i].Value, true
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
	Amount Amount `json:"-"`
	// RealAmount is the channel's real amount, when Alipay sends it.
	RealAmount Amount `json:"-"`
	// FundType is the bank card type, when Alipay sends it.
	FundType string `json:"fundType,omitempty"`
}

// Refund describes the refund a notification reports (open platform: partial
// or full refunds; legacy escrow: refund_status changes).
type Refund struct {
	// OutBizNo is the merchant's refund request number (open platform).
	OutBizNo string
	// Fee is refund_fee: the total refunded so far (cumulative).
	Fee Amount
	// Time is gmt_refund in China time (zero if absent).
	Time time.Time
	// Status is the legacy escrow refund_status (empty on the open platform).
	Status RefundStatus
}

// Notification is a verified Alipay callback. Every field comes from signed
// parameters; text is UTF-8 whatever charset Alipay used; money is exact;
// times are in China time (UTC+8).
type Notification struct {
	// Source is notify (server POST) or return (browser GET).
	Source Source
	// Protocol is the open platform or legacy mapi.
	Protocol Protocol
	// SignType is the verified signature algorithm.
	SignType SignType
	// Charset is the charset the callback was signed in.
	Charset Charset

	// AppID is the receiving app (open platform).
	AppID string
	// AuthAppID is the authorising app (ISV setups; equals AppID otherwise).
	AuthAppID string
	// Partner is the configured partner ID (legacy mapi).
	Partner string
	// NotifyID identifies a delivery chain: retries reuse it. It is not an
	// event identity.
	NotifyID string
	// NotifyType is e.g. "trade_status_sync".
	NotifyType string
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
	// OutBizNo is the merchant's business number (refund request number).
	OutBizNo string
	// TradeStatus is the trade's status. For a modern page-pay return, which
	// carries none, it is TRADE_SUCCESS and StatusInferred is set.
	TradeStatus TradeStatus
	// StatusInferred is set when TradeStatus was not sent but implied.
	StatusInferred bool
	// RefundStatus is the legacy escrow refund_status, kept apart from
	// TradeStatus.
	RefundStatus RefundStatus

	// BuyerID is the buyer's 2088... user ID.
	BuyerID string
	// BuyerLogonID is the buyer's masked logon (open platform).
	BuyerLogonID string
	// BuyerOpenID is the buyer's open ID, when sent.
	BuyerOpenID string
	// BuyerEmail is the legacy buyer account.
	BuyerEmail string
	// SellerID is the seller's 2088... ID.
	SellerID string
	// SellerEmail is the seller's account.
	SellerEmail string

	// TotalAmount is the order amount: total_amount, or legacy total_fee.
	TotalAmount Amount
	// ReceiptAmount is what the merchant actually received.
	ReceiptAmount Amount
	// InvoiceAmount is the amount that can be invoiced.
	InvoiceAmount Amount
	// BuyerPayAmount is what the buyer paid.
	BuyerPayAmount Amount
	// PointAmount is the part paid with points.
	PointAmount Amount
	// RefundFee is the cumulative refunded amount.
	RefundFee Amount
	// SendBackFee is the amount actually refunded (face-to-face).
	SendBackFee Amount
	// Price is the legacy unit price.
	Price Amount
	// Quantity is the legacy quantity text (e.g. "1").
	Quantity string
	// Discount is the legacy discount (may be negative).
	Discount Amount

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
	// GmtRefund is when the refund happened.
	GmtRefund time.Time

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
	// ExtraCommonParam is the legacy pass-back parameter.
	ExtraCommonParam string

	// Refund is set when the notification reports a refund (out_biz_no,
	// refund_fee, gmt_refund or refund_status present).
	Refund *Refund

	// Params holds every parameter, UTF-8, sorted by key.
	Params Params
}

// PassbackParamsDecoded returns passback_params URL-decoded once more, the
// value the merchant originally encoded.
func (n *Notification) PassbackParamsDecoded() (string, error) {
	return url.QueryUnescape(n.PassbackParams)
}

// Merchant returns the merchant identity the notification belongs to: the
// app_id on the open platform, the partner on legacy mapi.
func (n *Notification) Merchant() string {
	if n.Protocol == ProtocolMapi {
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
	e := Event{Merchant: n.Merchant(), OutTradeNo: n.OutTradeNo, TradeStatus: n.TradeStatus, RefundStatus: n.RefundStatus}
	switch gr, fee := n.Params.Get("gmt_refund"), n.Params.Get("refund_fee"); {
	case n.OutBizNo != "":
		e.Refund = n.OutBizNo
	case fee != "":
		e.Refund = gr + "|" + fee
	default:
		e.Refund = gr
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

// fill populates the typed fields from n.Params.
func (n *Notification) fill() error {
	p := n.Params
	str := func(k string) string { return p.Get(k) }
	n.AppID = str("app_id")
	n.AuthAppID = str("auth_app_id")
	n.NotifyID = str("notify_id")
	n.NotifyType = str("notify_type")
	n.Version = str("version")
	n.Method = str("method")
	n.TradeNo = str("trade_no")
	n.OutTradeNo = str("out_trade_no")
	n.OutBizNo = str("out_biz_no")
	n.TradeStatus = TradeStatus(str("trade_status"))
	n.RefundStatus = RefundStatus(str("refund_status"))
	n.BuyerID = str("buyer_id")
	n.BuyerLogonID = str("buyer_logon_id")
	n.BuyerOpenID = str("buyer_open_id")
	n.BuyerEmail = str("buyer_email")
	n.SellerID = str("seller_id")
	n.SellerEmail = str("seller_email")
	n.Quantity = str("quantity")
	n.Subject = str("subject")
	n.Body = str("body")
	n.PassbackParams = str("passback_params")
	n.ExtraCommonParam = str("extra_common_param")

	for _, t := range [...]struct {
		key string
		dst *time.Time
	}{
		{"notify_time", &n.NotifyTime}, {"timestamp", &n.Timestamp}, {"gmt_create", &n.GmtCreate},
		{"gmt_payment", &n.GmtPayment}, {"gmt_close", &n.GmtClose}, {"gmt_refund", &n.GmtRefund},
	} {
		if v := str(t.key); v != "" {
			tm, err := ParseTime(v)
			if err != nil {
				return fieldErr(ErrMalformed, t.key, err.Error())
			}
			*t.dst = tm
		}
	}
	total := "total_amount"
	if _, ok := p.Lookup(total); !ok {
		total = "total_fee" // legacy mapi
	}
	for _, a := range [...]struct {
		key string
		dst *Amount
	}{
		{total, &n.TotalAmount}, {"receipt_amount", &n.ReceiptAmount}, {"invoice_amount", &n.InvoiceAmount},
		{"buyer_pay_amount", &n.BuyerPayAmount}, {"point_amount", &n.PointAmount}, {"refund_fee", &n.RefundFee},
		{"send_back_fee", &n.SendBackFee}, {"price", &n.Price}, {"discount", &n.Discount},
	} {
		if v := str(a.key); v != "" {
			amt, err := ParseAmount(v)
			if err != nil {
				return fieldErr(ErrAmount, a.key, err.Error())
			}
			*a.dst = amt
		}
	}
	if raw := str("fund_bill_list"); raw != "" {
		n.FundBillListRaw = raw
		bills, err := parseFundBills(raw)
		if err != nil {
			return err
		}
		n.FundBillList = bills
	}
	if raw := str("voucher_detail_list"); raw != "" {
		n.VoucherDetailListRaw = raw
		if err := json.Unmarshal([]byte(htmlUnescapeQuotes(raw)), &n.VoucherDetailList); err != nil {
			return fieldErr(ErrMalformed, "voucher_detail_list", "not a JSON array")
		}
	}
	if n.OutBizNo != "" || n.RefundStatus != "" || str("refund_fee") != "" || str("gmt_refund") != "" {
		n.Refund = &Refund{OutBizNo: n.OutBizNo, Fee: n.RefundFee, Time: n.GmtRefund, Status: n.RefundStatus}
	}
	return nil
}

// parseFundBills parses fund_bill_list. Some notifications have been
// reported with the JSON HTML-escaped (&quot;); the signature covers the
// text as sent, so it is unescaped only for parsing.
func parseFundBills(raw string) ([]FundBill, error) {
	var wire []struct {
		FundChannel string `json:"fundChannel"`
		Amount      string `json:"amount"`
		RealAmount  string `json:"realAmount"`
		FundType    string `json:"fundType"`
	}
	if err := json.Unmarshal([]byte(htmlUnescapeQuotes(raw)), &wire); err != nil {
		return nil, fieldErr(ErrMalformed, "fund_bill_list", "not a JSON array")
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

func htmlUnescapeQuotes(s string) string {
	if strings.Contains(s, "&quot;") {
		return strings.ReplaceAll(s, "&quot;", `"`)
	}
	return s
}
