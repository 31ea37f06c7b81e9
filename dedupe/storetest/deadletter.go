package storetest

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/dedupe"
)

// deadLetterTests are the subtests Run adds for a store that implements
// dedupe.DeadLetterStore. They look only at their own events, so they hold on
// a store shared with other tests.
var deadLetterTests = []struct {
	name string
	test func(t *testing.T, s dedupe.DeadLetterStore)
}{
	{"DeadLetterRecordRepeatClear", testDeadLetterRecordRepeatClear},
	{"DeadLetterOddBytes", testDeadLetterOddBytes},
	{"DeadLetterInvalidArguments", testDeadLetterInvalidArguments},
}

// recordFailure calls RecordFailure and requires the answer to be want.
func recordFailure(t *testing.T, s dedupe.DeadLetterStore, dl dedupe.DeadLetter, want dedupe.Recorded) {
	t.Helper()
	got, err := s.RecordFailure(t.Context(), dl)
	if err != nil {
		t.Fatalf("RecordFailure: %v", err)
	}
	if got != want {
		t.Fatalf("RecordFailure = %+v, want %+v", got, want)
	}
}

// getDeadLetter calls DeadLetter and requires the entry's presence to be
// want.
func getDeadLetter(t *testing.T, s dedupe.DeadLetterStore, trade, id string, want bool) dedupe.DeadLetter {
	t.Helper()
	dl, ok, err := s.DeadLetter(t.Context(), trade, id)
	if err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	if ok != want {
		t.Fatalf("DeadLetter found %v, want %v", ok, want)
	}
	return dl
}

// sameEntry reports how got differs from the recorded want (Trade, ID,
// Source, Body, Err, Attempts), or "".
func sameEntry(got, want dedupe.DeadLetter) string {
	switch {
	case got.Trade != want.Trade || got.ID != want.ID:
		return "another event"
	case got.Source != want.Source:
		return "source " + got.Source + ", want " + want.Source
	case !bytes.Equal(got.Body, want.Body):
		return "another body"
	case got.Err != want.Err:
		return "err " + got.Err + ", want " + want.Err
	case got.Attempts != want.Attempts:
		return "another attempt count"
	}
	return ""
}

func testDeadLetterRecordRepeatClear(t *testing.T, s dedupe.DeadLetterStore) {
	ctx := t.Context()
	trade := newTrade(t)
	first := dedupe.DeadLetter{Trade: trade, ID: "TRADE_SUCCESS", Source: dedupe.SourceNotify,
		Body: []byte("notify_id=1&out_trade_no=42&sign=abc"), Err: "orders: database is down"}
	start := time.Now()
	body := slices.Clone(first.Body)
	recordFailure(t, s, dedupe.DeadLetter{Trade: trade, ID: first.ID, Source: first.Source, Body: body, Err: first.Err,
		Attempts: 99, First: time.Unix(1, 0), Last: time.Unix(2, 0)}, dedupe.Recorded{Attempts: 1})
	body[0] = 'X' // the store kept its own copy
	first.Attempts = 1
	got := getDeadLetter(t, s, trade, first.ID, true)
	if diff := sameEntry(got, first); diff != "" {
		t.Fatalf("DeadLetter after the first failure: %s", diff)
	}
	if !within(got.First, start, time.Now()) || !got.Last.Equal(got.First) {
		t.Errorf("first failure: First %v, Last %v; want both now", got.First, got.Last)
	}
	got.Body[0] = 'Y' // the caller's copy
	if again := getDeadLetter(t, s, trade, first.ID, true); again.Body[0] != 'n' {
		t.Error("DeadLetter returned the store's own Body")
	}

	// Another event of the trade has its own entry.
	other := dedupe.DeadLetter{Trade: trade, ID: "TRADE_FINISHED", Body: []byte("b"), Err: ""}
	recordFailure(t, s, other, dedupe.Recorded{Attempts: 1})

	second := dedupe.DeadLetter{Trade: trade, ID: first.ID, Source: dedupe.SourceReturn,
		Body: []byte("out_trade_no=42&sign=def"), Err: "orders: timeout", Attempts: 2}
	recordFailure(t, s, second, dedupe.Recorded{Attempts: 2})
	latest := getDeadLetter(t, s, trade, first.ID, true)
	if diff := sameEntry(latest, second); diff != "" {
		t.Fatalf("DeadLetter after the second failure: %s", diff)
	}
	if !latest.First.Equal(got.First) || latest.Last.Before(latest.First) || !within(latest.Last, start, time.Now()) {
		t.Errorf("second failure: First %v (was %v), Last %v", latest.First, got.First, latest.Last)
	}
	listed, err := s.DeadLetters(ctx, dedupe.DefaultMaxDeadLetters)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if !slices.ContainsFunc(listed, func(dl dedupe.DeadLetter) bool { return sameEntry(dl, second) == "" }) {
		t.Error("DeadLetters does not list the entry")
	}

	if ok, err := s.ClearFailure(ctx, trade, first.ID); err != nil || !ok {
		t.Fatalf("ClearFailure = %v, %v; want true, nil", ok, err)
	}
	getDeadLetter(t, s, trade, first.ID, false)
	if ok, err := s.ClearFailure(ctx, trade, first.ID); err != nil || ok {
		t.Fatalf("second ClearFailure = %v, %v; want false, nil", ok, err)
	}
	getDeadLetter(t, s, trade, other.ID, true)
	// A failure after a clear starts a new entry.
	recordFailure(t, s, first, dedupe.Recorded{Attempts: 1})
}

// testDeadLetterOddBytes: trades, IDs and bodies are opaque bytes.
func testDeadLetterOddBytes(t *testing.T, s dedupe.DeadLetterStore) {
	unique := newTrade(t)
	body := make([]byte, dedupe.MaxDeadLetterBody)
	for i := range body {
		body[i] = byte(i * 7)
	}
	for _, dl := range []dedupe.DeadLetter{
		{Trade: "{" + unique + "}\x00", ID: "交易成功", Body: []byte("\x00\r\n%s{}"), Err: "\x00"},
		{Trade: unique, ID: strings.Repeat("I", 1024), Body: body, Err: strings.Repeat("e", dedupe.MaxDeadLetterErr), Source: "\x00"},
		{Trade: unique + "x", ID: "1", Body: []byte("1"), Err: "1"},
	} {
		recordFailure(t, s, dl, dedupe.Recorded{Attempts: 1})
		dl.Attempts = 1
		if diff := sameEntry(getDeadLetter(t, s, dl.Trade, dl.ID, true), dl); diff != "" {
			t.Errorf("DeadLetter of an entry with odd bytes: %s", diff)
		}
	}
	getDeadLetter(t, s, unique, "1", false)
}

func testDeadLetterInvalidArguments(t *testing.T, s dedupe.DeadLetterStore) {
	ctx := t.Context()
	trade := newTrade(t)
	valid := dedupe.DeadLetter{Trade: trade, ID: "TRADE_SUCCESS", Body: []byte("b")}
	for _, tc := range []struct {
		name string
		dl   dedupe.DeadLetter
	}{
		{"empty trade", dedupe.DeadLetter{ID: valid.ID, Body: valid.Body}},
		{"empty id", dedupe.DeadLetter{Trade: trade, Body: valid.Body}},
		{"empty body", dedupe.DeadLetter{Trade: trade, ID: valid.ID}},
		{"body over the cap", dedupe.DeadLetter{Trade: trade, ID: valid.ID, Body: make([]byte, dedupe.MaxDeadLetterBody+1)}},
		{"err over the cap", dedupe.DeadLetter{Trade: trade, ID: valid.ID, Body: valid.Body, Err: strings.Repeat("e", dedupe.MaxDeadLetterErr+1)}},
	} {
		if err := dedupe.CheckDeadLetter(tc.dl); !errors.Is(err, dedupe.ErrInvalidArgument) {
			t.Fatalf("%s: dedupe.CheckDeadLetter accepts it (%v): the suite is out of date", tc.name, err)
		}
		if _, err := s.RecordFailure(ctx, tc.dl); !errors.Is(err, dedupe.ErrInvalidArgument) {
			t.Errorf("RecordFailure with %s: %v, want ErrInvalidArgument", tc.name, err)
		}
	}
	getDeadLetter(t, s, trade, valid.ID, false)
	for _, tc := range []struct{ trade, id string }{{"", valid.ID}, {trade, ""}} {
		if _, err := s.ClearFailure(ctx, tc.trade, tc.id); !errors.Is(err, dedupe.ErrInvalidArgument) {
			t.Errorf("ClearFailure(%q, %q): %v, want ErrInvalidArgument", tc.trade, tc.id, err)
		}
		if _, _, err := s.DeadLetter(ctx, tc.trade, tc.id); !errors.Is(err, dedupe.ErrInvalidArgument) {
			t.Errorf("DeadLetter(%q, %q): %v, want ErrInvalidArgument", tc.trade, tc.id, err)
		}
	}
	for _, limit := range []int{0, -1} {
		if _, err := s.DeadLetters(ctx, limit); !errors.Is(err, dedupe.ErrInvalidArgument) {
			t.Errorf("DeadLetters(%d): %v, want ErrInvalidArgument", limit, err)
		}
	}
}

// RunDeadLetters checks what a dedupe.DeadLetterStore does with all its
// entries together: the order of DeadLetters and the eviction at the
// maximum. newStore must return an empty store (no entries of other tests)
// that keeps at most max entries (dedupe.DeadLetterOptions.Max), and may be
// called once per subtest. The subtests wait a few milliseconds between
// failures so that their Last times differ.
//
// Run checks the rest of the interface on any store that implements it.
func RunDeadLetters(t *testing.T, newStore func(t *testing.T, max int) dedupe.DeadLetterStore) {
	t.Helper()
	t.Run("DeadLetterOrder", func(t *testing.T) {
		t.Parallel()
		testDeadLetterOrder(t, newStore(t, 10))
	})
	t.Run("DeadLetterEviction", func(t *testing.T) {
		t.Parallel()
		testDeadLetterEviction(t, newStore(t, 3))
	})
}

// failureGap is how long the order tests wait between failures, so that
// their Last times (milliseconds) differ.
const failureGap = 5 * time.Millisecond

// listed calls DeadLetters and returns the IDs of the entries, in order.
func listed(t *testing.T, s dedupe.DeadLetterStore, limit int) []string {
	t.Helper()
	dls, err := s.DeadLetters(t.Context(), limit)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	ids := make([]string, len(dls))
	for i, dl := range dls {
		ids[i] = dl.ID
	}
	return ids
}

func testDeadLetterOrder(t *testing.T, s dedupe.DeadLetterStore) {
	trade := newTrade(t)
	for _, id := range []string{"A", "B", "C"} {
		recordFailure(t, s, dedupe.DeadLetter{Trade: trade, ID: id, Body: []byte(id)}, dedupe.Recorded{Attempts: 1})
		time.Sleep(failureGap)
	}
	if got := listed(t, s, 10); !slices.Equal(got, []string{"A", "B", "C"}) {
		t.Fatalf("DeadLetters = %q, want the oldest Last first: A, B, C", got)
	}
	recordFailure(t, s, dedupe.DeadLetter{Trade: trade, ID: "A", Body: []byte("A")}, dedupe.Recorded{Attempts: 2})
	if got := listed(t, s, 10); !slices.Equal(got, []string{"B", "C", "A"}) {
		t.Fatalf("DeadLetters after A failed again = %q, want B, C, A", got)
	}
	if got := listed(t, s, 2); !slices.Equal(got, []string{"B", "C"}) {
		t.Fatalf("DeadLetters(2) = %q, want B, C", got)
	}
}

func testDeadLetterEviction(t *testing.T, s dedupe.DeadLetterStore) {
	trade := newTrade(t)
	for _, id := range []string{"A", "B", "C"} {
		recordFailure(t, s, dedupe.DeadLetter{Trade: trade, ID: id, Body: []byte(id)}, dedupe.Recorded{Attempts: 1})
		time.Sleep(failureGap)
	}
	// At the maximum, a repeated failure evicts nothing...
	recordFailure(t, s, dedupe.DeadLetter{Trade: trade, ID: "A", Body: []byte("A")}, dedupe.Recorded{Attempts: 2})
	time.Sleep(failureGap)
	// ...and a new entry evicts the one with the oldest Last: B.
	recordFailure(t, s, dedupe.DeadLetter{Trade: trade, ID: "D", Body: []byte("D")}, dedupe.Recorded{Attempts: 1, Evicted: 1})
	if got := listed(t, s, 10); !slices.Equal(got, []string{"C", "A", "D"}) {
		t.Fatalf("DeadLetters after an eviction = %q, want C, A, D", got)
	}
	getDeadLetter(t, s, trade, "B", false)
	if ok, err := s.ClearFailure(t.Context(), trade, "B"); err != nil || ok {
		t.Errorf("ClearFailure of the evicted entry = %v, %v; want false, nil", ok, err)
	}
}
