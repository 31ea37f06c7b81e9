package middleware_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// redisAddr returns the shared test Redis (see internal/redistest).
func redisAddr(t testing.TB) string { return redistest.Addr(t) }

func uniquePrefix() string { return fmt.Sprintf("t%d", time.Now().UnixNano()) }

func newRedisStore(t testing.TB, client redis.UniversalClient) dedupe.Store {
	t.Helper()
	st, err := redisstore.New(client, redisstore.Options{Prefix: uniquePrefix()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRedisConcurrentDuplicates: 200 duplicates at once over two middleware
// instances, each with its own client, on one Redis → one run.
func TestRedisConcurrentDuplicates(t *testing.T) {
	addr := redisAddr(t)
	prefix := uniquePrefix()
	var stores []dedupe.Store
	for i := 0; i < 2; i++ {
		c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
		t.Cleanup(func() { c.Close() })
		st, err := redisstore.New(c, redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, st)
	}
	testConcurrentDuplicates(t, stores[0], stores[1])
}

// TestRedisClusterConcurrentDuplicates runs the same on Redis Cluster.
func TestRedisClusterConcurrentDuplicates(t *testing.T) {
	addrs := redistest.ClusterAddrs(t)
	prefix := uniquePrefix()
	var stores []dedupe.Store
	for i := 0; i < 2; i++ {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		t.Cleanup(func() { c.Close() })
		st, err := redisstore.New(c, redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, st)
	}
	testConcurrentDuplicates(t, stores[0], stores[1])
}

// countingHook counts commands sent to Redis, pipelines included.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// TestRedisRoundTrips: a first delivery costs 2 round trips (claim,
// complete), a duplicate 1 (claim).
func TestRedisRoundTrips(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: redisAddr(t)})
	defer c.Close()
	hook := &countingHook{}
	c.AddHook(hook)
	f := newFixture(t, middleware.Options{Store: newRedisStore(t, c)})
	warm := f.signer.NewTrade("RT-WARM", "1.00").Paid() // loads the scripts
	f.notify(t, warm)
	f.notify(t, warm)

	paid := f.signer.NewTrade("RT-1", "1.00").Paid()
	before := hook.n.Load()
	if _, body := f.notify(t, paid); body != "success" {
		t.Fatal(body)
	}
	first := hook.n.Load() - before
	before = hook.n.Load()
	if _, body := f.notify(t, paid); body != "success" {
		t.Fatal(body)
	}
	dup := hook.n.Load() - before
	t.Logf("round trips: first delivery %d, duplicate %d", first, dup)
	if first != 2 || dup != 1 {
		t.Fatalf("round trips: first %d (want 2), duplicate %d (want 1)", first, dup)
	}
}

// TestRedisStoppedMidRun: with Redis down, deliveries answer "fail" and the
// handler never runs; when Redis is back, the retry runs it once.
func TestRedisStoppedMidRun(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, MaxRetries: 1})
	defer c.Close()
	f := newFixture(t, middleware.Options{Store: newRedisStore(t, c)})
	trade := f.signer.NewTrade("DOWN-1", "1.00")
	if _, body := f.notify(t, f.signer.NewTrade("DOWN-0", "1.00").Paid()); body != "success" {
		t.Fatal("before the outage:", body)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	paid := trade.Paid()
	for i := 0; i < 3; i++ {
		if code, body := f.notify(t, paid); code != 503 || body != "fail" {
			t.Fatalf("during the outage: %d %q", code, body)
		}
	}
	if f.rec.total() != 1 {
		t.Fatalf("the handler ran during the outage (runs %d)", f.rec.total())
	}
	if err := srv.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := f.notify(t, paid)
		if body == "success" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no recovery after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.notify(t, paid)
	if f.rec.total() != 2 || f.rec.maxRuns() != 1 {
		t.Fatalf("after recovery: total %d max %d", f.rec.total(), f.rec.maxRuns())
	}
}

// TestRedisRestartPersistence: done events survive a Redis restart with AOF
// persistence.
func TestRedisRestartPersistence(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: 3})
	defer c.Close()
	store := newRedisStore(t, c)
	f := newFixture(t, middleware.Options{Store: store})
	msgs := []*alipaytest.Message{}
	for i := 0; i < 5; i++ {
		msgs = append(msgs, f.signer.NewTrade(fmt.Sprintf("PERSIST-%d", i), "1.00").Paid())
	}
	for _, m := range msgs {
		if _, body := f.notify(t, m); body != "success" {
			t.Fatal(body)
		}
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(srv.Dir(), "appendonlydir")); err != nil {
		if _, err2 := os.Stat(filepath.Join(srv.Dir(), "appendonly.aof")); err2 != nil {
			t.Fatalf("no AOF written: %v", err)
		}
	}
	if err := srv.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if _, body := f.notify(t, m); body != "success" {
			t.Fatal(body)
		}
	}
	if f.rec.total() != 5 {
		t.Fatalf("after restart the handler ran %d times, want 5", f.rec.total())
	}
}

// nopStore turns dedupe off: every claim succeeds, nothing is remembered.
// It exists only to measure what dedupe costs.
type nopStore struct{}

func (nopStore) Claim(context.Context, dedupe.Event, time.Duration) (dedupe.Claim, error) {
	return dedupe.Claim{State: dedupe.Claimed, Token: "nop"}, nil
}
func (nopStore) Extend(context.Context, dedupe.Event, string, time.Duration) (bool, error) {
	return true, nil
}
func (nopStore) Complete(context.Context, dedupe.Event, string, dedupe.Completion) (bool, error) {
	return true, nil
}
func (nopStore) Release(context.Context, dedupe.Event, string) (bool, error) { return true, nil }

// BenchmarkEndToEnd serves notify deliveries over loopback HTTP through the
// middleware with dedupe off, on the memory store and on Redis, in one run.
// "first" sends a new event each time (claim + handler + complete); "dup"
// resends one already handled event (one claim).
func BenchmarkEndToEnd(b *testing.B) {
	s := alipaytest.NewSigner(alipaytest.TestKey())
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{s.PublicKeyPEM()}})
	if err != nil {
		b.Fatal(err)
	}
	const pool = 2048 // pre-signed first deliveries, reused across stores with fresh prefixes
	bodies := make([][]byte, pool)
	for i := range bodies {
		bodies[i] = s.NewTrade(fmt.Sprintf("BENCH-%d", i), "88.88").Paid().Encode()
	}
	stores := []struct {
		name string
		mk   func(b *testing.B) dedupe.Store
	}{
		{"dedupe=off", func(*testing.B) dedupe.Store { return nopStore{} }},
		{"dedupe=memory", func(*testing.B) dedupe.Store { return dedupe.NewMemoryStore() }},
		{"dedupe=redis", func(b *testing.B) dedupe.Store {
			c := redis.NewClient(&redis.Options{Addr: redistest.Addr(b), PoolSize: 64})
			b.Cleanup(func() { c.Close() })
			return newRedisStore(b, c)
		}},
	}
	for _, st := range stores {
		for _, mode := range []string{"first", "dup"} {
			b.Run(st.name+"/"+mode, func(b *testing.B) {
				store := st.mk(b)
				if mode == "first" {
					if ms, ok := store.(*dedupe.MemoryStore); ok {
						defer ms.Close()
					}
				}
				mw, err := middleware.New(middleware.Options{Verifier: v, Store: store, Logger: discardLogger()})
				if err != nil {
					b.Fatal(err)
				}
				var runs atomic.Int64
				srv := httptest.NewServer(mw.Notify(middleware.HandlerFunc(func(context.Context, *alipaynotify.Notification) error {
					runs.Add(1)
					return nil
				})))
				defer srv.Close()
				client := srv.Client()
				client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
				var next atomic.Int64
				var rounds atomic.Int64
				b.ReportAllocs()
				b.SetParallelism(8) // 16 concurrent deliveries on 2 cores, as a busy merchant sees

				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						body := bodies[0]
						if mode == "first" {
							i := next.Add(1)
							if i%pool == 0 && st.name != "dedupe=off" {
								rounds.Add(1)
							}
							body = bodies[i%pool]
						}
						resp, err := client.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(string(body)))
						if err != nil {
							b.Error(err)
							return
						}
						buf := make([]byte, 16)
						n, _ := resp.Body.Read(buf)
						resp.Body.Close()
						if string(buf[:n]) != "success" {
							b.Errorf("answer %q", buf[:n])
							return
						}
					}
				})
			})
		}
	}
}

// storePrefixes numbers the Redis key prefixes of onEveryStore's stores.
var storePrefixes atomic.Int64

// onEveryStore runs test once per dedupe store: the memory store, the
// shared Redis and the shared Redis Cluster (internal/redistest: skipped
// without redis-server, failed on CI). newStore returns a fresh, empty store each
// call (on Redis: a new key prefix).
func onEveryStore(t *testing.T, test func(t *testing.T, newStore func() dedupe.Store)) {
	t.Run("memory", func(t *testing.T) {
		test(t, func() dedupe.Store {
			s := dedupe.NewMemoryStore()
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	onRedis := func(t *testing.T, client redis.UniversalClient) {
		t.Cleanup(func() { client.Close() })
		test(t, func() dedupe.Store {
			st, err := redisstore.New(client, redisstore.Options{Prefix: fmt.Sprintf("%s-%d", uniquePrefix(), storePrefixes.Add(1))})
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	}
	t.Run("redis", func(t *testing.T) {
		onRedis(t, redis.NewClient(&redis.Options{Addr: redisAddr(t)}))
	})
	t.Run("cluster", func(t *testing.T) {
		onRedis(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.ClusterAddrs(t)}))
	})
}
