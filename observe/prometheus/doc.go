// Package alipayprom exports the middleware's and the reconciler's hooks as
// Prometheus metrics. It lives in a package of its own so that a merchant who
// does not import it never compiles client_golang.
//
// Build the collector once, register it on your registry, and install its
// hooks (combined with others, such as tracing, by middleware.JoinHooks):
//
//	metrics, err := alipayprom.New(alipayprom.Options{})
//	if err != nil { ... }
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics)
//	mw, err := middleware.New(middleware.Options{Verifier: v, Store: store, Hooks: metrics.Hooks()})
//	http.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// A Reconciler reports its queries with ReconcileHooks
// (reconcile.ReconcilerOptions.Hooks); its deliveries go through the
// middleware's hooks with source "query".
//
// # Metrics
//
// Names carry Options.Namespace ("alipaynotify" by default) as their prefix.
// Every label takes its values from a fixed set: no metric ever carries an
// out_trade_no, a trade_no, a notify_id, an amount, buyer data or error text.
//
// Deliveries (middleware.Hooks):
//
//	alipaynotify_received_total{source}                counter    callbacks that reached Notify or Return past the
//	                                                                method check, and deliveries handed to Deliver/Replay
//	alipaynotify_verified_total{source}                counter    callbacks that passed verification
//	alipaynotify_rejected_total{source,reason}         counter    callbacks refused; reason is middleware.Reason
//	alipaynotify_duplicates_total{source}              counter    deliveries of an event handled before (handler not run)
//	alipaynotify_inflight_wait_seconds{source}         histogram  time a delivery waited behind another delivery of its
//	                                                                event; _count counts the waits
//	alipaynotify_stale_total{source}                   counter    events found stale (a later status was handled)
//	alipaynotify_handled_total{source}                 counter    business handler runs that succeeded
//	alipaynotify_failed_total{source}                  counter    business handler runs that failed or panicked, and
//	                                                                runs that lost their lease
//	alipaynotify_handler_duration_seconds{source,result}
//	                                                   histogram  business handler latency; result is handled or failed
//	alipaynotify_lease_lost_total{source}              counter    deliveries that lost their claim's lease
//	alipaynotify_dead_lettered_total{source}           counter    failed callbacks kept as dead letters
//	alipaynotify_dead_letters_evicted_total            counter    older dead letters dropped to make room
//	alipaynotify_forgotten_total                       counter    handled events an operator forgot (Middleware.Forget)
//	alipaynotify_deliveries_total{source,outcome}      counter    finished deliveries by outcome: handled, duplicate,
//	                                                                in_flight, failed, skipped_stale, rejected
//	alipaynotify_deliveries_in_progress                gauge      deliveries received and not yet finished
//	alipaynotify_store_errors_total{op}                counter    dedupe store failures
//	alipaynotify_store_call_duration_seconds{op,result}
//	                                                   histogram  dedupe store call latency; result is ok or error
//
// Label values:
//
//   - source: notify, return, query (a replayed dead letter counts under the
//     source of the callback it stored; a source the library does not define
//     would count as other). The series labelled by source alone start at
//     zero for all three, so that rate() sees their first increment.
//   - reason: a middleware.Reason (signature, malformed, charset, sign_type,
//     ambiguous, amount, expired, app_id, partner, seller_id, remote_check,
//     order, trade_no_conflict, body_too_large, not_verified, other).
//     Reasons after the signature (order, trade_no_conflict, expired, app_id,
//     ...) come from Alipay itself: they are money problems worth an alert.
//   - outcome: middleware.Outcome in snake case.
//   - op: the store call: claim, extend, complete, release, deadletter,
//     clearfailure, deadletters, lookup, forget (other for any op this
//     package does not know).
//
// The counters add up. A delivery that reaches the business handler adds one
// to handled_total or failed_total; every received delivery, once over, adds
// one to deliveries_total. So, once the deliveries of a period are over,
// received_total equals the sum of deliveries_total over its outcomes, and
// rejected_total without reason trade_no_conflict (refused after
// verification, with outcome failed) equals deliveries_total{outcome="rejected"}.
//
// Reconciliation (reconcile.Hooks):
//
//	alipaynotify_reconcile_queries_total{state,error}  counter    trade queries sent, by what they learnt
//	alipaynotify_reconcile_ticks_total{result}         counter    ticks of Reconciler.Run; result is ok or pending_error
//	alipaynotify_reconcile_tick_duration_seconds       histogram  tick duration
//	alipaynotify_reconcile_pending_orders              gauge      orders the last tick listed
//	alipaynotify_reconcile_unqueried_total             counter    listed orders left unasked when a tick's context ended
//
// state is no_answer, not_found, not_paid, paid, closed (reconcile.State in
// snake case); error is none, or the class of the error Reconcile returned:
// unreachable, http_status, response_too_large, gateway, unknown_status,
// bad_answer, not_delivered, context, a middleware.Reason for an answer that
// failed verification (signature, malformed, ...), or other.
package alipayprom
