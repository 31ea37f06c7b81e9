package alipaytest

import (
	"bytes"
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Trade query methods the Gateway answers.
const (
	// MethodTradeQuery is the open platform's trade query.
	MethodTradeQuery = "alipay.trade.query"
	// ServiceSingleTradeQuery is the legacy mapi trade query.
	ServiceSingleTradeQuery = "single_trade_query"
)

// GatewayOptions configure NewGateway and NewGatewayHandler. The zero value is an open-platform
// and legacy gateway answering with TestKey and the Signer defaults, and
// checking requests against SecondTestKey as the merchant's app key.
type GatewayOptions struct {
	// Signer is Alipay's side: its Key signs open-platform answers (with
	// the sign_type of the request), its AppID is the app requests must
	// name, its Partner and MD5Key check legacy requests and sign legacy
	// answers. Default: NewSigner(nil).
	Signer *Signer
	// MerchantKey is the merchant's app key pair: its public half verifies
	// open-platform requests, as the app public key (应用公钥) uploaded to
	// Alipay does. Default: SecondTestKey(), unless MerchantPublicKey is
	// set.
	MerchantKey *KeyPair
	// MerchantPublicKey, when set, is the app public key (应用公钥) that
	// verifies open-platform requests instead of MerchantKey's public half,
	// for a gateway that, like Alipay, holds only the merchant's public key
	// (alipaysim's -app-pubkey).
	MerchantPublicKey *rsa.PublicKey
	// AlipayCertSN, when set, is sent as alipay_cert_sn next to sign in
	// every open-platform answer, as in public-key-certificate mode.
	AlipayCertSN string
	// AppCertSN and AlipayRootCertSN, when set, are what a request's
	// app_cert_sn and alipay_root_cert_sn must be.
	AppCertSN, AlipayRootCertSN string
	// UnsignedLegacy answers single_trade_query without <sign> and
	// <sign_type>. Default: legacy answers are signed with MD5 over the
	// <trade> fields (docs/protocol-legacy.md, "Trade query").
	UnsignedLegacy bool
}

// Fault is a failure the Gateway injects into every answer until it is
// cleared with SetFault(Fault{}). Fields combine: HTTPStatus and Hang win
// over the rest.
type Fault struct {
	// HTTPStatus, when set, answers with that status and an HTML page.
	HTTPStatus int
	// Hang blocks every request until the client gives up or the Gateway
	// is closed.
	Hang bool
	// Code, SubCode and SubMsg answer an open-platform error (code, e.g.
	// "40004" or "20000", sub_code, sub_msg), signed. On legacy queries
	// SubCode, or else Code, is the <error> of an is_success=F answer.
	Code, SubCode, SubMsg string
	// BadSignature signs answers over other bytes than those sent.
	BadSignature bool
	// AnswerAbout answers with the trade registered under this out_trade_no
	// whatever the query asked: a genuine answer for another order.
	AnswerAbout string
	// Body, when set, is sent as the whole answer (200), for malformed and
	// oversize answers.
	Body []byte
}

// GatewayRequest is one query the Gateway received.
type GatewayRequest struct {
	// HTTPMethod is the request's method ("POST").
	HTTPMethod string
	// Method is the open platform's method or the legacy service.
	Method string
	// OutTradeNo is the out_trade_no asked about.
	OutTradeNo string
	// Query and Form are the parameters of the URL and of the body.
	Query, Form url.Values
	// SignatureValid reports whether the request's signature verified.
	SignatureValid bool
	// Answer is the body the Gateway answered with (nil for a hang or an
	// HTTP error page).
	Answer []byte
	// Received is when the request arrived (wall clock).
	Received time.Time
}

// Gateway fakes Alipay's gateway for trade queries, over HTTPS
// (httptest.NewTLSServer; give its Client() to the code under test), or
// behind a server of your own (NewGatewayHandler):
//
//	POST /gateway.do?app_id=...&method=alipay.trade.query&...&sign=... (body: biz_content)
//	POST /gateway.do?_input_charset=utf-8 (body: service=single_trade_query&partner=...&out_trade_no=...&sign=...)
//
// It answers for the trades a test told it with SetStatus, signs answers as
// Alipay does (the open platform: the JSON text of
// alipay_trade_query_response, with Signer.Key; legacy: MD5 over the
// <trade> fields), verifies each request's signature (the open platform:
// with MerchantKey; legacy: with the MD5 key) and refuses a bad one with
// Alipay's invalid-signature answer, answers ACQ.TRADE_NOT_EXIST
// (TRADE_NOT_EXIST) for trades it was not told, and injects the failures of
// SetFault. It records every request. The path is not checked. It is safe
// for concurrent use.
//
// A Gateway is an http.Handler (ServeHTTP): NewGatewayHandler makes one
// without a server, for a server of your own, such as a plain-HTTP one on
// loopback in another process (alipaysim's -gateway) or a test's
// httptest.NewServer; Server is then nil.
type Gateway struct {
	*httptest.Server

	opts GatewayOptions

	mu       sync.Mutex
	trades   map[string]gatewayTrade
	fault    Fault
	requests []GatewayRequest
	done     chan struct{}
	stop     sync.Once
}

// gatewayTrade is a trade the Gateway was told, with its current status.
type gatewayTrade struct {
	t      *Trade
	status string
}

// NewGateway starts a fake trade-query gateway. Close it when done
// (t.Cleanup(g.Close)).
func NewGateway(opts GatewayOptions) *Gateway {
	g := NewGatewayHandler(opts)
	g.Server = httptest.NewTLSServer(g)
	return g
}

// NewGatewayHandler returns a Gateway that answers like NewGateway's but
// serves nothing itself: serve it (it is an http.Handler) with a server of
// your own, and configure the client with that server's URL +
// "/gateway.do". Its Server is nil, so GatewayURL and Client are not
// available. Close it when done, to release hanging requests.
func NewGatewayHandler(opts GatewayOptions) *Gateway {
	if opts.Signer == nil {
		opts.Signer = NewSigner(nil)
	}
	if opts.MerchantKey == nil && opts.MerchantPublicKey == nil {
		opts.MerchantKey = SecondTestKey()
	}
	return &Gateway{opts: opts, trades: map[string]gatewayTrade{}, done: make(chan struct{})}
}

// GatewayURL is the URL to configure as the gateway: the server's URL +
// "/gateway.do". It panics on a Gateway made by NewGatewayHandler, which
// has no server of its own.
func (g *Gateway) GatewayURL() string {
	if g.Server == nil {
		panic("alipaytest: GatewayURL of a Gateway made by NewGatewayHandler: use the URL of the server you serve it with")
	}
	return g.URL + "/gateway.do"
}

// SetStatus tells the gateway that trade t now has status
// ("WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED" or a
// legacy escrow status). Queries about t.OutTradeNo answer it from now on.
func (g *Gateway) SetStatus(t *Trade, status string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.trades[t.OutTradeNo] = gatewayTrade{t: t, status: status}
}

// Forget makes queries about outTradeNo answer "trade does not exist".
func (g *Gateway) Forget(outTradeNo string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.trades, outTradeNo)
}

// SetFault injects f into every answer from now on; SetFault(Fault{})
// clears it.
func (g *Gateway) SetFault(f Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fault = f
}

// Requests returns a copy of the requests received so far.
func (g *Gateway) Requests() []GatewayRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GatewayRequest(nil), g.requests...)
}

// Queries counts the requests about outTradeNo.
func (g *Gateway) Queries(outTradeNo string) int {
	n := 0
	for _, r := range g.Requests() {
		if r.OutTradeNo == outTradeNo {
			n++
		}
	}
	return n
}

// Close releases hanging requests and shuts the server down (if the
// Gateway has one).
func (g *Gateway) Close() {
	g.stop.Do(func() { close(g.done) })
	if g.Server != nil {
		g.Server.Close()
	}
}

// maxGatewayRequestBody bounds a request body the Gateway reads.
const maxGatewayRequestBody = 64 << 10

// ServeHTTP answers one trade query; see Gateway.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxGatewayRequestBody))
	form, _ := url.ParseQuery(string(body))
	query := r.URL.Query()
	params := url.Values{}
	for _, vs := range []url.Values{query, form} {
		for k, v := range vs {
			params[k] = append(params[k], v...)
		}
	}
	req := GatewayRequest{HTTPMethod: r.Method, Query: query, Form: form, Received: received}
	legacy := params.Get("service") != ""
	if legacy {
		req.Method = params.Get("service")
		req.OutTradeNo = params.Get("out_trade_no")
		req.SignatureValid = g.legacyRequestValid(params)
	} else {
		req.Method = params.Get("method")
		var biz struct {
			OutTradeNo string `json:"out_trade_no"`
		}
		_ = json.Unmarshal([]byte(params.Get("biz_content")), &biz)
		req.OutTradeNo = biz.OutTradeNo
		req.SignatureValid = g.openRequestValid(params)
	}

	g.mu.Lock()
	g.requests = append(g.requests, req)
	index := len(g.requests) - 1
	fault := g.fault
	about := req.OutTradeNo
	if fault.AnswerAbout != "" {
		about = fault.AnswerAbout
	}
	tr, known := g.trades[about]
	g.mu.Unlock()

	switch {
	case fault.Hang:
		select {
		case <-r.Context().Done():
		case <-g.done:
		}
		return
	case fault.HTTPStatus != 0:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(fault.HTTPStatus)
		_, _ = io.WriteString(w, "<html><body>gateway error</body></html>")
		return
	}
	answer := fault.Body
	switch {
	case answer != nil:
	case legacy:
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		answer = g.legacyAnswer(req, tr, known, fault)
	default:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		answer = g.openAnswer(params, req, tr, known, fault)
	}
	g.mu.Lock()
	g.requests[index].Answer = answer
	g.mu.Unlock()
	_, _ = w.Write(answer)
}

// openRequestValid checks an open-platform request: app_id, method, the
// certificate SNs when configured, and the signature over every parameter
// but sign (sign_type included, empty values dropped) under MerchantKey.
func (g *Gateway) openRequestValid(params url.Values) bool {
	if params.Get("app_id") != g.opts.Signer.appID() || params.Get("method") != MethodTradeQuery {
		return false
	}
	if g.opts.AppCertSN != "" && (params.Get("app_cert_sn") != g.opts.AppCertSN || params.Get("alipay_root_cert_sn") != g.opts.AlipayRootCertSN) {
		return false
	}
	wp := NewWireParams()
	for k, vs := range params {
		if len(vs) != 1 {
			return false // a parameter in the URL and the body, or repeated
		}
		wp.Set(k, vs[0])
	}
	sig, err := base64.StdEncoding.DecodeString(params.Get("sign"))
	if err != nil {
		return false
	}
	content := []byte(Content(wp, V2, DropEmpty))
	pub := g.opts.MerchantPublicKey
	if pub == nil {
		pub = g.opts.MerchantKey.PublicKey()
	}
	switch SignType(params.Get("sign_type")) {
	case SignRSA2:
		sum := sha256.Sum256(content)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
	case SignRSA:
		sum := sha1.Sum(content)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig) == nil
	}
	return false
}

// legacyRequestValid checks a legacy request: the partner, and the MD5
// signature over every parameter but sign and sign_type with the MD5 key
// appended.
func (g *Gateway) legacyRequestValid(params url.Values) bool {
	s := g.opts.Signer
	if params.Get("partner") != s.partner() || params.Get("sign_type") != string(SignMD5) || params.Get("service") != ServiceSingleTradeQuery {
		return false
	}
	wp := NewWireParams()
	for k, vs := range params {
		for _, v := range vs[1:] {
			if v != vs[0] {
				return false // the legacy kits send _input_charset in the URL and the body, alike
			}
		}
		wp.Set(k, vs[0])
	}
	sum := md5.Sum([]byte(Content(wp, V1, DropEmpty) + s.md5Key()))
	return strings.EqualFold(params.Get("sign"), hex.EncodeToString(sum[:]))
}

// jsonText builds a JSON object's text with its members in order.
type jsonText struct{ b bytes.Buffer }

func (j *jsonText) raw(key, raw string) {
	if j.b.Len() == 0 {
		j.b.WriteByte('{')
	} else {
		j.b.WriteByte(',')
	}
	k, _ := json.Marshal(key)
	j.b.Write(k)
	j.b.WriteByte(':')
	j.b.WriteString(raw)
}

func (j *jsonText) str(key, v string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // as JSON.stringify writes it
	_ = enc.Encode(v)
	j.raw(key, strings.TrimSuffix(b.String(), "\n"))
}

func (j *jsonText) String() string {
	if j.b.Len() == 0 {
		return "{}"
	}
	return j.b.String() + "}"
}

// paidStatus reports whether a status means the trade was paid.
func paidStatus(s string) bool {
	switch s {
	case "TRADE_SUCCESS", "TRADE_FINISHED", "WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS", "WAIT_SYS_PAY_SELLER":
		return true
	}
	return false
}

// OpenTradeQueryResponse returns the JSON text of the
// alipay_trade_query_response of trade t in status, as Alipay answers a
// successful alipay.trade.query: the text that is signed.
func OpenTradeQueryResponse(t *Trade, status string) string {
	var j jsonText
	j.str("code", "10000")
	j.str("msg", "Success")
	j.str("buyer_logon_id", "159****5620")
	j.str("buyer_user_id", DefaultBuyerID)
	j.str("out_trade_no", t.OutTradeNo)
	j.str("trade_no", t.TradeNo)
	j.str("trade_status", status)
	j.str("total_amount", t.TotalAmount)
	if paidStatus(status) {
		j.str("buyer_pay_amount", t.TotalAmount)
		j.str("invoice_amount", t.TotalAmount)
		j.str("point_amount", "0.00")
		j.str("receipt_amount", t.TotalAmount)
		j.str("send_pay_date", FormatTime(t.PaidAt))
		var fb jsonText
		fb.str("amount", t.TotalAmount)
		fb.str("fund_channel", "ALIPAYACCOUNT")
		j.raw("fund_bill_list", "["+fb.String()+"]")
	} else {
		j.str("buyer_pay_amount", "0.00")
		j.str("invoice_amount", "0.00")
		j.str("point_amount", "0.00")
		j.str("receipt_amount", "0.00")
	}
	return j.String()
}

// SignedTradeQueryAnswer returns the whole body of an alipay.trade.query
// answer holding response (the JSON text of alipay_trade_query_response):
// response signed with the Signer's key and sign type, alipay_cert_sn
// added when certSN is set.
func (s *Signer) SignedTradeQueryAnswer(response, certSN string) (string, error) {
	sig, err := s.SignContent(response)
	if err != nil {
		return "", err
	}
	var j jsonText
	j.raw("alipay_trade_query_response", response)
	if certSN != "" {
		j.str("alipay_cert_sn", certSN)
	}
	j.str("sign", sig)
	return j.String(), nil
}

func (g *Gateway) openAnswer(params url.Values, req GatewayRequest, tr gatewayTrade, known bool, fault Fault) []byte {
	var resp string
	switch {
	case !req.SignatureValid:
		var j jsonText
		j.str("code", "40002")
		j.str("msg", "Invalid Arguments")
		j.str("sub_code", "isv.invalid-signature")
		j.str("sub_msg", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配")
		resp = j.String()
	case fault.Code != "" || fault.SubCode != "":
		var j jsonText
		j.str("code", fault.Code)
		j.str("msg", "Business Failed")
		j.str("sub_code", fault.SubCode)
		j.str("sub_msg", fault.SubMsg)
		resp = j.String()
	case !known:
		var j jsonText
		j.str("code", "40004")
		j.str("msg", "Business Failed")
		j.str("sub_code", "ACQ.TRADE_NOT_EXIST")
		j.str("sub_msg", "交易不存在")
		j.str("buyer_pay_amount", "0.00")
		j.str("invoice_amount", "0.00")
		j.str("out_trade_no", req.OutTradeNo)
		j.str("point_amount", "0.00")
		j.str("receipt_amount", "0.00")
		resp = j.String()
	default:
		resp = OpenTradeQueryResponse(tr.t, tr.status)
	}
	s := *g.opts.Signer
	s.SignType = SignRSA2
	if params.Get("sign_type") == string(SignRSA) {
		s.SignType = SignRSA
	}
	signed := resp
	if fault.BadSignature {
		signed += " "
	}
	sig, err := s.SignContent(signed)
	if err != nil {
		return []byte(`{"error_response":{"code":"20000","msg":"Service Currently Unavailable"}}`)
	}
	var j jsonText
	j.raw("alipay_trade_query_response", resp)
	if g.opts.AlipayCertSN != "" {
		j.str("alipay_cert_sn", g.opts.AlipayCertSN)
	}
	j.str("sign", sig)
	return []byte(j.String())
}

// xmlElement writes <name>text</name>, text escaped.
func xmlElement(b *bytes.Buffer, name, text string) {
	b.WriteString("<" + name + ">")
	_ = xml.EscapeText(b, []byte(text))
	b.WriteString("</" + name + ">")
}

// legacyTradeFields are the <trade> fields of a single_trade_query answer
// for trade t in status, sorted by name.
func (s *Signer) legacyTradeFields(t *Trade, status string) *WireParams {
	p := NewWireParams(
		"body", "test order",
		"buyer_email", "buyer@example.com",
		"buyer_id", DefaultBuyerID,
		"discount", "0.00",
		"flag_trade_locked", "0",
		"gmt_create", FormatTime(t.Created),
		"is_total_fee_adjust", "F",
		"out_trade_no", t.OutTradeNo,
		"payment_type", "1",
		"price", t.TotalAmount,
		"quantity", "1",
		"seller_email", "seller@example.com",
		"seller_id", s.sellerID(),
		"subject", "test order",
		"total_fee", t.TotalAmount,
		"trade_no", t.TradeNo,
		"trade_status", status,
		"use_coupon", "F",
	)
	if paidStatus(status) {
		p.Set("gmt_payment", FormatTime(t.PaidAt))
	}
	p.Sort()
	return p
}

// SingleTradeQueryAnswer returns the XML answer of single_trade_query for
// trade t in status: is_success=T, the echo of the request, the <trade>
// fields, and, when signed, <sign> (lowercase hex MD5 of the <trade>
// fields' sorted k=v string with the Signer's MD5Key appended) and
// <sign_type>MD5</sign_type>. The signature rule is UNCONFIRMED
// (docs/protocol-legacy.md, "Trade query").
func (s *Signer) SingleTradeQueryAnswer(t *Trade, status string, signed bool) []byte {
	return s.singleTradeQueryAnswer(t.OutTradeNo, s.legacyTradeFields(t, status), signed, false)
}

// SingleTradeQueryError returns the XML answer of a failed
// single_trade_query: is_success=F and error (e.g. "TRADE_IS_NOT_EXIST").
func SingleTradeQueryError(errorCode string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n<alipay>")
	xmlElement(&b, "is_success", "F")
	xmlElement(&b, "error", errorCode)
	b.WriteString("</alipay>")
	return b.Bytes()
}

func (s *Signer) singleTradeQueryAnswer(outTradeNo string, fields *WireParams, signed, badSignature bool) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n<alipay>")
	xmlElement(&b, "is_success", "T")
	b.WriteString("<request>")
	for _, kv := range [][2]string{{"_input_charset", "utf-8"}, {"service", ServiceSingleTradeQuery}, {"partner", s.partner()}, {"out_trade_no", outTradeNo}} {
		b.WriteString(`<param name="` + kv[0] + `">`)
		_ = xml.EscapeText(&b, []byte(kv[1]))
		b.WriteString("</param>")
	}
	b.WriteString("</request><response><trade>")
	for k, v := range fields.All() {
		xmlElement(&b, k, v)
	}
	b.WriteString("</trade></response>")
	if signed {
		content := Content(fields, V1, DropEmpty)
		if badSignature {
			content += "&"
		}
		sum := md5.Sum([]byte(content + s.md5Key()))
		xmlElement(&b, "sign", hex.EncodeToString(sum[:]))
		xmlElement(&b, "sign_type", string(SignMD5))
	}
	b.WriteString("</alipay>")
	return b.Bytes()
}

func (g *Gateway) legacyAnswer(req GatewayRequest, tr gatewayTrade, known bool, fault Fault) []byte {
	switch {
	case !req.SignatureValid:
		return SingleTradeQueryError("ILLEGAL_SIGN")
	case fault.SubCode != "":
		return SingleTradeQueryError(fault.SubCode)
	case fault.Code != "":
		return SingleTradeQueryError(fault.Code)
	case !known:
		return SingleTradeQueryError("TRADE_IS_NOT_EXIST")
	}
	s := g.opts.Signer
	return s.singleTradeQueryAnswer(req.OutTradeNo, s.legacyTradeFields(tr.t, tr.status), !g.opts.UnsignedLegacy, fault.BadSignature)
}
