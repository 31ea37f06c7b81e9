package alipayprom

import (
	"context"
	"errors"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/middleware"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

// ReconcileHooks returns the hooks that count a Reconciler's queries and
// ticks: install them in reconcile.ReconcilerOptions.Hooks. The deliveries
// the queries lead to are counted by Hooks, with source "query".
func (m *Metrics) ReconcileHooks() reconcile.Hooks {
	return reconcile.Hooks{
		Queried: func(_ context.Context, r reconcile.Result, err error) {
			m.queries.WithLabelValues(stateLabel(r.State), queryErrorLabel(err)).Inc()
		},
		TickDone: func(_ context.Context, s reconcile.TickStats) {
			result := "ok"
			if s.Err != nil {
				result = "pending_error"
			}
			m.ticks.WithLabelValues(result).Inc()
			m.tickDuration.Observe(s.Duration.Seconds())
			if s.Err == nil {
				m.pending.Set(float64(s.Listed))
			}
			if s.Unqueried > 0 {
				m.unqueried.Add(float64(s.Unqueried))
			}
		},
	}
}

// stateLabel is s in snake case.
func stateLabel(s reconcile.State) string {
	switch s {
	case reconcile.StateNoAnswer:
		return "no_answer"
	case reconcile.StateNotFound:
		return "not_found"
	case reconcile.StateNotPaid:
		return "not_paid"
	case reconcile.StatePaid:
		return "paid"
	case reconcile.StateClosed:
		return "closed"
	}
	return "unknown"
}

// queryErrors are the classes of a reconciliation's error, in the order
// checked: the reconciler's own first (ErrNotDelivered may wrap a
// delivery's error), then the transport's, then the gateway's.
var queryErrors = [...]struct {
	err   error
	label string
}{
	{reconcile.ErrNotDelivered, "not_delivered"},
	{reconcile.ErrUnknownStatus, "unknown_status"},
	{reconcile.ErrBadAnswer, "bad_answer"},
	{reconcile.ErrUnreachable, "unreachable"},
	{reconcile.ErrHTTPStatus, "http_status"},
	{reconcile.ErrResponseTooLarge, "response_too_large"},
	{alipaynotify.ErrGateway, "gateway"},
	{context.Canceled, "context"},
	{context.DeadlineExceeded, "context"},
}

// queryErrorLabel classifies the error of a reconciliation: none, one of
// queryErrors, or the middleware.Reason of an answer that failed
// verification.
func queryErrorLabel(err error) string {
	if err == nil {
		return "none"
	}
	for _, c := range queryErrors {
		if errors.Is(err, c.err) {
			return c.label
		}
	}
	return word(string(middleware.ReasonOf(err)), "other")
}
