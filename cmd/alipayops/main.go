// Command alipayops answers an on-call engineer's questions about
// alipaynotify's dedupe state in Redis (dedupe/redisstore), without the
// merchant's service: what happened to an order, which payments did Alipay
// give up on (the dead letters), and how to run one again.
//
// Usage:
//
//	alipayops [-redis URL | -redis-cluster ADDRS | -sentinel MASTER,ADDRS] [-prefix P] [-json] <command> [flags]
//
//	alipayops -redis redis://localhost:6379/0 lookup -merchant 2021000000000001 -order ORDER-123
//	alipayops -redis redis://localhost:6379/0 deadletters -limit 20
//	alipayops -redis redis://localhost:6379/0 replay -all -notify-url https://shop.example/alipay/notify
//	alipayops -redis redis://localhost:6379/0 forget -merchant 2021000000000001 -order ORDER-123 -event TRADE_SUCCESS
//
// Run "alipayops -help" for the commands, their flags and the exit status.
package main

import (
	"context"
	"os"

	"github.com/redis/go-redis/v9"
)

func main() {
	// The client's own log lines (failed dials) would repeat, less clearly,
	// the error the command reports.
	redis.SetLogger(quiet{})
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// quiet is a go-redis logger that logs nothing.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}
