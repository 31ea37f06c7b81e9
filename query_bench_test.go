package alipaynotify_test

import (
	"context"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// BenchmarkVerifyTradeQuery measures one paid alipay.trade.query answer
// (RSA2, 2048-bit key) and one signed single_trade_query answer (MD5).
func BenchmarkVerifyTradeQuery(b *testing.B) {
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
		Legacy:           alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key}})
	if err != nil {
		b.Fatal(err)
	}
	s := alipaytest.NewSigner(nil)
	tr := s.NewTrade("B-1", "88.88")
	open, err := s.SignedTradeQueryAnswer(alipaytest.OpenTradeQueryResponse(tr, "TRADE_SUCCESS"), "")
	if err != nil {
		b.Fatal(err)
	}
	ls := alipaytest.NewLegacySigner("", "")
	legacy := ls.SingleTradeQueryAnswer(ls.NewTrade("B-1", "88.88"), "TRADE_SUCCESS", true)
	ctx := context.Background()
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.VerifyTradeQuery(ctx, []byte(open), "B-1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("legacy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.VerifySingleTradeQuery(ctx, legacy, "B-1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
