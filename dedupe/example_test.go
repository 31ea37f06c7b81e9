package dedupe_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alipaynotify/alipaynotify/dedupe"
)

// Each delivery of a notification claims its event, runs the handler only
// when it owns the claim, and then completes the claim (the event is done) or
// releases it (the next delivery tries again).
func Example() {
	store := dedupe.NewMemoryStore()
	defer store.Close()

	ctx := context.Background()
	ev := dedupe.Event{
		Trade:     "2021000000000001|ORDER-42",
		ID:        "TRADE_SUCCESS",
		Outranked: []string{"TRADE_FINISHED", "TRADE_CLOSED"},
	}

	// The handler gets the claim token so that it can fence its own writes
	// with it; this one fails on its first attempt.
	attempts := 0
	handle := func(token string) error {
		attempts++
		if attempts == 1 {
			return errors.New("database unavailable")
		}
		fmt.Println("  handler: order ORDER-42 paid")
		return nil
	}

	deliver := func(n int) {
		fmt.Printf("delivery %d:\n", n)
		claim, err := store.Claim(ctx, ev, 30*time.Second)
		if err != nil {
			fmt.Println("  store failed, answer an error so Alipay retries:", err)
			return
		}
		if claim.State != dedupe.Claimed {
			fmt.Println("  claim:", claim.State, "- do not run the handler")
			return
		}
		fmt.Println("  claim: claimed, stale:", claim.Stale)
		if err := handle(claim.Token); err != nil {
			fmt.Println("  handler failed:", err)
			released, err := store.Release(ctx, ev, claim.Token)
			fmt.Println("  released:", released, err)
			return
		}
		completed, err := store.Complete(ctx, ev, claim.Token, dedupe.Completion{Retention: 48 * time.Hour, Source: dedupe.SourceNotify})
		fmt.Println("  completed:", completed, err)
	}

	deliver(1)
	deliver(2)
	deliver(3)

	// Output:
	// delivery 1:
	//   claim: claimed, stale: false
	//   handler failed: database unavailable
	//   released: true <nil>
	// delivery 2:
	//   claim: claimed, stale: false
	//   handler: order ORDER-42 paid
	//   completed: true <nil>
	// delivery 3:
	//   claim: done - do not run the handler
}

// A claim is only as good as its lease: a handler that may outlive the lease
// extends it, and an owner whose lease ran out cannot complete over the owner
// that claimed the event after it.
func ExampleMemoryStore_Extend() {
	store := dedupe.NewMemoryStore()
	defer store.Close()

	ctx := context.Background()
	ev := dedupe.Event{Trade: "2021000000000001|ORDER-43", ID: "TRADE_SUCCESS"}

	slow, _ := store.Claim(ctx, ev, 50*time.Millisecond)
	extended, _ := store.Extend(ctx, ev, slow.Token, time.Minute)
	fmt.Println("extended:", extended)
	time.Sleep(100 * time.Millisecond) // past the first lease, within the second
	again, _ := store.Claim(ctx, ev, time.Minute)
	fmt.Println("another delivery meanwhile:", again.State)

	other := dedupe.Event{Trade: "2021000000000001|ORDER-44", ID: "TRADE_SUCCESS"}
	paused, _ := store.Claim(ctx, other, 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // the owner pauses past its lease
	next, _ := store.Claim(ctx, other, time.Minute)
	fmt.Println("after the lease ran out:", next.State)
	completed, _ := store.Complete(ctx, other, paused.Token, dedupe.Completion{Retention: 48 * time.Hour})
	fmt.Println("paused owner completed:", completed)

	// Output:
	// extended: true
	// another delivery meanwhile: busy
	// after the lease ran out: claimed
	// paused owner completed: false
}
