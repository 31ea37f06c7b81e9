package alipayprom_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/middleware"
	alipayprom "github.com/alipaynotify/alipaynotify/observe/prometheus"
)

// The metrics are a prometheus.Collector to register, and middleware hooks
// to install; /metrics serves them.
func Example() {
	metrics, err := alipayprom.New(alipayprom.Options{})
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics)

	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
		AppID:            alipaytest.DefaultAppID, // yours, and Alipay's public key
		AlipayPublicKeys: []string{alipaytest.TestKey().PublicKeyPEM()},
	})
	if err != nil {
		log.Fatal(err)
	}
	mw, err := middleware.New(middleware.Options{
		Verifier: v,
		Logger:   slog.New(slog.DiscardHandler),
		Hooks:    metrics.Hooks(), // with tracing: middleware.JoinHooks(metrics.Hooks(), ...)
	})
	if err != nil {
		log.Fatal(err)
	}
	markPaid := middleware.HandlerFunc(func(context.Context, *alipaynotify.Notification) error { return nil })
	mux := http.NewServeMux()
	mux.Handle("POST /alipay/notify", mw.Notify(markPaid))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	// Play Alipay: a payment delivered twice, and a forgery.
	paid := alipaytest.NewSigner(nil).Paid("ORDER-1", "88.88")
	for _, m := range []*alipaytest.Message{paid, paid, paid.Tampered("total_amount", "0.01")} {
		mux.ServeHTTP(httptest.NewRecorder(), m.Request("/alipay/notify"))
	}

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(w.Body.String(), "\n") {
		for _, name := range []string{"handled_total", "duplicates_total", "rejected_total"} {
			if strings.HasPrefix(line, "alipaynotify_"+name+`{`) && !strings.HasSuffix(line, " 0") {
				fmt.Println(line)
			}
		}
	}
	// Output:
	// alipaynotify_duplicates_total{source="notify"} 1
	// alipaynotify_handled_total{source="notify"} 1
	// alipaynotify_rejected_total{reason="signature",source="notify"} 1
}
