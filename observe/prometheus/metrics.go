package alipayprom

import (
	"context"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// DefaultNamespace prefixes every metric name unless Options.Namespace says
// otherwise.
const DefaultNamespace = "alipaynotify"

// Default histogram buckets, in seconds.
var (
	// DefaultHandlerBuckets suit a business handler that writes to a
	// database: 5 ms to 30 s (the middleware's default lease).
	DefaultHandlerBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// DefaultStoreBuckets suit a dedupe store on the local network:
	// 0.5 ms to 2.5 s (the middleware's default store timeout is 2 s).
	DefaultStoreBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	// DefaultWaitBuckets suit in-flight waits: 10 ms to 10 s (the
	// middleware's default WaitInFlight is 5 s).
	DefaultWaitBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	// DefaultTickBuckets suit reconciliation ticks: 10 ms to 5 min.
	DefaultTickBuckets = []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300}
)

// Options configure the metrics. The zero value is ready to use; New
// validates the options once.
type Options struct {
	// Namespace prefixes every metric name ("<Namespace>_handled_total").
	// It must be a valid metric name. Default: DefaultNamespace.
	Namespace string
	// ConstLabels are added to every metric, for example the instance's
	// shop when several share one registry. Their names must be valid label
	// names other than the labels of this package (source, reason, outcome,
	// op, result, state, error); their values must be fixed and must never
	// carry payment data.
	ConstLabels prometheus.Labels
	// HandlerBuckets are the buckets of handler_duration_seconds, in
	// seconds, strictly increasing. Default: DefaultHandlerBuckets.
	HandlerBuckets []float64
	// StoreBuckets are the buckets of store_call_duration_seconds.
	// Default: DefaultStoreBuckets.
	StoreBuckets []float64
	// WaitBuckets are the buckets of inflight_wait_seconds. Default:
	// DefaultWaitBuckets.
	WaitBuckets []float64
	// TickBuckets are the buckets of reconcile_tick_duration_seconds.
	// Default: DefaultTickBuckets.
	TickBuckets []float64
}

// labels of this package: ConstLabels must not reuse them.
var ownLabels = []string{"source", "reason", "outcome", "op", "result", "state", "error"}

// sources are the sources whose per-source series exist from the start.
var sources = [...]alipaynotify.Source{alipaynotify.SourceNotify, alipaynotify.SourceReturn, alipaynotify.SourceQuery}

// Metrics collects the middleware's and the reconciler's hooks as Prometheus
// metrics. It is a prometheus.Collector: register it on your registry. Create
// it with New; it is safe for concurrent use.
type Metrics struct {
	received, verified, duplicates, stale, handled, failed *prometheus.CounterVec
	leaseLost, deadLettered                                *prometheus.CounterVec
	rejected, deliveries, storeErrors                      *prometheus.CounterVec
	deadLettersEvicted, forgotten                          prometheus.Counter
	inProgress                                             prometheus.Gauge
	wait, handlerDuration, storeDuration                   *prometheus.HistogramVec

	queries, ticks *prometheus.CounterVec
	tickDuration   prometheus.Histogram
	pending        prometheus.Gauge
	unqueried      prometheus.Counter
	collectors     []prometheus.Collector
	bySource       [len(sources)]sourceMetrics
}

// sourceMetrics are the children of one source, looked up once.
type sourceMetrics struct {
	received, verified, duplicates, stale, handled, failed, leaseLost, deadLettered prometheus.Counter
	wait, handledDuration, failedDuration                                           prometheus.Observer
}

// New validates opts and builds the metrics. Its errors wrap
// alipaynotify.ErrConfig (as *alipaynotify.FieldError naming the option).
func New(opts Options) (*Metrics, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if !validName(opts.Namespace) {
		return nil, configError("Namespace", "not a valid metric name: want letters, digits and underscores, not starting with a digit")
	}
	for name, value := range opts.ConstLabels {
		switch {
		case !validName(name) || len(name) >= 2 && name[:2] == "__":
			return nil, configError("ConstLabels", "label name "+strconv.Quote(name)+" is not a valid label name")
		case slices.Contains(ownLabels, name):
			return nil, configError("ConstLabels", "label name "+strconv.Quote(name)+" is one of this package's labels")
		case !utf8.ValidString(value):
			return nil, configError("ConstLabels", "the value of "+strconv.Quote(name)+" is not valid UTF-8")
		}
	}
	var err error
	if opts.HandlerBuckets, err = buckets("HandlerBuckets", opts.HandlerBuckets, DefaultHandlerBuckets); err != nil {
		return nil, err
	}
	if opts.StoreBuckets, err = buckets("StoreBuckets", opts.StoreBuckets, DefaultStoreBuckets); err != nil {
		return nil, err
	}
	if opts.WaitBuckets, err = buckets("WaitBuckets", opts.WaitBuckets, DefaultWaitBuckets); err != nil {
		return nil, err
	}
	if opts.TickBuckets, err = buckets("TickBuckets", opts.TickBuckets, DefaultTickBuckets); err != nil {
		return nil, err
	}

	m := &Metrics{}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: opts.Namespace, Name: name, Help: help, ConstLabels: opts.ConstLabels}, labels)
		m.collectors = append(m.collectors, c)
		return c
	}
	counter1 := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: opts.Namespace, Name: name, Help: help, ConstLabels: opts.ConstLabels})
		m.collectors = append(m.collectors, c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: opts.Namespace, Name: name, Help: help, ConstLabels: opts.ConstLabels})
		m.collectors = append(m.collectors, g)
		return g
	}
	histogram := func(name, help string, b []float64, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: opts.Namespace, Name: name, Help: help, ConstLabels: opts.ConstLabels, Buckets: b}, labels)
		m.collectors = append(m.collectors, h)
		return h
	}

	m.received = counter("received_total", "Callbacks received on notify_url and return_url (past the method check), and deliveries handed to Deliver or Replay.", "source")
	m.verified = counter("verified_total", "Callbacks that passed verification.", "source")
	m.rejected = counter("rejected_total", "Callbacks refused, by reason (middleware.Reason).", "source", "reason")
	m.duplicates = counter("duplicates_total", "Deliveries of an event handled before: the business handler did not run.", "source")
	m.wait = histogram("inflight_wait_seconds", "Time a delivery waited behind another delivery of the same event.", opts.WaitBuckets, "source")
	m.stale = counter("stale_total", "Events found stale: a later status of the trade was handled already.", "source")
	m.handled = counter("handled_total", "Business handler runs that succeeded.", "source")
	m.failed = counter("failed_total", "Business handler runs that failed, panicked or lost their lease.", "source")
	m.handlerDuration = histogram("handler_duration_seconds", "Business handler latency, by result (handled or failed).", opts.HandlerBuckets, "source", "result")
	m.leaseLost = counter("lease_lost_total", "Deliveries that lost their claim's lease.", "source")
	m.deadLettered = counter("dead_lettered_total", "Callbacks whose handler failed, kept as dead letters.", "source")
	m.deadLettersEvicted = counter1("dead_letters_evicted_total", "Older dead letters dropped to make room for new ones.")
	m.forgotten = counter1("forgotten_total", "Handled events an operator forgot (Middleware.Forget).")
	m.deliveries = counter("deliveries_total", "Finished deliveries, by outcome.", "source", "outcome")
	m.inProgress = gauge("deliveries_in_progress", "Deliveries received and not yet finished.")
	m.storeErrors = counter("store_errors_total", "Dedupe store failures, by operation.", "op")
	m.storeDuration = histogram("store_call_duration_seconds", "Dedupe store call latency, by operation and result (ok or error).", opts.StoreBuckets, "op", "result")

	m.queries = counter("reconcile_queries_total", "Trade queries sent by the reconciler, by what they learnt and the class of their error (none when they succeeded).", "state", "error")
	m.ticks = counter("reconcile_ticks_total", "Ticks of Reconciler.Run, by result (ok, or pending_error when the orders could not be listed).", "result")
	m.tickDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: opts.Namespace, Name: "reconcile_tick_duration_seconds",
		Help: "Duration of the reconciler's ticks.", ConstLabels: opts.ConstLabels, Buckets: opts.TickBuckets})
	m.collectors = append(m.collectors, m.tickDuration)
	m.pending = gauge("reconcile_pending_orders", "Distinct orders the last tick of the reconciler listed.")
	m.unqueried = counter1("reconcile_unqueried_total", "Listed orders not asked about because the tick's context ended first.")

	for i, src := range sources {
		s := string(src)
		m.bySource[i] = sourceMetrics{
			received:        m.received.WithLabelValues(s),
			verified:        m.verified.WithLabelValues(s),
			duplicates:      m.duplicates.WithLabelValues(s),
			stale:           m.stale.WithLabelValues(s),
			handled:         m.handled.WithLabelValues(s),
			failed:          m.failed.WithLabelValues(s),
			leaseLost:       m.leaseLost.WithLabelValues(s),
			deadLettered:    m.deadLettered.WithLabelValues(s),
			wait:            m.wait.WithLabelValues(s),
			handledDuration: m.handlerDuration.WithLabelValues(s, "handled"),
			failedDuration:  m.handlerDuration.WithLabelValues(s, "failed"),
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors {
		c.Collect(ch)
	}
}

// source returns the children of src. A source this package does not know
// is counted as "other", so that the label stays bounded.
func (m *Metrics) source(src alipaynotify.Source) *sourceMetrics {
	for i, s := range sources {
		if s == src {
			return &m.bySource[i]
		}
	}
	return m.other()
}

func (m *Metrics) other() *sourceMetrics {
	return &sourceMetrics{
		received:        m.received.WithLabelValues("other"),
		verified:        m.verified.WithLabelValues("other"),
		duplicates:      m.duplicates.WithLabelValues("other"),
		stale:           m.stale.WithLabelValues("other"),
		handled:         m.handled.WithLabelValues("other"),
		failed:          m.failed.WithLabelValues("other"),
		leaseLost:       m.leaseLost.WithLabelValues("other"),
		deadLettered:    m.deadLettered.WithLabelValues("other"),
		wait:            m.wait.WithLabelValues("other"),
		handledDuration: m.handlerDuration.WithLabelValues("other", "handled"),
		failedDuration:  m.handlerDuration.WithLabelValues("other", "failed"),
	}
}

// sourceLabel is src as a label value.
func sourceLabel(src alipaynotify.Source) string {
	for _, s := range sources {
		if s == src {
			return string(s)
		}
	}
	return "other"
}

// sourceOf is the source label of a hook's notification.
func sourceOf(n *alipaynotify.Notification) alipaynotify.Source {
	if n == nil {
		return ""
	}
	return n.Source
}

// Hooks returns the middleware hooks that feed the metrics. Install them in
// middleware.Options.Hooks, alone or with others through
// middleware.JoinHooks. Every Hooks value of one Metrics counts into the
// same metrics.
func (m *Metrics) Hooks() middleware.Hooks {
	return middleware.Hooks{
		Received: func(_ context.Context, src alipaynotify.Source) context.Context {
			m.inProgress.Inc()
			m.source(src).received.Inc()
			return nil // the request's context stays: no copy of the request
		},
		Verified: func(_ context.Context, n *alipaynotify.Notification) {
			m.source(sourceOf(n)).verified.Inc()
		},
		Rejected: func(_ context.Context, r middleware.Rejection) {
			m.rejected.WithLabelValues(sourceLabel(r.Source), word(string(r.Reason), "other")).Inc()
		},
		Duplicate: func(_ context.Context, n *alipaynotify.Notification) {
			m.source(sourceOf(n)).duplicates.Inc()
		},
		WaitedInFlight: func(_ context.Context, n *alipaynotify.Notification, d time.Duration) {
			m.source(sourceOf(n)).wait.Observe(d.Seconds())
		},
		Stale: func(_ context.Context, n *alipaynotify.Notification) {
			m.source(sourceOf(n)).stale.Inc()
		},
		Handled: func(_ context.Context, n *alipaynotify.Notification, d time.Duration) {
			s := m.source(sourceOf(n))
			s.handled.Inc()
			s.handledDuration.Observe(d.Seconds())
		},
		Failed: func(_ context.Context, n *alipaynotify.Notification, _ error, d time.Duration) {
			s := m.source(sourceOf(n))
			s.failed.Inc()
			s.failedDuration.Observe(d.Seconds())
		},
		StoreError: func(_ context.Context, op string, _ error) {
			m.storeErrors.WithLabelValues(word(op, "other")).Inc()
		},
		StoreCall: func(_ context.Context, op string, d time.Duration, err error) {
			result := "ok"
			if err != nil {
				result = "error"
			}
			m.storeDuration.WithLabelValues(word(op, "other"), result).Observe(d.Seconds())
		},
		LeaseLost: func(_ context.Context, n *alipaynotify.Notification) {
			m.source(sourceOf(n)).leaseLost.Inc()
		},
		DeadLettered: func(_ context.Context, n *alipaynotify.Notification, rec dedupe.Recorded) {
			m.source(sourceOf(n)).deadLettered.Inc()
			if rec.Evicted > 0 {
				m.deadLettersEvicted.Add(float64(rec.Evicted))
			}
		},
		Forgotten: func(context.Context, middleware.Forgotten) {
			m.forgotten.Inc()
		},
		Finished: func(_ context.Context, src alipaynotify.Source, d *middleware.Delivery) {
			m.inProgress.Dec()
			outcome := "unknown"
			if d != nil {
				outcome = outcomeLabel(d.Outcome)
			}
			m.deliveries.WithLabelValues(sourceLabel(src), outcome).Inc()
		},
	}
}

// outcomeLabel is o in snake case.
func outcomeLabel(o middleware.Outcome) string {
	switch o {
	case middleware.OutcomeHandled:
		return "handled"
	case middleware.OutcomeDuplicate:
		return "duplicate"
	case middleware.OutcomeInFlight:
		return "in_flight"
	case middleware.OutcomeFailed:
		return "failed"
	case middleware.OutcomeSkippedStale:
		return "skipped_stale"
	case middleware.OutcomeRejected:
		return "rejected"
	}
	return "unknown"
}

// word returns s when it looks like one of the library's own labels (a
// middleware.Reason, a store operation: lower-case letters and underscores,
// at most 32 of them), else def. The library passes only its constants; this
// keeps the label bounded whatever calls the hooks.
func word(s, def string) string {
	if s == "" || len(s) > 32 {
		return def
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && c != '_' {
			return def
		}
	}
	return s
}

// validName reports whether s is a metric or label name in the classic
// charset: [a-zA-Z_][a-zA-Z0-9_]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// buckets validates b, or returns a copy of def when b is empty.
func buckets(field string, b, def []float64) ([]float64, error) {
	if len(b) == 0 {
		return append([]float64(nil), def...), nil
	}
	for i, v := range b {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0) || v <= 0:
			return nil, configError(field, "every bucket must be a positive, finite number of seconds")
		case i > 0 && v <= b[i-1]:
			return nil, configError(field, "buckets must be strictly increasing")
		}
	}
	return append([]float64(nil), b...), nil
}

func configError(field, reason string) error {
	return &alipaynotify.FieldError{Field: field, Reason: reason, Err: alipaynotify.ErrConfig}
}
