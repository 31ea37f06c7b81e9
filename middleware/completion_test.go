package middleware_test

import (
	"testing"

	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// TestCompleteRecordsSourceAndStale: the done state of a handled event
// records how its callback arrived and whether it was stale, as an
// Inspector shows them.
func TestCompleteRecordsSourceAndStale(t *testing.T) {
	t.Parallel()
	store := dedupe.NewMemoryStore()
	t.Cleanup(func() { _ = store.Close() })
	f := newFixtureOn(t, store, middleware.Options{})
	trade := f.signer.NewTrade("ORDER-LOOKUP", "1.00")
	for _, m := range []*alipaytest.Message{trade.Finished(), trade.Paid()} {
		if code, body := f.notify(t, m); code != 200 || body != "success" {
			t.Fatalf("notify: %d %q", code, body)
		}
	}
	rec, err := store.Lookup(t.Context(), dedupe.TradeOf(alipaytest.DefaultAppID, "ORDER-LOOKUP"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"TRADE_FINISHED": false, "TRADE_SUCCESS": true} // ID: stale
	if len(rec.Events) != len(want) {
		t.Fatalf("Lookup = %+v, want %d events", rec, len(want))
	}
	for _, e := range rec.Events {
		if stale, ok := want[e.ID]; !ok || e.State != dedupe.RecordDone || e.Source != dedupe.SourceNotify || e.Stale != stale {
			t.Errorf("Lookup event %+v, want done from notify, stale %v", e, stale)
		}
	}
}
