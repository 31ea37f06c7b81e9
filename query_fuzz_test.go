package alipaynotify_test

import (
	"context"
	"errors"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// queryErrorClasses are the errors a query answer may fail with.
var queryErrorClasses = []error{alipaynotify.ErrMalformed, alipaynotify.ErrAmbiguous, alipaynotify.ErrCharset, alipaynotify.ErrSignType,
	alipaynotify.ErrSignature, alipaynotify.ErrAmount, alipaynotify.ErrPartner, alipaynotify.ErrSellerID, alipaynotify.ErrGateway, alipaynotify.ErrTradeNotFound}

// checkQueryResult fails t unless err is classified, or n is a query
// Notification about outTradeNo with a known status and no refund.
func checkQueryResult(t *testing.T, n *alipaynotify.Notification, err error, outTradeNo string) {
	t.Helper()
	if err != nil {
		for _, c := range queryErrorClasses {
			if errors.Is(err, c) {
				return
			}
		}
		t.Fatalf("unclassified error: %v", err)
	}
	if n.Source != alipaynotify.SourceQuery || n.OutTradeNo != outTradeNo || !n.TradeStatus.Known() || n.Refund != nil || n.NotifyID != "" {
		t.Fatalf("verified %+v", *n)
	}
}

// FuzzVerifyTradeQuery feeds alipay.trade.query answers to the parser: the
// fuzzed text is either the whole body, or the response member, signed as
// Alipay signs it so that the member parser and the field mapping are
// reached.
func FuzzVerifyTradeQuery(f *testing.F) {
	key := alipaytest.MustKeyPair(1024) // signing every input: the short key keeps the fuzzer fast
	s := alipaytest.NewSigner(key)
	v, err := newVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{key.PublicKeyPEM()}})
	if err != nil {
		f.Fatal(err)
	}
	tr := s.NewTrade("FZ-1", "88.88")
	for _, status := range []string{"TRADE_SUCCESS", "WAIT_BUYER_PAY", "TRADE_CLOSED"} {
		resp := alipaytest.OpenTradeQueryResponse(tr, status)
		body, err := s.SignedTradeQueryAnswer(resp, "")
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(resp), false)
		f.Add([]byte(body), true)
	}
	f.Add([]byte(`{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","out_trade_no":"FZ-1"}`), false)
	f.Add([]byte(`{"code":"10000","out_trade_no":"FZ-1","trade_status":"TRADE_SUCCESS","fund_bill_list":[{"fund_channel":"X","amount":"1"}],"voucher_detail_list":[{}]}`), false)
	f.Fuzz(func(t *testing.T, data []byte, whole bool) {
		body := data
		if !whole {
			signed, err := s.SignedTradeQueryAnswer(string(data), "")
			if err != nil {
				return // the kit signs UTF-8 text only
			}
			body = []byte(signed)
		}
		n, err := v.VerifyTradeQuery(context.Background(), body, "FZ-1")
		checkQueryResult(t, n, err, "FZ-1")
	})
}

// FuzzVerifySingleTradeQuery feeds legacy single_trade_query answers to the
// XML parser; unsigned answers are accepted, so the field mapping is
// reached.
func FuzzVerifySingleTradeQuery(f *testing.F) {
	s := alipaytest.NewLegacySigner("", "")
	v, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key}})
	if err != nil {
		f.Fatal(err)
	}
	tr := s.NewTrade("FZ-1", "12.34")
	for _, status := range []string{"TRADE_SUCCESS", "WAIT_BUYER_PAY", "WAIT_SELLER_SEND_GOODS"} {
		f.Add(s.SingleTradeQueryAnswer(tr, status, false))
		f.Add(s.SingleTradeQueryAnswer(tr, status, true))
	}
	f.Add(alipaytest.SingleTradeQueryError("TRADE_IS_NOT_EXIST"))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := v.VerifySingleTradeQuery(context.Background(), body, "FZ-1")
		checkQueryResult(t, n, err, "FZ-1")
	})
}
