package redisstore

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify/dedupe"
)

// TestPerEventLayout writes done marks and a binding the way the per-event
// layout did (one string key per ID holding "1", the binding at its own key)
// and checks that the store treats them as done and bound, read-only, so
// that an upgrade never runs a handled event again.
func TestPerEventLayout(t *testing.T) {
	t.Parallel()
	forEachSharedTarget(t, nil, func(t *testing.T, client redis.UniversalClient) {
		t.Parallel()
		ctx := t.Context()
		store := newTestStore(t, client)
		trade := dedupe.TradeOf("2088000000000001", "ORDER-UPGRADE-"+t.Name())
		tag := store.tradeTag(trade)
		const retention = time.Hour
		for key, value := range map[string]string{
			idKey(tag, "TRADE_SUCCESS"):                    doneValue,
			idKey(tag, "reached:TRADE_SUCCESS"):            doneValue,
			idKey(tag, "TRADE_SUCCESS|REFUND_SUCCESS|R-1"): doneValue,
			bindingKey(tag):                                bindingValue("2024120422001400000000000001"),
		} {
			if err := client.Set(ctx, key, value, retention).Err(); err != nil {
				t.Fatal(err)
			}
		}
		bound := "2024120422001400000000000001"
		claim := func(ev dedupe.Event) dedupe.Claim {
			t.Helper()
			c, err := store.Claim(ctx, ev, time.Minute)
			if err != nil {
				t.Fatalf("Claim: %v", err)
			}
			return c
		}

		for _, tc := range []struct {
			name  string
			ev    dedupe.Event
			state dedupe.State
			stale bool
		}{
			{"done event", dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Binding: bound}, dedupe.Done, false},
			{"done refund", dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS|REFUND_SUCCESS|R-1"}, dedupe.Done, false},
			{"done mark", dedupe.Event{Trade: trade, ID: "reached:TRADE_SUCCESS"}, dedupe.Done, false},
			{"another trade_no", dedupe.Event{Trade: trade, ID: "TRADE_FINISHED", Binding: "2024120422001400000000000002"}, dedupe.Conflict, false},
			{"outranked by a done event", dedupe.Event{Trade: trade, ID: "WAIT_BUYER_PAY", Outranked: []string{"TRADE_SUCCESS"}}, dedupe.Claimed, true},
			{"outranked by a mark", dedupe.Event{Trade: trade, ID: "TRADE_CLOSED", Outranked: []string{"reached:TRADE_SUCCESS"}}, dedupe.Claimed, true},
		} {
			if c := claim(tc.ev); c.State != tc.state || c.Stale != tc.stale {
				t.Errorf("%s: Claim = %+v, want %v (stale %v)", tc.name, c, tc.state, tc.stale)
			}
		}

		rec, err := store.Lookup(ctx, trade)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.Bound || len(rec.Events) != 3 {
			t.Fatalf("Lookup = %+v, want bound, two in flight and one legacy done", rec)
		}
		want := dedupe.EventRecord{ID: "TRADE_SUCCESS", State: dedupe.RecordDone, Legacy: true}
		if i := slices.IndexFunc(rec.Events, func(e dedupe.EventRecord) bool { return e.ID == "TRADE_SUCCESS" }); i < 0 || rec.Events[i] != want {
			t.Errorf("Lookup events %+v, want %+v among them", rec.Events, want)
		}

		// The same trade_no completes in the new layout, which then records
		// the binding itself; the old keys are only read.
		finished := dedupe.Event{Trade: trade, ID: "TRADE_FINISHED", Binding: bound}
		c := claim(finished)
		if c.State != dedupe.Claimed {
			t.Fatalf("Claim with the recorded trade_no = %+v", c)
		}
		if ok, err := store.Complete(ctx, finished, c.Token, dedupe.Completion{Retention: retention}); err != nil || !ok {
			t.Fatalf("Complete = %v, %v", ok, err)
		}
		if got, err := client.HGet(ctx, tag, bindingField).Result(); err != nil || got != bindingFieldValue(bound) {
			t.Errorf("the trade's hash holds binding %q, %v", got, err)
		}
		if n, err := client.Exists(ctx, idKey(tag, "reached:TRADE_SUCCESS"), bindingKey(tag)).Result(); err != nil || n != 2 {
			t.Errorf("the per-event keys: %d of 2 left, %v", n, err)
		}

		// Forget reaches the per-event layout too, for the one ID it is given.
		if ok, err := store.Forget(ctx, trade, "TRADE_SUCCESS"); err != nil || !ok {
			t.Fatalf("Forget of a per-event done key = %v, %v", ok, err)
		}
		if c := claim(dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS", Binding: bound}); c.State != dedupe.Claimed {
			t.Errorf("Claim after Forget = %+v, want claimed", c)
		}
		if c := claim(dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS|REFUND_SUCCESS|R-1"}); c.State != dedupe.Done {
			t.Errorf("Claim of the refund after forgetting another event = %+v, want done", c)
		}
	})
}

// TestTradeExpiry checks the expiry of a trade's hash: a claim gives it at
// least the lease, a first completion exactly the retention (however long the claim
// was), and later completions only lengthen it.
func TestTradeExpiry(t *testing.T) {
	t.Parallel()
	forEachSharedTarget(t, nil, func(t *testing.T, client redis.UniversalClient) {
		t.Parallel()
		ctx := t.Context()
		store := newTestStore(t, client)
		trade := dedupe.TradeOf("2021000000000001", "ORDER-EXPIRY-"+t.Name())
		tag := store.tradeTag(trade)
		ttl := func() time.Duration {
			t.Helper()
			d, err := client.PTTL(ctx, tag).Result()
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		complete := func(id string, lease, retention time.Duration) {
			t.Helper()
			ev := dedupe.Event{Trade: trade, ID: id}
			c, err := store.Claim(ctx, ev, lease)
			if err != nil || c.State != dedupe.Claimed {
				t.Fatalf("Claim = %+v, %v", c, err)
			}
			if d := ttl(); d <= lease/2 {
				t.Fatalf("after a %v claim the trade expires in %v", lease, d)
			}
			if ok, err := store.Complete(ctx, ev, c.Token, dedupe.Completion{Retention: retention}); err != nil || !ok {
				t.Fatalf("Complete = %v, %v", ok, err)
			}
		}
		complete("TRADE_SUCCESS", time.Hour, 10*time.Minute)
		if d := ttl(); d <= 5*time.Minute || d > 10*time.Minute {
			t.Fatalf("after the first completion the trade expires in %v, want the 10m retention", d)
		}
		complete("TRADE_FINISHED", time.Minute, 190*24*time.Hour)
		if d := ttl(); d <= 189*24*time.Hour {
			t.Fatalf("after a 190-day completion the trade expires in %v", d)
		}
		complete("TRADE_CLOSED", time.Minute, time.Hour)
		if d := ttl(); d <= 189*24*time.Hour {
			t.Fatalf("a shorter retention shortened the trade's expiry to %v", d)
		}
	})
}

// TestDeadLetterRetention lets dead letters outlive a short retention (set
// inside the store: Options refuses less than 48 hours): they are no longer
// read, and the next RecordFailure drops them.
func TestDeadLetterRetention(t *testing.T) {
	t.Parallel()
	forEachSharedTarget(t, nil, func(t *testing.T, client redis.UniversalClient) {
		t.Parallel()
		ctx := t.Context()
		store := newTestStore(t, client)
		store.dl.Retention = 300 * time.Millisecond
		old := dedupe.DeadLetter{Trade: "2021000000000001|ORDER-OLD", ID: "TRADE_SUCCESS", Body: []byte("old")}
		if _, err := store.RecordFailure(ctx, old); err != nil {
			t.Fatal(err)
		}
		if ttl, err := client.PTTL(ctx, store.deadLetterKeys()[1]).Result(); err != nil || ttl <= 0 || ttl > store.dl.Retention {
			t.Fatalf("dead letter data expires in %v, %v; want within the retention", ttl, err)
		}
		time.Sleep(2 * store.dl.Retention)
		if _, ok, err := store.DeadLetter(ctx, old.Trade, old.ID); err != nil || ok {
			t.Fatalf("DeadLetter past its retention: found %v, %v", ok, err)
		}
		store.dl.Retention = time.Hour // keep the new one while the test looks
		fresh := dedupe.DeadLetter{Trade: "2021000000000001|ORDER-NEW", ID: "TRADE_SUCCESS", Body: []byte("new")}
		if rec, err := store.RecordFailure(ctx, fresh); err != nil || rec != (dedupe.Recorded{Attempts: 1}) {
			t.Fatalf("RecordFailure = %+v, %v", rec, err)
		}
		// The expired entry was dropped (if the data key had not expired
		// with it already): only the new one is left.
		if n, err := client.ZCard(ctx, store.deadLetterKeys()[0]).Result(); err != nil || n != 1 {
			t.Fatalf("index holds %d entries, %v; want 1", n, err)
		}
		if n, err := client.HLen(ctx, store.deadLetterKeys()[1]).Result(); err != nil || n != 7 {
			t.Fatalf("data holds %d fields, %v; want the 7 of one entry", n, err)
		}
	})
}

// TestCompleteDropsEndedClaims: the end of a claim whose owner died stays in
// the trade's hash only until the next completion of the trade.
func TestCompleteDropsEndedClaims(t *testing.T) {
	t.Parallel()
	forEachSharedTarget(t, nil, func(t *testing.T, client redis.UniversalClient) {
		t.Parallel()
		ctx := t.Context()
		store := newTestStore(t, client)
		trade := dedupe.TradeOf("2021000000000001", "ORDER-DIED-"+t.Name())
		died := dedupe.Event{Trade: trade, ID: "WAIT_BUYER_PAY"}
		live := dedupe.Event{Trade: trade, ID: "TRADE_CLOSED"}
		for _, tc := range []struct {
			ev    dedupe.Event
			lease time.Duration
		}{{died, time.Millisecond}, {live, time.Minute}} {
			if c, err := store.Claim(ctx, tc.ev, tc.lease); err != nil || c.State != dedupe.Claimed {
				t.Fatalf("Claim = %+v, %v", c, err)
			}
		}
		paid := dedupe.Event{Trade: trade, ID: "TRADE_SUCCESS"}
		c, err := store.Claim(ctx, paid, time.Minute)
		if err != nil || c.State != dedupe.Claimed {
			t.Fatalf("Claim = %+v, %v", c, err)
		}
		// The 1ms lease of the dead owner has run out by now on Redis's clock:
		// wait for its claim key to expire.
		for n := int64(1); n != 0; {
			time.Sleep(time.Millisecond)
			if n, err = client.Exists(ctx, idKey(store.tradeTag(trade), died.ID)).Result(); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := store.Complete(ctx, paid, c.Token, dedupe.Completion{Retention: time.Hour}); err != nil || !ok {
			t.Fatalf("Complete = %v, %v", ok, err)
		}
		fields, err := client.HKeys(ctx, store.tradeTag(trade)).Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(fields)
		if want := []string{claimFieldName(live.ID), paid.ID}; !slices.Equal(fields, want) {
			t.Fatalf("trade's fields %q, want %q", fields, want)
		}
	})
}
