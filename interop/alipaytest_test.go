//go:build interop

package interop

import (
	"context"
	"errors"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// TestAlipaytestAgainstVerifier covers what the Node SDK cannot: GBK and
// GB2312 bodies with Chinese text (the SDK is UTF-8 only), and alipaytest's
// stories, checked against our verifier. It needs no node.
func TestAlipaytestAgainstVerifier(t *testing.T) {
	v := newVerifier(t)
	ctx := context.Background()
	extra := alipaytest.Fields{"subject": "中文商品 测试 + 100% & more ", "body": "描述：颜色=红色", "passback_params": "k%3D%E6%B5%8B%26x"}

	var msgs []*alipaytest.Message
	for _, cs := range []string{"utf-8", "gbk", "GBK", "gb2312"} {
		for _, st := range []alipaytest.SignType{alipaytest.SignRSA2, alipaytest.SignRSA} {
			key := alipaytest.TestKey()
			if st == alipaytest.SignRSA {
				key = alipaytest.SecondTestKey()
			}
			s := &alipaytest.Signer{Key: key, SignType: st, Charset: cs}
			tr := s.NewTrade("STORY-"+cs+"-"+string(st), "100.00")
			tr.Extra = extra
			msgs = append(msgs, tr.Paid(), tr.PartialRefund("R1", "10.00"), tr.FullRefund("R2"), s.NewTrade("CLOSED-"+cs, "1.00").ClosedUnpaid())
		}
	}
	for _, m := range msgs {
		name := m.Get("out_trade_no") + "/" + m.Get("trade_status") + "/" + m.Get("out_biz_no")
		t.Run(name, func(t *testing.T) {
			n, err := v.VerifyNotify(ctx, m.Encode())
			if err != nil {
				t.Fatalf("rejected: %v\nbody: %s", err, m)
			}
			if n.OutTradeNo != m.Get("out_trade_no") {
				t.Errorf("OutTradeNo = %q", n.OutTradeNo)
			}
			for k, want := range m.Params.All() {
				if got := n.Params.Get(k); got != want && k != "sign" && want != "" { // neither the signature nor an empty parameter is a parameter of the Notification
					t.Errorf("Params.Get(%q) = %q, want %q", k, got, want)
				}
			}
			if _, err := v.VerifyNotify(ctx, m.Tampered("subject", "中文商品").Encode()); !errors.Is(err, alipaynotify.ErrSignature) {
				t.Errorf("tampered: err = %v, want ErrSignature", err)
			}
		})
	}
}
