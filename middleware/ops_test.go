package middleware_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// opsStores are the stores the operator API is tested on.
func opsStores(t *testing.T) map[string]func(t *testing.T) dedupe.Store {
	return map[string]func(t *testing.T) dedupe.Store{
		"memory": func(*testing.T) dedupe.Store { return dedupe.NewMemoryStore() },
		"redis": func(t *testing.T) dedupe.Store {
			c := redis.NewClient(&redis.Options{Addr: redisAddr(t)})
			t.Cleanup(func() { c.Close() })
			return newRedisStore(t, c)
		},
	}
}

// TestDeadLetterReplay: a handler that fails on every one of Alipay's
// tries leaves one dead letter counting them; once the handler is fixed, a
// replay runs it exactly once, clears the dead letter, and Alipay's late
// retry is a duplicate. The replayed event records the source "replay".
func TestDeadLetterReplay(t *testing.T) {
	t.Parallel()
	for name, newStore := range opsStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var lettered []dedupe.Recorded
			f := newFixtureOn(t, newStore(t), middleware.Options{Logger: discardLogger(), Hooks: middleware.Hooks{
				DeadLettered: func(_ context.Context, _ *alipaynotify.Notification, rec dedupe.Recorded) {
					lettered = append(lettered, rec)
				},
			}})
			ctx := context.Background()
			paid := f.signer.NewTrade("ORDER-DL1", "12.00").Paid()
			f.rec.fail.Store(8)
			for range 8 { // Alipay's 8 tries
				if code, body := f.notify(t, paid); code != 500 || body != "fail" {
					t.Fatalf("failing handler answered %d %q", code, body)
				}
			}
			dls, err := f.mw.DeadLetters(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(dls) != 1 || dls[0].Attempts != 8 || !strings.Contains(dls[0].Err, "database down") || string(dls[0].Body) != string(paid.Encode()) {
				t.Fatalf("dead letters after 8 failures: %+v", dls)
			}
			if len(lettered) != 8 || lettered[7].Attempts != 8 {
				t.Errorf("DeadLettered hook: %+v", lettered)
			}
			n, _ := f.mw.Verifier().VerifyNotify(ctx, paid.Encode())
			view, err := f.mw.Lookup(ctx, n.Merchant(), "ORDER-DL1")
			if err != nil || len(view.Events) != 0 || len(view.Failed) != 1 {
				t.Fatalf("Lookup of the failed order: %+v, %v", view, err)
			}

			// The handler is fixed: replay once, then Alipay's late retry.
			d := f.mw.Replay(ctx, dls[0], middleware.HandlerFunc(f.rec.handle))
			if d.Outcome != middleware.OutcomeHandled {
				t.Fatalf("replay: %v %v", d.Outcome, d.Err)
			}
			if d := f.mw.Replay(ctx, dls[0], middleware.HandlerFunc(f.rec.handle)); d.Outcome != middleware.OutcomeDuplicate {
				t.Fatalf("second replay: %v, want duplicate", d.Outcome)
			}
			if code, body := f.notify(t, paid); code != 200 || body != "success" {
				t.Fatalf("late retry: %d %q", code, body)
			}
			if f.rec.total() != 1 {
				t.Fatalf("handler ran %d times, want 1", f.rec.total())
			}
			f.mw.Wait()
			if dls, err := f.mw.DeadLetters(ctx, 10); err != nil || len(dls) != 0 {
				t.Fatalf("dead letters after the replay: %+v, %v", dls, err)
			}
			view, err = f.mw.Lookup(ctx, n.Merchant(), "ORDER-DL1")
			if err != nil || len(view.Events) != 1 || view.Events[0].Source != dedupe.SourceReplay || view.Events[0].State != dedupe.RecordDone {
				t.Fatalf("Lookup after the replay: %+v, %v", view, err)
			}
		})
	}
}

// TestReplayRefusesTampered: a dead letter changed in the store no longer
// verifies and runs nothing.
func TestReplayRefusesTampered(t *testing.T) {
	t.Parallel()
	f := newFixture(t, middleware.Options{Logger: discardLogger()})
	f.rec.fail.Store(1)
	paid := f.signer.NewTrade("ORDER-DL2", "12.00").Paid()
	f.notify(t, paid)
	dls, err := f.mw.DeadLetters(context.Background(), 10)
	if err != nil || len(dls) != 1 {
		t.Fatalf("%+v %v", dls, err)
	}
	dl := dls[0]
	dl.Body = []byte(strings.Replace(string(dl.Body), "12.00", "1200.00", 1))
	if d := f.mw.Replay(context.Background(), dl, middleware.HandlerFunc(f.rec.handle)); d.Outcome != middleware.OutcomeRejected || !errors.Is(d.Err, alipaynotify.ErrSignature) {
		t.Fatalf("tampered replay: %v %v", d.Outcome, d.Err)
	}
	if f.rec.total() != 0 {
		t.Fatal("a tampered dead letter ran the handler")
	}
}

// TestForget: an operator forgets one handled event: logged with who, what
// and when, reported to the hook, and the next delivery runs the handler
// again; other events of the trade stay done.
func TestForget(t *testing.T) {
	t.Parallel()
	for name, newStore := range opsStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var logs logBuffer
			var forgotten []middleware.Forgotten
			f := newFixtureOn(t, newStore(t), middleware.Options{Logger: logs.logger(), Hooks: middleware.Hooks{
				Forgotten: func(_ context.Context, fg middleware.Forgotten) { forgotten = append(forgotten, fg) },
			}})
			ctx := context.Background()
			trade := f.signer.NewTrade("ORDER-F1", "5.00")
			paid, finished := trade.Paid(), trade.Finished()
			f.notify(t, paid)
			f.notify(t, finished)
			n, _ := f.mw.Verifier().VerifyNotify(ctx, paid.Encode())
			view, err := f.mw.Lookup(ctx, n.Merchant(), "ORDER-F1")
			if err != nil || len(view.Events) != 2 {
				t.Fatalf("Lookup: %+v %v", view, err)
			}
			if _, err := f.mw.Forget(ctx, view.Trade, "TRADE_SUCCESS", ""); !errors.Is(err, dedupe.ErrInvalidArgument) {
				t.Fatalf("Forget without an actor: %v", err)
			}
			if ok, err := f.mw.Forget(ctx, view.Trade, "TRADE_SUCCESS", "ops-alice"); !ok || err != nil {
				t.Fatalf("Forget: %v %v", ok, err)
			}
			if len(forgotten) != 1 || forgotten[0].Actor != "ops-alice" || forgotten[0].ID != "TRADE_SUCCESS" || !forgotten[0].WasDone || time.Since(forgotten[0].At) > time.Minute {
				t.Errorf("Forgotten hook: %+v", forgotten)
			}
			if out := logs.String(); !strings.Contains(out, "actor=ops-alice") || !strings.Contains(out, "event=TRADE_SUCCESS") || !strings.Contains(out, " at=") {
				t.Errorf("the log does not say who, what and when:\n%s", out)
			}
			f.notify(t, paid)
			f.notify(t, finished)
			if runs := f.rec.maxRuns(); runs != 2 || f.rec.total() != 3 {
				t.Fatalf("after Forget: total %d, max per event %d; want the forgotten event run again only", f.rec.total(), runs)
			}
		})
	}
}

// TestDeadLetterHandledElsewhere: a dead letter recorded by one instance
// whose event another instance then handled is left out of the list, and
// cleared, rather than offered for a replay.
func TestDeadLetterHandledElsewhere(t *testing.T) {
	t.Parallel()
	store := dedupe.NewMemoryStore()
	a := newFixtureOn(t, store, middleware.Options{Logger: discardLogger()})
	b := newFixtureOn(t, store, middleware.Options{Logger: discardLogger()})
	paid := a.signer.NewTrade("ORDER-DL3", "3.00").Paid()
	a.rec.fail.Store(1)
	a.notify(t, paid)
	if code, _ := b.notify(t, paid); code != 200 {
		t.Fatalf("instance b: %d", code)
	}
	ctx := context.Background()
	dls, err := b.mw.DeadLetters(ctx, 10)
	if err != nil || len(dls) != 0 {
		t.Fatalf("DeadLetters after the event was handled elsewhere: %+v %v", dls, err)
	}
	b.mw.Wait()
	if left, err := store.DeadLetters(ctx, 10); err != nil || len(left) != 0 {
		t.Fatalf("the stale dead letter was not cleared: %+v %v", left, err)
	}
}
