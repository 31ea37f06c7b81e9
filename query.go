package alipaynotify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Trade query answers (docs/protocol.md and docs/protocol-legacy.md, "Trade
// query"). A query answer becomes the same typed Notification a callback
// does, with Source SourceQuery: the same field grammar (fields.go) holds it,
// the same keys verify it, and its Event is the Event of the notification
// of the same status. It reports trade statuses only: refunds are never read
// from it (Notification.Refund stays nil), since alipay.trade.query does not
// list refunds one by one.

// MaxQueryResponseBytes bounds a trade query answer. A real answer is a few
// KiB; a longer one is refused unread.
const MaxQueryResponseBytes = 64 << 10

// tradeQueryResponseKey is the member of an alipay.trade.query answer that
// holds the answer and whose JSON text is signed.
const tradeQueryResponseKey = "alipay_trade_query_response"

// maxQueryTopMembers bounds the members of an answer's outer object:
// the response, sign and alipay_cert_sn, with room to spare.
const maxQueryTopMembers = 16

// Trade-not-found codes: the open platform's sub_code, and the legacy
// error: TRADE_IS_NOT_EXIST in every single_trade_query answer we have seen
// quoted, TRADE_NOT_EXIST in the escrow gateway's error list
// (docs/protocol-legacy.md, "Trade query"). Both mean "nothing yet".
const (
	subCodeTradeNotExist   = "ACQ.TRADE_NOT_EXIST"
	mapiTradeIsNotExist    = "TRADE_IS_NOT_EXIST"
	mapiTradeNotExistOther = "TRADE_NOT_EXIST"
)

// GatewayError is an error answer of Alipay's gateway to a trade query. It
// matches ErrGateway with errors.Is.
type GatewayError struct {
	// Code is the open platform's code ("40004", "20000", ...) or the
	// legacy error (e.g. "ILLEGAL_SIGN").
	Code string
	// Msg is the open platform's msg ("Business Failed").
	Msg string
	// SubCode is the open platform's sub_code ("ACQ.SYSTEM_ERROR",
	// "isv.invalid-signature", ...).
	SubCode string
	// SubMsg is the open platform's sub_msg, Alipay's explanation.
	SubMsg string
	// Signed reports whether the answer carried a signature that verified.
	// An unsigned error answer only proves that something answered.
	Signed bool
}

// maxGatewayText bounds each text of a GatewayError in its message.
const maxGatewayText = 200

// Error implements error.
func (e *GatewayError) Error() string {
	var b strings.Builder
	b.WriteString(ErrGateway.Error())
	for _, p := range [...]struct{ name, v string }{{"code", e.Code}, {"msg", e.Msg}, {"sub_code", e.SubCode}, {"sub_msg", e.SubMsg}} {
		if p.v != "" {
			b.WriteString(" " + p.name + "=")
			b.WriteString(boundedText(p.v))
		}
	}
	if !e.Signed {
		b.WriteString(" (unsigned)")
	}
	return b.String()
}

// Unwrap returns ErrGateway.
func (e *GatewayError) Unwrap() error { return ErrGateway }

// boundedText quotes at most maxGatewayText bytes of s, cut on a rune.
func boundedText(s string) string {
	if len(s) > maxGatewayText {
		cut := maxGatewayText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return `"` + strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return '?'
		}
		return r
	}, s), "?") + `"`
}

// openQueryFields maps the members of an alipay.trade.query answer to the
// field (fields.go) whose grammar holds them and whose setter reads them.
// Members not listed stay in Params only. Refund fields are never read: a
// query reports trade statuses, not refunds.
var openQueryFields = map[string]string{
	"trade_no":         "trade_no",
	"out_trade_no":     "out_trade_no",
	"trade_status":     "trade_status",
	"total_amount":     "total_amount",
	"receipt_amount":   "receipt_amount",
	"invoice_amount":   "invoice_amount",
	"buyer_pay_amount": "buyer_pay_amount",
	"point_amount":     "point_amount",
	"buyer_logon_id":   "buyer_logon_id",
	"buyer_user_id":    "buyer_id",
	"buyer_open_id":    "buyer_open_id",
	"send_pay_date":    "gmt_payment",
	"subject":          "subject",
	"body":             "body",
}

// mapiQueryFields are the <trade> children of a single_trade_query answer
// read into typed fields; they have the names of the notification's fields.
// is_total_fee_adjust and use_coupon are left in Params: the query writes
// them T/F where notifications write Y/N (UNCONFIRMED).
var mapiQueryFields = map[string]string{
	"trade_no": "trade_no", "out_trade_no": "out_trade_no", "trade_status": "trade_status",
	"total_fee": "total_fee", "price": "price", "quantity": "quantity", "discount": "discount",
	"buyer_email": "buyer_email", "buyer_id": "buyer_id", "seller_email": "seller_email", "seller_id": "seller_id",
	"subject": "subject", "body": "body", "payment_type": "payment_type",
	"gmt_create": "gmt_create", "gmt_payment": "gmt_payment", "gmt_close": "gmt_close",
}

// VerifyTradeQuery verifies the raw body of an alipay.trade.query answer to
// a query about outTradeNo and returns the trade's status as a Notification
// with Source SourceQuery, Protocol ProtocolOpenPlatform and AppID the
// configured AppID.
//
// The signature is checked over the JSON text of the
// alipay_trade_query_response member exactly as sent, with the configured
// Alipay keys (the certificate named by alipay_cert_sn first), as RSA2 and
// then RSA. An answer for another out_trade_no is refused. A WAIT_BUYER_PAY
// answer is a Notification like any other: deciding which statuses to act
// on is the caller's. CheckOrder runs as for callbacks.
//
// Errors: ErrTradeNotFound for a signed ACQ.TRADE_NOT_EXIST; a *GatewayError
// (ErrGateway) for any other answer whose code is not 10000, or an unsigned
// one; ErrSignature when a signature does not verify or a success is
// unsigned; ErrMalformed, ErrAmount, ErrAmbiguous for a body or field that
// does not parse.
func (v *Verifier) VerifyTradeQuery(ctx context.Context, body []byte, outTradeNo string) (*Notification, error) {
	if len(v.openKeys) == 0 {
		return nil, fieldErr(ErrSignType, "app_id", "open-platform trade queries are not configured (AppID and Alipay keys)")
	}
	if len(body) > MaxQueryResponseBytes {
		return nil, fieldErr(ErrMalformed, "", "answer longer than MaxQueryResponseBytes")
	}
	top, err := parseJSONObject(body, maxQueryTopMembers)
	if err != nil {
		return nil, err
	}
	respKey := tradeQueryResponseKey
	resp, ok := top.get(respKey)
	if !ok {
		if resp, ok = top.get("error_response"); !ok {
			return nil, fieldErr(ErrMalformed, tradeQueryResponseKey, "missing")
		}
		respKey = "error_response"
	}
	signType, signed, err := v.checkQuerySign(top, resp)
	if err != nil {
		return nil, err
	}
	members, err := parseJSONObject(resp, v.opts.MaxParams)
	if err != nil {
		return nil, err
	}
	params, err := members.params()
	if err != nil {
		return nil, err
	}
	if code := params.Get("code"); code != "10000" || respKey != tradeQueryResponseKey {
		ge := &GatewayError{Code: code, Msg: params.Get("msg"), SubCode: params.Get("sub_code"), SubMsg: params.Get("sub_msg"), Signed: signed}
		if ge.SubCode != subCodeTradeNotExist || !signed {
			return nil, ge
		}
		if out := params.Get("out_trade_no"); out != "" && out != outTradeNo {
			return nil, errOtherTrade()
		}
		return nil, ErrTradeNotFound
	}
	if !signed {
		return nil, fieldErr(ErrSignature, "sign", "missing: a successful answer must be signed")
	}
	n := &Notification{Source: SourceQuery, Protocol: ProtocolOpenPlatform, SignType: signType, Charset: UTF8, AppID: v.opts.AppID, Params: params}
	n.self, n.verifiedBy = n, v // verified: Produced vouches for it, as for callbacks
	if err := n.fillQuery(openQueryFields); err != nil {
		return nil, err
	}
	if err := n.fillQueryLists(members); err != nil {
		return nil, err
	}
	return v.finishQuery(ctx, n, outTradeNo)
}

// errOtherTrade refuses an answer about another order than the one asked
// about: a genuine answer replayed for the wrong query.
func errOtherTrade() error {
	return fieldErr(ErrMalformed, "out_trade_no", "the answer is about another order than the one asked about")
}

// finishQuery runs the checks every query answer gets last: the order is
// the one asked about, the identity checks of callbacks, CheckOrder.
func (v *Verifier) finishQuery(ctx context.Context, n *Notification, outTradeNo string) (*Notification, error) {
	if n.OutTradeNo != "" && n.OutTradeNo != outTradeNo {
		return nil, errOtherTrade()
	}
	if err := v.checkIdentity(n); err != nil {
		return nil, err
	}
	return v.finish(ctx, n, false)
}

// checkQuerySign verifies the answer's sign over resp, the response member's
// JSON text as sent. It reports whether the answer was signed at all and
// with which algorithm.
func (v *Verifier) checkQuerySign(top jsonObject, resp []byte) (SignType, bool, error) {
	rawSign, ok := top.get("sign")
	if !ok {
		return "", false, nil
	}
	var sign string
	if err := json.Unmarshal(rawSign, &sign); err != nil || sign == "" {
		return "", false, fieldErr(ErrMalformed, "sign", "not a JSON string")
	}
	var certSN string
	if raw, ok := top.get("alipay_cert_sn"); ok {
		if err := json.Unmarshal(raw, &certSN); err != nil {
			return "", false, fieldErr(ErrMalformed, "alipay_cert_sn", "not a JSON string")
		}
	}
	var sigBuf [maxSignatureBytes]byte
	sig, ok := decodeSignature(&sigBuf, []byte(sign))
	if !ok {
		return "", false, fieldErr(ErrSignature, "sign", "not the base64 of an RSA signature")
	}
	// The answer names no algorithm: Alipay signs it with the request's
	// sign_type. Both are tried, as both are accepted on callbacks.
	sum256 := sha256.Sum256(resp)
	if verifyDigest(v.openKeys, certSN, crypto.SHA256, sum256[:], sig) {
		return SignRSA2, true, nil
	}
	sum1 := sha1.Sum(resp)
	if verifyDigest(v.openKeys, certSN, crypto.SHA1, sum1[:], sig) {
		return SignRSA, true, nil
	}
	return "", false, ErrSignature
}

// fillQuery reads the fields table maps from n.Params into the typed fields,
// each held to the grammar of the callback field it stands for.
func (n *Notification) fillQuery(table map[string]string) error {
	legacy := n.Protocol != ProtocolOpenPlatform
	for _, p := range n.Params {
		name, ok := table[p.Key]
		if !ok {
			continue
		}
		spec, _ := lookupField(name)
		if err := checkGrammar(spec.grammar, legacy, p.Key, p.Value); err != nil {
			return err
		}
		if err := spec.set(n, p.Key, p.Value); err != nil {
			return err
		}
	}
	if n.OutTradeNo == "" {
		return fieldErr(ErrMalformed, "out_trade_no", "missing")
	}
	return nil
}

// fillQueryLists reads the JSON arrays of an open-platform answer:
// fund_bill_list and voucher_detail_list, kept as sent in the Raw fields.
func (n *Notification) fillQueryLists(members jsonObject) error {
	if raw, ok := members.get("fund_bill_list"); ok && string(raw) != "null" {
		// The answer writes the entries' keys in snake case (fund_channel,
		// amount, real_amount, fund_type), where notifications write camel
		// case. A map matches them exactly and takes string values only.
		var entries []map[string]string
		if err := json.Unmarshal(raw, &entries); err != nil {
			return fieldErr(ErrMalformed, "fund_bill_list", "not a JSON array of objects with string values")
		}
		n.FundBillList = make([]FundBill, 0, len(entries))
		for _, e := range entries {
			b := FundBill{FundChannel: e["fund_channel"], FundType: e["fund_type"]}
			var err error
			if b.Amount, err = parseAmountField("fund_bill_list", e["amount"]); err != nil {
				return err
			}
			if e["real_amount"] != "" {
				if b.RealAmount, err = parseAmountField("fund_bill_list", e["real_amount"]); err != nil {
					return err
				}
			}
			n.FundBillList = append(n.FundBillList, b)
		}
		n.FundBillListRaw = string(raw)
	}
	if raw, ok := members.get("voucher_detail_list"); ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &n.VoucherDetailList); err != nil {
			return fieldErr(ErrMalformed, "voucher_detail_list", "not a JSON array of objects")
		}
		n.VoucherDetailListRaw = string(raw)
	}
	return nil
}

// jsonMember is one member of a JSON object: its name and its value's JSON
// text exactly as sent.
type jsonMember struct {
	key string
	raw json.RawMessage
}

// jsonObject is a JSON object's members in the order sent.
type jsonObject []jsonMember

func (o jsonObject) get(key string) ([]byte, bool) {
	for _, m := range o {
		if m.key == key {
			return m.raw, true
		}
	}
	return nil, false
}

// parseJSONObject reads a JSON object of at most maxMembers members whose
// names are unique, followed by nothing but white space. Each value keeps
// its text as sent: a signature covers those bytes, never a re-encoding.
func parseJSONObject(b []byte, maxMembers int) (jsonObject, error) {
	bad := func(reason string) error { return fieldErr(ErrMalformed, "", "answer: "+reason) }
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad("not a JSON object")
	}
	var out jsonObject
	for dec.More() {
		if len(out) == maxMembers {
			return nil, bad("too many members")
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, bad("not a JSON object")
		}
		key, ok := tok.(string)
		if !ok {
			return nil, bad("not a JSON object")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, bad("not a JSON object")
		}
		if _, dup := out.get(key); dup {
			return nil, fieldErr(ErrMalformed, safeField([]byte(key)), "duplicate member")
		}
		out = append(out, jsonMember{key, raw})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, bad("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("data after the JSON object")
	}
	return out, nil
}

// params returns the members as Params, sorted by key: strings decoded,
// other values as their JSON text, empty strings and nulls left out (as
// empty callback parameters are). A member the open platform's answer maps
// to a typed field (openQueryFields) must be a string.
func (o jsonObject) params() (Params, error) {
	ps := make(Params, 0, len(o))
	for _, m := range o {
		v := string(m.raw)
		switch {
		case v == "null":
			continue
		case strings.HasPrefix(v, `"`):
			if err := json.Unmarshal(m.raw, &v); err != nil {
				return nil, fieldErr(ErrMalformed, safeField([]byte(m.key)), "not a JSON string")
			}
		default:
			if _, mapped := openQueryFields[m.key]; mapped {
				return nil, fieldErr(ErrMalformed, safeField([]byte(m.key)), "not a JSON string")
			}
		}
		if v != "" {
			ps = append(ps, Param{Key: m.key, Value: v})
		}
	}
	slices.SortFunc(ps, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
	return ps, nil
}

// VerifySingleTradeQuery verifies the raw XML body of a legacy mapi
// single_trade_query answer to a query about outTradeNo and returns the
// trade's status as a Notification with Source SourceQuery, Protocol
// ProtocolMapi and Partner the configured partner.
//
// An answer carrying <sign> must verify under the configured MD5 key over
// the <trade> fields (docs/protocol-legacy.md, "Trade query": the rule is
// UNCONFIRMED); SignType is then MD5. An answer without <sign> is accepted
// with SignType empty: the legacy protocol does not promise a signed answer,
// and HTTPS to Alipay's gateway is then the only guard.
//
// Errors: ErrTradeNotFound for is_success=F with error TRADE_IS_NOT_EXIST
// (or TRADE_NOT_EXIST); a
// *GatewayError (ErrGateway) for any other is_success=F; ErrSignature,
// ErrSignType, ErrMalformed, ErrCharset, ErrAmount, ErrAmbiguous, ErrPartner
// as for callbacks.
func (v *Verifier) VerifySingleTradeQuery(ctx context.Context, body []byte, outTradeNo string) (*Notification, error) {
	if v.opts.Legacy.Partner == "" {
		return nil, fieldErr(ErrSignType, "partner", "legacy mapi trade queries are not configured (Legacy.Partner)")
	}
	if len(body) > MaxQueryResponseBytes {
		return nil, fieldErr(ErrMalformed, "", "answer longer than MaxQueryResponseBytes")
	}
	a, err := parseSingleTradeQuery(body, v.opts.MaxParams)
	if err != nil {
		return nil, err
	}
	signType, err := v.checkSingleTradeQuerySign(a)
	if err != nil {
		return nil, err
	}
	switch a.isSuccess {
	case "T":
	case "F":
		if a.err == mapiTradeIsNotExist || a.err == mapiTradeNotExistOther {
			return nil, ErrTradeNotFound
		}
		return nil, &GatewayError{Code: a.err, Signed: signType != ""}
	default:
		return nil, fieldErr(ErrMalformed, "is_success", "must be T or F")
	}
	if a.trade == nil {
		return nil, fieldErr(ErrMalformed, "trade", "missing")
	}
	n := &Notification{Source: SourceQuery, Protocol: ProtocolMapi, SignType: signType, Charset: UTF8, Partner: v.opts.Legacy.Partner, Params: a.trade}
	n.self, n.verifiedBy = n, v
	if err := n.fillQuery(mapiQueryFields); err != nil {
		return nil, err
	}
	return v.finishQuery(ctx, n, outTradeNo)
}

// checkSingleTradeQuerySign verifies a legacy answer's <sign> when it has
// one, and returns the verified sign type ("" when unsigned).
func (v *Verifier) checkSingleTradeQuerySign(a *singleTradeQueryAnswer) (SignType, error) {
	if a.sign == "" {
		if a.signType != "" {
			return "", fieldErr(ErrMalformed, "sign", "sign_type without sign")
		}
		return "", nil
	}
	switch {
	case a.signType != "" && SignType(a.signType) != SignMD5:
		return "", fieldErr(ErrSignType, "sign_type", "a legacy query answer is signed with MD5")
	case v.md5Key == nil:
		return "", fieldErr(ErrSignType, "sign_type", "MD5 is not configured (Legacy.MD5Key)")
	}
	content := RequestContent(ProtocolMapi, a.trade.mapOf())
	if err := checkMD5(v.md5Key, []byte(a.sign), func(w io.Writer) { w.Write(content) }); err != nil {
		return "", err
	}
	return SignMD5, nil
}

// mapOf returns the parameters as a map.
func (p Params) mapOf() map[string]string {
	m := make(map[string]string, len(p))
	for _, q := range p {
		m[q.Key] = q.Value
	}
	return m
}

// singleTradeQueryAnswer is a parsed single_trade_query answer.
type singleTradeQueryAnswer struct {
	isSuccess, err, sign, signType string
	// trade holds the leaf children of <response><trade>, sorted by name,
	// empty ones left out; nil when the answer has no <trade>.
	trade Params
}

// maxXMLDepth bounds the nesting of a legacy answer.
const maxXMLDepth = 8

// xmlElem is an open element of a legacy answer: its path from the root
// and whether it holds an element.
type xmlElem struct {
	path     string
	hasChild bool
}

// parseSingleTradeQuery reads <alipay><is_success/><error/><response><trade>
// fields</trade></response><sign/><sign_type/></alipay>. It is as strict as
// the mobile web's notify_data parser: one root element named alipay, UTF-8
// only (another declared encoding is ErrCharset), no DOCTYPE or processing
// instruction but the declaration, no namespace, no repeated element, at
// most maxParams elements, trade field names in the parameter alphabet.
// <request> (the echo of the query) and trade children that hold elements
// are skipped.
func parseSingleTradeQuery(body []byte, maxParams int) (*singleTradeQueryAnswer, error) {
	bad := func(reason string) error { return fieldErr(ErrMalformed, "", "answer: "+reason) }
	otherCharset := false
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	d.CharsetReader = func(string, io.Reader) (io.Reader, error) {
		otherCharset = true
		return nil, errors.New("not UTF-8")
	}
	a := &singleTradeQueryAnswer{}
	var open []xmlElem
	var text []byte
	seen := map[string]bool{}
	elements, roots, tokens := 0, 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if otherCharset {
				return nil, fieldErr(ErrCharset, "", "a legacy query answer must be UTF-8")
			}
			return nil, bad("not well-formed XML")
		}
		tokens++
		switch t := tok.(type) {
		case xml.Directive:
			return nil, bad("DOCTYPE and other declarations are not allowed")
		case xml.ProcInst:
			if t.Target != "xml" || tokens != 1 {
				return nil, bad("processing instructions are not allowed")
			}
		case xml.StartElement:
			if t.Name.Space != "" {
				return nil, bad("namespaced elements are not allowed")
			}
			if elements++; elements > maxParams || len(open) == maxXMLDepth {
				return nil, bad("too many or too deeply nested elements")
			}
			path := t.Name.Local
			if len(open) == 0 {
				if roots++; roots > 1 || path != "alipay" {
					return nil, bad("the root element must be the one <alipay>")
				}
			} else {
				open[len(open)-1].hasChild = true
				path = open[len(open)-1].path + "/" + path
			}
			if seen[path] && !strings.HasPrefix(path, "alipay/request/") { // the request echo repeats <param>
				return nil, fieldErr(ErrMalformed, safeField([]byte(t.Name.Local)), "repeated element")
			}
			seen[path] = true
			if path == "alipay/response/trade" {
				a.trade = Params{}
			}
			open = append(open, xmlElem{path: path})
			text = text[:0]
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			e := open[len(open)-1]
			open = open[:len(open)-1]
			if e.hasChild {
				continue
			}
			if err := a.set(e.path, t.Name.Local, string(text)); err != nil {
				return nil, err
			}
		}
	}
	if roots == 0 {
		return nil, bad("no <alipay> element")
	}
	slices.SortFunc(a.trade, func(x, y Param) int { return strings.Compare(x.Key, y.Key) })
	return a, nil
}

// set stores the text of the leaf element at path (name is its own name).
func (a *singleTradeQueryAnswer) set(path, name, text string) error {
	switch path {
	case "alipay/is_success":
		a.isSuccess = strings.TrimSpace(text)
	case "alipay/error":
		a.err = strings.TrimSpace(text)
	case "alipay/sign":
		a.sign = strings.TrimSpace(text)
	case "alipay/sign_type":
		a.signType = strings.TrimSpace(text)
	case "alipay/response/trade/" + name:
		if err := checkKey([]byte(name)); err != nil {
			return err
		}
		if text != "" { // an empty element counts as absent, as an empty parameter does
			a.trade = append(a.trade, Param{Key: name, Value: text})
		}
	}
	return nil
}
