package alipaynotify_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// A notify_url POST body verified into a typed Notification. alipaytest
// signs the body the way Alipay does, with a test key standing in for
// Alipay's.
func ExampleNewVerifier() {
	alipay := alipaytest.NewSigner(alipaytest.TestKey())
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipay.PublicKeyPEM()}, // Alipay's public key (支付宝公钥)
	})
	if err != nil {
		panic(err)
	}
	body := alipay.Paid("ORDER-1", "88.88").Encode() // what Alipay POSTs

	n, err := v.VerifyNotify(context.Background(), body)
	if err != nil {
		panic(err)
	}
	fmt.Println(n.OutTradeNo, n.TradeStatus, n.TotalAmount, n.TotalAmount.Fen())

	// The same callback with trade_status folded into trade_no, which comes
	// just before it in the string-to-sign, still carries a valid signature,
	// and is refused all the same.
	recut := alipay.Paid("ORDER-2", "88.88").Clone()
	recut.Params.Set("trade_no", recut.Get("trade_no")+"&trade_status="+recut.Get("trade_status"))
	recut.Params.Del("trade_status")
	_, err = v.VerifyNotify(context.Background(), recut.Encode())
	fmt.Println(errors.Is(err, alipaynotify.ErrAmbiguous))
	// Output:
	// ORDER-1 TRADE_SUCCESS 88.88 8888
	// true
}
