package alipaytest_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// escrowVectorFile is the part of a synthetic-escrow-* vector these tests read.
type escrowVectorFile struct {
	FormBody     string `json:"formBody"`
	ExpectedSign string `json:"expectedSign"`
	Keys         struct {
		Partner string `json:"partner"`
		MD5Key  string `json:"md5Key"`
	} `json:"keys"`
}

func loadEscrowVector(t *testing.T, name string) escrowVectorFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "vectors", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var v escrowVectorFile
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func cst(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, alipaytest.ChinaTime)
	if err != nil {
		panic(err)
	}
	return t
}

// escrowMD5OK is an independent check of a legacy MD5 signature: sorted
// pairs without sign, sign_type and empty values, key appended, MD5 over the
// charset's bytes.
func escrowMD5OK(t *testing.T, m *alipaytest.Message, key string) bool {
	t.Helper()
	pairs := m.Params.Pairs()
	slices.SortStableFunc(pairs, func(a, b alipaytest.Param) int { return strings.Compare(a.Key, b.Key) })
	var parts []string
	for _, p := range pairs {
		if p.Key == "sign" || p.Key == "sign_type" || p.Value == "" {
			continue
		}
		parts = append(parts, p.Key+"="+p.Value)
	}
	b, err := alipaytest.EncodeText(strings.Join(parts, "&")+key, m.Charset)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:]) == m.Sign()
}

// The builder reproduces the synthetic vectors byte for byte once the
// trade's identifiers and times are set to theirs: same fields, same values,
// same wire order, same GBK escapes, same signature.
func TestEscrowTradeReproducesVectors(t *testing.T) {
	key := alipaytest.DefaultMD5Key
	// Trade A: trade_create_by_buyer, escrow branch, utf-8.
	sa := alipaytest.NewLegacySigner("2088000000000001", key)
	a := sa.NewEscrowTrade("ESCROW-A-0001", "44.00", "2", "10.00")
	a.TradeNo = "2024030221001004680000000201"
	a.BuyerID = "2088000000000002"
	a.Created = cst("2024-03-02 10:00:00")
	a.LogisticsModified = cst("2024-03-02 10:00:40")
	a.PaidAt = cst("2024-03-02 10:01:30")
	a.ShippedAt = cst("2024-03-02 15:20:00")
	a.FinishedAt = cst("2024-03-05 09:00:00")

	// Trade B: create_partner_trade_by_buyer, gbk, refunded after shipment.
	sb := alipaytest.NewLegacySigner("2088000000000001", key)
	sb.Charset = "gbk"
	b := sb.NewEscrowTrade("ESCROW-B-0002", "120.00", "1", "0.00")
	b.Service = alipaytest.ServiceEscrow
	b.TradeNo = "2024030421001004680000000302"
	b.BuyerID = "2088000000000003"
	b.BuyerEmail = "13900000000"
	b.Subject = "测试订单：羊毛围巾"
	b.Receiver = &alipaytest.Receiver{Name: "李四", Address: "北京市 北京市 东城区 东长安街 1 号", Zip: "100010", Mobile: "13900000000"}
	b.Created = cst("2024-03-04 09:00:00")
	b.LogisticsModified = cst("2024-03-04 09:00:30")
	b.PaidAt = cst("2024-03-04 09:01:10")
	b.ShippedAt = cst("2024-03-04 14:00:00")
	b.RefundRequestedAt = cst("2024-03-05 08:30:00")
	b.RefundedAt = cst("2024-03-05 10:15:00")

	// Trade C: trade_create_by_buyer, instant branch, no receive_*.
	c := sa.NewEscrowTrade("DUAL-C-0003", "100.00", "1", "0.00")
	c.TradeNo = "2024030521001004680000000403"
	c.BuyerID = "2088000000000004"
	c.BuyerEmail = "buyer2@example.com"
	c.Subject = "Gift card 100"
	c.Receiver = nil
	c.Created = cst("2024-03-05 12:00:00")
	c.LogisticsModified = c.Created
	c.PaidAt = cst("2024-03-05 12:00:20")

	steps := []struct {
		vector string
		trade  *alipaytest.EscrowTrade
		build  func() *alipaytest.Message
		before func()
	}{
		{"synthetic-escrow-a1-wait-seller-send-goods-utf8", a, a.Paid, nil},
		{"synthetic-escrow-a2-wait-buyer-confirm-goods-utf8", a, a.Shipped, func() { a.LogisticsModified = a.ShippedAt }},
		{"synthetic-escrow-a3-trade-finished-utf8", a, a.Finished, nil},
		{"synthetic-escrow-b1-wait-buyer-confirm-goods-gbk", b, b.Shipped, func() { b.Paid() }},
		{"synthetic-escrow-b2-refund-wait-seller-agree-gbk", b, b.RefundRequested, nil},
		{"synthetic-escrow-b3-refund-success-trade-closed-gbk", b, b.RefundSucceeded, nil},
		{"synthetic-escrow-c1-dual-instant-trade-finished-utf8", c, c.InstantFinished, nil},
	}
	for _, st := range steps {
		t.Run(st.vector, func(t *testing.T) {
			vec := loadEscrowVector(t, st.vector)
			if st.before != nil {
				st.before()
			}
			// notify_id is random per message: take the vector's.
			id := between(vec.FormBody, "notify_id=", "&")
			st.trade.Extra = alipaytest.Fields{"notify_id": id}
			m := st.build()
			st.trade.Extra = nil
			if got := m.String(); got != vec.FormBody {
				t.Errorf("body\n got %s\nwant %s", got, vec.FormBody)
			}
			if m.Sign() != vec.ExpectedSign {
				t.Errorf("sign = %s, want %s", m.Sign(), vec.ExpectedSign)
			}
			if !escrowMD5OK(t, m, vec.Keys.MD5Key) {
				t.Error("independent MD5 check failed")
			}
		})
	}

	// a1r: a1's state re-sent with a new notify_id a day (and 34 s) later.
	t.Run("synthetic-escrow-a1r-wait-seller-send-goods-resent-utf8", func(t *testing.T) {
		vec := loadEscrowVector(t, "synthetic-escrow-a1r-wait-seller-send-goods-resent-utf8")
		a.LogisticsModified = cst("2024-03-02 10:00:40")
		a.Extra = alipaytest.Fields{"notify_id": between(loadEscrowVector(t, "synthetic-escrow-a1-wait-seller-send-goods-utf8").FormBody, "notify_id=", "&")}
		a1 := a.Paid()
		a.Extra = nil
		a.ResendAfter = 24*time.Hour + 34*time.Second
		r := a.Resent(a1)
		if r.Get("notify_id") == a1.Get("notify_id") || len(r.Get("notify_id")) != 34 {
			t.Errorf("notify_id %q not fresh", r.Get("notify_id"))
		}
		if !escrowMD5OK(t, r, key) {
			t.Error("re-sent message does not verify")
		}
		want := strings.Replace(vec.FormBody, "notify_id="+between(vec.FormBody, "notify_id=", "&"), "notify_id="+r.Get("notify_id"), 1)
		want = strings.Replace(want, "sign="+vec.ExpectedSign, "sign="+r.Sign(), 1)
		if got := r.String(); got != want {
			t.Errorf("body\n got %s\nwant %s", got, want)
		}
	})
}

func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(rest, to)
	return v
}

func TestEscrowTradeStory(t *testing.T) {
	s := alipaytest.NewLegacySigner("", "")
	s.Now = fixedNow
	tr := s.NewEscrowTrade("E-1", "44.00", "2", "10.00")
	tr.Discount = "-5.00"
	tr.Extra = alipaytest.Fields{"extra_common_param": "k=v"}

	type want struct {
		status, refund, adjust               string
		logistics, payment, sendGoods, close bool
		closeEqualsGmtRefund                 bool
	}
	created := tr.WaitBuyerPay()
	chosen := tr.LogisticsChosen()
	paid := tr.Paid()
	resent := tr.Resent(paid)
	shipped := tr.Shipped()
	refund := tr.RefundRequested()
	closed := tr.RefundSucceeded()
	steps := []struct {
		name string
		m    *alipaytest.Message
		want want
	}{
		{"created", created, want{status: "WAIT_BUYER_PAY", adjust: "Y"}},
		{"logistics chosen", chosen, want{status: "WAIT_BUYER_PAY", adjust: "N", logistics: true}},
		{"paid", paid, want{status: "WAIT_SELLER_SEND_GOODS", adjust: "N", logistics: true, payment: true}},
		{"resent", resent, want{status: "WAIT_SELLER_SEND_GOODS", adjust: "N", logistics: true, payment: true}},
		{"shipped", shipped, want{status: "WAIT_BUYER_CONFIRM_GOODS", adjust: "N", logistics: true, payment: true, sendGoods: true}},
		{"refund requested", refund, want{status: "WAIT_BUYER_CONFIRM_GOODS", refund: "WAIT_SELLER_AGREE", adjust: "N", logistics: true, payment: true, sendGoods: true}},
		{"refund succeeded", closed, want{status: "TRADE_CLOSED", refund: "REFUND_SUCCESS", adjust: "N", logistics: true, payment: true, sendGoods: true, close: true, closeEqualsGmtRefund: true}},
	}
	ids := map[string]bool{}
	for _, st := range steps {
		m, w := st.m, st.want
		has := func(k string) bool { _, ok := m.Params.Lookup(k); return ok }
		if m.Get("trade_status") != w.status || m.Get("refund_status") != w.refund || m.Get("is_total_fee_adjust") != w.adjust {
			t.Errorf("%s: trade_status %q refund_status %q is_total_fee_adjust %q", st.name, m.Get("trade_status"), m.Get("refund_status"), m.Get("is_total_fee_adjust"))
		}
		if m.Get("total_fee") != "93.00" || m.Get("price") != "44.00" || m.Get("quantity") != "2" || m.Get("discount") != "-5.00" {
			t.Errorf("%s: amounts %s", st.name, m)
		}
		for _, k := range []string{"logistics_type", "logistics_fee", "logistics_payment", "gmt_logistics_modify", "receive_name", "receive_address", "receive_zip", "receive_phone", "receive_mobile"} {
			if has(k) != w.logistics {
				t.Errorf("%s: %s present = %v", st.name, k, has(k))
			}
		}
		if has("gmt_payment") != w.payment || has("gmt_send_goods") != w.sendGoods || has("gmt_close") != w.close {
			t.Errorf("%s: gmt_payment/gmt_send_goods/gmt_close presence wrong: %s", st.name, m)
		}
		if has("gmt_refund") != (w.refund != "") {
			t.Errorf("%s: gmt_refund present = %v", st.name, has("gmt_refund"))
		}
		if w.closeEqualsGmtRefund && m.Get("gmt_close") != m.Get("gmt_refund") {
			t.Errorf("%s: gmt_close %s != gmt_refund %s", st.name, m.Get("gmt_close"), m.Get("gmt_refund"))
		}
		for _, k := range []string{"_input_charset", "partner", "exterface", "total_amount"} {
			if has(k) {
				t.Errorf("%s: must not carry %s", st.name, k)
			}
		}
		if m.Get("extra_common_param") != "k=v" || (m.Get("logistics_payment") != "" && m.Get("logistics_payment") != "BUYER_PAY") {
			t.Errorf("%s: Extra or defaults not applied: %s", st.name, m)
		}
		if keys := m.Params.Keys(); slices.IsSorted(keys) || keys[len(keys)-1] == "sign" {
			t.Errorf("%s: wire order must be unsorted with sign in the middle: %v", st.name, keys)
		}
		if ids[m.Get("notify_id")] {
			t.Errorf("%s: notify_id reused", st.name)
		}
		ids[m.Get("notify_id")] = true
		if !escrowMD5OK(t, m, alipaytest.DefaultMD5Key) {
			t.Errorf("%s: signature does not verify", st.name)
		}
	}
	if created.Get("notify_time") != created.Get("gmt_create") {
		t.Errorf("creation notify_time %s, gmt_create %s", created.Get("notify_time"), created.Get("gmt_create"))
	}
	// Re-sent: identical business fields, new notify_id and notify_time a day later.
	pm, rm := paid.Params.Map(), resent.Params.Map()
	for _, k := range []string{"notify_id", "notify_time", "sign"} {
		delete(pm, k)
		delete(rm, k)
	}
	if fmt.Sprint(pm) != fmt.Sprint(rm) || !slices.Equal(paid.Params.Keys(), resent.Params.Keys()) {
		t.Errorf("Resent changed business fields or order:\n%s\n%s", paid, resent)
	}
	if d := cst(resent.Get("notify_time")).Sub(cst(paid.Get("notify_time"))); d != 24*time.Hour {
		t.Errorf("re-sent %v later, want 24h", d)
	}
	if tr.Status() != "TRADE_CLOSED" {
		t.Errorf("Status = %s", tr.Status())
	}

	// The dual-function instant branch.
	inst := s.NewEscrowTrade("E-2", "100.00", "1", "0.00")
	fin := inst.InstantFinished()
	if fin.Get("trade_status") != "TRADE_FINISHED" || fin.Get("gmt_close") != fin.Get("gmt_payment") || fin.Get("gmt_send_goods") != "" || fin.Get("logistics_payment") != "SELLER_PAY" {
		t.Errorf("InstantFinished: %s", fin)
	}
	// Escrow finish: shipped, closed after payment.
	esc := s.NewEscrowTrade("E-3", "1.00", "1", "0.00")
	esc.ShippedLogisticsType = "DIRECT"
	esc.Paid()
	shippedDirect := esc.Shipped()
	f := esc.Finished()
	if f.Get("gmt_send_goods") == "" || !cst(f.Get("gmt_close")).After(cst(f.Get("gmt_payment"))) || f.Get("logistics_type") != "DIRECT" || shippedDirect.Get("logistics_type") != "DIRECT" {
		t.Errorf("Finished: %s", f)
	}

	// The return reports the status at redirect time.
	ret := tr.Return()
	if ret.Kind != alipaytest.ReturnKind || ret.Get("is_success") != "T" || ret.Get("exterface") != alipaytest.ServiceDual || ret.Get("trade_status") != "TRADE_CLOSED" {
		t.Errorf("Return: %s", ret)
	}
	ship := s.NewEscrowTrade("E-4", "1.00", "1", "0.00")
	ship.Paid()
	ship.Shipped()
	if r := ship.Return(); r.Get("buyer_actions") != "REFUND,CONFIRM_GOODS" || r.Get("seller_actions") != "EXTEND_TIMEOUT" || r.Get("trade_status") != "WAIT_BUYER_CONFIRM_GOODS" || !escrowMD5OK(t, r, alipaytest.DefaultMD5Key) {
		t.Errorf("Return after shipment: %s", r)
	}
}

func TestEscrowTradePanics(t *testing.T) {
	s := alipaytest.NewLegacySigner("", "")
	tests := map[string]func(){
		"bad price":             func() { s.NewEscrowTrade("X", "1.234", "1", "0.00") },
		"bad logistics fee":     func() { s.NewEscrowTrade("X", "1.00", "1", "-1") },
		"zero quantity":         func() { s.NewEscrowTrade("X", "1.00", "0", "0.00") },
		"fractional quantity":   func() { s.NewEscrowTrade("X", "1.00", "1.5", "0.00") },
		"refund before payment": func() { s.NewEscrowTrade("X", "1.00", "1", "0.00").RefundRequested() },
		"refund after finish": func() {
			tr := s.NewEscrowTrade("X", "1.00", "1", "0.00")
			tr.InstantFinished()
			tr.RefundRequested()
		},
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

// A whole escrow trade, as the notifications Alipay sends about it.
func ExampleSigner_NewEscrowTrade() {
	s := alipaytest.NewLegacySigner("2088000000000001", "0123456789abcdefghijklmnopqrstuv")
	s.Charset = "gbk" // the _input_charset of the merchant's requests
	tr := s.NewEscrowTrade("ORDER-1", "44.00", "2", "10.00")
	for _, m := range []*alipaytest.Message{
		tr.WaitBuyerPay(),
		tr.LogisticsChosen(),
		tr.Paid(),
		tr.Shipped(),
		tr.RefundRequested(),
		tr.RefundSucceeded(),
	} {
		fmt.Printf("%-24s refund=%-19q total_fee=%s receive_name=%q\n",
			m.Get("trade_status"), m.Get("refund_status"), m.Get("total_fee"), m.Get("receive_name"))
	}
	// Output:
	// WAIT_BUYER_PAY           refund=""                  total_fee=98.00 receive_name=""
	// WAIT_BUYER_PAY           refund=""                  total_fee=98.00 receive_name="张三"
	// WAIT_SELLER_SEND_GOODS   refund=""                  total_fee=98.00 receive_name="张三"
	// WAIT_BUYER_CONFIRM_GOODS refund=""                  total_fee=98.00 receive_name="张三"
	// WAIT_BUYER_CONFIRM_GOODS refund="WAIT_SELLER_AGREE" total_fee=98.00 receive_name="张三"
	// TRADE_CLOSED             refund="REFUND_SUCCESS"    total_fee=98.00 receive_name="张三"
}
