package alipaynotify_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// queryVerifier accepts open-platform answers signed with TestKey and legacy
// answers under the default partner and MD5 key.
func queryVerifier(t *testing.T) *alipaynotify.Verifier {
	t.Helper()
	v, err := newVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
		Legacy:           alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key},
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signedAnswer signs response (the text of alipay_trade_query_response)
// with s.
func signedAnswer(t *testing.T, s *alipaytest.Signer, response, certSN string) []byte {
	t.Helper()
	body, err := s.SignedTradeQueryAnswer(response, certSN)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(body)
}

// TestVerifyTradeQuery: an alipay.trade.query answer verifies over the
// response member's text as sent and maps into the typed Notification;
// every other answer is a typed error.
func TestVerifyTradeQuery(t *testing.T) {
	t.Parallel()
	v := queryVerifier(t)
	s := alipaytest.NewSigner(nil)
	tr := s.NewTrade("Q-1", "88.88")
	paid := alipaytest.OpenTradeQueryResponse(tr, "TRADE_SUCCESS")
	sdkStyle := `{"code":"10000","msg":"Success","buyer_logon_id":"159****5620","buyer_pay_amount":"88.88","buyer_user_id":"2088102534368455",` +
		`"fund_bill_list":[{"amount":"88.88","fund_channel":"ALIPAYACCOUNT"}],"invoice_amount":"88.88","out_trade_no":"Q-1","point_amount":"0.00",` +
		`"receipt_amount":"88.88","send_pay_date":"2024-01-02 10:00:05","total_amount":"88.88","trade_no":"` + tr.TradeNo + `","trade_status":"TRADE_SUCCESS","subject":"\u4e2d\u6587 <&>"}`
	notFound := `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在","out_trade_no":"Q-1","receipt_amount":"0.00"}`
	rsa1 := &alipaytest.Signer{SignType: alipaytest.SignRSA}
	wrongKey := alipaytest.NewSigner(alipaytest.SecondTestKey())

	tests := []struct {
		name       string
		body       []byte
		outTradeNo string
		wantErr    error
		check      func(t *testing.T, n *alipaynotify.Notification)
	}{
		{name: "paid", body: signedAnswer(t, s, paid, ""), check: func(t *testing.T, n *alipaynotify.Notification) {
			want := alipaynotify.Notification{Source: alipaynotify.SourceQuery, Protocol: alipaynotify.ProtocolOpenPlatform,
				SignType: alipaynotify.SignRSA2, AppID: alipaytest.DefaultAppID, OutTradeNo: "Q-1", TradeNo: tr.TradeNo,
				TradeStatus: alipaynotify.TradeSuccess, TotalAmount: alipaynotify.AmountPresent(8888), ReceiptAmount: alipaynotify.AmountPresent(8888), BuyerPayAmount: alipaynotify.AmountPresent(8888), InvoiceAmount: alipaynotify.AmountPresent(8888),
				BuyerID: alipaytest.DefaultBuyerID, BuyerLogonID: "159****5620"}
			got := *n
			if got.Source != want.Source || got.Protocol != want.Protocol || got.SignType != want.SignType || got.AppID != want.AppID ||
				got.OutTradeNo != want.OutTradeNo || got.TradeNo != want.TradeNo || got.TradeStatus != want.TradeStatus ||
				got.TotalAmount != want.TotalAmount || got.ReceiptAmount != want.ReceiptAmount || got.BuyerPayAmount != want.BuyerPayAmount ||
				got.InvoiceAmount != want.InvoiceAmount || got.BuyerID != want.BuyerID || got.BuyerLogonID != want.BuyerLogonID {
				t.Errorf("got %+v", got)
			}
			if n.NotifyID != "" || n.Refund != nil || n.StatusInferred {
				t.Errorf("NotifyID %q, Refund %v, StatusInferred %v: a query has none", n.NotifyID, n.Refund, n.StatusInferred)
			}
			if !n.GmtPayment.Equal(tr.PaidAt) || n.GmtPayment.Location() != alipaynotify.ChinaTime {
				t.Errorf("GmtPayment = %v, want %v in China time", n.GmtPayment, tr.PaidAt)
			}
			if len(n.FundBillList) != 1 || n.FundBillList[0].FundChannel != "ALIPAYACCOUNT" || n.FundBillList[0].Amount != 8888 {
				t.Errorf("FundBillList = %+v", n.FundBillList)
			}
			if n.Params.Get("send_pay_date") == "" || n.Params.Get("code") != "10000" || n.Params.Get("buyer_user_id") != alipaytest.DefaultBuyerID {
				t.Errorf("Params = %v", n.Params)
			}
			// The answer's buyer fields are personal data: masked in print.
			if out := fmt.Sprintf("%v %+v %s", n, n, n.Params); strings.Contains(out, alipaytest.DefaultBuyerID) {
				t.Errorf("buyer id printed: %s", out)
			}
		}},
		{name: "SDK-style text with escapes", body: signedAnswer(t, s, sdkStyle, ""), check: func(t *testing.T, n *alipaynotify.Notification) {
			if n.Subject != "中文 <&>" || n.TotalAmount != alipaynotify.AmountPresent(8888) {
				t.Errorf("Subject %q, TotalAmount %v", n.Subject, n.TotalAmount)
			}
		}},
		{name: "pretty-printed outer object", body: []byte(strings.Replace(string(signedAnswer(t, s, paid, "")), `"alipay_trade_query_response":{`, "\n  \"alipay_trade_query_response\" : {", 1)),
			check: func(t *testing.T, n *alipaynotify.Notification) {}},
		{name: "RSA (SHA1)", body: signedAnswer(t, rsa1, paid, ""), check: func(t *testing.T, n *alipaynotify.Notification) {
			if n.SignType != alipaynotify.SignRSA {
				t.Errorf("SignType = %q", n.SignType)
			}
		}},
		{name: "wait buyer pay is a notification", body: signedAnswer(t, s, alipaytest.OpenTradeQueryResponse(tr, "WAIT_BUYER_PAY"), ""), check: func(t *testing.T, n *alipaynotify.Notification) {
			if n.TradeStatus != alipaynotify.WaitBuyerPay || n.TradeStatus.Paid() || !n.GmtPayment.IsZero() {
				t.Errorf("status %q, GmtPayment %v", n.TradeStatus, n.GmtPayment)
			}
		}},
		{name: "closed", body: signedAnswer(t, s, alipaytest.OpenTradeQueryResponse(tr, "TRADE_CLOSED"), ""), check: func(t *testing.T, n *alipaynotify.Notification) {
			if n.TradeStatus != alipaynotify.TradeClosed {
				t.Errorf("status %q", n.TradeStatus)
			}
		}},
		{name: "trade not found", body: signedAnswer(t, s, notFound, ""), wantErr: alipaynotify.ErrTradeNotFound},
		{name: "trade not found for another order", body: signedAnswer(t, s, strings.Replace(notFound, "Q-1", "Q-2", 1), ""), wantErr: alipaynotify.ErrMalformed},
		{name: "unsigned trade not found is only a gateway error", body: []byte(`{"alipay_trade_query_response":` + notFound + `}`), wantErr: alipaynotify.ErrGateway},
		{name: "gateway error", body: signedAnswer(t, s, `{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error","sub_msg":"系统繁忙"}`, ""), wantErr: alipaynotify.ErrGateway},
		{name: "error_response", body: []byte(`{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"}}`), wantErr: alipaynotify.ErrGateway},
		{name: "bad signature", body: signedAnswer(t, wrongKey, paid, ""), wantErr: alipaynotify.ErrSignature},
		{name: "signed error with bad signature", body: signedAnswer(t, wrongKey, notFound, ""), wantErr: alipaynotify.ErrSignature},
		{name: "unsigned success", body: []byte(`{"alipay_trade_query_response":` + paid + `}`), wantErr: alipaynotify.ErrSignature},
		{name: "tampered amount", body: []byte(strings.Replace(string(signedAnswer(t, s, paid, "")), `"total_amount":"88.88"`, `"total_amount":"8.88"`, 1)), wantErr: alipaynotify.ErrSignature},
		{name: "another order", body: signedAnswer(t, s, paid, ""), outTradeNo: "Q-2", wantErr: alipaynotify.ErrMalformed},
		{name: "duplicate member", body: signedAnswer(t, s, strings.Replace(paid, `"code":"10000"`, `"code":"10000","trade_status":"TRADE_FINISHED"`, 1), ""), wantErr: alipaynotify.ErrMalformed},
		{name: "duplicate response", body: []byte(strings.Replace(string(signedAnswer(t, s, paid, "")), `"sign"`, `"alipay_trade_query_response":{},"sign"`, 1)), wantErr: alipaynotify.ErrMalformed},
		{name: "data after the object", body: append(signedAnswer(t, s, paid, ""), `{}`...), wantErr: alipaynotify.ErrMalformed},
		{name: "not JSON", body: []byte(`<html>502</html>`), wantErr: alipaynotify.ErrMalformed},
		{name: "no response member", body: []byte(`{"sign":"AAAA"}`), wantErr: alipaynotify.ErrMalformed},
		{name: "bad amount", body: signedAnswer(t, s, strings.Replace(paid, `"total_amount":"88.88"`, `"total_amount":"88.888"`, 1), ""), wantErr: alipaynotify.ErrAmount},
		{name: "amount as a number", body: signedAnswer(t, s, strings.Replace(paid, `"total_amount":"88.88"`, `"total_amount":88.88`, 1), ""), wantErr: alipaynotify.ErrMalformed},
		{name: "unknown status", body: signedAnswer(t, s, strings.Replace(paid, `TRADE_SUCCESS`, `TRADE_PENDING`, 1), ""), wantErr: alipaynotify.ErrAmbiguous},
		{name: "missing status", body: signedAnswer(t, s, strings.Replace(paid, `"trade_status":"TRADE_SUCCESS",`, ``, 1), ""), wantErr: alipaynotify.ErrMalformed},
		{name: "oversize", body: append([]byte(`{"x":"`), make([]byte, alipaynotify.MaxQueryResponseBytes)...), wantErr: alipaynotify.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := tt.outTradeNo
			if out == "" {
				out = "Q-1"
			}
			n, err := v.VerifyTradeQuery(context.Background(), tt.body, out)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v\nbody: %s", err, tt.body)
			}
			tt.check(t, n)
		})
	}
}

// TestGatewayErrorCarriesCodes: a gateway error keeps code, sub_code and
// sub_msg, and says whether it was signed.
func TestGatewayErrorCarriesCodes(t *testing.T) {
	t.Parallel()
	v := queryVerifier(t)
	body := signedAnswer(t, alipaytest.NewSigner(nil), `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR","sub_msg":"系统错误"}`, "")
	_, err := v.VerifyTradeQuery(context.Background(), body, "Q-1")
	var ge *alipaynotify.GatewayError
	if !errors.As(err, &ge) || ge.Code != "40004" || ge.SubCode != "ACQ.SYSTEM_ERROR" || ge.SubMsg != "系统错误" || !ge.Signed {
		t.Fatalf("err = %#v", err)
	}
	if errors.Is(err, alipaynotify.ErrTradeNotFound) || !strings.Contains(err.Error(), "ACQ.SYSTEM_ERROR") {
		t.Errorf("err = %v", err)
	}
}

// TestTradeQueryCertificateMode: in public-key-certificate mode the answer's
// alipay_cert_sn picks the certificate, as on callbacks.
func TestTradeQueryCertificateMode(t *testing.T) {
	t.Parallel()
	chain, err := alipaytest.NewCertChain(alipaytest.TestKey(), alipaytest.CertChainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID,
		AlipayCertificates: []string{string(chain.AlipayCertPEM())}, AlipayRootCert: string(chain.RootCertPEM())})
	if err != nil {
		t.Fatal(err)
	}
	s := alipaytest.NewSigner(nil)
	tr := s.NewTrade("CERT-1", "1.00")
	for _, sn := range []string{chain.AlipayCertSN(), "", "0123456789abcdef0123456789abcdef"} {
		n, err := v.VerifyTradeQuery(context.Background(), signedAnswer(t, s, alipaytest.OpenTradeQueryResponse(tr, "TRADE_SUCCESS"), sn), "CERT-1")
		if err != nil || n.TradeStatus != alipaynotify.TradeSuccess {
			t.Errorf("alipay_cert_sn %q: %v", sn, err)
		}
	}
	_, err = v.VerifyTradeQuery(context.Background(), signedAnswer(t, alipaytest.NewSigner(alipaytest.SecondTestKey()), alipaytest.OpenTradeQueryResponse(tr, "TRADE_SUCCESS"), chain.AlipayCertSN()), "CERT-1")
	if !errors.Is(err, alipaynotify.ErrSignature) {
		t.Errorf("answer signed with another key: %v", err)
	}
}

// TestQueryEventIsTheNotifyEvent: a query answer stands for the same event
// as the notification of the same trade and status, on both protocols, so
// that whichever source comes first runs the handler and the other is a
// duplicate.
func TestQueryEventIsTheNotifyEvent(t *testing.T) {
	t.Parallel()
	v := queryVerifier(t)
	ctx := context.Background()
	open := alipaytest.NewSigner(nil)
	legacy := alipaytest.NewLegacySigner("", "")
	for _, s := range []*alipaytest.Signer{open, legacy} {
		for _, status := range []string{"WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"} {
			tr := s.NewTrade("EV-"+string(s.Protocol)+"-"+status, "10.00")
			var notify *alipaytest.Message
			switch status {
			case "WAIT_BUYER_PAY":
				notify = tr.WaitBuyerPay()
			case "TRADE_SUCCESS":
				notify = tr.Paid()
			case "TRADE_FINISHED":
				notify = tr.Finished()
			default:
				notify = tr.ClosedUnpaid()
			}
			fromNotify, err := v.VerifyNotify(ctx, notify.Encode())
			if err != nil {
				t.Fatalf("%s %s notify: %v", s.Protocol, status, err)
			}
			var fromQuery *alipaynotify.Notification
			if s.Protocol == alipaytest.ProtocolMapi {
				fromQuery, err = v.VerifySingleTradeQuery(ctx, s.SingleTradeQueryAnswer(tr, status, true), tr.OutTradeNo)
			} else {
				fromQuery, err = v.VerifyTradeQuery(ctx, signedAnswer(t, s, alipaytest.OpenTradeQueryResponse(tr, status), ""), tr.OutTradeNo)
			}
			if err != nil {
				t.Fatalf("%s %s query: %v", s.Protocol, status, err)
			}
			if fromQuery.Event() != fromNotify.Event() || fromQuery.Event().String() != fromNotify.Event().String() {
				t.Errorf("%s %s: query event %v, notify event %v", s.Protocol, status, fromQuery.Event(), fromNotify.Event())
			}
			if fromQuery.Merchant() != fromNotify.Merchant() || fromQuery.TradeNo != fromNotify.TradeNo || fromQuery.TotalAmount != fromNotify.TotalAmount {
				t.Errorf("%s %s: query %v, notify %v", s.Protocol, status, fromQuery, fromNotify)
			}
		}
	}
	// A refund notification is its own event; a query about the refunded
	// trade reports the trade status only.
	tr := open.NewTrade("EV-REFUND", "10.00")
	refund, err := v.VerifyNotify(ctx, tr.PartialRefund("R1", "1.00").Encode())
	if err != nil {
		t.Fatal(err)
	}
	q, err := v.VerifyTradeQuery(ctx, signedAnswer(t, open, alipaytest.OpenTradeQueryResponse(tr, "TRADE_SUCCESS"), ""), tr.OutTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	if q.Event() == refund.Event() || q.Event().IsRefund() {
		t.Errorf("query event %v is the refund's %v", q.Event(), refund.Event())
	}
}

// TestVerifySingleTradeQuery: the legacy answer is XML, signed with MD5 over
// its <trade> fields when it carries <sign>.
func TestVerifySingleTradeQuery(t *testing.T) {
	t.Parallel()
	v := queryVerifier(t)
	s := alipaytest.NewLegacySigner("", "")
	tr := s.NewTrade("L-1", "12.34")
	signed := string(s.SingleTradeQueryAnswer(tr, "TRADE_SUCCESS", true))
	unsigned := string(s.SingleTradeQueryAnswer(tr, "TRADE_FINISHED", false))
	otherKey := alipaytest.NewLegacySigner("", "ffffffffffffffffffffffffffffffff")
	otherSeller := &alipaytest.Signer{Protocol: alipaytest.ProtocolMapi, SellerID: "2088999999999999"}

	tests := []struct {
		name    string
		body    string
		wantErr error
		check   func(t *testing.T, n *alipaynotify.Notification)
	}{
		{name: "signed", body: signed, check: func(t *testing.T, n *alipaynotify.Notification) {
			if n.Source != alipaynotify.SourceQuery || n.Protocol != alipaynotify.ProtocolMapi || n.SignType != alipaynotify.SignMD5 ||
				n.Partner != alipaytest.DefaultPID || n.TradeStatus != alipaynotify.TradeSuccess || n.TotalAmount != alipaynotify.AmountPresent(1234) ||
				n.TradeNo != tr.TradeNo || n.Legacy.Price != 1234 || n.SellerID != alipaytest.DefaultPID || n.Legacy.BuyerEmail == "" {
				t.Errorf("got %+v", *n)
			}
			if !n.GmtPayment.Equal(tr.PaidAt) || !n.GmtCreate.Equal(tr.Created) {
				t.Errorf("times %v %v", n.GmtCreate, n.GmtPayment)
			}
			if n.Params.Get("use_coupon") != "F" || n.Legacy.UseCoupon {
				t.Errorf("use_coupon: Params %q, typed %v", n.Params.Get("use_coupon"), n.Legacy.UseCoupon)
			}
		}},
		{name: "unsigned", body: unsigned, check: func(t *testing.T, n *alipaynotify.Notification) {
			if n.SignType != "" || n.TradeStatus != alipaynotify.TradeFinished {
				t.Errorf("SignType %q, status %q", n.SignType, n.TradeStatus)
			}
		}},
		{name: "wait buyer pay", body: string(s.SingleTradeQueryAnswer(tr, "WAIT_BUYER_PAY", true)), check: func(t *testing.T, n *alipaynotify.Notification) {
			if n.TradeStatus != alipaynotify.WaitBuyerPay || !n.GmtPayment.IsZero() {
				t.Errorf("status %q, GmtPayment %v", n.TradeStatus, n.GmtPayment)
			}
		}},
		{name: "trade is not exist", body: string(alipaytest.SingleTradeQueryError("TRADE_IS_NOT_EXIST")), wantErr: alipaynotify.ErrTradeNotFound},
		{name: "trade not exist (escrow spelling)", body: string(alipaytest.SingleTradeQueryError("TRADE_NOT_EXIST")), wantErr: alipaynotify.ErrTradeNotFound},
		{name: "other error", body: string(alipaytest.SingleTradeQueryError("ILLEGAL_PARTNER")), wantErr: alipaynotify.ErrGateway},
		{name: "bad signature", body: string(otherKey.SingleTradeQueryAnswer(tr, "TRADE_SUCCESS", true)), wantErr: alipaynotify.ErrSignature},
		{name: "tampered status", body: strings.Replace(signed, ">TRADE_SUCCESS<", ">TRADE_FINISHED<", 1), wantErr: alipaynotify.ErrSignature},
		{name: "sign type not MD5", body: strings.Replace(signed, "<sign_type>MD5", "<sign_type>RSA", 1), wantErr: alipaynotify.ErrSignType},
		{name: "another seller", body: string(otherSeller.SingleTradeQueryAnswer(tr, "TRADE_SUCCESS", true)), wantErr: alipaynotify.ErrPartner},
		{name: "another order", body: strings.ReplaceAll(unsigned, ">L-1<", ">L-2<"), wantErr: alipaynotify.ErrMalformed},
		{name: "GBK", body: strings.Replace(unsigned, `encoding="utf-8"`, `encoding="GBK"`, 1), wantErr: alipaynotify.ErrCharset},
		{name: "DOCTYPE", body: strings.Replace(unsigned, "<alipay>", `<!DOCTYPE alipay [<!ENTITY x "y">]><alipay>`, 1), wantErr: alipaynotify.ErrMalformed},
		{name: "repeated field", body: strings.Replace(unsigned, "<trade>", "<trade><trade_status>TRADE_SUCCESS</trade_status>", 1), wantErr: alipaynotify.ErrMalformed},
		{name: "two roots", body: unsigned + "<alipay></alipay>", wantErr: alipaynotify.ErrMalformed},
		{name: "no trade", body: `<alipay><is_success>T</is_success></alipay>`, wantErr: alipaynotify.ErrMalformed},
		{name: "no is_success", body: `<alipay><response><trade><out_trade_no>L-1</out_trade_no></trade></response></alipay>`, wantErr: alipaynotify.ErrMalformed},
		{name: "bad amount", body: strings.Replace(unsigned, "<total_fee>12.34<", "<total_fee>12.345<", 1), wantErr: alipaynotify.ErrAmount},
		{name: "not XML", body: `{"x":1}`, wantErr: alipaynotify.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := v.VerifySingleTradeQuery(context.Background(), []byte(tt.body), "L-1")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v\nbody: %s", err, tt.body)
			}
			tt.check(t, n)
		})
	}
}

// TestQueryNotConfigured: a Verifier without the protocol's keys refuses
// its answers with ErrSignType.
func TestQueryNotConfigured(t *testing.T) {
	t.Parallel()
	legacyOnly, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := legacyOnly.VerifyTradeQuery(context.Background(), []byte(`{}`), "X"); !errors.Is(err, alipaynotify.ErrSignType) {
		t.Errorf("open answer on a legacy-only verifier: %v", err)
	}
	openOnly, err := newVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openOnly.VerifySingleTradeQuery(context.Background(), []byte(`<alipay/>`), "X"); !errors.Is(err, alipaynotify.ErrSignType) {
		t.Errorf("legacy answer on an open-only verifier: %v", err)
	}
}

// TestCheckOrderRunsOnQueries: the merchant's order check sees query
// answers as it sees callbacks.
func TestCheckOrderRunsOnQueries(t *testing.T) {
	t.Parallel()
	errAmount := errors.New("amount differs from the order")
	v, err := newVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
		CheckOrder: func(_ context.Context, n *alipaynotify.Notification) error {
			if n.TotalAmount != alipaynotify.AmountPresent(100) {
				return errAmount
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	s := alipaytest.NewSigner(nil)
	tr := s.NewTrade("CO-1", "2.00")
	_, err = v.VerifyTradeQuery(context.Background(), signedAnswer(t, s, alipaytest.OpenTradeQueryResponse(tr, "TRADE_SUCCESS"), ""), "CO-1")
	if !errors.Is(err, alipaynotify.ErrOrder) || !errors.Is(err, errAmount) {
		t.Fatalf("err = %v", err)
	}
}

// TestRequestContent: requests are signed with the callbacks' content rule,
// sign_type signed on the open platform only.
func TestRequestContent(t *testing.T) {
	t.Parallel()
	p := map[string]string{"method": "alipay.trade.query", "app_id": "1", "sign_type": "RSA2", "sign": "x", "empty": "", "biz_content": `{"out_trade_no":"a&b"}`}
	if got, want := string(alipaynotify.RequestContent(alipaynotify.ProtocolOpenPlatform, p)), `app_id=1&biz_content={"out_trade_no":"a&b"}&method=alipay.trade.query&sign_type=RSA2`; got != want {
		t.Errorf("open: %q, want %q", got, want)
	}
	if got, want := string(alipaynotify.RequestContent(alipaynotify.ProtocolMapi, p)), `app_id=1&biz_content={"out_trade_no":"a&b"}&method=alipay.trade.query`; got != want {
		t.Errorf("mapi: %q, want %q", got, want)
	}
	sum := md5.Sum([]byte("a=1&b=2key"))
	if got, want := alipaynotify.MD5Signature([]byte("a=1&b=2"), "key"), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("MD5Signature = %q, want %q", got, want)
	}
}

// TestParsePrivateKey: the merchant key is read in the forms Alipay's key
// tool prints, and the usual mix-ups get an error that says what was
// pasted.
func TestParsePrivateKey(t *testing.T) {
	t.Parallel()
	k := alipaytest.SecondTestKey()
	for _, in := range []string{k.PrivateKeyPKCS1PEM(), k.PrivateKeyPKCS8PEM()} {
		priv, err := alipaynotify.ParsePrivateKey(in)
		if err != nil || !priv.PublicKey.Equal(k.PublicKey()) {
			t.Errorf("ParsePrivateKey: %v", err)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"", "empty"},
		{k.PublicKeyPEM(), "public key"},
		{k.PublicKeyBase64(), "public key"},
		{"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----", "merchant private key"},
	} {
		_, err := alipaynotify.ParsePrivateKey(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePrivateKey(%.20q) = %v, want an error saying %q", tt.in, err, tt.want)
		}
	}
}

// TestQueryAnswerIsProduced: a verified query answer carries the marks of
// the Verifier that verified it, as a callback does, so that
// middleware.Deliver accepts it; a copy, another Verifier's answer and a
// refused answer do not pass.
func TestQueryAnswerIsProduced(t *testing.T) {
	t.Parallel()
	v, other := queryVerifier(t), queryVerifier(t)
	ctx := context.Background()
	open := alipaytest.NewSigner(nil)
	legacy := alipaytest.NewLegacySigner("", "")
	openTrade, legacyTrade := open.NewTrade("PR-1", "1.00"), legacy.NewTrade("PR-2", "1.00")
	tests := []struct {
		name   string
		verify func(*alipaynotify.Verifier) (*alipaynotify.Notification, error)
	}{
		{"open platform", func(v *alipaynotify.Verifier) (*alipaynotify.Notification, error) {
			return v.VerifyTradeQuery(ctx, signedAnswer(t, open, alipaytest.OpenTradeQueryResponse(openTrade, "TRADE_SUCCESS"), ""), openTrade.OutTradeNo)
		}},
		{"legacy mapi", func(v *alipaynotify.Verifier) (*alipaynotify.Notification, error) {
			return v.VerifySingleTradeQuery(ctx, legacy.SingleTradeQueryAnswer(legacyTrade, "TRADE_SUCCESS", true), legacyTrade.OutTradeNo)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := tt.verify(v)
			if err != nil {
				t.Fatal(err)
			}
			if !v.Produced(n) {
				t.Error("the verifying Verifier does not vouch for its query answer")
			}
			if other.Produced(n) {
				t.Error("another Verifier vouches for the answer")
			}
			cp := *n
			if v.Produced(&cp) {
				t.Error("a copy of the answer passes as produced")
			}
		})
	}
	refusing, err := newVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
		CheckOrder: func(context.Context, *alipaynotify.Notification) error { return errors.New("no such order") }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = refusing.VerifyTradeQuery(ctx, signedAnswer(t, open, alipaytest.OpenTradeQueryResponse(openTrade, "TRADE_SUCCESS"), ""), openTrade.OutTradeNo)
	var re *alipaynotify.RejectedError
	if !errors.As(err, &re) || re.Notification == nil || refusing.Produced(re.Notification) {
		t.Errorf("refused answer: err %v, produced %v", err, re != nil && refusing.Produced(re.Notification))
	}
}
