package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var prefixes atomic.Int64

// TestEveryOrderHandlerRunsOnce: a notify, a return and a query of one paid
// order, in each of the six orders and all at once, on the memory store
// (one process) and on Redis (the callbacks served by one instance, the
// query by another): the handler runs once per order, and every source is
// acknowledged.
func TestEveryOrderHandlerRunsOnce(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) (dedupe.Store, dedupe.Store){
		"memory": func(t *testing.T) (dedupe.Store, dedupe.Store) {
			s := dedupe.NewMemoryStore()
			t.Cleanup(func() { s.Close() })
			return s, s
		},
		"redis": func(t *testing.T) (dedupe.Store, dedupe.Store) {
			prefix := fmt.Sprintf("recon-%d-%d", time.Now().UnixNano(), prefixes.Add(1))
			var two [2]dedupe.Store
			for i := range two {
				c := redis.NewClient(&redis.Options{Addr: redistest.Addr(t)})
				t.Cleanup(func() { c.Close() })
				st, err := redisstore.New(c, redisstore.Options{Prefix: prefix})
				if err != nil {
					t.Fatal(err)
				}
				two[i] = st
			}
			return two[0], two[1]
		},
	}
	for name, newStores := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			callbackStore, queryStore := newStores(t)
			biz := newBusiness()
			callbacks := newWorld(t, worldOptions{store: callbackStore, biz: biz})
			queries := newWorld(t, worldOptions{store: queryStore, biz: biz, gateway: callbacks.gateway})

			var trades atomic.Int32
			source := map[string]func(t *testing.T, tr *alipaytest.Trade){
				"notify": func(t *testing.T, tr *alipaytest.Trade) {
					if body := callbacks.notify(tr.Paid()); body != "success" {
						t.Errorf("notify answered %q", body)
					}
				},
				"return": func(t *testing.T, tr *alipaytest.Trade) {
					if page := callbacks.browserReturn(tr.Return()); page != middleware.OutcomeHandled.String() && page != middleware.OutcomeDuplicate.String() {
						t.Errorf("return page: %q", page)
					}
				},
				"query": func(t *testing.T, tr *alipaytest.Trade) {
					res, err := queries.rec.Reconcile(context.Background(), tr.OutTradeNo)
					if err != nil || res.Delivery == nil || !res.Delivery.Outcome.Acknowledged() {
						t.Errorf("query: %+v %v", res.Delivery, err)
					}
				},
			}
			newPaidTrade := func() *alipaytest.Trade {
				tr := callbacks.signer.NewTrade(fmt.Sprintf("RACE-%s-%03d", name, trades.Add(1)), "66.00")
				callbacks.gateway.SetStatus(tr, "TRADE_SUCCESS")
				return tr
			}
			checkOnce := func(t *testing.T, tr *alipaytest.Trade) {
				t.Helper()
				if runs, _ := biz.ran(callbacks.verifyNotify(t, tr.Paid())); runs != 1 {
					t.Errorf("%s: the handler ran %d times, want 1", tr.OutTradeNo, runs)
				}
			}

			for _, order := range permutations([]string{"notify", "return", "query"}) {
				t.Run(strings.Join(order, "-"), func(t *testing.T) {
					tr := newPaidTrade()
					for _, s := range order {
						source[s](t, tr)
					}
					checkOnce(t, tr)
				})
			}
			t.Run("concurrent", func(t *testing.T) {
				const rounds = 10
				for range rounds {
					tr := newPaidTrade()
					start := make(chan struct{})
					var wg sync.WaitGroup
					for _, s := range []string{"notify", "return", "query"} {
						wg.Go(func() {
							<-start
							source[s](t, tr)
						})
					}
					close(start)
					wg.Wait()
					checkOnce(t, tr)
				}
			})
			if want := int(trades.Load()); biz.total() != want {
				t.Errorf("%d runs for %d paid orders", biz.total(), want)
			}
		})
	}
}

// permutations returns every order of items.
func permutations(items []string) [][]string {
	if len(items) <= 1 {
		return [][]string{append([]string(nil), items...)}
	}
	var out [][]string
	for i, first := range items {
		rest := append(append([]string(nil), items[:i]...), items[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]string{first}, p...))
		}
	}
	return out
}
