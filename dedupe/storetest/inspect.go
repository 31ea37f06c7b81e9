package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/dedupe"
)

// clockSkew is how far a store's clock (which stamps EventRecord.HandledAt
// and DeadLetter.First and Last) may be from the test's.
const clockSkew = time.Second

// inspectorTests are the subtests Run adds for a store that implements
// dedupe.Inspector.
var inspectorTests = []struct {
	name string
	test func(t *testing.T, s dedupe.Store, in dedupe.Inspector)
}{
	{"LookupShowsEvents", testLookupShowsEvents},
	{"LookupUnknownTrade", testLookupUnknownTrade},
	{"ForgetOneEvent", testForgetOneEvent},
	{"InspectorInvalidArguments", testInspectorInvalidArguments},
}

// completeWith completes ev with done and requires it to succeed.
func completeWith(t *testing.T, s dedupe.Store, ev dedupe.Event, token string, done dedupe.Completion) {
	t.Helper()
	if ok, err := s.Complete(t.Context(), ev, token, done); err != nil || !ok {
		t.Fatalf("Complete = %v, %v; want true, nil", ok, err)
	}
}

// lookup calls Lookup and fails the test on an error.
func lookup(t *testing.T, in dedupe.Inspector, trade string) dedupe.TradeRecord {
	t.Helper()
	rec, err := in.Lookup(t.Context(), trade)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	return rec
}

// recordIDs returns the IDs of rec's events, in order.
func recordIDs(rec dedupe.TradeRecord) []string {
	ids := make([]string, len(rec.Events))
	for i, e := range rec.Events {
		ids[i] = e.ID
	}
	return ids
}

// within reports whether at lies in [from, to], widened by clockSkew.
func within(at, from, to time.Time) bool {
	return !at.Before(from.Add(-clockSkew)) && !at.After(to.Add(clockSkew))
}

func testLookupShowsEvents(t *testing.T, s dedupe.Store, in dedupe.Inspector) {
	ctx := t.Context()
	trade := newTrade(t)
	refundID := "TRADE_SUCCESS|REFUND_SUCCESS|2024-R1"
	paid := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Mark: "PAID", Binding: "2024-A"}
	refund := dedupe.Event{Trade: trade, ID: refundID, Mark: "reached:TRADE_SUCCESS"}
	other := dedupe.Event{Trade: trade, ID: "WAIT_BUYER_PAY"}
	finished := dedupe.Event{Trade: trade, ID: "TRADE_FINISHED"}
	released := dedupe.Event{Trade: trade, ID: "TRADE_CLOSED"}

	start := time.Now()
	completeWith(t, s, paid, mustClaimed(t, s, paid, longLease), dedupe.Completion{Retention: longRetention, Source: dedupe.SourceReturn, Stale: true})
	completeWith(t, s, refund, mustClaimed(t, s, refund, longLease), dedupe.Completion{Retention: longRetention, Source: dedupe.SourceReplay})
	completeWith(t, s, other, mustClaimed(t, s, other, longLease), dedupe.Completion{Retention: longRetention, Source: "cron job"})
	mustClaimed(t, s, finished, longLease)
	token := mustClaimed(t, s, released, longLease)
	if ok, err := s.Release(ctx, released, token); err != nil || !ok {
		t.Fatalf("Release = %v, %v", ok, err)
	}
	end := time.Now()

	rec := lookup(t, in, trade)
	// Sorted by ID; the Marks and the released claim are not events.
	want := []string{"TRADE_FINISHED", "TRADE_SUCCESS", refundID, "WAIT_BUYER_PAY"}
	if got := recordIDs(rec); !slices.Equal(got, want) {
		t.Fatalf("Lookup events %q, want %q", got, want)
	}
	if !rec.Bound {
		t.Error("Lookup: Bound false after an event completed with a Binding")
	}
	for _, tc := range []struct {
		i      int
		source string
		stale  bool
	}{{1, dedupe.SourceReturn, true}, {2, dedupe.SourceReplay, false}, {3, dedupe.SourceOther, false}} {
		e := rec.Events[tc.i]
		if e.State != dedupe.RecordDone || e.Source != tc.source || e.Stale != tc.stale || e.LeaseLeft != 0 || e.Legacy {
			t.Errorf("Lookup %s = %+v, want done, source %q, stale %v", e.ID, e, tc.source, tc.stale)
		}
		if !within(e.HandledAt, start, end) {
			t.Errorf("Lookup %s: HandledAt %v, want between %v and %v", e.ID, e.HandledAt, start, end)
		}
	}
	if e := rec.Events[0]; e.State != dedupe.RecordInFlight || e.LeaseLeft < longLease/2 || e.LeaseLeft > longLease || !e.HandledAt.IsZero() || e.Source != "" {
		t.Errorf("Lookup of the claimed event = %+v, want in flight with most of %v left", e, longLease)
	}

	// Extend shows in the lease left.
	extended := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	token = mustClaimed(t, s, extended, time.Second)
	if ok, err := s.Extend(ctx, extended, token, longLease); err != nil || !ok {
		t.Fatalf("Extend = %v, %v", ok, err)
	}
	if rec := lookup(t, in, extended.Trade); len(rec.Events) != 1 || rec.Events[0].LeaseLeft < longLease/2 || rec.Bound {
		t.Errorf("Lookup after Extend to %v = %+v", longLease, rec)
	}
}

func testLookupUnknownTrade(t *testing.T, _ dedupe.Store, in dedupe.Inspector) {
	if rec := lookup(t, in, newTrade(t)); len(rec.Events) != 0 || rec.Bound {
		t.Errorf("Lookup of an unknown trade = %+v, want empty", rec)
	}
}

func testForgetOneEvent(t *testing.T, s dedupe.Store, in dedupe.Inspector) {
	ctx := t.Context()
	trade := newTrade(t)
	paid := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Mark: "PAID", Binding: "2024-A"}
	refund := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS|REFUND_SUCCESS|2024-R1"}
	busy := dedupe.Event{Trade: trade, ID: "TRADE_FINISHED"}
	mustComplete(t, s, paid, mustClaimed(t, s, paid, longLease), longRetention, true)
	mustComplete(t, s, refund, mustClaimed(t, s, refund, longLease), longRetention, true)
	mustClaimed(t, s, busy, longLease)

	forget := func(id string, want bool) {
		t.Helper()
		if ok, err := in.Forget(ctx, trade, id); err != nil || ok != want {
			t.Fatalf("Forget(%q) = %v, %v; want %v, nil", id, ok, err, want)
		}
	}
	forget(paid.ID, true)
	forget(paid.ID, false)        // nothing left to forget
	forget("TRADE_CLOSED", false) // never seen
	forget(busy.ID, false)        // a claim is not a done state
	forget("PAID", false)         // a Mark is not an event

	// The next delivery runs again; nothing else changed.
	token := mustClaimed(t, s, dedupe.Event{Trade: trade, ID: paid.ID, Binding: "2024-A"}, longLease)
	wantState(t, s, refund, dedupe.Done)
	wantState(t, s, busy, dedupe.Busy)
	wantStale(t, s, dedupe.Event{Trade: trade, ID: "WAIT_BUYER_PAY", Outranked: []string{"PAID"}}, true)
	wantState(t, s, dedupe.Event{Trade: trade, ID: "TRADE_CLOSED", Binding: "2024-B"}, dedupe.Conflict)
	if rec := lookup(t, in, trade); !slices.Equal(recordIDs(rec), []string{busy.ID, paid.ID, refund.ID, "WAIT_BUYER_PAY"}) || rec.Events[1].State != dedupe.RecordInFlight {
		t.Errorf("Lookup after Forget and a new claim = %+v", rec)
	}
	mustComplete(t, s, paid, token, longRetention, true)
	wantState(t, s, paid, dedupe.Done)
	// Another trade's event of the same ID is its own.
	forget(paid.ID, true)
	if ok, err := in.Forget(ctx, newTrade(t), refund.ID); err != nil || ok {
		t.Errorf("Forget in another trade = %v, %v; want false, nil", ok, err)
	}
	wantState(t, s, refund, dedupe.Done)
}

func testInspectorInvalidArguments(t *testing.T, _ dedupe.Store, in dedupe.Inspector) {
	ctx := t.Context()
	if _, err := in.Lookup(ctx, ""); !errors.Is(err, dedupe.ErrInvalidArgument) {
		t.Errorf("Lookup of an empty trade: %v, want ErrInvalidArgument", err)
	}
	for _, tc := range []struct{ trade, id string }{{"", "TRADE_SUCCESS"}, {newTrade(t), ""}} {
		if _, err := in.Forget(ctx, tc.trade, tc.id); !errors.Is(err, dedupe.ErrInvalidArgument) {
			t.Errorf("Forget(%q, %q): %v, want ErrInvalidArgument", tc.trade, tc.id, err)
		}
	}
}

// testLookupDropsExpired: a claim whose lease ran out and an event whose
// retention ran out are not shown.
func testLookupDropsExpired(t *testing.T, s dedupe.Store) (afterExpiry func(t *testing.T)) {
	in, ok := s.(dedupe.Inspector)
	if !ok {
		return func(t *testing.T) { t.Skip("the store is not a dedupe.Inspector") }
	}
	trade := newTrade(t)
	mustClaimed(t, s, dedupe.Event{Trade: trade, ID: "TRADE_FINISHED"}, shortLease)
	done := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	mustComplete(t, s, done, mustClaimed(t, s, done, longLease), shortRetention, true)
	return func(t *testing.T) {
		if rec := lookup(t, in, trade); len(rec.Events) != 0 {
			t.Errorf("Lookup after the lease ran out = %+v, want no events", rec)
		}
		if rec := lookup(t, in, done.Trade); len(rec.Events) != 0 {
			t.Errorf("Lookup after the retention ran out = %+v, want no events", rec)
		}
	}
}
