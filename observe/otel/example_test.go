package alipayotel_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/internal/exampletest"
	"github.com/alipaynotify/alipaynotify/middleware"
	alipayotel "github.com/alipaynotify/alipaynotify/observe/otel"
)

// New traces every delivery: install its Hooks in the middleware (joined
// with others through middleware.JoinHooks). Here the spans go to an
// in-memory recorder; a real program sets up its exporter and passes its
// TracerProvider, or leaves it to the global one.
func ExampleNew() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	tracing := alipayotel.New(alipayotel.Options{TracerProvider: tp})
	m, err := middleware.New(middleware.Options{
		Verifier: exampletest.Verifier(),
		Logger:   slog.New(slog.DiscardHandler),
		Hooks:    middleware.JoinHooks(tracing.Hooks() /*, metrics.Hooks() */),
	})
	if err != nil {
		log.Fatal(err)
	}
	notify := m.Notify(middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		return nil // mark the order paid
	}))

	paid := alipaytest.NewSigner(nil).Paid("ORDER-1", "88.88")
	for range 2 {
		notify.ServeHTTP(httptest.NewRecorder(), paid.Request("/alipay/notify"))
	}
	for _, s := range spans.Ended() {
		if s.Parent().IsValid() {
			continue // the store calls
		}
		for _, kv := range s.Attributes() {
			if kv.Key == alipayotel.AttrOutcome {
				fmt.Println(s.Name(), kv.Value.String())
			}
		}
	}
	// Output:
	// alipaynotify.notify handled
	// alipaynotify.notify duplicate
}
