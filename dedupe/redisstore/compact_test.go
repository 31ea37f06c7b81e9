package redisstore

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/storetest"
)

// TestCompactConformance runs the conformance suite with a one-minute compact
// unit, so that its plain-status events completed with its two-minute
// retention take the compact form, and every transition between the forms
// that the suite's sequences cause runs through the scripts.
func TestCompactConformance(t *testing.T) {
	t.Parallel()
	forEachSharedTarget(t, nil, func(t *testing.T, client redis.UniversalClient) {
		t.Parallel()
		store := newTestStore(t, client)
		store.compactUnit = time.Minute
		// After the suite's subtests, before newTestStore's cleanup
		// deletes the keys: some trades must have been left compact.
		t.Cleanup(func() {
			if n := countCompactTrades(t, client, store.prefix); n == 0 {
				t.Error("no trade of the suite is in the compact form")
			} else {
				t.Logf("%d trades of the suite left in the compact form", n)
			}
		})
		storetest.Run(t, func(*testing.T) dedupe.Store { return store })
	})
}

// countCompactTrades counts the trades in the compact form among the keys
// that start with prefix, on every master.
func countCompactTrades(t *testing.T, client redis.UniversalClient, prefix string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	n := 0
	countOn := func(ctx context.Context, node redis.Cmdable) error {
		iter := node.Scan(ctx, 0, prefix+"{*}", 1000).Iterator()
		for iter.Next(ctx) {
			if !strings.HasSuffix(iter.Val(), "}") {
				continue // a claim key
			}
			kind, err := node.Type(ctx, iter.Val()).Result()
			if err != nil {
				return err
			}
			if kind == "string" {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}
		return iter.Err()
	}
	var err error
	if cluster, ok := client.(*redis.ClusterClient); ok {
		err = cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return countOn(ctx, node) })
	} else {
		err = countOn(ctx, client)
	}
	if err != nil {
		t.Fatalf("counting compact trades: %v", err)
	}
	return n
}

func TestCompactValue(t *testing.T) {
	t.Parallel()
	store, err := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Options{}) // never dialled
	if err != nil {
		t.Fatal(err)
	}
	const day = 24 * time.Hour
	paid := dedupe.Event{Trade: "2021000000000001|ORDER-1", ID: "TRADE_SUCCESS", Outranked: []string{"TRADE_FINISHED"}}
	notify := dedupe.Completion{Retention: 190 * day, Source: dedupe.SourceNotify}
	for _, tc := range []struct {
		name string
		ev   dedupe.Event
		done dedupe.Completion
		want int64
	}{
		// 1 (TRADE_SUCCESS) + 16 × (1 (notify) + 8 × 38 (190 days))
		{"paid, notify, 190 days", paid, notify, 4881},
		{"finished, return, 5 days", dedupe.Event{Trade: paid.Trade, ID: "TRADE_FINISHED"}, dedupe.Completion{Retention: 5 * day, Source: dedupe.SourceReturn}, 2 + 16*(2+8*1)},
		{"last status code, other source, 385 days", dedupe.Event{Trade: paid.Trade, ID: "WAIT_SYS_PAY_SELLER"}, dedupe.Completion{Retention: 385 * day, Source: "cron"}, 9 + 16*(7+8*77)},
		{"unknown source", paid, dedupe.Completion{Retention: 190 * day}, 1 + 16*(0+8*38)},
		{"retention of 390 days: too long", paid, dedupe.Completion{Retention: 390 * day, Source: dedupe.SourceNotify}, 0},
		{"retention not whole units", paid, dedupe.Completion{Retention: 190*day + time.Millisecond, Source: dedupe.SourceNotify}, 0},
		{"retention shorter than a unit", paid, dedupe.Completion{Retention: time.Hour, Source: dedupe.SourceNotify}, 0},
		{"stale", paid, dedupe.Completion{Retention: 190 * day, Source: dedupe.SourceNotify, Stale: true}, 0},
		{"binding", dedupe.Event{Trade: paid.Trade, ID: paid.ID, Binding: "2024120422001400000000000001"}, notify, 0},
		{"refund", dedupe.Event{Trade: paid.Trade, ID: "TRADE_SUCCESS|REFUND_SUCCESS|R-1", Mark: "reached:TRADE_SUCCESS"}, notify, 0},
		{"mark", dedupe.Event{Trade: paid.Trade, ID: paid.ID, Mark: "PAID"}, notify, 0},
		{"unknown status", dedupe.Event{Trade: paid.Trade, ID: "TRADE_PENDING"}, notify, 0},
		{"gateway message", dedupe.Event{Trade: "2021000000000001|~open_app_auth_notify", ID: "2b6f6e0b6a5d4f0c"}, notify, 0},
	} {
		if got := store.compactValue(tc.ev, tc.done); got != tc.want {
			t.Errorf("%s: compactValue = %d, want %d", tc.name, got, tc.want)
		}
		if got := store.compactValue(tc.ev, tc.done); got < 0 || got >= compactLimit {
			t.Errorf("%s: compactValue = %d, outside Redis's shared integers", tc.name, got)
		}
	}
	if len(compactStatuses) >= compactStatusCodes {
		t.Errorf("%d compact statuses, at most %d fit", len(compactStatuses), compactStatusCodes-1)
	}
	// The codes are in deployed values: they only ever grow at the end.
	pinned := []alipaynotify.TradeStatus{"TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED", "WAIT_BUYER_PAY",
		"WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS", "WAIT_SELLER_CONFIRM_TRADE", "WAIT_SYS_CONFIRM_PAY", "WAIT_SYS_PAY_SELLER"}
	if got := compactStatuses[:len(pinned)]; !slices.Equal(got, pinned) {
		t.Errorf("compact status codes %q changed from the pinned %q", got, pinned)
	}
	for i, s := range compactStatuses {
		if code := compactStatusCode(string(s)); code != int64(i+1) {
			t.Errorf("compactStatusCode(%s) = %d, want %d", s, code, i+1)
		}
	}
}

// compactTrade is one trade of TestCompactForm, with the checks its
// scenarios share.
type compactTrade struct {
	t      *testing.T
	client redis.UniversalClient
	store  *Store
	trade  string
	tag    string
}

// event returns an event of the trade.
func (c *compactTrade) event(id string) dedupe.Event { return dedupe.Event{Trade: c.trade, ID: id} }

// claim claims ev and checks the state.
func (c *compactTrade) claim(ev dedupe.Event, want dedupe.State) dedupe.Claim {
	c.t.Helper()
	got, err := c.store.Claim(c.t.Context(), ev, time.Minute)
	if err != nil || got.State != want {
		c.t.Fatalf("Claim(%s) = %+v, %v; want %v", ev.ID, got, err, want)
	}
	return got
}

// complete claims and completes ev with done.
func (c *compactTrade) complete(ev dedupe.Event, done dedupe.Completion) {
	c.t.Helper()
	c.completeClaimed(ev, c.claim(ev, dedupe.Claimed).Token, done)
}

// completeClaimed completes ev, claimed with token.
func (c *compactTrade) completeClaimed(ev dedupe.Event, token string, done dedupe.Completion) {
	c.t.Helper()
	if ok, err := c.store.Complete(c.t.Context(), ev, token, done); err != nil || !ok {
		c.t.Fatalf("Complete(%s) = %v, %v", ev.ID, ok, err)
	}
}

// wantCompact checks that the trade is in the compact form with value.
func (c *compactTrade) wantCompact(value int64) {
	c.t.Helper()
	ctx := c.t.Context()
	if kind, err := c.client.Type(ctx, c.tag).Result(); err != nil || kind != "string" {
		c.t.Fatalf("the trade's key is a %q, %v; want the compact form, a string", kind, err)
	}
	got, err := c.client.Get(ctx, c.tag).Result()
	if err != nil || got != strconv.FormatInt(value, 10) {
		c.t.Fatalf("compact value %q, %v; want %d", got, err, value)
	}
	// A shared integer: Redis allocates nothing for the value.
	if refs, err := c.client.ObjectRefCount(ctx, c.tag).Result(); err != nil || refs != 2147483647 {
		c.t.Errorf("OBJECT REFCOUNT of the compact value = %d, %v; want Redis's shared-object count", refs, err)
	}
}

// wantFields checks that the trade is a hash with these fields.
func (c *compactTrade) wantFields(want ...string) {
	c.t.Helper()
	ctx := c.t.Context()
	if kind, err := c.client.Type(ctx, c.tag).Result(); err != nil || kind != "hash" {
		c.t.Fatalf("the trade's key is a %q, %v; want a hash", kind, err)
	}
	got, err := c.client.HKeys(ctx, c.tag).Result()
	if err != nil {
		c.t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		c.t.Fatalf("the trade's fields %q, want %q", got, want)
	}
}

// expiresAt returns when the trade's key expires, in Unix milliseconds.
func (c *compactTrade) expiresAt() time.Duration {
	c.t.Helper()
	at, err := c.client.PExpireTime(c.t.Context(), c.tag).Result()
	if err != nil || at <= 0 {
		c.t.Fatalf("PEXPIRETIME = %v, %v", at, err)
	}
	return at
}

// lookup looks the trade up.
func (c *compactTrade) lookup() dedupe.TradeRecord {
	c.t.Helper()
	rec, err := c.store.Lookup(c.t.Context(), c.trade)
	if err != nil {
		c.t.Fatalf("Lookup: %v", err)
	}
	return rec
}

// record returns the trade's record of id, failing when there is none.
func (c *compactTrade) record(id string) dedupe.EventRecord {
	c.t.Helper()
	rec := c.lookup()
	i := slices.IndexFunc(rec.Events, func(e dedupe.EventRecord) bool { return e.ID == id })
	if i < 0 {
		c.t.Fatalf("Lookup = %+v: no %s", rec, id)
	}
	return rec.Events[i]
}

// TestCompactForm checks every transition of a trade into and out of the
// compact form, on Redis and on Cluster: the commonest trade (one plain
// status done from a notify, 190 days) takes it; anything else recorded for
// the trade turns it into the hash, keeping the record, its handled-at and
// the key's expiry; no call ever meets a key of the wrong type.
func TestCompactForm(t *testing.T) {
	t.Parallel()
	const retention = 190 * 24 * time.Hour
	notify := dedupe.Completion{Retention: retention, Source: dedupe.SourceNotify}
	const paidValue = 4881 // TRADE_SUCCESS, notify, 38 units of 5 days
	const bound = "2024120422001400000000000001"
	for _, tc := range []struct {
		name string
		run  func(c *compactTrade)
	}{
		{"first event", func(c *compactTrade) {
			before := time.Now()
			c.complete(c.event("TRADE_SUCCESS"), notify)
			after := time.Now()
			c.wantCompact(paidValue)
			if ttl, err := c.client.PTTL(c.t.Context(), c.tag).Result(); err != nil || ttl <= retention-time.Minute || ttl > retention {
				c.t.Errorf("the compact form expires in %v, %v; want the retention", ttl, err)
			}
			c.claim(c.event("TRADE_SUCCESS"), dedupe.Done)
			c.claim(dedupe.Event{Trade: c.trade, ID: "TRADE_SUCCESS", Binding: bound}, dedupe.Done)
			rec := c.lookup()
			if rec.Bound || len(rec.Events) != 1 {
				c.t.Fatalf("Lookup = %+v, want one event, no binding", rec)
			}
			got := rec.Events[0]
			// Redis's clock and this machine's are the same clock here;
			// allow a millisecond for rounding.
			if got.ID != "TRADE_SUCCESS" || got.State != dedupe.RecordDone || got.Source != dedupe.SourceNotify || got.Stale || got.Legacy ||
				got.HandledAt.Before(before.Add(-time.Millisecond).Truncate(time.Millisecond)) || got.HandledAt.After(after.Add(time.Millisecond)) {
				c.t.Errorf("Lookup record %+v, want TRADE_SUCCESS done from notify between %v and %v", got, before, after)
			}
		}},
		{"second event", func(c *compactTrade) {
			c.complete(c.event("TRADE_SUCCESS"), notify)
			handled, expires := c.record("TRADE_SUCCESS").HandledAt, c.expiresAt()
			finished := dedupe.Event{Trade: c.trade, ID: "TRADE_FINISHED", Outranked: []string{"TRADE_CLOSED"}}
			token := c.claim(finished, dedupe.Claimed).Token
			c.wantFields("TRADE_SUCCESS", claimFieldName("TRADE_FINISHED"))
			if got := c.expiresAt(); got != expires {
				c.t.Errorf("turning into a hash moved the expiry from %v to %v", expires, got)
			}
			if got := c.record("TRADE_SUCCESS"); got.HandledAt != handled || got.Source != dedupe.SourceNotify || got.Stale {
				c.t.Errorf("record after turning into a hash %+v, want handled at %v from notify", got, handled)
			}
			if got := c.record("TRADE_FINISHED"); got.State != dedupe.RecordInFlight {
				c.t.Errorf("record of the claimed event %+v, want in flight", got)
			}
			c.completeClaimed(finished, token, notify)
			c.wantFields("TRADE_SUCCESS", "TRADE_FINISHED")
			if got := c.expiresAt(); got < expires {
				c.t.Errorf("the second completion shortened the expiry from %v to %v", expires, got)
			}
			c.claim(c.event("TRADE_SUCCESS"), dedupe.Done)
			c.claim(c.event("TRADE_FINISHED"), dedupe.Done)
		}},
		{"stale event", func(c *compactTrade) {
			c.complete(c.event("TRADE_FINISHED"), notify)
			late := dedupe.Event{Trade: c.trade, ID: "TRADE_SUCCESS", Outranked: []string{"TRADE_FINISHED", "reached:TRADE_FINISHED"}}
			if got := c.claim(late, dedupe.Claimed); !got.Stale {
				c.t.Fatalf("Claim outranked by the compact record = %+v, want stale", got)
			}
			c.wantFields("TRADE_FINISHED", claimFieldName("TRADE_SUCCESS"))
		}},
		{"refund", func(c *compactTrade) {
			c.complete(c.event("TRADE_SUCCESS"), notify)
			refund := dedupe.Event{Trade: c.trade, ID: "TRADE_SUCCESS|REFUND_SUCCESS|R-1", Mark: "reached:TRADE_SUCCESS"}
			c.complete(refund, notify)
			c.wantFields("TRADE_SUCCESS", refund.ID, refund.Mark)
			if got := c.record("TRADE_SUCCESS"); got.Source != dedupe.SourceNotify {
				c.t.Errorf("record kept through the refund %+v", got)
			}
		}},
		{"binding", func(c *compactTrade) {
			c.complete(c.event("TRADE_SUCCESS"), notify)
			closed := dedupe.Event{Trade: c.trade, ID: "TRADE_CLOSED", Binding: bound}
			c.complete(closed, notify)
			c.wantFields("TRADE_SUCCESS", "TRADE_CLOSED", bindingField)
			c.claim(dedupe.Event{Trade: c.trade, ID: "TRADE_FINISHED", Binding: bound + "2"}, dedupe.Conflict)
			if !c.lookup().Bound {
				c.t.Error("Lookup does not show the binding")
			}
		}},
		{"binding on the first event", func(c *compactTrade) {
			c.complete(dedupe.Event{Trade: c.trade, ID: "TRADE_SUCCESS", Binding: bound}, notify)
			c.wantFields("TRADE_SUCCESS", bindingField)
		}},
		{"per-event binding", func(c *compactTrade) {
			if err := c.client.Set(c.t.Context(), bindingKey(c.tag), bindingValue(bound), time.Hour).Err(); err != nil {
				c.t.Fatal(err)
			}
			c.complete(c.event("TRADE_SUCCESS"), notify)
			c.wantCompact(paidValue)
			c.claim(dedupe.Event{Trade: c.trade, ID: "TRADE_FINISHED", Binding: bound + "2"}, dedupe.Conflict)
			c.claim(dedupe.Event{Trade: c.trade, ID: "TRADE_SUCCESS", Binding: bound}, dedupe.Done)
			c.wantCompact(paidValue)
		}},
		{"per-event done keys", func(c *compactTrade) {
			if err := c.client.Set(c.t.Context(), idKey(c.tag, "TRADE_FINISHED"), doneValue, time.Hour).Err(); err != nil {
				c.t.Fatal(err)
			}
			c.complete(c.event("TRADE_SUCCESS"), notify)
			c.wantCompact(paidValue)
			c.claim(c.event("TRADE_FINISHED"), dedupe.Done)
			if got := c.record("TRADE_FINISHED"); !got.Legacy {
				c.t.Errorf("per-event record %+v, want legacy", got)
			}
			c.record("TRADE_SUCCESS")
		}},
		{"not eligible", func(c *compactTrade) {
			c.complete(c.event("TRADE_SUCCESS"), dedupe.Completion{Retention: retention, Source: dedupe.SourceNotify, Stale: true})
			c.wantFields("TRADE_SUCCESS")
			other := &compactTrade{t: c.t, client: c.client, store: c.store, trade: c.trade + "-2", tag: c.store.tradeTag(c.trade + "-2")}
			other.complete(other.event("TRADE_SUCCESS"), dedupe.Completion{Retention: time.Hour, Source: dedupe.SourceNotify})
			other.wantFields("TRADE_SUCCESS")
		}},
		{"live claim of another event", func(c *compactTrade) {
			paid := c.event("TRADE_SUCCESS")
			token := c.claim(paid, dedupe.Claimed).Token
			c.claim(c.event("TRADE_CLOSED"), dedupe.Claimed)
			c.completeClaimed(paid, token, notify)
			c.wantFields("TRADE_SUCCESS", claimFieldName("TRADE_CLOSED"))
		}},
		{"released claim of another event", func(c *compactTrade) {
			paid, closed := c.event("TRADE_SUCCESS"), c.event("TRADE_CLOSED")
			token := c.claim(paid, dedupe.Claimed).Token
			other := c.claim(closed, dedupe.Claimed).Token
			if ok, err := c.store.Release(c.t.Context(), closed, other); err != nil || !ok {
				c.t.Fatalf("Release = %v, %v", ok, err)
			}
			c.completeClaimed(paid, token, notify)
			c.wantCompact(paidValue)
		}},
		{"forgotten event", func(c *compactTrade) {
			c.complete(c.event("TRADE_SUCCESS"), notify)
			if ok, err := c.store.Forget(c.t.Context(), c.trade, "TRADE_FINISHED"); err != nil || ok {
				c.t.Fatalf("Forget of another event = %v, %v; want false", ok, err)
			}
			c.wantCompact(paidValue)
			if ok, err := c.store.Forget(c.t.Context(), c.trade, "TRADE_SUCCESS"); err != nil || !ok {
				c.t.Fatalf("Forget = %v, %v; want true", ok, err)
			}
			if n, err := c.client.Exists(c.t.Context(), c.tag).Result(); err != nil || n != 0 {
				c.t.Fatalf("the trade's key is left after Forget: %d, %v", n, err)
			}
			if rec := c.lookup(); len(rec.Events) != 0 {
				c.t.Errorf("Lookup after Forget = %+v", rec)
			}
			c.claim(c.event("TRADE_SUCCESS"), dedupe.Claimed)
		}},
		{"folded back after Forget", func(c *compactTrade) {
			c.complete(c.event("TRADE_SUCCESS"), notify)
			c.complete(c.event("TRADE_CLOSED"), notify)
			if ok, err := c.store.Forget(c.t.Context(), c.trade, "TRADE_SUCCESS"); err != nil || !ok {
				c.t.Fatalf("Forget = %v, %v", ok, err)
			}
			c.wantFields("TRADE_CLOSED")
			// The next completion leaves more than one event: still a hash.
			c.complete(c.event("TRADE_SUCCESS"), notify)
			c.wantFields("TRADE_SUCCESS", "TRADE_CLOSED")
		}},
		// A claim's owner whose claim field was taken for ended (a clock
		// step between Redis's TIME and its key expiry) may meet the
		// compact form written meanwhile by another event's Complete.
		{"owner meets the compact form", func(c *compactTrade) {
			ctx := c.t.Context()
			for _, op := range []string{"extend", "release", "complete"} {
				ev := c.event(map[string]string{"extend": "TRADE_CLOSED", "release": "WAIT_BUYER_PAY", "complete": "TRADE_FINISHED"}[op])
				if err := c.client.Del(ctx, c.tag).Err(); err != nil {
					c.t.Fatal(err)
				}
				token := c.claim(ev, dedupe.Claimed).Token
				if err := c.client.Set(ctx, c.tag, paidValue, retention).Err(); err != nil {
					c.t.Fatal(err)
				}
				switch op {
				case "extend":
					if ok, err := c.store.Extend(ctx, ev, token, time.Minute); err != nil || !ok {
						c.t.Fatalf("Extend = %v, %v", ok, err)
					}
					c.wantFields("TRADE_SUCCESS", claimFieldName(ev.ID))
				case "release":
					if ok, err := c.store.Release(ctx, ev, token); err != nil || !ok {
						c.t.Fatalf("Release = %v, %v", ok, err)
					}
					c.wantCompact(paidValue)
				case "complete":
					c.completeClaimed(ev, token, notify)
					c.wantFields("TRADE_SUCCESS", ev.ID)
				}
			}
		}},
		{"unreadable value", func(c *compactTrade) {
			ctx := c.t.Context()
			for _, value := range []string{"0", "16", "15", "10000", "-1", "1.5", "x"} {
				if err := c.client.Set(ctx, c.tag, value, time.Hour).Err(); err != nil {
					c.t.Fatal(err)
				}
				if got, err := c.store.Claim(ctx, c.event("TRADE_SUCCESS"), time.Minute); err == nil {
					c.t.Errorf("Claim over compact value %q = %+v, want an error", value, got)
				}
				if got, err := c.store.Lookup(ctx, c.trade); err == nil {
					c.t.Errorf("Lookup over compact value %q = %+v, want an error", value, got)
				}
				if got, err := c.client.Get(ctx, c.tag).Result(); err != nil || got != value {
					c.t.Errorf("value %q became %q, %v", value, got, err)
				}
			}
			// A valid value whose expiry was removed: handled-at is lost,
			// so the scripts refuse to turn it into a hash (which would
			// need an expiry) or to show it, but it still reads done.
			if err := c.client.Set(ctx, c.tag, paidValue, 0).Err(); err != nil {
				c.t.Fatal(err)
			}
			c.claim(c.event("TRADE_SUCCESS"), dedupe.Done)
			if got, err := c.store.Claim(ctx, c.event("TRADE_CLOSED"), time.Minute); err == nil {
				c.t.Errorf("Claim beside a compact value without expiry = %+v, want an error", got)
			}
			if got, err := c.store.Lookup(ctx, c.trade); err == nil {
				c.t.Errorf("Lookup of a compact value without expiry = %+v, want an error", got)
			}
			if ttl, err := c.client.PTTL(ctx, c.tag).Result(); err != nil || ttl != -1 {
				c.t.Errorf("the value without expiry now expires in %v, %v", ttl, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachSharedTarget(t, nil, func(t *testing.T, client redis.UniversalClient) {
				store := newTestStore(t, client)
				trade := dedupe.TradeOf("2021000000000001", "ORDER-COMPACT-"+t.Name())
				tc.run(&compactTrade{t: t, client: client, store: store, trade: trade, tag: store.tradeTag(trade)})
			})
		})
	}
}

// TestCompactExpiry lets a trade in the compact form outlive its retention:
// its event runs again.
func TestCompactExpiry(t *testing.T) {
	t.Parallel()
	forEachSharedTarget(t, nil, func(t *testing.T, client redis.UniversalClient) {
		t.Parallel()
		store := newTestStore(t, client)
		store.compactUnit = 100 * time.Millisecond
		trade := dedupe.TradeOf("2021000000000001", "ORDER-COMPACT-EXPIRY-"+t.Name())
		c := &compactTrade{t: t, client: client, store: store, trade: trade, tag: store.tradeTag(trade)}
		paid := c.event("TRADE_SUCCESS")
		c.complete(paid, dedupe.Completion{Retention: 300 * time.Millisecond, Source: dedupe.SourceReturn})
		c.wantCompact(1 + 16*(2+8*3))
		c.claim(paid, dedupe.Done)
		time.Sleep(500 * time.Millisecond)
		c.claim(paid, dedupe.Claimed)
	})
}
