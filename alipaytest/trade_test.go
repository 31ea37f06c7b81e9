package alipaytest_test

import (
	"testing"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

func TestTradeStory(t *testing.T) {
	s := &alipaytest.Signer{Now: fixedNow}
	tr := s.NewTrade("ORDER-7", "100.00")
	tr.Extra = alipaytest.Fields{"passback_params": "k%3Dv"}

	type want struct {
		status, refundFee, outBizNo string
		hasPayment, hasClose        bool
	}
	steps := []struct {
		name string
		m    *alipaytest.Message
		want want
	}{
		{"wait", tr.WaitBuyerPay(), want{status: "WAIT_BUYER_PAY"}},
		{"paid", tr.Paid(), want{status: "TRADE_SUCCESS", hasPayment: true}},
		{"refund 1", tr.PartialRefund("R1", "30.00"), want{status: "TRADE_SUCCESS", refundFee: "30.00", outBizNo: "R1", hasPayment: true}},
		{"refund 2", tr.PartialRefund("R2", "0.5"), want{status: "TRADE_SUCCESS", refundFee: "30.50", outBizNo: "R2", hasPayment: true}},
		{"full refund", tr.FullRefund("R3"), want{status: "TRADE_CLOSED", refundFee: "100.00", outBizNo: "R3", hasPayment: true, hasClose: true}},
	}
	seen := map[string]bool{}
	for _, st := range steps {
		m := st.m
		if m.Get("trade_status") != st.want.status {
			t.Errorf("%s: trade_status %s", st.name, m.Get("trade_status"))
		}
		if m.Get("out_trade_no") != "ORDER-7" || m.Get("trade_no") != tr.TradeNo || m.Get("total_amount") != "100.00" {
			t.Errorf("%s: trade identity changed", st.name)
		}
		if m.Get("passback_params") != "k%3Dv" {
			t.Errorf("%s: Extra not applied", st.name)
		}
		if m.Get("refund_fee") != st.want.refundFee || m.Get("out_biz_no") != st.want.outBizNo {
			t.Errorf("%s: refund_fee %q out_biz_no %q", st.name, m.Get("refund_fee"), m.Get("out_biz_no"))
		}
		if _, ok := m.Params.Lookup("gmt_payment"); ok != st.want.hasPayment {
			t.Errorf("%s: gmt_payment present = %v", st.name, ok)
		}
		if _, ok := m.Params.Lookup("fund_bill_list"); ok != st.want.hasPayment {
			t.Errorf("%s: fund_bill_list present = %v", st.name, ok)
		}
		if _, ok := m.Params.Lookup("gmt_close"); ok != st.want.hasClose {
			t.Errorf("%s: gmt_close present = %v", st.name, ok)
		}
		if st.want.refundFee != "" && len(m.Get("gmt_refund")) != len("2024-01-02 10:00:06.000") {
			t.Errorf("%s: gmt_refund %q", st.name, m.Get("gmt_refund"))
		}
		if seen[m.Get("notify_id")] {
			t.Errorf("%s: notify_id reused", st.name)
		}
		seen[m.Get("notify_id")] = true
		if m.Get("gmt_create") != alipaytest.FormatTime(tr.Created) {
			t.Errorf("%s: gmt_create changed", st.name)
		}
	}
	if tr.Refunded() != "100.00" {
		t.Errorf("Refunded = %s", tr.Refunded())
	}

	other := s.NewTrade("ORDER-8", "5")
	if m := other.Finished(); m.Get("trade_status") != "TRADE_FINISHED" || m.Get("gmt_close") == "" {
		t.Errorf("Finished: %s", m)
	}
	if m := other.ClosedUnpaid(); m.Get("trade_status") != "TRADE_CLOSED" || m.Get("receipt_amount") != "" {
		t.Errorf("ClosedUnpaid: %s", m)
	}
	if m := other.Return(); m.Kind != alipaytest.ReturnKind || m.Get("trade_no") != other.TradeNo || m.Get("total_amount") != "5" {
		t.Errorf("Return: %s", m)
	}
	if m := s.Paid("ORDER-9", "88.88"); m.Get("out_trade_no") != "ORDER-9" || m.Get("total_amount") != "88.88" || m.Get("receipt_amount") != "88.88" {
		t.Errorf("Signer.Paid: %s", m)
	}
}

func TestLegacyTradeStory(t *testing.T) {
	s := alipaytest.NewLegacySigner("", "")
	tr := s.NewTrade("L-1", "10.00")
	paid := tr.Paid()
	if paid.Get("total_fee") != "10.00" || paid.Get("price") != "10.00" || paid.Get("sign_type") != "MD5" {
		t.Errorf("legacy paid: %s", paid)
	}
	if _, ok := paid.Params.Lookup("total_amount"); ok {
		t.Error("legacy message carries total_amount")
	}
	r := tr.PartialRefund("ignored", "1.00")
	if r.Get("refund_status") != "REFUND_SUCCESS" || r.Get("gmt_refund") == "" || r.Get("trade_status") != "TRADE_SUCCESS" {
		t.Errorf("legacy refund: %s", r)
	}
	if f := tr.FullRefund(""); f.Get("trade_status") != "TRADE_CLOSED" {
		t.Errorf("legacy full refund: %s", f)
	}
	if ret := tr.Return(); ret.Get("total_fee") != "10.00" || ret.Get("is_success") != "T" {
		t.Errorf("legacy return: %s", ret)
	}
}

func TestTradePanics(t *testing.T) {
	s := &alipaytest.Signer{}
	tests := map[string]func(){
		"bad total":              func() { s.NewTrade("X", "1.234") },
		"float-looking total":    func() { s.NewTrade("X", "1e3") },
		"negative total":         func() { s.NewTrade("X", "-1.00") },
		"zero refund":            func() { s.NewTrade("X", "1.00").PartialRefund("R", "0.00") },
		"partial reaching total": func() { s.NewTrade("X", "1.00").PartialRefund("R", "1.00") },
		"bad refund":             func() { s.NewTrade("X", "1.00").PartialRefund("R", ".5") },
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}
