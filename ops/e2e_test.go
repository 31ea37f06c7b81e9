package alipayops_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
	"github.com/alipaynotify/alipaynotify/internal/simulator"
)

// compression plays Alipay's 24h22m retry schedule in about 88ms.
const compression = 1_000_000

// TestRecoverDeadLetter is issue 17's story end to end, on the memory store
// and on Redis: a handler fails on every one of Alipay's 8 tries of a
// payment (its schedule compressed); the payment is a dead letter with 8
// attempts; the handler is fixed; the operator replays it from the ops page
// and it runs exactly once; Alipay's late retry is then a duplicate.
func TestRecoverDeadLetter(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) dedupe.Store{
		"memory": func(*testing.T) dedupe.Store { return dedupe.NewMemoryStore() },
		"redis": func(t *testing.T) dedupe.Store {
			c := redis.NewClient(&redis.Options{Addr: redistest.Addr(t)})
			t.Cleanup(func() { c.Close() })
			st, err := redisstore.New(c, redisstore.Options{Prefix: fmt.Sprintf("ops%d", time.Now().UnixNano())})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{store: newStore(t), actions: true})
			paid := e.signer.NewTrade("ORDER-E2E", "66.60").Paid()

			// 1. Every try fails.
			e.shop.fail(errors.New("inventory service down"))
			for i, wait := range simulator.AlipaySchedule {
				time.Sleep(wait / compression)
				if got := e.deliver(t, paid); got != "fail" {
					t.Fatalf("try %d answered %q", i+1, got)
				}
			}
			// 2. A dead letter counting the 8 tries.
			dls, err := e.mw.DeadLetters(context.Background(), 10)
			if err != nil || len(dls) != 1 || dls[0].Attempts != len(simulator.AlipaySchedule) || dls[0].Err != "inventory service down" {
				t.Fatalf("dead letters: %+v, %v", dls, err)
			}
			cookie, token := e.session(t, "/deadletters")
			// 3. The handler is fixed; 4. the operator replays: it runs once.
			e.shop.fail(nil)
			form := url.Values{"trade": {dls[0].Trade}, "id": {dls[0].ID}, "csrf": {token}}
			w := e.do("POST", "/replay", form, http.Header{"Cookie": {cookie}})
			if w.Code != 200 || !strings.Contains(w.Body.String(), ">handled<") {
				t.Fatalf("replay: %d\n%s", w.Code, w.Body)
			}
			e.mw.Wait()
			if w := e.do("POST", "/replay", form, http.Header{"Cookie": {cookie}}); w.Code != 404 {
				t.Fatalf("second replay of a cleared dead letter: %d\n%s", w.Code, w.Body)
			}
			// 5. Alipay's late retry is a duplicate.
			if got := e.deliver(t, paid); got != "success" {
				t.Fatalf("late retry answered %q", got)
			}
			if e.shop.total() != 1 {
				t.Fatalf("the handler ran %d times, want exactly 1", e.shop.total())
			}
			view, err := e.mw.Lookup(context.Background(), merchant, "ORDER-E2E")
			if err != nil || len(view.Events) != 1 || view.Events[0].Source != dedupe.SourceReplay || len(view.Failed) != 0 {
				t.Fatalf("Lookup: %+v, %v", view, err)
			}
		})
	}
}
