package alipayprom

import "github.com/prometheus/client_golang/prometheus"

// ForTest returns the collector of the metric name (without the namespace),
// or its child with labels when the metric has labels.
func (m *Metrics) ForTest(name string, labels ...string) prometheus.Collector {
	var c prometheus.Collector
	switch name {
	case "received_total":
		c = m.received
	case "verified_total":
		c = m.verified
	case "rejected_total":
		c = m.rejected
	case "duplicates_total":
		c = m.duplicates
	case "inflight_wait_seconds":
		c = m.wait
	case "stale_total":
		c = m.stale
	case "handled_total":
		c = m.handled
	case "failed_total":
		c = m.failed
	case "handler_duration_seconds":
		c = m.handlerDuration
	case "lease_lost_total":
		c = m.leaseLost
	case "dead_lettered_total":
		c = m.deadLettered
	case "dead_letters_evicted_total":
		c = m.deadLettersEvicted
	case "forgotten_total":
		c = m.forgotten
	case "deliveries_total":
		c = m.deliveries
	case "deliveries_in_progress":
		c = m.inProgress
	case "store_errors_total":
		c = m.storeErrors
	case "store_call_duration_seconds":
		c = m.storeDuration
	case "reconcile_queries_total":
		c = m.queries
	case "reconcile_ticks_total":
		c = m.ticks
	case "reconcile_tick_duration_seconds":
		c = m.tickDuration
	case "reconcile_pending_orders":
		c = m.pending
	case "reconcile_unqueried_total":
		c = m.unqueried
	default:
		panic("no metric " + name)
	}
	if len(labels) == 0 {
		return c
	}
	switch v := c.(type) {
	case *prometheus.CounterVec:
		return v.WithLabelValues(labels...)
	case *prometheus.HistogramVec:
		return v.WithLabelValues(labels...).(prometheus.Histogram)
	}
	panic(name + " has no labels")
}
