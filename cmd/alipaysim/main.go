// Command alipaysim plays Alipay against a running merchant: it sends signed
// payment, refund and closing notifications to notify_url, retries them on
// Alipay's schedule until the answer is exactly "success", sends the buyer's
// return_url visit racing them, and throws in hostile inputs that must be
// refused. Time can be compressed, so Alipay's 24-hour retry schedule plays
// in seconds.
//
// Usage:
//
//	alipaysim -url http://127.0.0.1:8080 -key alipay_private.pem [flags]
//	alipaysim -url http://127.0.0.1:8080 -key alipay_private.pem -scenario day.json
//	alipaysim -genkey -key-out alipay_private.pem -pubkey-out alipay_public.pem
//
// Run "alipaysim -help" for the flags, the scenario file format and the
// exit status.
package main

import (
	"os"
)

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}
