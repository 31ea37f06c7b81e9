// Package storetest is the conformance suite for dedupe.Store
// implementations. Every store that ships with alipaynotify runs it against
// itself, and a third-party store should too:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) dedupe.Store {
//			return mystore.New(...)
//		})
//	}
//
// The suite spells out what the dedupe.Store documentation promises, and a
// few things it implies:
//
//   - Every Claim answers one of the four states (Claimed, Done, Busy,
//     Conflict), and Claimed always with a Token: the zero Claim, or any
//     state the middleware does not know, is a bug it treats as a store
//     failure.
//   - Claim reports Busy with Remaining > 0 and at most the owner's lease
//     (a store that cannot tell the remaining lease does not conform).
//   - Only Claimed carries a Token; a Token is never reused after Release or
//     expiry.
//   - Event.Mark is remembered as a done event of the same trade, so an Event
//     whose ID equals another event's Mark reads Done.
//   - Arguments a store cannot act on (empty Trade, ID, Outranked entry or
//     token; a lease or retention that is not positive: what dedupe.CheckClaim,
//     CheckExtend, CheckComplete and CheckRelease refuse) fail with an error
//     matching dedupe.ErrInvalidArgument and change nothing. A store calls
//     those checks first; the suite's own valid calls pass them.
//   - Trades and IDs are opaque strings: long, non-ASCII, NUL bytes and Redis
//     hash-tag braces must all work.
//
// A store that also implements dedupe.Inspector or dedupe.DeadLetterStore
// is held to those interfaces too:
//
//   - Lookup lists a trade's done events (with the Completion's source, as
//     dedupe.RecordedSource shows it, and stale flag, and a HandledAt on the
//     store's clock within a second of the test's) and in-flight ones (with
//     the lease left), sorted by ID, without Marks, released or expired
//     claims, or expired events; Bound once a Binding was recorded.
//   - Forget deletes one event's done state and nothing else: not another
//     event, a claim, a Mark or the binding.
//   - RecordFailure creates an entry per event and updates it on repeated
//     failures (Attempts, Last, Source, Body, Err; First kept), keeping its
//     own copy of Body; ClearFailure deletes it; the arguments
//     dedupe.CheckDeadLetter refuses fail with ErrInvalidArgument.
//     RunDeadLetters checks the order of DeadLetters and the eviction at
//     the maximum on fresh stores.
//
// The subtests run in parallel, and those that wait for leases and
// retentions of a few hundred milliseconds to run out share one real-time
// wait, so the suite takes about two seconds. Timing checks leave wide
// margins: a store is only asserted to still hold something well within its
// lease, and to have dropped it well after. Every subtest uses its own random
// trades, so stores may share their backing server between subtests and
// between runs.
//
// The suite does not look at context cancellation: a remote store may fail a
// call whose context is done, an in-process one may ignore the context.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/dedupe"
)

// Durations the suite works with.
const (
	// longLease outlives every subtest: claims taken with it must not expire
	// while a subtest looks at them.
	longLease = time.Minute
	// longRetention likewise keeps done events for longer than any subtest.
	longRetention = 2 * time.Minute
	// shortLease and shortRetention are waited out by the expiry subtests.
	shortLease     = 300 * time.Millisecond
	shortRetention = 500 * time.Millisecond
	// pastExpiry is how long the expiry subtests wait after a short lease or
	// retention started: well past either.
	pastExpiry = 1500 * time.Millisecond
	// freshWindow is how soon after a short lease or retention started a
	// subtest may still assert that it is in force (half the short lease).
	freshWindow = shortLease / 2
	// concurrentClaimers is how many goroutines race for one event.
	concurrentClaimers = 100
)

// Run runs the conformance suite against the stores newStore returns. It
// calls newStore once for each of its parallel subtests, with the subtest's
// t (the expiry tests share one subtest and one store); newStore may return
// the same store every time, or a new one (and register its cleanup with
// t.Cleanup). newStore must call t.Fatal or t.Skip itself if it cannot
// provide a store.
func Run(t *testing.T, newStore func(t *testing.T) dedupe.Store) {
	t.Helper()
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s dedupe.Store)
	}{
		{"FirstClaimIsClaimed", testFirstClaimIsClaimed},
		{"SecondClaimIsBusy", testSecondClaimIsBusy},
		{"CompleteMakesDone", testCompleteMakesDone},
		{"WrongTokenChangesNothing", testWrongTokenChangesNothing},
		{"OwnerCallsOnUnclaimedEvent", testOwnerCallsOnUnclaimedEvent},
		{"ReleaseAllowsNewClaim", testReleaseAllowsNewClaim},
		{"StaleWhenOutrankedDone", testStaleWhenOutrankedDone},
		{"NotStaleWhenOutrankedClaimedOrAbsent", testNotStaleWhenOutrankedClaimedOrAbsent},
		{"StaleOnlyWithinTrade", testStaleOnlyWithinTrade},
		{"MarkMakesOutrankingEventsStale", testMarkMakesOutrankingEventsStale},
		{"MarkReadsAsDoneEvent", testMarkReadsAsDoneEvent},
		{"MarkNeedsOwnership", testMarkNeedsOwnership},
		{"BindingConflict", testBindingConflict},
		{"BindingNeedsCompletion", testBindingNeedsCompletion},
		{"TradesAreIndependent", testTradesAreIndependent},
		{"IDsAreIndependent", testIDsAreIndependent},
		{"OddStrings", testOddStrings},
		{"ConcurrentClaims", testConcurrentClaims},
		{"InvalidArguments", testInvalidArguments},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newStore(t))
		})
	}
	for _, tc := range inspectorTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			in, ok := s.(dedupe.Inspector)
			if !ok {
				t.Skip("the store is not a dedupe.Inspector")
			}
			tc.test(t, s, in)
		})
	}
	for _, tc := range deadLetterTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, ok := newStore(t).(dedupe.DeadLetterStore)
			if !ok {
				t.Skip("the store is not a dedupe.DeadLetterStore")
			}
			tc.test(t, s)
		})
	}
	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		runExpiryTests(t, newStore)
	})
}

// runExpiryTests runs the tests that wait for leases and retentions to run
// out. They share one wait: go test runs only GOMAXPROCS parallel subtests at
// a time, so separate waits would add up.
//
// Each test runs in two subtests: BeforeExpiry sets up short leases and
// retentions and returns the AfterExpiry check, which runs once pastExpiry
// has passed.
func runExpiryTests(t *testing.T, newStore func(t *testing.T) dedupe.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s dedupe.Store) (afterExpiry func(t *testing.T))
	}{
		{"LeaseExpiry", testLeaseExpiry},
		{"ExtendKeepsClaimAlive", testExtendKeepsClaimAlive},
		{"ExtendSetsLease", testExtendSetsLease},
		{"RetentionExpiry", testRetentionExpiry},
		{"MarkExpiresWithRetention", testMarkExpiresWithRetention},
		{"LookupDropsExpired", testLookupDropsExpired},
	}
	s := newStore(t)
	afterExpiry := make([]func(t *testing.T), len(tests))
	for i, tc := range tests {
		t.Run(tc.name+"BeforeExpiry", func(t *testing.T) {
			afterExpiry[i] = tc.test(t, s)
		})
	}
	time.Sleep(pastExpiry)
	for i, tc := range tests {
		if afterExpiry[i] == nil {
			continue // BeforeExpiry failed.
		}
		t.Run(tc.name+"AfterExpiry", afterExpiry[i])
	}
}

func testFirstClaimIsClaimed(t *testing.T, s dedupe.Store) {
	ev := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	c := mustClaim(t, s, ev, longLease)
	if c.State != dedupe.Claimed {
		t.Fatalf("first Claim: state %v, want claimed", c.State)
	}
	if c.Token == "" {
		t.Fatal("first Claim: empty token")
	}
	if c.Stale {
		t.Error("first Claim without Outranked: stale")
	}
}

func testSecondClaimIsBusy(t *testing.T, s dedupe.Store) {
	ev := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	mustClaimed(t, s, ev, longLease)
	c := mustClaim(t, s, ev, longLease)
	if c.State != dedupe.Busy {
		t.Fatalf("second Claim while the first is live: state %v, want busy", c.State)
	}
	if c.Token != "" {
		t.Error("Busy claim carries a token")
	}
	if c.Remaining <= 0 || c.Remaining > longLease {
		t.Errorf("Busy Remaining = %v, want in (0, %v]", c.Remaining, longLease)
	}
	// A busy answer leaves the owner's lease alone: it is still nearly whole.
	if c.Remaining < longLease/2 {
		t.Errorf("Busy Remaining = %v, want close to %v", c.Remaining, longLease)
	}
}

func testCompleteMakesDone(t *testing.T, s dedupe.Store) {
	ctx := t.Context()
	ev := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	token := mustClaimed(t, s, ev, longLease)
	mustComplete(t, s, ev, token, longRetention, true)
	wantState(t, s, ev, dedupe.Done)

	// The done state belongs to nobody: neither the former owner nor a token
	// that looks like what a store might keep for "done".
	for _, stranger := range []string{token, "1", "0", "done", "true"} {
		mustComplete(t, s, ev, stranger, longRetention, false)
		if ok, err := s.Extend(ctx, ev, stranger, longLease); err != nil || ok {
			t.Errorf("Extend of a done event = %v, %v; want false, nil", ok, err)
		}
		if ok, err := s.Release(ctx, ev, stranger); err != nil || ok {
			t.Errorf("Release of a done event = %v, %v; want false, nil", ok, err)
		}
	}
	c := wantState(t, s, ev, dedupe.Done)
	if c.Token != "" || c.Stale || c.Remaining != 0 {
		t.Errorf("Done claim = %+v, want only the state set", c)
	}
}

func testWrongTokenChangesNothing(t *testing.T, s dedupe.Store) {
	ctx := t.Context()
	trade := newTrade(t)
	ev := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Mark: "PAID"}
	token := mustClaimed(t, s, ev, longLease)
	// A real token, but of another event of the same trade.
	otherToken := mustClaimed(t, s, dedupe.Event{Trade: trade, ID: "TRADE_CLOSED"}, longLease)

	for _, wrong := range []string{"not-the-token", "1", otherToken, token + "x", strings.ToUpper(token)} {
		if wrong == token {
			continue
		}
		if ok, err := s.Complete(ctx, ev, wrong, dedupe.Completion{Retention: longRetention}); err != nil || ok {
			t.Errorf("Complete with a wrong token = %v, %v; want false, nil", ok, err)
		}
		if ok, err := s.Extend(ctx, ev, wrong, longLease); err != nil || ok {
			t.Errorf("Extend with a wrong token = %v, %v; want false, nil", ok, err)
		}
		if ok, err := s.Release(ctx, ev, wrong); err != nil || ok {
			t.Errorf("Release with a wrong token = %v, %v; want false, nil", ok, err)
		}
	}
	wantState(t, s, ev, dedupe.Busy)
	wantStale(t, s, dedupe.Event{Trade: trade, ID: "TRADE_FINISHED", Outranked: []string{"PAID"}}, false)
	// The rightful owner still owns the claim.
	mustComplete(t, s, ev, token, longRetention, true)
	wantState(t, s, ev, dedupe.Done)
}

func testOwnerCallsOnUnclaimedEvent(t *testing.T, s dedupe.Store) {
	ctx := t.Context()
	ev := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	const token = "never-issued"
	if ok, err := s.Extend(ctx, ev, token, longLease); err != nil || ok {
		t.Errorf("Extend of an unclaimed event = %v, %v; want false, nil", ok, err)
	}
	if ok, err := s.Release(ctx, ev, token); err != nil || ok {
		t.Errorf("Release of an unclaimed event = %v, %v; want false, nil", ok, err)
	}
	mustComplete(t, s, ev, token, longRetention, false)
	// Nothing was written: the event is still free.
	mustClaimed(t, s, ev, longLease)
}

func testReleaseAllowsNewClaim(t *testing.T, s dedupe.Store) {
	ctx := t.Context()
	ev := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	first := mustClaimed(t, s, ev, longLease)
	if ok, err := s.Release(ctx, ev, first); err != nil || !ok {
		t.Fatalf("Release by the owner = %v, %v; want true, nil", ok, err)
	}
	second := mustClaimed(t, s, ev, longLease)
	if second == first {
		t.Fatal("Claim after Release reused the released token")
	}
	// The released token has no power over the new claim.
	if ok, err := s.Release(ctx, ev, first); err != nil || ok {
		t.Errorf("second Release with the old token = %v, %v; want false, nil", ok, err)
	}
	mustComplete(t, s, ev, first, longRetention, false)
	wantState(t, s, ev, dedupe.Busy)
	mustComplete(t, s, ev, second, longRetention, true)
}

// testLeaseExpiry is the case the tokens exist for: an owner that paused past
// its lease must not mark the event done over the next owner.
func testLeaseExpiry(t *testing.T, s dedupe.Store) (afterExpiry func(t *testing.T)) {
	ev := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS", Mark: "PAID"}
	start := time.Now()
	paused := mustClaimed(t, s, ev, shortLease)
	// Should the machine be too slow for the check to mean anything, its claim
	// runs out as well before the next step.
	if c := mustClaim(t, s, ev, shortLease); time.Since(start) < freshWindow && c.State != dedupe.Busy {
		t.Fatalf("Claim within the lease: state %v, want busy", c.State)
	}

	return func(t *testing.T) {
		ctx := t.Context()
		next := mustClaimed(t, s, ev, longLease)
		if next == paused {
			t.Fatal("Claim after expiry reused the expired token")
		}
		mustComplete(t, s, ev, paused, longRetention, false)
		if ok, err := s.Extend(ctx, ev, paused, longLease); err != nil || ok {
			t.Errorf("Extend with the expired token = %v, %v; want false, nil", ok, err)
		}
		if ok, err := s.Release(ctx, ev, paused); err != nil || ok {
			t.Errorf("Release with the expired token = %v, %v; want false, nil", ok, err)
		}
		// The paused owner marked nothing: the event is the new owner's, and
		// its Mark is not done.
		wantState(t, s, ev, dedupe.Busy)
		wantStale(t, s, dedupe.Event{Trade: ev.Trade, ID: "TRADE_CLOSED", Outranked: []string{"PAID"}}, false)
		mustComplete(t, s, ev, next, longRetention, true)
		wantState(t, s, ev, dedupe.Done)
	}
}

func testExtendKeepsClaimAlive(t *testing.T, s dedupe.Store) (afterExpiry func(t *testing.T)) {
	ev := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	token := mustClaimed(t, s, ev, shortLease)
	if ok, err := s.Extend(t.Context(), ev, token, longLease); err != nil || !ok {
		t.Fatalf("Extend by the owner = %v, %v; want true, nil", ok, err)
	}

	return func(t *testing.T) {
		c := wantState(t, s, ev, dedupe.Busy)
		if c.Remaining < longLease/2 || c.Remaining > longLease {
			t.Errorf("Busy Remaining after Extend to %v = %v", longLease, c.Remaining)
		}
		mustComplete(t, s, ev, token, longRetention, true)
	}
}

// testExtendSetsLease checks that Extend sets the lease to its argument rather
// than adding to what is left.
func testExtendSetsLease(t *testing.T, s dedupe.Store) (afterExpiry func(t *testing.T)) {
	ev := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	token := mustClaimed(t, s, ev, longLease)
	if ok, err := s.Extend(t.Context(), ev, token, shortLease); err != nil || !ok {
		t.Fatalf("Extend by the owner = %v, %v; want true, nil", ok, err)
	}

	return func(t *testing.T) {
		mustClaimed(t, s, ev, longLease)
	}
}

func testRetentionExpiry(t *testing.T, s dedupe.Store) (afterExpiry func(t *testing.T)) {
	trade := newTrade(t)
	ev := dedupe.Event{Trade: trade, ID: "TRADE_FINISHED"}
	token := mustClaimed(t, s, ev, longLease)
	start := time.Now()
	mustComplete(t, s, ev, token, shortRetention, true)
	if c := mustClaim(t, s, ev, shortLease); time.Since(start) < freshWindow && c.State != dedupe.Done {
		t.Fatalf("Claim within the retention: state %v, want done", c.State)
	}

	return func(t *testing.T) {
		outranking := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Outranked: []string{ev.ID}}
		wantStale(t, s, outranking, false)
		mustClaimed(t, s, ev, longLease)
	}
}

func testMarkExpiresWithRetention(t *testing.T, s dedupe.Store) (afterExpiry func(t *testing.T)) {
	trade := newTrade(t)
	success := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Mark: "PAID"}
	token := mustClaimed(t, s, success, longLease)
	start := time.Now()
	mustComplete(t, s, success, token, shortRetention, true)
	closed := dedupe.Event{Trade: trade, ID: "TRADE_CLOSED", Outranked: []string{"PAID"}}
	if c := mustClaim(t, s, closed, shortLease); time.Since(start) < freshWindow && (c.State != dedupe.Claimed || !c.Stale) {
		t.Fatalf("Claim within the Mark's retention = %+v, want claimed and stale", c)
	}

	return func(t *testing.T) {
		wantStale(t, s, closed, false)
	}
}

func testStaleWhenOutrankedDone(t *testing.T, s dedupe.Store) {
	trade := newTrade(t)
	finished := dedupe.Event{Trade: trade, ID: "TRADE_FINISHED"}
	mustComplete(t, s, finished, mustClaimed(t, s, finished, longLease), longRetention, true)

	success := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Outranked: []string{"TRADE_CLOSED", "TRADE_FINISHED"}}
	c := mustClaim(t, s, success, longLease)
	if c.State != dedupe.Claimed || !c.Stale || c.Token == "" {
		t.Fatalf("Claim with a done Outranked event = %+v, want claimed, stale, with a token", c)
	}
	// A stale claim is a claim like any other.
	mustComplete(t, s, success, c.Token, longRetention, true)
	wantState(t, s, success, dedupe.Done)
}

func testNotStaleWhenOutrankedClaimedOrAbsent(t *testing.T, s dedupe.Store) {
	ctx := t.Context()
	trade := newTrade(t)
	finished := dedupe.Event{Trade: trade, ID: "TRADE_FINISHED"}
	finishedToken := mustClaimed(t, s, finished, longLease)

	// TRADE_FINISHED is only claimed and TRADE_CLOSED is absent.
	success := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Outranked: []string{"TRADE_FINISHED", "TRADE_CLOSED"}}
	token := wantStale(t, s, success, false)
	if ok, err := s.Release(ctx, success, token); err != nil || !ok {
		t.Fatalf("Release = %v, %v; want true, nil", ok, err)
	}

	// TRADE_FINISHED was released.
	if ok, err := s.Release(ctx, finished, finishedToken); err != nil || !ok {
		t.Fatalf("Release = %v, %v; want true, nil", ok, err)
	}
	wantStale(t, s, success, false)
}

func testStaleOnlyWithinTrade(t *testing.T, s dedupe.Store) {
	other := dedupe.Event{Trade: newTrade(t), ID: "TRADE_FINISHED"}
	mustComplete(t, s, other, mustClaimed(t, s, other, longLease), longRetention, true)

	ev := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS", Outranked: []string{"TRADE_FINISHED"}}
	wantStale(t, s, ev, false)
}

func testMarkMakesOutrankingEventsStale(t *testing.T, s dedupe.Store) {
	trade := newTrade(t)
	success := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Mark: "PAID"}
	mustComplete(t, s, success, mustClaimed(t, s, success, longLease), longRetention, true)

	closed := dedupe.Event{Trade: trade, ID: "TRADE_CLOSED", Outranked: []string{"PAID"}}
	wantStale(t, s, closed, true)
	// The Mark belongs to its trade only.
	wantStale(t, s, dedupe.Event{Trade: newTrade(t), ID: "TRADE_CLOSED", Outranked: []string{"PAID"}}, false)
}

// testMarkReadsAsDoneEvent pins down what a Mark is: an ID of the trade marked
// done, indistinguishable from a completed event with that ID.
func testMarkReadsAsDoneEvent(t *testing.T, s dedupe.Store) {
	trade := newTrade(t)
	success := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Mark: "PAID"}
	mustComplete(t, s, success, mustClaimed(t, s, success, longLease), longRetention, true)
	wantState(t, s, dedupe.Event{Trade: trade, ID: "PAID"}, dedupe.Done)
}

func testMarkNeedsOwnership(t *testing.T, s dedupe.Store) {
	trade := newTrade(t)
	success := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Mark: "PAID"}
	mustComplete(t, s, success, "never-issued", longRetention, false)
	closed := dedupe.Event{Trade: trade, ID: "TRADE_CLOSED", Outranked: []string{"PAID"}}
	wantStale(t, s, closed, false)
	mustClaimed(t, s, dedupe.Event{Trade: trade, ID: "PAID"}, longLease)
}

// testBindingConflict: once an event of a trade completed with a binding
// (Alipay's trade_no), events of the same trade with another binding are
// Conflict, even when done; the same binding, no binding, and other trades
// are unaffected; the first binding is never overwritten.
func testBindingConflict(t *testing.T, s dedupe.Store) {
	trade := newTrade(t)
	paid := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Binding: "2024-A"}
	mustComplete(t, s, paid, mustClaimed(t, s, paid, longLease), longRetention, true)

	forged := dedupe.Event{Trade: trade, ID: "TRADE_FINISHED", Binding: "2024-B"}
	wantState(t, s, forged, dedupe.Conflict)
	wantState(t, s, dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Binding: "2024-B"}, dedupe.Conflict)
	wantState(t, s, dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Binding: "2024-A"}, dedupe.Done)

	finished := dedupe.Event{Trade: trade, ID: "TRADE_FINISHED", Binding: "2024-A"}
	token := mustClaimed(t, s, finished, longLease)
	mustComplete(t, s, finished, token, longRetention, true)

	unbound := dedupe.Event{Trade: trade, ID: "TRADE_CLOSED"}
	mustClaimed(t, s, unbound, longLease)
	mustClaimed(t, s, dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS", Binding: "2024-B"}, longLease)
	wantState(t, s, forged, dedupe.Conflict)
}

// testBindingNeedsCompletion: a claim alone records no binding, and a
// released or lost claim never does.
func testBindingNeedsCompletion(t *testing.T, s dedupe.Store) {
	trade := newTrade(t)
	a := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Binding: "A"}
	token := mustClaimed(t, s, a, longLease)
	b := dedupe.Event{Trade: trade, ID: "TRADE_FINISHED", Binding: "B"}
	tokenB := mustClaimed(t, s, b, longLease)
	if ok, err := s.Release(context.Background(), a, token); err != nil || !ok {
		t.Fatalf("Release = %v, %v", ok, err)
	}
	mustComplete(t, s, a, token, longRetention, false)
	mustComplete(t, s, b, tokenB, longRetention, true)
	wantState(t, s, a, dedupe.Conflict)
}

func testTradesAreIndependent(t *testing.T, s dedupe.Store) {
	first := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	second := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	token := mustClaimed(t, s, first, longLease)
	mustClaimed(t, s, second, longLease)
	mustComplete(t, s, first, token, longRetention, true)

	third := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	mustClaimed(t, s, third, longLease)
	wantState(t, s, second, dedupe.Busy)
}

func testIDsAreIndependent(t *testing.T, s dedupe.Store) {
	trade := newTrade(t)
	success := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS"}
	closed := dedupe.Event{Trade: trade, ID: "TRADE_CLOSED"}
	token := mustClaimed(t, s, success, longLease)
	mustClaimed(t, s, closed, longLease)
	mustComplete(t, s, success, token, longRetention, true)

	finished := dedupe.Event{Trade: trade, ID: "TRADE_FINISHED"}
	mustClaimed(t, s, finished, longLease)
	wantState(t, s, closed, dedupe.Busy)
	wantState(t, s, success, dedupe.Done)
}

// testOddStrings claims, then completes, many events whose trades and IDs are
// long, non-ASCII or full of characters that key schemes treat specially, and
// checks that each is its own event throughout.
func testOddStrings(t *testing.T, s dedupe.Store) {
	unique := newTrade(t)
	kib := strings.Repeat("x", 1024)
	trades := []string{
		kib + unique,
		unique + kib,
		"订单-四十二|支付宝|" + unique,
		"{" + unique,
		"}" + unique,
		"{}" + unique,
		"{" + unique + "}",
		"{" + unique + "}a",
		"{" + unique + "}b",
		unique + "{a}",
		unique + "{b}",
		"}{" + unique,
		unique + "\x00",
		unique + "\x00x",
		unique + " %s\n\t\"'\\",
	}
	ids := []string{
		"TRADE_SUCCESS",
		strings.Repeat("I", 1024),
		"交易成功",
		"{",
		"}",
		"{}",
		"{TRADE_SUCCESS}",
		"\x00",
		"1",
	}
	var events []dedupe.Event
	for _, trade := range trades {
		for _, id := range ids {
			events = append(events, dedupe.Event{Trade: trade, ID: id, Mark: "{mark}" + id})
		}
	}

	tokens := make([]string, len(events))
	for i, ev := range events {
		tokens[i] = mustClaimed(t, s, ev, longLease)
	}
	for _, ev := range events {
		wantState(t, s, ev, dedupe.Busy)
	}
	for i, ev := range events {
		mustComplete(t, s, ev, tokens[i], longRetention, true)
	}
	for _, ev := range events {
		wantState(t, s, ev, dedupe.Done)
		wantStale(t, s, dedupe.Event{Trade: ev.Trade, ID: "{later}" + ev.ID, Outranked: []string{ev.Mark}}, true)
	}
}

// testConcurrentClaims races concurrentClaimers claims of one event: exactly
// one wins. Nobody completes during the race, so the others all see Busy.
func testConcurrentClaims(t *testing.T, s dedupe.Store) {
	ctx := t.Context()
	ev := dedupe.Event{Trade: newTrade(t), ID: "TRADE_SUCCESS"}
	claims := make([]dedupe.Claim, concurrentClaimers)
	errs := make([]error, concurrentClaimers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range concurrentClaimers {
		wg.Go(func() {
			<-start
			claims[i], errs[i] = s.Claim(ctx, ev, longLease)
		})
	}
	close(start)
	wg.Wait()

	var winners []string
	busy := 0
	for i, c := range claims {
		if errs[i] != nil {
			t.Fatalf("concurrent Claim: %v", errs[i])
		}
		if msg := unknownState(c); msg != "" {
			t.Fatal(msg)
		}
		switch c.State {
		case dedupe.Claimed:
			winners = append(winners, c.Token)
		case dedupe.Busy:
			busy++
		default:
			t.Errorf("concurrent Claim: state %v, want claimed or busy", c.State)
		}
	}
	if len(winners) != 1 || busy != concurrentClaimers-1 {
		t.Fatalf("%d concurrent Claims: %d claimed, %d busy; want 1 claimed", concurrentClaimers, len(winners), busy)
	}
	mustComplete(t, s, ev, winners[0], longRetention, true)
}

func testInvalidArguments(t *testing.T, s dedupe.Store) {
	ctx := t.Context()
	trade := newTrade(t)
	ev := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS"}
	token := mustClaimed(t, s, ev, longLease)
	free := dedupe.Event{Trade: trade, ID: "TRADE_CLOSED"}

	// Each call breaks one rule of the dedupe.Check functions, which every
	// store applies: the check and the store must both refuse it.
	for _, tc := range []struct {
		name  string
		check error // the shared check's verdict on the call's arguments
		call  func() error
	}{
		{"Claim/empty trade", dedupe.CheckClaim(dedupe.Event{ID: "TRADE_SUCCESS"}, longLease), func() error {
			_, err := s.Claim(ctx, dedupe.Event{ID: "TRADE_SUCCESS"}, longLease)
			return err
		}},
		{"Claim/empty ID", dedupe.CheckClaim(dedupe.Event{Trade: trade}, longLease), func() error {
			_, err := s.Claim(ctx, dedupe.Event{Trade: trade}, longLease)
			return err
		}},
		{"Claim/empty outranked ID", dedupe.CheckClaim(dedupe.Event{Trade: trade, ID: free.ID, Outranked: []string{"TRADE_FINISHED", ""}}, longLease), func() error {
			_, err := s.Claim(ctx, dedupe.Event{Trade: trade, ID: free.ID, Outranked: []string{"TRADE_FINISHED", ""}}, longLease)
			return err
		}},
		{"Claim/zero lease", dedupe.CheckClaim(free, 0), func() error {
			_, err := s.Claim(ctx, free, 0)
			return err
		}},
		{"Claim/negative lease", dedupe.CheckClaim(free, -time.Second), func() error {
			_, err := s.Claim(ctx, free, -time.Second)
			return err
		}},
		{"Extend/empty trade", dedupe.CheckExtend(dedupe.Event{ID: ev.ID}, token, longLease), func() error {
			_, err := s.Extend(ctx, dedupe.Event{ID: ev.ID}, token, longLease)
			return err
		}},
		{"Extend/empty ID", dedupe.CheckExtend(dedupe.Event{Trade: trade}, token, longLease), func() error {
			_, err := s.Extend(ctx, dedupe.Event{Trade: trade}, token, longLease)
			return err
		}},
		{"Extend/empty token", dedupe.CheckExtend(ev, "", longLease), func() error {
			_, err := s.Extend(ctx, ev, "", longLease)
			return err
		}},
		{"Extend/zero lease", dedupe.CheckExtend(ev, token, 0), func() error {
			_, err := s.Extend(ctx, ev, token, 0)
			return err
		}},
		{"Extend/negative lease", dedupe.CheckExtend(ev, token, -time.Second), func() error {
			_, err := s.Extend(ctx, ev, token, -time.Second)
			return err
		}},
		{"Complete/empty trade", dedupe.CheckComplete(dedupe.Event{ID: ev.ID}, token, dedupe.Completion{Retention: longRetention}), func() error {
			_, err := s.Complete(ctx, dedupe.Event{ID: ev.ID}, token, dedupe.Completion{Retention: longRetention})
			return err
		}},
		{"Complete/empty ID", dedupe.CheckComplete(dedupe.Event{Trade: trade}, token, dedupe.Completion{Retention: longRetention}), func() error {
			_, err := s.Complete(ctx, dedupe.Event{Trade: trade}, token, dedupe.Completion{Retention: longRetention})
			return err
		}},
		{"Complete/empty token", dedupe.CheckComplete(ev, "", dedupe.Completion{Retention: longRetention}), func() error {
			_, err := s.Complete(ctx, ev, "", dedupe.Completion{Retention: longRetention})
			return err
		}},
		{"Complete/zero retention", dedupe.CheckComplete(ev, token, dedupe.Completion{Retention: 0}), func() error {
			_, err := s.Complete(ctx, ev, token, dedupe.Completion{Retention: 0})
			return err
		}},
		{"Complete/negative retention", dedupe.CheckComplete(ev, token, dedupe.Completion{Retention: -time.Second}), func() error {
			_, err := s.Complete(ctx, ev, token, dedupe.Completion{Retention: -time.Second})
			return err
		}},
		{"Release/empty trade", dedupe.CheckRelease(dedupe.Event{ID: ev.ID}, token), func() error {
			_, err := s.Release(ctx, dedupe.Event{ID: ev.ID}, token)
			return err
		}},
		{"Release/empty ID", dedupe.CheckRelease(dedupe.Event{Trade: trade}, token), func() error {
			_, err := s.Release(ctx, dedupe.Event{Trade: trade}, token)
			return err
		}},
		{"Release/empty token", dedupe.CheckRelease(ev, ""), func() error {
			_, err := s.Release(ctx, ev, "")
			return err
		}},
	} {
		if !errors.Is(tc.check, dedupe.ErrInvalidArgument) {
			t.Fatalf("%s: the dedupe.Check function accepts the arguments (%v): the suite is out of date", tc.name, tc.check)
		}
		err := tc.call()
		if !errors.Is(err, dedupe.ErrInvalidArgument) {
			t.Errorf("%s: error %v, want one matching dedupe.ErrInvalidArgument, as dedupe.Check* reports: %v", tc.name, err, tc.check)
		}
	}

	// None of the rejected calls changed anything.
	c := wantState(t, s, ev, dedupe.Busy)
	if c.Remaining < longLease/2 {
		t.Errorf("Busy Remaining = %v after a rejected Extend, want close to %v", c.Remaining, longLease)
	}
	mustClaimed(t, s, free, longLease)
	mustComplete(t, s, ev, token, longRetention, true)
}

// newTrade returns a trade no other test, run or process uses.
func newTrade(t *testing.T) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "storetest|" + t.Name() + "|" + hex.EncodeToString(b[:])
}

// mustClaim calls Claim and fails the test on an error.
func mustClaim(t *testing.T, s dedupe.Store, ev dedupe.Event, lease time.Duration) dedupe.Claim {
	t.Helper()
	if err := dedupe.CheckClaim(ev, lease); err != nil {
		t.Fatalf("the suite's own Claim breaks a dedupe.CheckClaim rule: %v", err)
	}
	c, err := s.Claim(t.Context(), ev, lease)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if msg := unknownState(c); msg != "" {
		t.Fatal(msg)
	}
	if c.State != dedupe.Claimed && c.Token != "" {
		t.Errorf("Claim answered %v with a token", c.State)
	}
	if c.State != dedupe.Claimed && c.Stale {
		t.Errorf("Claim answered %v and stale", c.State)
	}
	if c.State != dedupe.Busy && c.Remaining != 0 {
		t.Errorf("Claim answered %v with Remaining %v", c.State, c.Remaining)
	}
	return c
}

// unknownState describes what is wrong with a Claim answer whose state the
// middleware does not know, or returns "".
func unknownState(c dedupe.Claim) string {
	switch c.State {
	case dedupe.Done, dedupe.Busy, dedupe.Conflict:
		return ""
	case dedupe.Claimed:
		if c.Token == "" {
			return "Claim answered claimed with an empty token"
		}
		return ""
	}
	return fmt.Sprintf("Claim answered an unknown claim state %d (%+v) with a nil error", int(c.State), c)
}

// mustClaimed claims ev, requires the claim to be taken, and returns its
// token.
func mustClaimed(t *testing.T, s dedupe.Store, ev dedupe.Event, lease time.Duration) string {
	t.Helper()
	c := mustClaim(t, s, ev, lease)
	if c.State != dedupe.Claimed {
		t.Fatalf("Claim: state %v, want claimed", c.State)
	}
	if c.Token == "" {
		t.Fatal("Claim: claimed with an empty token")
	}
	return c.Token
}

// mustComplete calls Complete and requires its answer to be want.
func mustComplete(t *testing.T, s dedupe.Store, ev dedupe.Event, token string, retention time.Duration, want bool) {
	t.Helper()
	done := dedupe.Completion{Retention: retention, Source: dedupe.SourceNotify}
	if err := dedupe.CheckComplete(ev, token, done); err != nil {
		t.Fatalf("the suite's own Complete breaks a dedupe.CheckComplete rule: %v", err)
	}
	ok, err := s.Complete(t.Context(), ev, token, done)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if ok != want {
		t.Fatalf("Complete = %v, want %v", ok, want)
	}
}

// wantState claims ev and requires the answer to be want. With want Claimed
// the claim is taken, with a long lease.
func wantState(t *testing.T, s dedupe.Store, ev dedupe.Event, want dedupe.State) dedupe.Claim {
	t.Helper()
	c := mustClaim(t, s, ev, longLease)
	if c.State != want {
		t.Fatalf("Claim: state %v, want %v", c.State, want)
	}
	if want == dedupe.Busy && (c.Remaining <= 0 || c.Remaining > longLease) {
		t.Errorf("Busy Remaining = %v, want in (0, %v]", c.Remaining, longLease)
	}
	return c
}

// wantStale claims ev, requires it to be taken with Stale set to stale, and
// returns the token.
func wantStale(t *testing.T, s dedupe.Store, ev dedupe.Event, stale bool) string {
	t.Helper()
	c := mustClaim(t, s, ev, longLease)
	if c.State != dedupe.Claimed {
		t.Fatalf("Claim: state %v, want claimed", c.State)
	}
	if c.Stale != stale {
		t.Fatalf("Claim with Outranked %q: stale %v, want %v", ev.Outranked, c.Stale, stale)
	}
	return c.Token
}
