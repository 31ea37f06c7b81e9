package alipayprom_test

import (
	"context"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/middleware"
	alipayprom "github.com/alipaynotify/alipaynotify/observe/prometheus"
)

// BenchmarkHandledDelivery measures what the hooks add to one delivery that
// runs the handler: Received, Verified, a claim and a complete, Handled and
// Finished.
func BenchmarkHandledDelivery(b *testing.B) {
	m, err := alipayprom.New(alipayprom.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := m.Hooks()
	ctx := context.Background()
	n := &alipaynotify.Notification{Source: alipaynotify.SourceNotify}
	d := &middleware.Delivery{Notification: n, Outcome: middleware.OutcomeHandled}
	b.ReportAllocs()
	for b.Loop() {
		h.Received(ctx, n.Source)
		h.Verified(ctx, n)
		h.StoreCall(ctx, "claim", time.Millisecond, nil)
		h.Handled(ctx, n, 5*time.Millisecond)
		h.StoreCall(ctx, "complete", time.Millisecond, nil)
		h.Finished(ctx, n.Source, d)
	}
}
