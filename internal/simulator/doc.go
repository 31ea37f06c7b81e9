// Package simulator plays Alipay and the buyer's browser against a running
// merchant: it sends signed notify_url POSTs and return_url GETs over HTTP,
// retries them the way Alipay does, and reports whether the merchant
// acknowledged every genuine event and refused every hostile one.
//
// It is the engine of cmd/alipaysim and examples/demo; the signing itself is
// alipaytest's.
//
// # What is sent
//
// A Scenario lists trades and hostile inputs. Each trade tells a Story as
// the notifications Alipay sends about it (alipaytest.Trade):
//
//	paid            TRADE_SUCCESS
//	finished        TRADE_SUCCESS, then TRADE_FINISHED
//	closed_unpaid   TRADE_CLOSED (never paid)
//	partial_refund  TRADE_SUCCESS, then one TRADE_SUCCESS refund per amount
//	full_refund     TRADE_SUCCESS, partial refunds if any, then TRADE_CLOSED
//
// and, for legacy escrow and dual-function trades (MD5 only;
// alipaytest.EscrowTrade):
//
//	escrow_finished  WAIT_BUYER_PAY, WAIT_SELLER_SEND_GOODS,
//	                 WAIT_BUYER_CONFIRM_GOODS, then TRADE_FINISHED
//	escrow_refunded  the same to WAIT_BUYER_CONFIRM_GOODS, the refund request
//	                 (refund_status WAIT_SELLER_AGREE), then TRADE_CLOSED
//	                 with REFUND_SUCCESS
//	dual_instant     WAIT_BUYER_PAY, then TRADE_FINISHED (instant branch)
//
// Legacy mobile web trades (sign_type WAP_MD5 or WAP_0001;
// alipaytest.WAPSigner) tell the paid and finished stories as notify_data
// notifications, and race the call_back_url return.
//
// Story steps are Trade.Interval apart in simulated time (30m by default),
// latest first with OutOfOrder. Each notification is one event; options add
// concurrent duplicates of its first delivery (same notify_id, or a re-send
// with a new one), "success" answers lost on the way back (so Alipay
// retries a notification the merchant already handled), and the buyer's
// return_url visit racing the payment notification.
//
// Hostile inputs must not be answered "success": a forged signature, a
// tampered amount, a garbage body, an oversized (but signed) body, and a
// notification sent with GET.
//
// # Retries and time
//
// A notification is delivered on Config.Schedule (AlipaySchedule: at once,
// then after 2m, 10m, 10m, 1h, 2h, 6h and 15h; 8 tries over 24h22m) until the
// body of the answer is exactly "success" — not "success\n", not a page that
// contains it, not a redirect. Every try sends the same body, so the same
// notify_id (docs/protocol.md, "Delivery, retries and the answer").
// Config.Speed compresses time: at 3600 an hour of Alipay's schedule takes a
// second. A timer-driven scheduler sends each delivery when due, on at most
// Config.Workers concurrent requests, each bounded by Config.Timeout (15s,
// Alipay's).
//
// # Results
//
// Run returns a Report: for every event its deliveries and the answers
// (status and the sanitized start of the body), whether and at which try and
// simulated time it was acknowledged, and whether hostile inputs were
// refused. Report.OK is true when every notification was acknowledged
// within the schedule, every return visit got a page (a status below 400)
// and every hostile input was refused. Deliveries sent more than half the
// shortest retry interval (at most a minute) of simulated time after their
// time are late; Report.Lateness says whose lateness it was, with numbers:
// the simulator's own scheduling (a worker was free), the merchant (every
// worker waited on answers slower than the allowed lag), or the schedule (a
// burst the workers could not send in the wall-clock time it lasts at
// Config.Speed, the merchant answering quickly). Report.WriteTable and
// Report.WriteJSON render it; ProgressPrinter shows a long run as it goes.
// Every request carries DeliveryHeader, naming the delivery in the report.
//
// # Scenario files
//
// A scenario file is one JSON object. Unknown fields are errors. Durations
// are strings such as "90s", "30m" or "1h30m"; amounts are strings in yuan.
//
//	{
//	  "name": "a day of traffic",
//	  "trades": [
//	    {"story": "paid", "amount": "88.88", "race_return": true, "duplicates": 2},
//	    {"story": "paid", "charset": "gbk", "subject": "中文商品", "repeat": 10},
//	    {"story": "partial_refund", "amount": "100.00", "refunds": ["10.00", "5.00"], "lost_acks": 1},
//	    {"story": "full_refund", "refunds": ["20.00"], "start": "1h"},
//	    {"story": "finished", "out_of_order": true},
//	    {"story": "closed_unpaid", "sign_type": "MD5"},
//	    {"story": "escrow_refunded", "charset": "gbk", "duplicates": 1},
//	    {"story": "paid", "sign_type": "WAP_MD5", "race_return": true}
//	  ],
//	  "hostile": ["forged_signature", {"kind": "tampered_amount", "at": "5m", "sign_type": "MD5"}]
//	}
//
// Trade fields (all optional but story): out_trade_no (default a number
// unique to the run), amount ("88.88"), subject, story, refunds, charset
// (utf-8, gbk, gb2312; default utf-8), sign_type (RSA2, RSA, MD5, WAP_MD5,
// WAP_0001; default RSA2, MD5 for escrow stories), start (simulated time of the first notification; default 0),
// interval (between story steps; default 30m), duplicates (0-100), race_return,
// out_of_order, lost_acks, repeat (default 1), lose_notifies (a duration:
// see "Lost notifications and the gateway" below). The scenario's optional
// gateway field is the address alipaysim serves the fake gateway on. Hostile entries are a kind
// (forged_signature, tampered_amount, garbage_body, oversized_body,
// wrong_method) or an object with kind, at, sign_type and charset.
//
// RSA2 and RSA events are signed with Config.Key, MD5 and WAP_MD5 events
// with Config.MD5Key as legacy callbacks for Config.Partner, WAP_0001
// events with Config.WAPKey and their notify_data encrypted to
// Config.MerchantPublicKey. Legacy mapi callbacks name no charset: a
// merchant receiving gbk MD5 callbacks must be configured for it.
//
// # Lost notifications and the gateway
//
// With Config.QueryGateway the simulator serves Alipay's trade-query
// gateway (alipaytest.NewGatewayHandler) over plain HTTP on that address,
// at GatewayURL: it answers alipay.trade.query (signed with Config.Key,
// requests checked with Config.AppPublicKey) and, for MD5 and mobile web
// trades, single_trade_query (Config.MD5Key). It is told each trade's
// status as the story happens in simulated time (step i of a story at
// start + i × interval, whatever the delivery order), so a query sees
// what Alipay would know then; a trade not started yet does not exist.
//
// A trade with lose_notifies loses its notifications in transit for that
// long and the buyer never returns: the merchant can learn of the payment
// only by asking the gateway, and the notifications delivered after the
// window, Alipay's late retries, must then be duplicates. For each such
// notification whose status a query reports (payments and closings, not
// refunds nor WAIT_BUYER_PAY), Result.FoundByQuery says whether a query
// answered that status before the late notification was sent; with a
// gateway, a lost notification not found so is a failure. The simulator
// sees the merchant from outside only: that the late notification, answered
// "success", did not run the business handler again is for the merchant's
// own records to show (the examples print one line per handler run).
//
// With Config.OrdersFile, each trade's order is appended to the shop's
// order book before the trade starts (the buyer's checkout), one line
// "out_trade_no amount" (amount in yuan, "88.88"), so the merchant can check
// callbacks against it and list the orders to reconcile.
package simulator
