// Command demo shows alipaynotify at work with nothing to configure: it
// starts a merchant on 127.0.0.1 built with the real verifier and
// middleware, plays 100 minutes of Alipay traffic at it through the simulator
// (time compressed, so it takes seconds) and prints what happened.
//
//	go run ./examples/demo
//
// The traffic: a payment whose handler fails twice ("database busy") and is
// retried on Alipay's schedule; a payment whose return page races the
// notification, with concurrent duplicates; a GBK payload with a Chinese
// subject; two partial refunds whose acknowledgements are lost, so Alipay
// retries them; a status delivered late, after a later one; a legacy MD5
// payment checked with notify_verify; a legacy escrow trade whose four
// status changes Alipay each re-sends; a mobile web (alipay.wap.*) payment
// racing its return; forged callbacks; and a payment whose notifications
// are all lost for 30 minutes (the buyer never returns either), which the
// merchant's Reconciler finds by asking the simulator's query gateway
// (alipay.trade.query), so that Alipay's late retry is a duplicate. Then
// one more payment whose handler fails on all 8 of Alipay's tries becomes a
// dead letter, and is recovered: replayed once, as the ops page does, with
// Alipay's late copy answered as a duplicate.
//
// With REDIS_URL set (redis://localhost:6379/0) the dedupe state lives in
// Redis (dedupe/redisstore) instead of memory.
//
// It exits 0 when the merchant behaved: every event handled exactly once,
// every notification acknowledged, forged callbacks refused, the lost
// payment found by query, the dead letter recovered.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := defaultConfig()
	cfg.RedisURL = os.Getenv("REDIS_URL")
	if err := run(ctx, os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
