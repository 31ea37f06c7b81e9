package alipaynotify_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

const escrowPartner = "2088000000000001"

// escrowVector is the part of a synthetic-escrow-* vector these tests read.
type escrowVector struct {
	Name                  string            `json:"name"`
	Service               string            `json:"service"`
	FormBody              string            `json:"formBody"`
	ExpectedSignedContent string            `json:"expectedSignedContent"`
	ExpectedSign          string            `json:"expectedSign"`
	ExpectedDecodedFields map[string]string `json:"expectedDecodedFields"`
	Keys                  struct {
		Partner string `json:"partner"`
		MD5Key  string `json:"md5Key"`
	} `json:"keys"`
	ExpectedState struct {
		TradeStatus  string `json:"trade_status"`
		RefundStatus string `json:"refund_status"`
		StatusRank   int    `json:"statusRank"`
		FundsState   string `json:"fundsState"`
		Branch       string `json:"branch"`
	} `json:"expectedState"`
	ProposedEventIdentity struct {
		Key string `json:"key"`
	} `json:"proposedEventIdentity"`
	NegativeChecks struct {
		ContentInWireOrder                  string `json:"contentInWireOrder"`
		ContentInWireOrderVerifies          *bool  `json:"contentInWireOrderVerifies"`
		ContentWithSignTypeIncluded         string `json:"contentWithSignTypeIncluded"`
		ContentWithSignTypeIncludedVerifies *bool  `json:"contentWithSignTypeIncludedVerifies"`
		MD5OfSameTextAsUTF8Bytes            string `json:"md5OfSameTextAsUtf8Bytes"`
		MD5OfSameTextAsUTF8BytesVerifies    *bool  `json:"md5OfSameTextAsUtf8BytesVerifies"`
	} `json:"negativeChecks"`
}

func loadEscrowVector(t testing.TB, name string) escrowVector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var v escrowVector
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// escrowVectors lists every synthetic-escrow-* vector with the charset its
// partner is configured with.
var escrowVectors = []struct {
	name    string
	charset alipaynotify.Charset
}{
	{"synthetic-escrow-a1-wait-seller-send-goods-utf8", alipaynotify.UTF8},
	{"synthetic-escrow-a1r-wait-seller-send-goods-resent-utf8", alipaynotify.UTF8},
	{"synthetic-escrow-a2-wait-buyer-confirm-goods-utf8", alipaynotify.UTF8},
	{"synthetic-escrow-a3-trade-finished-utf8", alipaynotify.UTF8},
	{"synthetic-escrow-b1-wait-buyer-confirm-goods-gbk", alipaynotify.GBK},
	{"synthetic-escrow-b2-refund-wait-seller-agree-gbk", alipaynotify.GBK},
	{"synthetic-escrow-b3-refund-success-trade-closed-gbk", alipaynotify.GBK},
	{"synthetic-escrow-c1-dual-instant-trade-finished-utf8", alipaynotify.UTF8},
}

func escrowVerifier(t testing.TB, md5Key string, cs alipaynotify.Charset) *alipaynotify.Verifier {
	t.Helper()
	v, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: escrowPartner, MD5Key: md5Key, Charset: cs}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// verifyEscrowVector verifies a vector's form body with its legacy
// configuration.
func verifyEscrowVector(t testing.TB, name string, cs alipaynotify.Charset) (*alipaynotify.Notification, escrowVector) {
	t.Helper()
	vec := loadEscrowVector(t, name)
	n, err := escrowVerifier(t, vec.Keys.MD5Key, cs).VerifyNotify(context.Background(), []byte(vec.FormBody))
	if err != nil {
		t.Fatalf("%s: verify: %v", name, err)
	}
	return n, vec
}

var (
	receiverA = &alipaynotify.Receiver{Name: "张三", Address: "浙江省杭州市西湖区文三路 100 号", Zip: "310000", Phone: "0571-88158090", Mobile: "13800000000"}
	receiverB = &alipaynotify.Receiver{Name: "李四", Address: "北京市 北京市 东城区 东长安街 1 号", Zip: "100010", Mobile: "13900000000"}
)

func TestEscrowVectors(t *testing.T) {
	t.Parallel()
	type want struct {
		branch    alipaynotify.Branch
		subject   string
		receiver  *alipaynotify.Receiver
		logistics alipaynotify.Logistics
	}
	logA := alipaynotify.Logistics{Type: "EXPRESS", Fee: 1000, Payment: "BUYER_PAY"}
	logB := alipaynotify.Logistics{Type: "EXPRESS", Fee: 0, Payment: "SELLER_PAY"}
	subjectA, subjectB := "测试商品：蓝牙耳机 A+B 套装", "测试订单：羊毛围巾"
	wants := map[string]want{
		"synthetic-escrow-a1-wait-seller-send-goods-utf8":         {alipaynotify.BranchEscrow, subjectA, receiverA, logA},
		"synthetic-escrow-a1r-wait-seller-send-goods-resent-utf8": {alipaynotify.BranchEscrow, subjectA, receiverA, logA},
		"synthetic-escrow-a2-wait-buyer-confirm-goods-utf8":       {alipaynotify.BranchEscrow, subjectA, receiverA, logA},
		"synthetic-escrow-a3-trade-finished-utf8":                 {alipaynotify.BranchEscrow, subjectA, receiverA, logA},
		"synthetic-escrow-b1-wait-buyer-confirm-goods-gbk":        {alipaynotify.BranchEscrow, subjectB, receiverB, logB},
		"synthetic-escrow-b2-refund-wait-seller-agree-gbk":        {alipaynotify.BranchEscrow, subjectB, receiverB, logB},
		// A refund close names neither branch's own status: undecidable
		// from the message (create_partner_trade_by_buyer has no instant
		// branch, but the notification does not name its service).
		"synthetic-escrow-b3-refund-success-trade-closed-gbk":  {alipaynotify.BranchUnknown, subjectB, receiverB, logB},
		"synthetic-escrow-c1-dual-instant-trade-finished-utf8": {alipaynotify.BranchInstant, "Gift card 100", nil, logB},
	}
	for _, tc := range escrowVectors {
		t.Run(tc.name, func(t *testing.T) {
			n, vec := verifyEscrowVector(t, tc.name, tc.charset)
			w := wants[tc.name]
			f := vec.ExpectedDecodedFields
			for k, v := range f {
				if got := n.Params.Get(k); got != v && k != "sign" {
					t.Errorf("param %s = %q, want %q", k, got, v)
				}
			}
			check := func(what string, got, want any) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			check("Protocol", n.Protocol, alipaynotify.ProtocolMapi)
			check("Charset", n.Charset, tc.charset)
			check("Subject", n.Subject, w.subject)
			check("TradeStatus", n.TradeStatus, alipaynotify.TradeStatus(vec.ExpectedState.TradeStatus))
			check("RefundStatus", n.Event().RefundStatus, alipaynotify.RefundStatus(vec.ExpectedState.RefundStatus))
			check("Rank", n.TradeStatus.Rank(), vec.ExpectedState.StatusRank)
			check("FundsHeld", n.FundsHeld(), strings.Contains(vec.ExpectedState.FundsState, "held by Alipay"))
			check("Branch", n.Branch(), w.branch)
			if vec.ExpectedState.Branch != "" {
				check("Branch (vector)", n.Branch(), alipaynotify.Branch(vec.ExpectedState.Branch))
			}
			check("Event", n.Event().String(), vec.ProposedEventIdentity.Key)
			check("PaymentType", n.Legacy.PaymentType, f["payment_type"])
			check("IsTotalFeeAdjust", n.Legacy.IsTotalFeeAdjust, f["is_total_fee_adjust"] == "Y")
			check("UseCoupon", n.Legacy.UseCoupon, f["use_coupon"] == "Y")
			check("TotalAmount", n.TotalAmount.String(), f["total_fee"])
			check("Price", n.Legacy.Price.String(), f["price"])
			check("Quantity", n.Legacy.Quantity, f["quantity"])
			check("GmtSendGoods", formatCST(n.Legacy.GmtSendGoods), f["gmt_send_goods"])
			check("GmtLogisticsModify", formatCST(n.Legacy.GmtLogisticsModify), f["gmt_logistics_modify"])
			check("GmtRefund", formatCST(refundOf(n).Time), f["gmt_refund"])
			check("GmtClose", formatCST(n.GmtClose), f["gmt_close"])
			if !n.Legacy.GmtSendGoods.IsZero() {
				check("GmtSendGoods zone", n.Legacy.GmtSendGoods.Format("-0700"), "+0800")
			}
			if n.Legacy.Logistics == nil {
				t.Fatal("Logistics is nil")
			}
			check("Logistics", *n.Legacy.Logistics, w.logistics)
			switch {
			case w.receiver == nil && n.Legacy.Receiver != nil:
				t.Errorf("Receiver = %#v, want nil", *n.Legacy.Receiver)
			case w.receiver != nil && (n.Legacy.Receiver == nil || *n.Legacy.Receiver != *w.receiver):
				t.Errorf("Receiver = %#v, want %#v", n.Legacy.Receiver, *w.receiver)
			}
			if n.Legacy.Receiver != nil {
				for k, got := range map[string]string{"receive_name": n.Legacy.Receiver.Name, "receive_address": n.Legacy.Receiver.Address, "receive_zip": n.Legacy.Receiver.Zip, "receive_phone": n.Legacy.Receiver.Phone, "receive_mobile": n.Legacy.Receiver.Mobile} {
					check(k, got, f[k])
				}
			}
			if (n.Refund != nil) != (vec.ExpectedState.RefundStatus != "") {
				t.Errorf("Refund = %+v with refund_status %q", n.Refund, vec.ExpectedState.RefundStatus)
			}
			if n.Refund != nil && (n.Refund.Status != n.Event().RefundStatus || n.Refund.Time.IsZero()) {
				t.Errorf("Refund = %+v", n.Refund)
			}
		})
	}
}

func formatCST(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(alipaynotify.ChinaTime).Format("2006-01-02 15:04:05")
}

// The event identity of docs/protocol-legacy.md, "Escrow event identity and
// rank": a re-send with a new notify_id is the same event, a refund request
// on an unchanged trade_status is a new one, and no other two vectors
// collide.
func TestEscrowEventIdentity(t *testing.T) {
	t.Parallel()
	ids := map[string]string{}
	byKey := map[string][]string{}
	for _, tc := range escrowVectors {
		n, vec := verifyEscrowVector(t, tc.name, tc.charset)
		id := n.Event().String()
		if id != vec.ProposedEventIdentity.Key {
			t.Errorf("%s: identity %q, want %q", tc.name, id, vec.ProposedEventIdentity.Key)
		}
		short := strings.Split(tc.name, "-")[2] // a1, a1r, ...
		ids[short] = id
		byKey[id] = append(byKey[id], short)
	}
	if ids["a1"] != ids["a1r"] {
		t.Errorf("a1 and a1r must share the identity: %q vs %q", ids["a1"], ids["a1r"])
	}
	if ids["b1"] == ids["b2"] {
		t.Errorf("b1 and b2 must differ: both %q", ids["b1"])
	}
	for id, names := range byKey {
		if len(names) > 1 && id != ids["a1"] {
			t.Errorf("%v collide on %q", names, id)
		}
	}
	if len(byKey) != len(escrowVectors)-1 {
		t.Errorf("%d distinct identities, want %d", len(byKey), len(escrowVectors)-1)
	}
}

// escrowMD5 signs content the legacy way: MD5 of content+key in cs.
func escrowMD5(t *testing.T, content, key string, cs alipaynotify.Charset) string {
	t.Helper()
	b, err := alipaytest.EncodeText(content+key, string(cs))
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// The negative checks recorded in the vectors: a signature over the content
// in wire order, over the content with sign_type, or (GBK) over the UTF-8
// bytes of the same text does not verify.
func TestEscrowNegativeChecks(t *testing.T) {
	t.Parallel()
	for _, tc := range escrowVectors {
		t.Run(tc.name, func(t *testing.T) {
			vec := loadEscrowVector(t, tc.name)
			key := vec.Keys.MD5Key
			v := escrowVerifier(t, key, tc.charset)
			// Control: the recorded content, key appended, in the charset, is
			// the recorded sign; so a replaced sign below is the only change.
			if got := escrowMD5(t, vec.ExpectedSignedContent, key, tc.charset); got != vec.ExpectedSign {
				t.Fatalf("control: md5 = %s, want %s", got, vec.ExpectedSign)
			}
			nc := vec.NegativeChecks
			type negative struct {
				what, sign string
				verifies   *bool
			}
			negs := []negative{
				{"content in wire order", escrowMD5(t, nc.ContentInWireOrder, key, tc.charset), nc.ContentInWireOrderVerifies},
				{"content with sign_type", escrowMD5(t, nc.ContentWithSignTypeIncluded, key, tc.charset), nc.ContentWithSignTypeIncludedVerifies},
			}
			if nc.ContentInWireOrder == "" || nc.ContentWithSignTypeIncluded == "" {
				t.Fatal("vector lacks its negative contents")
			}
			if tc.charset == alipaynotify.GBK {
				if nc.MD5OfSameTextAsUTF8Bytes == "" {
					t.Fatal("GBK vector lacks md5OfSameTextAsUtf8Bytes")
				}
				if got := escrowMD5(t, vec.ExpectedSignedContent, key, alipaynotify.UTF8); got != nc.MD5OfSameTextAsUTF8Bytes {
					t.Errorf("UTF-8 digest = %s, vector says %s", got, nc.MD5OfSameTextAsUTF8Bytes)
				}
				negs = append(negs, negative{"GBK text hashed as UTF-8", nc.MD5OfSameTextAsUTF8Bytes, nc.MD5OfSameTextAsUTF8BytesVerifies})
			}
			for _, neg := range negs {
				if neg.verifies == nil || *neg.verifies {
					t.Errorf("%s: the vector must record that it does not verify", neg.what)
				}
				body := strings.Replace(vec.FormBody, "sign="+vec.ExpectedSign, "sign="+neg.sign, 1)
				if body == vec.FormBody {
					t.Fatalf("%s: sign not replaced", neg.what)
				}
				if _, err := v.VerifyNotify(context.Background(), []byte(body)); !errors.Is(err, alipaynotify.ErrSignature) {
					t.Errorf("%s: err = %v, want ErrSignature", neg.what, err)
				}
			}
			if tc.charset == alipaynotify.GBK {
				// A partner misconfigured as utf-8: the GBK bytes are refused
				// as text rather than turned into mojibake.
				_, err := escrowVerifier(t, key, alipaynotify.UTF8).VerifyNotify(context.Background(), []byte(vec.FormBody))
				if !errors.Is(err, alipaynotify.ErrCharset) {
					t.Errorf("GBK body as utf-8: err = %v, want ErrCharset", err)
				}
			}
			// Wrong key.
			if _, err := escrowVerifier(t, strings.Repeat("x", len(key)), tc.charset).VerifyNotify(context.Background(), []byte(vec.FormBody)); !errors.Is(err, alipaynotify.ErrSignature) {
				t.Errorf("wrong key: err = %v, want ErrSignature", err)
			}
		})
	}
}

func TestBranch(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		tm, err := alipaynotify.ParseTime(s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	paid, shipped, later := at("2024-03-02 10:01:30"), at("2024-03-02 15:20:00"), at("2024-03-05 09:00:00")
	mapi := func(status alipaynotify.TradeStatus, payment, sendGoods, close time.Time) *alipaynotify.Notification {
		return &alipaynotify.Notification{Protocol: alipaynotify.ProtocolMapi, TradeStatus: status, GmtPayment: payment, GmtClose: close, Legacy: alipaynotify.LegacyFields{GmtSendGoods: sendGoods}}
	}
	var zero time.Time
	open := mapi(alipaynotify.TradeFinished, paid, zero, paid)
	open.Protocol = alipaynotify.ProtocolOpenPlatform
	tests := []struct {
		name      string
		n         *alipaynotify.Notification
		want      alipaynotify.Branch
		fundsHeld bool
	}{
		{"wait buyer pay", mapi(alipaynotify.WaitBuyerPay, zero, zero, zero), alipaynotify.BranchUnknown, false},
		{"paid into escrow", mapi(alipaynotify.WaitSellerSendGoods, paid, zero, zero), alipaynotify.BranchEscrow, true},
		{"shipped", mapi(alipaynotify.WaitBuyerConfirmGoods, paid, shipped, zero), alipaynotify.BranchEscrow, true},
		{"refund requested", &alipaynotify.Notification{Protocol: alipaynotify.ProtocolMapi, TradeStatus: alipaynotify.WaitBuyerConfirmGoods, Refund: &alipaynotify.Refund{Status: alipaynotify.RefundWaitSellerAgree}}, alipaynotify.BranchEscrow, true},
		{"instant finished", mapi(alipaynotify.TradeFinished, paid, zero, paid), alipaynotify.BranchInstant, false},
		{"escrow finished", mapi(alipaynotify.TradeFinished, paid, shipped, later), alipaynotify.BranchEscrow, false},
		{"finished, closed at payment but shipped", mapi(alipaynotify.TradeFinished, paid, shipped, paid), alipaynotify.BranchUnknown, false},
		{"finished later, never shipped", mapi(alipaynotify.TradeFinished, paid, zero, later), alipaynotify.BranchUnknown, false},
		{"finished without gmt_payment", mapi(alipaynotify.TradeFinished, zero, zero, paid), alipaynotify.BranchUnknown, false},
		{"finished without gmt_close", mapi(alipaynotify.TradeFinished, paid, zero, zero), alipaynotify.BranchUnknown, false},
		{"refund close", mapi(alipaynotify.TradeClosed, paid, shipped, later), alipaynotify.BranchUnknown, false},
		{"unpaid close", mapi(alipaynotify.TradeClosed, zero, zero, later), alipaynotify.BranchUnknown, false},
		{"instant transfer TRADE_SUCCESS", mapi(alipaynotify.TradeSuccess, paid, zero, zero), alipaynotify.BranchUnknown, false},
		{"unknown status", mapi("WAIT_SOMETHING_NEW", paid, zero, zero), alipaynotify.BranchUnknown, false},
		{"open platform", open, alipaynotify.BranchUnknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.n.Branch(); got != tt.want {
				t.Errorf("Branch = %s, want %s", got, tt.want)
			}
			if got := tt.n.FundsHeld(); got != tt.fundsHeld {
				t.Errorf("FundsHeld = %v, want %v", got, tt.fundsHeld)
			}
		})
	}
}

func TestReceiverMasking(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   alipaynotify.Receiver
		want alipaynotify.Receiver
	}{
		{"typical", *receiverA, alipaynotify.Receiver{Name: "张*", Address: "浙江省***", Zip: "31****", Phone: "057******8090", Mobile: "138****0000"}},
		{"gbk vector", *receiverB, alipaynotify.Receiver{Name: "李*", Address: "北京市***", Zip: "10****", Mobile: "139****0000"}},
		{"short values", alipaynotify.Receiver{Name: "欧阳娜娜", Address: "北京", Zip: "1", Phone: "8815809", Mobile: "12345"},
			alipaynotify.Receiver{Name: "欧***", Address: "***", Zip: "*", Phone: "*****09", Mobile: "*****"}},
		{"one character", alipaynotify.Receiver{Name: "J", Address: "X"}, alipaynotify.Receiver{Name: "*", Address: "***"}},
		{"empty", alipaynotify.Receiver{}, alipaynotify.Receiver{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Masked(); got != tt.want {
				t.Errorf("Masked = %#v, want %#v", got, tt.want)
			}
		})
	}
	r := *receiverA
	want := "{Name:张* Address:浙江省*** Zip:31**** Phone:057******8090 Mobile:138****0000}"
	for _, got := range []string{r.String(), fmt.Sprint(r), fmt.Sprintf("%v", &r), fmt.Sprintf("%+v", r), fmt.Sprintf("%+v", &r)} {
		if got != want {
			t.Errorf("formatted = %s, want %s", got, want)
		}
	}
	// Nested in a struct, by value or by pointer, it is masked too.
	if got := fmt.Sprintf("%+v", struct {
		V alipaynotify.Receiver
		P *alipaynotify.Receiver
	}{r, &r}); got != "{V:"+want+" P:"+want+"}" {
		t.Errorf("nested = %s", got)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("ship", "receiver", r, "ptr", &r)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"receiver", "ptr"} {
		g, _ := rec[k].(map[string]any)
		if g["name"] != "张*" || g["address"] != "浙江省***" || g["mobile"] != "138****0000" {
			t.Errorf("slog %s = %v", k, rec[k])
		}
	}
	assertNoPII(t, buf.String(), receiverA)
}

// pii lists the personal data of a vector's buyer that must never reach a
// log line.
func pii(r *alipaynotify.Receiver, n *alipaynotify.Notification) []string {
	out := []string{r.Name, r.Address, r.Zip, r.Mobile}
	if r.Phone != "" {
		out = append(out, r.Phone)
	}
	if n != nil {
		out = append(out, n.Legacy.BuyerEmail, n.BuyerID, n.Subject)
	}
	// Part of the address too: a line must not hold the street either.
	longest := ""
	for _, f := range strings.Fields(r.Address) {
		if len(f) > len(longest) {
			longest = f
		}
	}
	return append(out, longest)
}

func assertNoPII(t *testing.T, out string, r *alipaynotify.Receiver, n ...*alipaynotify.Notification) {
	t.Helper()
	var nn *alipaynotify.Notification
	if len(n) > 0 {
		nn = n[0]
	}
	for _, s := range pii(r, nn) {
		if s == "" {
			continue
		}
		quoted, _ := json.Marshal(s) // as a JSON handler might escape it
		if strings.Contains(out, s) || strings.Contains(out, strings.Trim(string(quoted), `"`)) {
			t.Errorf("output contains %q:\n%s", s, out)
		}
	}
}

// Logging a notification with slog never writes the buyer's address, phone,
// e-mail or the order's subject, in JSON or text; identity fields are there.
func TestNotificationLogValueOmitsPII(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vector   string
		charset  alipaynotify.Charset
		receiver *alipaynotify.Receiver
	}{
		{"synthetic-escrow-a1-wait-seller-send-goods-utf8", alipaynotify.UTF8, receiverA},
		{"synthetic-escrow-b2-refund-wait-seller-agree-gbk", alipaynotify.GBK, receiverB},
	} {
		t.Run(tc.vector, func(t *testing.T) {
			n, _ := verifyEscrowVector(t, tc.vector, tc.charset)
			var jsonOut, textOut bytes.Buffer
			for _, h := range []slog.Handler{slog.NewJSONHandler(&jsonOut, nil), slog.NewTextHandler(&textOut, nil)} {
				l := slog.New(h)
				l.Info("alipay callback", "notification", n)
				l.Error("handler failed", "notification", n, "err", errors.New("db down"))
				l.With("n", n).Warn("with")
			}
			for _, out := range []string{jsonOut.String(), textOut.String()} {
				assertNoPII(t, out, tc.receiver, n)
				for _, s := range []string{n.OutTradeNo, n.TradeNo, string(n.TradeStatus), n.NotifyID, escrowPartner, n.TotalAmount.String()} {
					if !strings.Contains(out, s) {
						t.Errorf("log lacks %q:\n%s", s, out)
					}
				}
				if st := refundOf(n).Status; st != "" && !strings.Contains(out, string(st)) {
					t.Errorf("log lacks refund_status:\n%s", out)
				}
			}
			var rec map[string]any
			line, _, _ := strings.Cut(jsonOut.String(), "\n")
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
			g, _ := rec["notification"].(map[string]any)
			if g["partner"] != escrowPartner || g["out_trade_no"] != n.OutTradeNo || g["trade_status"] != string(n.TradeStatus) || g["protocol"] != "mapi" || g["source"] != "notify" {
				t.Errorf("notification group = %v", g)
			}

			// fmt prints the masked copy whatever the verb, by value or by
			// pointer, alone or nested.
			for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
				out := fmt.Sprintf(f, n) + fmt.Sprintf(f, *n) + fmt.Sprintf(f, struct{ N *alipaynotify.Notification }{n}) + fmt.Sprint(n)
				assertNoPII(t, out, tc.receiver, n)
				if !strings.Contains(out, n.OutTradeNo) || !strings.Contains(out, tc.receiver.Masked().Mobile) {
					t.Errorf("%s printed without identity or masked fields: %s", f, out)
				}
			}
			var none *alipaynotify.Notification
			if got := fmt.Sprintf("%v", none); got != "<nil>" {
				t.Errorf("nil notification printed %q", got)
			}

			// Masked: a copy safe to print whole; the original is untouched.
			m := n.Masked()
			printed := fmt.Sprintf("%+v %v", *m, m)
			assertNoPII(t, printed, tc.receiver, n)
			if !strings.Contains(printed, tc.receiver.Masked().Name) || m.Params.Get("receive_mobile") != tc.receiver.Masked().Mobile {
				t.Errorf("Masked lost the masked values: %s", printed)
			}
			if m.OutTradeNo != n.OutTradeNo || m.Event() != n.Event() || m.TotalAmount != n.TotalAmount {
				t.Error("Masked changed identity fields")
			}
			if *n.Legacy.Receiver != *tc.receiver || n.Params.Get("receive_name") != tc.receiver.Name || n.Subject == "***" {
				t.Error("Masked changed the original")
			}
		})
	}
	var nilN *alipaynotify.Notification
	if nilN.Masked() != nil || nilN.LogValue().String() != "<nil>" {
		t.Error("nil notification")
	}
	open := &alipaynotify.Notification{Protocol: alipaynotify.ProtocolOpenPlatform, AppID: "2021000000000001", Partner: "unused", OutTradeNo: "O-1", TradeStatus: alipaynotify.TradeSuccess}
	if got := open.LogValue().Resolve().String(); !strings.Contains(got, "app_id=2021000000000001") || strings.Contains(got, "partner") {
		t.Errorf("open-platform LogValue = %s", got)
	}
}

// The branch of each message of a dual-function trade, told from that message
// alone.
func ExampleNotification_Branch() {
	const partner, key = "2088000000000001", "0123456789abcdefghijklmnopqrstuv"
	v, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: partner, MD5Key: key}})
	if err != nil {
		panic(err)
	}
	s := alipaytest.NewLegacySigner(partner, key)
	escrow := s.NewEscrowTrade("ORDER-1", "44.00", "2", "10.00")
	instant := s.NewEscrowTrade("ORDER-2", "100.00", "1", "0.00")
	for _, m := range []*alipaytest.Message{
		escrow.WaitBuyerPay(), escrow.Paid(), escrow.Shipped(), escrow.Finished(),
		instant.WaitBuyerPay(), instant.InstantFinished(),
	} {
		n, err := v.VerifyNotify(context.Background(), m.Encode())
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %-24s branch=%-7s funds held=%v\n", n.OutTradeNo, n.TradeStatus, n.Branch(), n.FundsHeld())
	}
	// Output:
	// ORDER-1 WAIT_BUYER_PAY           branch=unknown funds held=false
	// ORDER-1 WAIT_SELLER_SEND_GOODS   branch=escrow  funds held=true
	// ORDER-1 WAIT_BUYER_CONFIRM_GOODS branch=escrow  funds held=true
	// ORDER-1 TRADE_FINISHED           branch=escrow  funds held=false
	// ORDER-2 WAIT_BUYER_PAY           branch=unknown funds held=false
	// ORDER-2 TRADE_FINISHED           branch=instant funds held=false
}

// A legacy escrow return (browser GET) parses the return-only fields.
func TestEscrowReturnFields(t *testing.T) {
	t.Parallel()
	s := alipaytest.NewLegacySigner(escrowPartner, alipaytest.DefaultMD5Key)
	s.Charset = "gbk"
	tr := s.NewEscrowTrade("ESCROW-RET-1", "44.00", "2", "10.00")
	tr.Paid()
	tr.Shipped()
	m := tr.Return()
	n, err := escrowVerifier(t, alipaytest.DefaultMD5Key, alipaynotify.GBK).VerifyReturn(context.Background(), m.String())
	if err != nil {
		t.Fatal(err)
	}
	if n.Source != alipaynotify.SourceReturn || !n.Legacy.IsSuccess || n.Legacy.Exterface != "trade_create_by_buyer" ||
		n.Legacy.BuyerActions != "REFUND,CONFIRM_GOODS" || n.Legacy.SellerActions != "EXTEND_TIMEOUT" ||
		n.TradeStatus != alipaynotify.WaitBuyerConfirmGoods || n.Legacy.GmtSendGoods.IsZero() ||
		n.Legacy.Receiver == nil || n.Legacy.Receiver.Address != alipaytest.DefaultReceiver.Address {
		t.Errorf("return parsed as %+v", n.Masked())
	}
	if n.Branch() != alipaynotify.BranchEscrow || !n.FundsHeld() {
		t.Errorf("Branch %s FundsHeld %v", n.Branch(), n.FundsHeld())
	}

	// The creation notification: no logistics or address yet.
	created, err := escrowVerifier(t, alipaytest.DefaultMD5Key, alipaynotify.GBK).VerifyNotify(context.Background(), s.NewEscrowTrade("ESCROW-RET-2", "1.00", "1", "0.00").WaitBuyerPay().Encode())
	if err != nil {
		t.Fatal(err)
	}
	if created.Legacy.Logistics != nil || created.Legacy.Receiver != nil || !created.Legacy.IsTotalFeeAdjust || created.Legacy.UseCoupon || created.Legacy.PaymentType != "1" || created.Branch() != alipaynotify.BranchUnknown || created.FundsHeld() {
		t.Errorf("creation parsed as %+v", created.Masked())
	}
}
