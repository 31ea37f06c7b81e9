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
	total, _ := n.TotalAmount.Get() // ok is false on a callback that signs no amount
	fmt.Println(n.OutTradeNo, n.TradeStatus, n.TotalAmount, total.Fen())

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

// The order check Alipay asks for, in Options.CheckOrder: look the order up,
// then let CheckTotalAmount compare the amounts. A mobile web call_back_url
// return signs no amount; CheckTotalAmount accepts it, so the buyer who has
// just paid sees your success page instead of a refusal.
func ExampleNotification_CheckTotalAmount() {
	orders := map[string]alipaynotify.Amount{"ORDER-1": 8888, "ORDER-2": 1000} // your order book
	checkOrder := func(_ context.Context, n *alipaynotify.Notification) error {
		want, ok := orders[n.OutTradeNo]
		if !ok {
			return errors.New("unknown order")
		}
		return n.CheckTotalAmount(want)
	}
	alipay := alipaytest.NewSigner(alipaytest.TestKey())
	wap := alipaytest.NewWAPSigner("", "")
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID,
		AlipayPublicKeys: []string{alipay.PublicKeyPEM()},
		Legacy:           alipaynotify.LegacyOptions{Partner: alipaytest.DefaultPID, MD5Key: alipaytest.DefaultMD5Key},
		CheckOrder:       checkOrder,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_, err = v.VerifyNotify(ctx, alipay.Paid("ORDER-1", "88.88").Encode())
	fmt.Println("notification, right amount:", err)
	_, err = v.VerifyNotify(ctx, alipay.Paid("ORDER-2", "0.01").Encode())
	fmt.Println("notification, wrong amount:", errors.Is(err, alipaynotify.ErrAmountMismatch), errors.Is(err, alipaynotify.ErrOrder))
	n, err := v.VerifyReturn(ctx, wap.Return(alipaytest.Fields{"out_trade_no": "ORDER-1"}).String())
	fmt.Printf("mobile web return: %v, amount %q\n", err, n.TotalAmount)
	// Output:
	// notification, right amount: <nil>
	// notification, wrong amount: true true
	// mobile web return: <nil>, amount ""
}
