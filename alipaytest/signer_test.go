package alipaytest_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

var fixedNow = func() time.Time { return time.Date(2024, 1, 2, 2, 0, 6, 0, time.UTC) } // 10:00:06 in China

func TestSignerVerifies(t *testing.T) {
	key := alipaytest.TestKey()
	tests := []struct {
		name      string
		s         alipaytest.Signer
		fields    alipaytest.Fields
		v2, keep  bool
		wantField map[string]string
	}{
		{name: "open RSA2 utf-8", s: alipaytest.Signer{Key: key},
			wantField: map[string]string{"app_id": alipaytest.DefaultAppID, "charset": "utf-8", "version": "1.0", "sign_type": "RSA2", "notify_type": "trade_status_sync"}},
		{name: "open RSA utf-8", s: alipaytest.Signer{Key: key, SignType: alipaytest.SignRSA},
			wantField: map[string]string{"sign_type": "RSA"}},
		{name: "open RSA2 gbk", s: alipaytest.Signer{Key: key, Charset: "GBK"},
			fields:    alipaytest.Fields{"subject": "中文商品 测试", "body": "描述：颜色=红色"},
			wantField: map[string]string{"charset": "GBK"}},
		{name: "open RSA2 gb2312", s: alipaytest.Signer{Key: key, Charset: "gb2312"},
			fields: alipaytest.Fields{"subject": "中文"}},
		{name: "open V2", s: alipaytest.Signer{Key: key, Rule: alipaytest.V2}, v2: true},
		{name: "open keep empty", s: alipaytest.Signer{Key: key, EmptyValues: alipaytest.KeepEmpty},
			fields: alipaytest.Fields{"body": ""}, keep: true},
		{name: "open drop empty", s: alipaytest.Signer{Key: key},
			fields: alipaytest.Fields{"body": "", "passback_params": "a%3Db%26c%3D%25"}},
		{name: "open custom ids", s: alipaytest.Signer{Key: key, AppID: "2021009999999999", SellerID: "2088777777777777"},
			wantField: map[string]string{"app_id": "2021009999999999", "auth_app_id": "2021009999999999", "seller_id": "2088777777777777"}},
		{name: "legacy MD5 utf-8", s: alipaytest.Signer{Protocol: alipaytest.ProtocolMapi},
			fields:    alipaytest.Fields{"body": ""},
			wantField: map[string]string{"sign_type": "MD5", "seller_id": alipaytest.DefaultPID}},
		{name: "legacy MD5 gbk", s: alipaytest.Signer{Protocol: alipaytest.ProtocolMapi, Charset: "gbk", Partner: "2088111111111111", MD5Key: "k"},
			wantField: map[string]string{"seller_id": "2088111111111111"}},
		{name: "legacy RSA", s: alipaytest.Signer{Protocol: alipaytest.ProtocolMapi, Key: key, SignType: alipaytest.SignRSA},
			wantField: map[string]string{"sign_type": "RSA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			s.Now = fixedNow
			md5Key := s.MD5Key
			if md5Key == "" {
				md5Key = alipaytest.DefaultMD5Key
			}
			msgs := map[string]*alipaytest.Message{"notify": s.Notify(tt.fields), "return": s.Return(tt.fields)}
			for kind, m := range msgs {
				body := m.Encode()
				if !checkBody(encodeIn(t, body, m.Charset), key.PublicKey(), md5Key, tt.v2, tt.keep) {
					t.Fatalf("%s: independent verifier rejects %s", kind, body)
				}
				tampered := m.Tampered("out_trade_no", "EVIL")
				if checkBody(encodeIn(t, tampered.Encode(), m.Charset), key.PublicKey(), md5Key, tt.v2, tt.keep) {
					t.Errorf("%s: tampered message still verifies", kind)
				}
				if m.Get("out_trade_no") == "EVIL" {
					t.Errorf("Tampered changed the original")
				}
				for k, v := range tt.fields {
					if m.Get(k) != v {
						t.Errorf("%s: %s = %q, want %q", kind, k, m.Get(k), v)
					}
				}
				if kind == "notify" {
					for k, v := range tt.wantField {
						if m.Get(k) != v {
							t.Errorf("%s: %s = %q, want %q", kind, k, m.Get(k), v)
						}
					}
				}
			}
		})
	}
}

// encodeIn is the identity: bodies are already bytes in the charset. It
// only asserts that a non-UTF-8 body really is not UTF-8 text when it has
// Chinese in it, so the GBK cases test something.
func encodeIn(t *testing.T, body []byte, charset string) []byte {
	t.Helper()
	if charset != "utf-8" && strings.Contains(string(body), "%E6") {
		t.Fatalf("%s body carries UTF-8 escapes: %s", charset, body)
	}
	return body
}

func TestNotifyTemplate(t *testing.T) {
	s := &alipaytest.Signer{Now: fixedNow}
	m := s.Notify(alipaytest.Fields{
		"out_trade_no":    "A-1",
		"total_amount":    "12.30",
		"passback_params": "x%3D1",
		"gmt_payment":     alipaytest.Omit,
		"extra":           "new",
	})
	want := map[string]string{
		"out_trade_no":   "A-1",
		"total_amount":   "12.30",
		"receipt_amount": "12.30",
		"fund_bill_list": `[{"amount":"12.30","fundChannel":"ALIPAYACCOUNT"}]`,
		"notify_time":    "2024-01-02 10:00:06",
		"gmt_create":     "2024-01-02 09:59:58",
		"trade_status":   "TRADE_SUCCESS",
	}
	for k, v := range want {
		if m.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, m.Get(k), v)
		}
	}
	if _, ok := m.Params.Lookup("gmt_payment"); ok {
		t.Error("Omit did not remove gmt_payment")
	}
	keys := m.Params.Keys()
	if keys[0] != "gmt_create" || keys[len(keys)-1] != "passback_params" || keys[len(keys)-2] != "extra" {
		t.Errorf("wire order %q: want the template order, new keys appended sorted", keys)
	}
	if slices.IsSorted(keys) {
		t.Error("insertion order should not be sorted")
	}
	if !regexp.MustCompile(`^2024010200222100006\d{15}$`).MatchString(m.Get("notify_id")) {
		t.Errorf("notify_id %q", m.Get("notify_id"))
	}
	if m2 := s.Notify(nil); m2.Get("notify_id") == m.Get("notify_id") || m2.Get("trade_no") == m.Get("trade_no") {
		t.Error("notify_id and trade_no must be fresh for each message")
	}

	s.Order = alipaytest.SortedOrder
	if !slices.IsSorted(s.Notify(nil).Params.Keys()) {
		t.Error("SortedOrder not sorted")
	}
}

func TestReturnTemplates(t *testing.T) {
	open := (&alipaytest.Signer{Now: fixedNow}).Return(nil)
	if open.Kind != alipaytest.ReturnKind || open.Get("method") != "alipay.trade.page.pay.return" || open.Get("timestamp") != "2024-01-02 10:00:06" {
		t.Errorf("open return: %s", open)
	}
	for _, absent := range []string{"trade_status", "notify_id"} {
		if _, ok := open.Params.Lookup(absent); ok {
			t.Errorf("open return carries %s", absent)
		}
	}
	legacy := alipaytest.NewLegacySigner("", "").Return(nil)
	if legacy.Get("is_success") != "T" || legacy.Get("exterface") != "create_direct_pay_by_user" {
		t.Errorf("legacy return: %s", legacy)
	}
	if !strings.Contains(legacy.Get("notify_id"), "%") {
		t.Errorf("legacy return notify_id %q should be percent-escaped base64", legacy.Get("notify_id"))
	}
	if _, ok := alipaytest.NewLegacySigner("", "").Notify(nil).Params.Lookup("_input_charset"); ok {
		t.Error("legacy notify must not carry _input_charset")
	}
}

func TestRequests(t *testing.T) {
	s := &alipaytest.Signer{Charset: "gbk", ContentTypeCharset: true}
	m := s.Notify(alipaytest.Fields{"subject": "测试"})

	r := m.Request("/alipay/notify")
	if r.Method != http.MethodPost || r.URL.Path != "/alipay/notify" {
		t.Errorf("notify request %s %s", r.Method, r.URL)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded; charset=gbk" {
		t.Errorf("Content-Type %q", ct)
	}
	if b, _ := io.ReadAll(r.Body); string(b) != m.String() {
		t.Error("body differs from Encode")
	}
	s.ContentTypeCharset = false
	if ct := s.Notify(nil).Request("/n").Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", ct)
	}

	ret := s.Return(alipaytest.Fields{"subject": "测试"})
	g := ret.Request("/alipay/return?x=1")
	if g.Method != http.MethodGet || g.URL.RawQuery != "x=1&"+ret.String() {
		t.Errorf("return request %s %s", g.Method, g.URL)
	}
	if alipaytest.NewReturnRequest("/r", m).Method != http.MethodGet || alipaytest.NewNotifyRequest("/n", ret).Method != http.MethodPost {
		t.Error("NewReturnRequest/NewNotifyRequest must not depend on Kind")
	}

	cr, err := m.ClientRequest(context.Background(), "http://127.0.0.1:1/notify")
	if err != nil || cr.Method != http.MethodPost || cr.RequestURI != "" {
		t.Errorf("ClientRequest: %v %v", cr, err)
	}
	cg, err := ret.ClientRequest(context.Background(), "http://127.0.0.1:1/return")
	if err != nil || cg.Method != http.MethodGet || cg.URL.RawQuery != ret.String() {
		t.Errorf("ClientRequest (return): %v %v", cg, err)
	}
}

func TestSignErrors(t *testing.T) {
	tests := []struct {
		name string
		s    alipaytest.Signer
		p    *alipaytest.WireParams
	}{
		{"unknown sign type", alipaytest.Signer{SignType: "DSA"}, alipaytest.NewWireParams("a", "1")},
		{"unknown charset", alipaytest.Signer{Charset: "big5"}, alipaytest.NewWireParams("a", "1")},
		{"unknown protocol", alipaytest.Signer{Protocol: "wap"}, alipaytest.NewWireParams("a", "1")},
		{"not representable in gbk", alipaytest.Signer{Charset: "gbk"}, alipaytest.NewWireParams("a", "😀")},
		{"not representable, empty dropped from content", alipaytest.Signer{Charset: "gbk"}, alipaytest.NewWireParams("a", "1", "😀", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.s.Sign(tt.p); err == nil {
				t.Error("Sign succeeded")
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("Notify did not panic")
		}
	}()
	(&alipaytest.Signer{SignType: "SM2"}).Notify(nil)
}

func TestSignKeepsInputAndPositions(t *testing.T) {
	p := alipaytest.NewWireParams("b", "1", "sign", "old", "a", "2")
	m := alipaytest.NewSigner(nil).MustSign(p)
	if p.Get("sign") != "old" || p.Len() != 3 {
		t.Error("Sign modified its input")
	}
	if got := m.Params.Keys(); !slices.Equal(got, []string{"b", "sign", "a", "sign_type"}) {
		t.Errorf("keys %q", got)
	}
	if m.SignedContent != "a=2&b=1" {
		t.Errorf("content %q", m.SignedContent)
	}
	if string(alipaytest.NewSigner(nil).Body(p)) != m.String() {
		t.Error("Body differs from Sign().Encode()")
	}
	if alipaytest.NewSigner(nil).PublicKeyPEM() != alipaytest.TestKey().PublicKeyPEM() {
		t.Error("nil key is not TestKey")
	}
}

func TestFormatHelpers(t *testing.T) {
	for fen, want := range map[int64]string{0: "0.00", 5: "0.05", 8888: "88.88", 100: "1.00", -5: "-0.05", 123456789: "1234567.89"} {
		if got := alipaytest.FormatCents(fen); got != want {
			t.Errorf("FormatCents(%d) = %s", fen, got)
		}
	}
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"88.88", 8888, true}, {"0.1", 10, true}, {"100", 10000, true}, {"0.00", 0, true}, {"1234567.89", 123456789, true},
		{"", 0, false}, {"-1.00", 0, false}, {"+1", 0, false}, {"1.234", 0, false}, {"1.", 0, false}, {".5", 0, false},
		{"1e3", 0, false}, {" 1", 0, false}, {"1.2.3", 0, false}, {"99999999999999999999", 0, false},
		{"100000000000000000", 0, false}, {"92233720368547758.07", 0, false}, {"9223372036854775.80", 0, false},
		{"922337203685477.58", 92233720368547758, true},
	} {
		got, err := alipaytest.ParseCents(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseCents(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && alipaytest.FormatCents(got) != alipaytest.FormatCents(tc.want) {
			t.Errorf("round trip of %q", tc.in)
		}
	}
	utc := time.Date(2024, 12, 31, 16, 30, 0, 0, time.UTC)
	if got := alipaytest.FormatTime(utc); got != "2025-01-01 00:30:00" {
		t.Errorf("FormatTime = %s", got)
	}
}
