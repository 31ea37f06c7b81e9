package main

import (
	"context"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"sync"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// Shop holds the business handler.
type Shop struct {
	mu  sync.Mutex // one line at a time on out
	out io.Writer
}

// Line is what Handle prints, one JSON object per line, the same shape as the
// other examples' lines. Absent fields are empty strings; amounts are decimal
// text such as "88.88".
type Line struct {
	Event        string `json:"event"` // always "handled"
	Source       string `json:"source"`
	Protocol     string `json:"protocol"`
	SignType     string `json:"sign_type"`
	Charset      string `json:"charset"`
	AppID        string `json:"app_id"`
	Partner      string `json:"partner"`
	OutTradeNo   string `json:"out_trade_no"`
	TradeNo      string `json:"trade_no"`
	TradeStatus  string `json:"trade_status"`
	RefundStatus string `json:"refund_status"`
	TotalAmount  string `json:"total_amount"`
	RefundFee    string `json:"refund_fee"`
	OutBizNo     string `json:"out_biz_no"`
	Subject      string `json:"subject"`
	Stale        bool   `json:"stale"`
}

// Handle is the business handler: the middleware runs it once per business
// event (a payment, a refund, a closing), whether the event arrives by
// notify, by return or both, on whichever instance claims it first. This is
// where a shop marks the order paid, in one database transaction that also
// records d.ClaimToken (a write fenced by the token cannot land after another
// delivery took the event over), and moves the order only forwards: a Stale
// event arrived after a later status of the same trade was handled. Return
// nil once the change is durable; an error makes Alipay retry.
func (s *Shop) Handle(ctx context.Context, n *alipaynotify.Notification) error {
	line := Line{
		Event:       "handled",
		Source:      string(n.Source),
		Protocol:    string(n.Protocol),
		SignType:    string(n.SignType),
		Charset:     string(n.Charset),
		AppID:       n.AppID,
		Partner:     n.Partner,
		OutTradeNo:  n.OutTradeNo,
		TradeNo:     n.TradeNo,
		TradeStatus: string(n.TradeStatus),
		TotalAmount: n.TotalAmount.String(), // "" when the callback signs none
		Subject:     n.Subject,
	}
	if r := n.Refund; r != nil {
		line.RefundStatus, line.OutBizNo = string(r.Status), r.OutBizNo
		if _, ok := n.Params.Lookup("refund_fee"); ok {
			line.RefundFee = r.Fee.String()
		}
	}
	if d, ok := middleware.DeliveryFromContext(ctx); ok {
		line.Stale = d.Stale
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	enc := json.NewEncoder(s.out)
	enc.SetEscapeHTML(false)
	return enc.Encode(line) // one Write, ending in a newline
}

// pageTemplate is the buyer's page: Chinese first, English beneath.
var pageTemplate = template.Must(template.New("return").Parse(`<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>支付成功 · Payment received</title></head>
<body>
<h1>支付成功<br><small lang="en">Payment received</small></h1>
<p>订单 <strong id="order">{{.OutTradeNo}}</strong>{{with .Subject}}（{{.}}）{{end}}{{with .Amount}}，{{.}} 元{{end}}。<br>
<span lang="en">Order {{.OutTradeNo}}{{with .Subject}} ({{.}}){{end}}{{with .Amount}}, {{.}} CNY{{end}}.</span></p>
<p>{{.MessageZH}}<br><span lang="en">{{.Message}}</span></p>
<p><small>outcome: <span id="outcome">{{.Outcome}}</span></small></p>
</body>
</html>
`))

// Page is the return page: the buyer always gets one, whatever the business
// handler did, with the order number and what happened, in Chinese with
// English beneath. (A return that cannot be verified never gets here: the
// middleware answers it with its own 400 page.)
func Page(w http.ResponseWriter, r *http.Request) {
	d, _ := middleware.DeliveryFromContext(r.Context())
	if d == nil || d.Notification == nil {
		http.Error(w, "无法显示支付结果。\nNo payment result to show.", http.StatusInternalServerError)
		return
	}
	n := d.Notification
	data := struct {
		OutTradeNo, Subject, Amount, MessageZH, Message, Outcome string
	}{
		OutTradeNo: n.OutTradeNo,
		Subject:    n.Subject,
		Amount:     n.TotalAmount.String(), // "" on a mobile web return, which signs no amount
		Outcome:    d.Outcome.String(),
	}
	switch {
	case d.Outcome.Acknowledged():
		data.MessageZH, data.Message = "谢谢！您的订单已确认。", "Thank you! Your order is confirmed."
	case d.Outcome == middleware.OutcomeInFlight:
		data.MessageZH, data.Message = "谢谢！我们正在确认您的订单。", "Thank you! We are confirming your order right now."
	default:
		data.MessageZH, data.Message = "支付宝已收到您的付款，我们会尽快确认您的订单。", "Alipay has your payment; we will confirm your order shortly."
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = pageTemplate.Execute(w, data)
}
