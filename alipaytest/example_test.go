package alipaytest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// The string-to-sign of a trade notification: sign and sign_type removed,
// keys sorted, values verbatim.
func ExampleContent() {
	p := alipaytest.NewWireParams(
		"subject", "测试 + 100%",
		"sign_type", "RSA2",
		"body", "",
		"app_id", "2021000000000001",
		"sign", "...",
		"passback_params", "k%3Dv",
	)
	fmt.Println(alipaytest.Content(p, alipaytest.V1, alipaytest.DropEmpty))
	fmt.Println(alipaytest.Content(p, alipaytest.V1, alipaytest.KeepEmpty))
	fmt.Println(alipaytest.Content(p, alipaytest.V2, alipaytest.DropEmpty))
	// Output:
	// app_id=2021000000000001&passback_params=k%3Dv&subject=测试 + 100%
	// app_id=2021000000000001&body=&passback_params=k%3Dv&subject=测试 + 100%
	// app_id=2021000000000001&passback_params=k%3Dv&sign_type=RSA2&subject=测试 + 100%
}

// A legacy mapi MD5 signature: MD5 of the content with the key appended, no
// '&' in between.
func ExampleSigner_Sign_legacyMD5() {
	s := alipaytest.NewLegacySigner("2088000000000001", "0123456789abcdefghijklmnopqrstuv")
	m, err := s.Sign(alipaytest.NewWireParams(
		"notify_type", "trade_status_sync",
		"out_trade_no", "LEGACY-0001",
		"total_fee", "0.01",
		"trade_status", "TRADE_SUCCESS",
	))
	if err != nil {
		panic(err)
	}
	fmt.Println(m.SignedContent)
	fmt.Println(m.Sign())
	fmt.Println(m)
	// Output:
	// notify_type=trade_status_sync&out_trade_no=LEGACY-0001&total_fee=0.01&trade_status=TRADE_SUCCESS
	// 956272f2211310713738d3c3de85ac80
	// notify_type=trade_status_sync&out_trade_no=LEGACY-0001&total_fee=0.01&trade_status=TRADE_SUCCESS&sign_type=MD5&sign=956272f2211310713738d3c3de85ac80
}

// GBK callbacks: the body's escapes are GBK bytes, and so are the signed
// bytes.
func ExampleEncode() {
	p := alipaytest.NewWireParams("subject", "测试 商品", "total_amount", "88.88")
	gbk, _ := alipaytest.Encode(p, "gbk")
	utf8, _ := alipaytest.Encode(p, "utf-8")
	fmt.Println(string(gbk))
	fmt.Println(string(utf8))
	// Output:
	// subject=%B2%E2%CA%D4+%C9%CC%C6%B7&total_amount=88.88
	// subject=%E6%B5%8B%E8%AF%95+%E5%95%86%E5%93%81&total_amount=88.88
}

// Testing a notify_url handler: build a signed payment notification and
// serve it. The verifier under test would be configured with
// s.PublicKeyPEM() and app_id alipaytest.DefaultAppID.
func ExampleSigner_Paid() {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// a real handler verifies the signature first
		_ = r.ParseForm()
		fmt.Println(r.Method, r.PostForm.Get("out_trade_no"), r.PostForm.Get("trade_status"), r.PostForm.Get("total_amount"))
		_, _ = io.WriteString(w, "success")
	})

	s := alipaytest.NewSigner(alipaytest.TestKey())
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, s.Paid("ORDER-1", "88.88").Request("/alipay/notify"))
	fmt.Println(rec.Body.String())
	// Output:
	// POST ORDER-1 TRADE_SUCCESS 88.88
	// success
}

// One order's story: payment, two refunds, and the trade closing.
func ExampleTrade() {
	s := alipaytest.NewSigner(nil)
	trade := s.NewTrade("ORDER-2", "100.00")
	for _, m := range []*alipaytest.Message{
		trade.Paid(),
		trade.PartialRefund("REFUND-1", "30.00"),
		trade.PartialRefund("REFUND-2", "20.00"),
		trade.FullRefund("REFUND-3"),
	} {
		fmt.Println(strings.TrimSpace(m.Get("trade_status") + " " + m.Get("out_biz_no") + " " + m.Get("refund_fee")))
	}
	// Output:
	// TRADE_SUCCESS
	// TRADE_SUCCESS REFUND-1 30.00
	// TRADE_SUCCESS REFUND-2 50.00
	// TRADE_CLOSED REFUND-3 100.00
}

// Overriding and removing template fields; the string-to-sign is available
// for assertions.
func ExampleSigner_Notify() {
	s := &alipaytest.Signer{
		Now: func() time.Time { return time.Date(2024, 1, 2, 10, 0, 6, 0, alipaytest.ChinaTime) },
	}
	m := s.Notify(alipaytest.Fields{
		"out_trade_no":    "ORDER-3",
		"trade_status":    "TRADE_FINISHED",
		"passback_params": "merchantBizType%3d3C",
		"fund_bill_list":  alipaytest.Omit,
	})
	fmt.Println(m.Get("notify_time"), m.Get("out_trade_no"), m.Get("trade_status"), m.Get("sign_type"))
	fmt.Println(m.Get("passback_params"))
	_, hasBills := m.Params.Lookup("fund_bill_list")
	fmt.Println(hasBills)
	// Output:
	// 2024-01-02 10:00:06 ORDER-3 TRADE_FINISHED RSA2
	// merchantBizType%3d3C
	// false
}

// A fake notify_verify gateway answering for the notify_ids a legacy
// signer produced.
func ExampleNewNotifyVerifyServer() {
	gw := alipaytest.NewNotifyVerifyServer()
	defer gw.Close()
	s := alipaytest.NewLegacySigner("2088000000000001", "")
	s.Gateway = gw
	m := s.Notify(nil)

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet,
		gw.GatewayURL()+"?service=notify_verify&partner=2088000000000001&notify_id="+m.Get("notify_id"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	fmt.Println(string(answer), len(gw.Requests()))
	// Output:
	// true 1
}

// Certificate mode: the files a merchant configures, and the SN strings
// Alipay computes from them.
func ExampleNewCertChain() {
	chain, err := alipaytest.NewCertChain(alipaytest.TestKey(), alipaytest.CertChainOptions{})
	if err != nil {
		panic(err)
	}
	sn, _ := alipaytest.CertSNFromPEM(chain.AlipayCertPEM())
	rootSN, _ := alipaytest.RootCertSNFromPEM(chain.RootCertPEM())
	fmt.Println(sn == chain.AlipayCertSN(), len(sn))
	fmt.Println(rootSN == chain.RootCertSN(), len(rootSN))
	fmt.Println(chain.Intermediate.Issuer.String())
	// Output:
	// true 32
	// true 65
	// CN=Test Alipay Root R1,OU=Certification Authority,O=Test Financial,C=CN
}
