// Package reconcile asks Alipay for the status of a merchant's trades: the
// trade query Alipay tells merchants to make when a payment notification
// never came (掉单), and before cancelling an order whose payment state is
// unknown.
//
// A Client sends alipay.trade.query (open platform) or single_trade_query
// (legacy mapi), signed with the merchant's key, and verifies the answer
// with the Verifier that verifies the merchant's callbacks: the answer
// becomes the same typed alipaynotify.Notification, with Source
// alipaynotify.SourceQuery, whose Event is the one the notification of the
// same status has. docs/protocol.md and docs/protocol-legacy.md ("Trade
// query") describe both wire formats.
//
// A Reconciler hands what the queries learn to the middleware, as one more
// source of the event: middleware.Deliver runs the business handler through
// the same claim → handler → done path as the notify and return callbacks,
// so whichever of notify, return and query sees a status first runs the
// handler, and the others are duplicates. Event identity and stale ranking
// are the callbacks': a query that reports TRADE_FINISHED before any
// TRADE_SUCCESS was handled delivers TRADE_FINISHED, and the late
// TRADE_SUCCESS notify is then delivered once, flagged Stale (or skipped
// with middleware.Options.SkipStale). A query reports trade statuses only,
// never refunds: refunds stay the events of their notifications.
//
// What the Reconciler delivers: the statuses in which the buyer has paid
// (TRADE_SUCCESS, TRADE_FINISHED, the legacy escrow statuses) and
// TRADE_CLOSED. WAIT_BUYER_PAY is "not paid yet" and is not delivered (the
// open platform does not send it to notify_url by default either); a trade
// Alipay does not know (ACQ.TRADE_NOT_EXIST) is "nothing yet", not an
// error. Gateway errors, timeouts and answers that fail verification are
// returned as errors, logged and reported to the hooks, and never delivered.
//
// Two ways to use it:
//
//   - Reconciler.Run asks about the orders Options.Pending lists (which
//     orders is the merchant's call: say, those unpaid for more than ten
//     minutes) on a jittered schedule, each once a tick, with bounded
//     concurrency and a rate limit, until its context ends.
//   - Reconciler.Reconcile asks about one order now, for example before
//     cancelling it.
package reconcile
