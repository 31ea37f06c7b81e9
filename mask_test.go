package alipaynotify_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
)

// The personal data of the test buyer, and fragments of it that must not
// survive masking either.
const (
	piiName     = "张三丰"
	piiAddress  = "浙江省杭州市西湖区文三路477号华星科技大厦"
	piiZip      = "310012"
	piiPhone    = "0571-88158090"
	piiMobile   = "13812345678"
	piiEmail    = "zhang.sanfeng@example.com"
	piiLogon    = "13912345678"
	piiBuyerID  = "2088102122524333"
	piiOpenID   = "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
	piiSeller   = "li.seller@example.com"
	piiSubject  = "张三丰的生日蛋糕"
	piiBody     = "送给张三丰"
	piiRecvMail = "recv.mail@example.com"
)

var piiNeedles = []string{
	piiName, piiAddress, piiZip, piiPhone, piiMobile, piiEmail, piiLogon, piiBuyerID, piiOpenID, piiSeller,
	piiSubject, piiBody, piiRecvMail,
	"三丰", "西湖", "文三路", "0012", "88158", "12345", "zhang", "sanfeng", "li.seller", "2122524", "1CcTG1Lel", "生日蛋糕", "recv.mail",
}

// assertMasked fails if out holds any personal data, raw or in the escaped
// forms printing may produce (hex for %x, \u escapes for %+q and JSON).
// heapPointer matches a Go heap address as fmt prints a pointer field
// (0xc000126030 with %v, c000126030 or C000126030 with %x and %X,
// 824634925104 with %d). Addresses are not personal data, but whether one
// happens to contain a needle ("0012" in 0xc00012…) depends on where the
// heap put the object, so they are cut out before the search.
var heapPointer = regexp.MustCompile(`\b(0x)?[cC]0[0-9a-fA-F]{8}\b|\b82[4-8][0-9]{9}\b`)

func assertMasked(t *testing.T, what, out string) {
	t.Helper()
	out = heapPointer.ReplaceAllString(out, "<ptr>")
	for _, s := range piiNeedles {
		forms := []string{s, hex.EncodeToString([]byte(s)), strings.ToUpper(hex.EncodeToString([]byte(s))),
			strings.Trim(strconv.QuoteToASCII(s), `"`)}
		if j, err := json.Marshal(s); err == nil {
			forms = append(forms, strings.Trim(string(j), `"`))
		}
		for _, f := range forms {
			if strings.Contains(out, f) {
				t.Errorf("%s holds %q (as %q):\n%s", what, s, f, out)
				return
			}
		}
	}
}

// piiNotification is a notification holding every kind of personal data,
// in typed fields and in Params, with parameters re-cut around them the
// ways an attacker holding a genuine callback can: a value folding in the
// receive_* fields, a key folding in a value, an unknown receive_* field.
func piiNotification() *alipaynotify.Notification {
	params := alipaynotify.Params{
		{Key: "body", Value: piiBody},
		{Key: "buyer_email", Value: piiEmail},
		{Key: "buyer_id", Value: piiBuyerID},
		{Key: "buyer_logon_id", Value: piiLogon},
		{Key: "buyer_open_id", Value: piiOpenID},
		{Key: "buyer_pay_amount", Value: "12.00"},
		{Key: "out_trade_no", Value: "ORDER-MASK-1"},
		{Key: "price=1.00&receive_mobile=" + piiMobile + "&receive_name", Value: piiName},
		{Key: "quantity", Value: "1&receive_address=" + piiAddress + "&receive_mobile=" + piiMobile + "&receive_name=" + piiName},
		{Key: "receive_address", Value: piiAddress},
		{Key: "receive_email", Value: piiRecvMail},
		{Key: "receive_mobile", Value: piiMobile},
		{Key: "receive_name", Value: piiName},
		{Key: "receive_phone", Value: piiPhone},
		{Key: "receive_zip", Value: piiZip},
		{Key: "seller_email", Value: piiSeller},
		{Key: "subject", Value: piiSubject},
		{Key: "trade_no", Value: "2024010122001400000000000001"},
		{Key: "trade_status", Value: "TRADE_SUCCESS"},
	}
	return &alipaynotify.Notification{
		Source: alipaynotify.SourceNotify, Protocol: alipaynotify.ProtocolMapi, Partner: "2088000000000001",
		OutTradeNo: "ORDER-MASK-1", TradeNo: "2024010122001400000000000001", TradeStatus: alipaynotify.TradeSuccess,
		NotifyID:    "nid-mask-1",
		TotalAmount: alipaynotify.AmountPresent(8888), BuyerPayAmount: alipaynotify.AmountPresent(0),
		BuyerLogonID: piiLogon, BuyerID: piiBuyerID, BuyerOpenID: piiOpenID, SellerEmail: piiSeller,
		Subject: piiSubject, Body: piiBody,
		PassbackParams: "k=v&buyer_email=" + piiEmail,
		Legacy: alipaynotify.LegacyFields{
			BuyerEmail: piiEmail,
			Quantity:   "1&receive_address=" + piiAddress + "&receive_name=" + piiName,
			Receiver:   &alipaynotify.Receiver{Name: piiName, Address: piiAddress, Zip: piiZip, Phone: piiPhone, Mobile: piiMobile},
			Logistics:  &alipaynotify.Logistics{Type: "EXPRESS&receive_name=" + piiName},
		},
		Refund: &alipaynotify.Refund{OutBizNo: "R-1&receive_mobile=" + piiMobile},
		Params: params,
	}
}

// Every way of printing, logging or encoding a Notification, its Params, a
// Param or a Receiver writes no personal data, re-cut parameters included.
func TestMaskingEverywhere(t *testing.T) {
	t.Parallel()
	n := piiNotification()
	recut := n.Params[8] // quantity folding in receive_*
	targets := []struct {
		name string
		v    any
	}{
		{"*Notification", n},
		{"Notification", *n},
		{"Params", n.Params},
		{"[]Param", []alipaynotify.Param(n.Params)},
		{"Param re-cut value", recut},
		{"*Param", &recut},
		{"Param re-cut key", n.Params[7]},
		{"*Receiver", n.Legacy.Receiver},
		{"Receiver", *n.Legacy.Receiver},
		{"struct of all", struct {
			N  *alipaynotify.Notification
			V  alipaynotify.Notification
			P  alipaynotify.Params
			Q  alipaynotify.Param
			R  *alipaynotify.Receiver
			RV alipaynotify.Receiver
		}{n, *n, n.Params, recut, n.Legacy.Receiver, *n.Legacy.Receiver}},
		{"map", map[string]any{"params": n.Params, "param": recut}},
	}
	for i := range n.Params {
		targets = append(targets, struct {
			name string
			v    any
		}{"Param " + strconv.Itoa(i), n.Params[i]})
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%+q", "%x", "%X", "%d", "%10.3v"}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			for _, verb := range verbs {
				assertMasked(t, "fmt "+verb, fmt.Sprintf(verb, tg.v))
			}
			assertMasked(t, "Sprint", fmt.Sprint(tg.v))
			assertMasked(t, "Sprintln", fmt.Sprintln("x", tg.v))
			if s, ok := tg.v.(fmt.Stringer); ok {
				assertMasked(t, "String", s.String())
			}
			j, err := json.Marshal(tg.v)
			if err != nil {
				t.Fatalf("json: %v", err)
			}
			assertMasked(t, "json", string(j))
			for _, h := range []struct {
				name string
				new  func(*bytes.Buffer) slog.Handler
			}{
				{"slog JSON", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, noTime) }},
				{"slog text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, noTime) }},
			} {
				var buf bytes.Buffer
				l := slog.New(h.new(&buf))
				l.Info("callback", "x", tg.v)
				l.Info("callback", slog.Any("any", tg.v), slog.Group("g", "x", tg.v))
				l.With("w", tg.v).Warn("with")
				assertMasked(t, h.name, buf.String())
			}
		})
	}

	// The identity stays readable, and the masked forms are there.
	out := fmt.Sprintf("%+v", n)
	for _, s := range []string{"ORDER-MASK-1", "2024010122001400000000000001", "TRADE_SUCCESS", "张**", "138****5678", "z***@example.com", "l***@example.com", "2088********4333", "Key:buyer_pay_amount Value:12.00"} {
		if !strings.Contains(out, s) {
			t.Errorf("%%+v lacks %q:\n%s", s, out)
		}
	}
	// The original is untouched.
	if n.Params.Get("receive_name") != piiName || n.Legacy.Receiver.Name != piiName || n.Legacy.BuyerEmail != piiEmail ||
		!strings.Contains(n.Legacy.Quantity, piiAddress) || n.Legacy.Logistics.Type != "EXPRESS&receive_name="+piiName {
		t.Error("masking changed the original")
	}
}

// Param.Masked and Params.Masked, value by value.
func TestParamMasked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want alipaynotify.Param
	}{
		{alipaynotify.Param{Key: "receive_name", Value: piiName}, alipaynotify.Param{Key: "receive_name", Value: "张**"}},
		{alipaynotify.Param{Key: "receive_address", Value: piiAddress}, alipaynotify.Param{Key: "receive_address", Value: "浙江省***"}},
		{alipaynotify.Param{Key: "receive_zip", Value: piiZip}, alipaynotify.Param{Key: "receive_zip", Value: "31****"}},
		{alipaynotify.Param{Key: "receive_mobile", Value: piiMobile}, alipaynotify.Param{Key: "receive_mobile", Value: "138****5678"}},
		{alipaynotify.Param{Key: "receive_phone", Value: piiPhone}, alipaynotify.Param{Key: "receive_phone", Value: "057******8090"}},
		{alipaynotify.Param{Key: "receive_email", Value: piiRecvMail}, alipaynotify.Param{Key: "receive_email", Value: "***"}},
		{alipaynotify.Param{Key: "buyer_email", Value: piiEmail}, alipaynotify.Param{Key: "buyer_email", Value: "z***@example.com"}},
		{alipaynotify.Param{Key: "buyer_logon_id", Value: piiLogon}, alipaynotify.Param{Key: "buyer_logon_id", Value: "139****5678"}},
		{alipaynotify.Param{Key: "seller_email", Value: piiSeller}, alipaynotify.Param{Key: "seller_email", Value: "l***@example.com"}},
		{alipaynotify.Param{Key: "buyer_id", Value: piiBuyerID}, alipaynotify.Param{Key: "buyer_id", Value: "2088********4333"}},
		{alipaynotify.Param{Key: "subject", Value: piiSubject}, alipaynotify.Param{Key: "subject", Value: "***"}},
		{alipaynotify.Param{Key: "body", Value: piiBody}, alipaynotify.Param{Key: "body", Value: "***"}},
		{alipaynotify.Param{Key: "quantity", Value: "1&receive_name=" + piiName}, alipaynotify.Param{Key: "quantity", Value: "***"}},
		{alipaynotify.Param{Key: "receive_mobile", Value: piiMobile + "&receive_name=" + piiName}, alipaynotify.Param{Key: "receive_mobile", Value: "***"}},
		{alipaynotify.Param{Key: "price=1.00&receive_mobile=" + piiMobile + "&receive_name", Value: piiName}, alipaynotify.Param{Key: "price***", Value: "***"}},
		{alipaynotify.Param{Key: "receive_zip", Value: piiZip + "&refund_status=REFUND_SUCCESS"}, alipaynotify.Param{Key: "receive_zip", Value: "31" + strings.Repeat("*", 33)}},
		{alipaynotify.Param{Key: "buyer_pay_amount", Value: "12.00"}, alipaynotify.Param{Key: "buyer_pay_amount", Value: "12.00"}},
		{alipaynotify.Param{Key: "out_trade_no", Value: "O-1"}, alipaynotify.Param{Key: "out_trade_no", Value: "O-1"}},
		{alipaynotify.Param{Key: "passback_params", Value: "a=1&b=2"}, alipaynotify.Param{Key: "passback_params", Value: "a=1&b=2"}},
		{alipaynotify.Param{Key: "trade_no=1&trade_status", Value: "TRADE_SUCCESS"}, alipaynotify.Param{Key: "trade_no=1&trade_status", Value: "TRADE_SUCCESS"}},
		{alipaynotify.Param{Key: "receive_name", Value: ""}, alipaynotify.Param{Key: "receive_name", Value: ""}},
	} {
		if got := tc.in.Masked(); got != tc.want {
			t.Errorf("%q=%q masked = %q=%q, want %q=%q", tc.in.Key, tc.in.Value, got.Key, got.Value, tc.want.Key, tc.want.Value)
		}
	}
	if alipaynotify.Params(nil).Masked() != nil {
		t.Error("nil Params masked to non-nil")
	}
	p := alipaynotify.Params{{Key: "out_trade_no", Value: "O-1"}, {Key: "receive_name", Value: piiName}}
	for _, c := range []struct{ got, want string }{
		{p.String(), "[{out_trade_no O-1} {receive_name 张**}]"},
		{fmt.Sprintf("%+v", p), "[{Key:out_trade_no Value:O-1} {Key:receive_name Value:张**}]"},
		{fmt.Sprintf("%#v", p), `alipaynotify.Params{alipaynotify.Param{Key:"out_trade_no", Value:"O-1"}, alipaynotify.Param{Key:"receive_name", Value:"张**"}}`},
		{fmt.Sprintf("%#v", alipaynotify.Params(nil)), "alipaynotify.Params(nil)"},
		{fmt.Sprintf("%q", p), `[{"out_trade_no" "O-1"} {"receive_name" "张**"}]`},
		{p[1].String(), "{receive_name 张**}"},
		{fmt.Sprint(p[1]), "{receive_name 张**}"},
		{fmt.Sprintf("%#v", p[1]), `alipaynotify.Param{Key:"receive_name", Value:"张**"}`},
		{fmt.Sprintf("%#v", alipaynotify.Receiver{Name: piiName}), `alipaynotify.Receiver{Name:"张**", Address:"", Zip:"", Phone:"", Mobile:""}`},
		{string(must(json.Marshal(p))), `[{"Key":"out_trade_no","Value":"O-1"},{"Key":"receive_name","Value":"张**"}]`},
		{string(must(json.Marshal(p[1]))), `{"Key":"receive_name","Value":"张**"}`},
		{string(must(json.Marshal(alipaynotify.Receiver{Name: piiName}))), `{"Name":"张**","Address":"","Zip":"","Phone":"","Mobile":""}`},
		{p.LogValue().Resolve().String(), "[out_trade_no=O-1 receive_name=张**]"},
		{p[1].LogValue().Resolve().String(), "[key=receive_name value=张**]"},
	} {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}

// noTime drops the time from log lines, whose digits could match a needle.
var noTime = &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Every text field of a Notification, including ones added after this
// test was written, prints "***" when it folds in a personal-data
// parameter, through fmt, JSON and slog.
func TestMaskingEveryTextField(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[alipaynotify.Notification]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type.Kind() != reflect.String || !f.IsExported() {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			var n alipaynotify.Notification
			reflect.ValueOf(&n).Elem().Field(i).SetString("x&receive_name=" + piiName)
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, noTime)).Info("n", "n", &n)
			slog.New(slog.NewTextHandler(&buf, noTime)).Info("n", "n", &n)
			out := fmt.Sprintf("%v %+v %#v %s", &n, n, n, n.Masked()) + string(must(json.Marshal(n))) + buf.String()
			assertMasked(t, f.Name, out)
		})
	}
}

// An error about a parameter whose key folds in personal data (a re-cut of
// a genuine callback) does not quote that data.
func TestErrorKeyMasked(t *testing.T) {
	t.Parallel()
	v, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: wapMD5Key}})
	if err != nil {
		t.Fatal(err)
	}
	key := "price%3D1.00%26receive_mobile%3D" + piiMobile + "%26receive_name"
	for _, body := range []string{
		key + "=a&" + key + "=b&sign=x&sign_type=MD5",               // duplicate parameter
		key + "=%zz&sign=x&sign_type=MD5",                           // bad percent-encoding in the value
		"_input_charset=utf-8&" + key + "=%ff&sign=x&sign_type=MD5", // not UTF-8 (if checked before the signature)
	} {
		_, err := v.VerifyNotify(context.Background(), []byte(body))
		if err == nil {
			t.Fatalf("%s: verified", body)
		}
		assertMasked(t, "error", err.Error())
	}
}

// TestMaskingKeepsAmounts: masking keeps the amounts, and an absent one
// stays absent: left out of LogValue, "" in JSON and fmt, never "0.00".
func TestMaskingKeepsAmounts(t *testing.T) {
	t.Parallel()
	n := piiNotification() // TotalAmount 88.88, BuyerPayAmount 0.00, ReceiptAmount absent
	j := string(must(json.Marshal(n)))
	for _, want := range []string{`"TotalAmount":"88.88"`, `"ReceiptAmount":""`, `"BuyerPayAmount":"0.00"`} {
		if !strings.Contains(j, want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	assertMasked(t, "json", j)
	if s := fmt.Sprintf("%+v", n); !strings.Contains(s, "TotalAmount:88.88 ReceiptAmount: ") || !strings.Contains(s, "BuyerPayAmount:0.00") {
		t.Errorf("fmt: amounts not as sent in %s", s)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, noTime)).Info("n", "n", n)
	if !strings.Contains(buf.String(), "n.total_amount=88.88") {
		t.Errorf("slog: no total_amount in %s", buf.String())
	}
	assertMasked(t, "slog", buf.String())
	absent := *n
	absent.TotalAmount = alipaynotify.OptionalAmount{}
	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, noTime)).Info("n", "n", &absent)
	if strings.Contains(buf.String(), "total_amount") {
		t.Errorf("slog: an absent total_amount is logged: %s", buf.String())
	}
}
