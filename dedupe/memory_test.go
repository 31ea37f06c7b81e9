package dedupe

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// The conformance suite runs against the memory store in memory_suite_test.go
// (package dedupe_test, since storetest imports dedupe). The tests here look
// inside the store.

func TestMemoryStoreJanitorDropsExpiredEntries(t *testing.T) {
	t.Parallel()
	store := newMemoryStore(20*time.Millisecond, defaultDeadLetters)
	t.Cleanup(func() { _ = store.Close() })
	ctx := t.Context()

	expiring := Event{Trade: "2021000000000001|ORDER-1", ID: "TRADE_SUCCESS", Mark: "PAID"}
	c, err := store.Claim(ctx, expiring, time.Hour)
	if err != nil || c.State != Claimed {
		t.Fatalf("Claim = %+v, %v", c, err)
	}
	if ok, err := store.Complete(ctx, expiring, c.Token, Completion{Retention: 100 * time.Millisecond}); err != nil || !ok {
		t.Fatalf("Complete = %v, %v", ok, err)
	}
	claimedOnly := Event{Trade: "2021000000000001|ORDER-2", ID: "TRADE_SUCCESS"}
	if _, err := store.Claim(ctx, claimedOnly, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	kept := Event{Trade: "2021000000000001|ORDER-3", ID: "TRADE_SUCCESS"}
	if _, err := store.Claim(ctx, kept, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := store.len(); n != 4 {
		t.Fatalf("store holds %d entries, want 4 (done event, its mark, two claims)", n)
	}

	// Nothing reads the store meanwhile: only the janitor can drop entries.
	deadline := time.Now().Add(10 * time.Second)
	for store.len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d entries, want 1", store.len())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c, err := store.Claim(ctx, kept, time.Hour); err != nil || c.State != Busy {
		t.Fatalf("the live claim did not survive the janitor: %+v, %v", c, err)
	}
}

func TestMemoryStoreSweepIsBounded(t *testing.T) {
	t.Parallel()
	store := newMemoryStore(time.Hour, defaultDeadLetters) // sweep is called by hand
	t.Cleanup(func() { _ = store.Close() })
	st := store.state

	const expired = 100_000
	past := time.Now().Add(-time.Second)
	for i := range expired {
		st.entries[memoryKey{trade: fmt.Sprint("trade-", i), id: "TRADE_SUCCESS"}] = memoryEntry{expires: past}
	}
	st.sweep()
	const maxSwept = memorySweepBatch * memorySweepMaxBatches
	if got, want := store.len(), expired-maxSwept; got != want {
		t.Fatalf("after one sweep over %d expired entries: %d left, want %d", expired, got, want)
	}
	st.sweep()
	if got := store.len(); got != 0 {
		t.Fatalf("after the second sweep: %d left, want 0", got)
	}
}

func TestMemoryStoreSweepStopsWhenFewExpired(t *testing.T) {
	t.Parallel()
	store := newMemoryStore(time.Hour, defaultDeadLetters)
	t.Cleanup(func() { _ = store.Close() })
	st := store.state

	const live = 50_000
	future := time.Now().Add(time.Hour)
	for i := range live {
		st.entries[memoryKey{trade: fmt.Sprint("trade-", i), id: "TRADE_SUCCESS"}] = memoryEntry{expires: future}
	}
	examined, expired := st.sweepBatch()
	if examined != memorySweepBatch || expired != 0 {
		t.Fatalf("sweepBatch over live entries = %d examined, %d expired; want %d, 0", examined, expired, memorySweepBatch)
	}
	st.sweep()
	if got := store.len(); got != live {
		t.Fatalf("sweep dropped live entries: %d left of %d", got, live)
	}
}

func TestMemoryStoreClose(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	ctx := t.Context()
	ev := Event{Trade: "2021000000000001|ORDER-42", ID: "TRADE_SUCCESS"}
	c, err := store.Claim(ctx, ev, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-store.state.janitorExited:
	default:
		t.Fatal("Close returned before the janitor stopped")
	}

	if _, err := store.Claim(ctx, ev, time.Minute); !errors.Is(err, ErrClosed) {
		t.Errorf("Claim after Close: %v, want ErrClosed", err)
	}
	if _, err := store.Extend(ctx, ev, c.Token, time.Minute); !errors.Is(err, ErrClosed) {
		t.Errorf("Extend after Close: %v, want ErrClosed", err)
	}
	if _, err := store.Complete(ctx, ev, c.Token, Completion{Retention: time.Minute}); !errors.Is(err, ErrClosed) {
		t.Errorf("Complete after Close: %v, want ErrClosed", err)
	}
	if _, err := store.Release(ctx, ev, c.Token); !errors.Is(err, ErrClosed) {
		t.Errorf("Release after Close: %v, want ErrClosed", err)
	}
}

func TestMemoryStoreJanitorStopsWhenStoreIsCollected(t *testing.T) {
	t.Parallel()
	state := newMemoryStore(time.Hour, defaultDeadLetters).state // the store itself is dropped at once
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-state.janitorExited:
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the janitor of a collected store is still running")
		}
	}
}

func TestMemoryStoreTokens(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for range 1000 {
		token := newToken()
		if len(token) != 22 { // 16 bytes in unpadded base64
			t.Fatalf("token %q has %d characters, want 22", token, len(token))
		}
		if seen[token] {
			t.Fatalf("token %q repeated", token)
		}
		seen[token] = true
	}
}

func TestMemoryStoreErrorsDoNotEchoArguments(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	t.Cleanup(func() { _ = store.Close() })
	const secret = "2021000000000001|ORDER-SECRET"
	_, err := store.Claim(t.Context(), Event{Trade: secret, Outranked: []string{""}}, time.Minute)
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Claim with an empty ID: %v, want ErrInvalidArgument", err)
	}
	if got := err.Error(); got != "dedupe: invalid argument: claim: empty Event.ID" {
		t.Errorf("error text %q", got)
	}
	_, err = store.Complete(t.Context(), Event{Trade: secret, ID: "TRADE_SUCCESS"}, "token", Completion{Retention: -time.Second})
	if got := err.Error(); got != "dedupe: invalid argument: complete: retention -1s is not positive" {
		t.Errorf("error text %q", got)
	}
}

// len reports how many entries, expired or not, the store holds.
func (s *MemoryStore) len() int {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	return len(s.state.entries)
}

// TestMemoryStoreDeadLetterRetention uses a retention below what
// NewMemoryStoreWith accepts: entries past it are not read, and the janitor
// drops them.
func TestMemoryStoreDeadLetterRetention(t *testing.T) {
	t.Parallel()
	store := newMemoryStore(20*time.Millisecond, DeadLetterOptions{Max: 10, Retention: 100 * time.Millisecond})
	t.Cleanup(func() { _ = store.Close() })
	ctx := t.Context()
	dl := DeadLetter{Trade: "2021000000000001|ORDER-1", ID: "TRADE_SUCCESS", Body: []byte("b")}
	if _, err := store.RecordFailure(ctx, dl); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for store.deadLetterCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d dead letters", store.deadLetterCount())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok, err := store.DeadLetter(ctx, dl.Trade, dl.ID); err != nil || ok {
		t.Fatalf("DeadLetter past its retention: found %v, %v", ok, err)
	}
	if rec, err := store.RecordFailure(ctx, dl); err != nil || rec != (Recorded{Attempts: 1}) {
		t.Fatalf("RecordFailure after the retention = %+v, %v; want a new entry", rec, err)
	}
}

func TestNewMemoryStoreWith(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts DeadLetterOptions
		ok   bool
	}{
		{"zero", DeadLetterOptions{}, true},
		{"48h", DeadLetterOptions{Max: 1, Retention: MinDeadLetterRetention}, true},
		{"negative max", DeadLetterOptions{Max: -1}, false},
		{"short retention", DeadLetterOptions{Retention: time.Hour}, false},
		{"negative retention", DeadLetterOptions{Retention: -time.Hour}, false},
	} {
		store, err := NewMemoryStoreWith(MemoryOptions{DeadLetters: tc.opts})
		if tc.ok != (err == nil) {
			t.Errorf("%s: error %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: error %v, want ErrInvalidArgument", tc.name, err)
		}
		if store != nil {
			_ = store.Close()
		}
	}
	store, err := NewMemoryStoreWith(MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if got := store.state.dlOpts; got != defaultDeadLetters {
		t.Errorf("zero options resolved to %+v, want %+v", got, defaultDeadLetters)
	}
}

// deadLetterCount reports how many dead letters, expired or not, the store
// holds.
func (s *MemoryStore) deadLetterCount() int {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	return len(s.state.deadLetters)
}
