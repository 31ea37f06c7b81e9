// Package promwiring is the README's Prometheus snippet.
package promwiring

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/alipaynotify/alipaynotify/middleware"
	alipayprom "github.com/alipaynotify/alipaynotify/observe/prometheus"
)

// WithMetrics adds the metrics hooks to the middleware's options and serves
// the metrics at GET /metrics on mux.
func WithMetrics(opts middleware.Options, mux *http.ServeMux) (middleware.Options, error) {
	metrics, err := alipayprom.New(alipayprom.Options{}) // names start with "alipaynotify_"
	if err != nil {
		return opts, err
	}
	reg := prometheus.NewRegistry() // or your own
	reg.MustRegister(metrics)
	opts.Hooks = middleware.JoinHooks(opts.Hooks, metrics.Hooks()) // tracing's hooks join here too
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return opts, nil
}
