package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/internal/faultproxy"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// Tests through internal/faultproxy in front of the shared test Redis:
// instance A reaches Redis through the proxy, instance B directly. The
// go-redis clients keep their default timeouts (3s reads, 3 retries), so
// only the middleware's own bounds keep the answers quick.

// faultyPair is two middleware instances sharing one Redis key prefix.
type faultyPair struct {
	proxy  *faultproxy.Proxy
	a, b   *fixture
	cmdsA  *countingHook // commands A sends
	prefix string
}

func newFaultyPair(t *testing.T, opts middleware.Options) *faultyPair {
	t.Helper()
	addr := redisAddr(t)
	p, err := faultproxy.Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	fp := &faultyPair{proxy: p, cmdsA: &countingHook{}, prefix: fmt.Sprintf("%s-%d", uniquePrefix(), storePrefixes.Add(1))}
	for i, target := range []string{p.Addr(), addr} {
		c := redis.NewClient(&redis.Options{Addr: target})
		t.Cleanup(func() { c.Close() })
		if i == 0 {
			c.AddHook(fp.cmdsA)
		}
		st, err := redisstore.New(c, redisstore.Options{Prefix: fp.prefix})
		if err != nil {
			t.Fatal(err)
		}
		o := opts
		o.Store, o.Logger = st, discardLogger()
		f := newFixture(t, o)
		if i == 0 {
			fp.a = f
		} else {
			fp.b = f
		}
	}
	// Load the scripts on Redis, so that later counts are of EVALSHA only.
	warm := fp.a.signer.NewTrade("WARM-"+fp.prefix, "1.00").Paid()
	if _, body := fp.a.notify(t, warm); body != "success" {
		t.Fatal("warm-up:", body)
	}
	return fp
}

// TestPartitionedOwnerIsCancelled (issue 14, item 3 through a real Redis):
// instance A is cut off from Redis while its handler runs. A's handler is
// cancelled with ErrLeaseLost within a lease of the partition (the bound is
// Lease + Lease/3), before B can take the event over, so the two handlers do
// not overlap by more than Lease/3; A answers "fail", B runs the event once.
func TestPartitionedOwnerIsCancelled(t *testing.T) {
	const lease = 600 * time.Millisecond
	fp := newFaultyPair(t, middleware.Options{Lease: lease, StoreTimeout: 200 * time.Millisecond, WaitInFlight: 10 * time.Second})
	type run struct {
		start, end time.Time
		cause      error
	}
	var mu sync.Mutex
	var runs []run
	started := make(chan struct{}, 2)
	business := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		r := run{start: time.Now()}
		started <- struct{}{}
		select {
		case <-ctx.Done(): // a cooperative handler: stop when told
		case <-time.After(10 * time.Second):
		}
		r.end, r.cause = time.Now(), context.Cause(ctx)
		mu.Lock()
		runs = append(runs, r)
		mu.Unlock()
		if r.cause == nil {
			return nil
		}
		return ctx.Err()
	})
	quick := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		mu.Lock()
		runs = append(runs, run{start: time.Now(), end: time.Now()})
		mu.Unlock()
		return nil
	})
	fp.a.mux.Handle("/slow", fp.a.mw.Notify(business))
	fp.b.mux.Handle("/quick", fp.b.mw.Notify(quick))
	paid := fp.a.signer.NewTrade("PARTITIONED", "1.00").Paid()

	answerA := make(chan string)
	go func() { answerA <- fp.a.serve(paid.Request("/slow")).Body.String() }()
	<-started
	fp.proxy.Partition(faultproxy.Both)
	cut := time.Now()
	// B polls while A's claim lives, then takes over once it expired.
	if body := fp.b.serve(paid.Request("/quick")).Body.String(); body != "success" {
		t.Fatalf("B: %q", body)
	}
	if body := <-answerA; body != "fail" {
		t.Fatalf("A answered %q after losing its lease, want fail", body)
	}
	fp.proxy.Heal()

	mu.Lock()
	defer mu.Unlock()
	if len(runs) != 2 {
		t.Fatalf("%d handler runs, want A's (cancelled) and B's", len(runs))
	}
	a, b := runs[0], runs[1]
	if a.cause == nil {
		a, b = b, a
	}
	cancelledAfter := a.end.Sub(cut)
	overlap := a.end.Sub(b.start)
	t.Logf("lease %v: A cancelled %v after the partition; A ended %v before B started", lease, cancelledAfter.Round(time.Millisecond), -overlap.Round(time.Millisecond))
	if !errors.Is(a.cause, middleware.ErrLeaseLost) || cancelledAfter > lease+lease/3+margin {
		t.Fatalf("A's handler ended %v after the partition with cause %v, want ErrLeaseLost within %v", cancelledAfter, a.cause, lease+lease/3+margin)
	}
	if overlap > lease/3 {
		t.Fatalf("A's and B's handlers overlapped by %v, more than Lease/3", overlap)
	}
	// The event is done (B's run): a duplicate through A, healed, runs nothing.
	if _, body := fp.a.notify(t, paid); body != "success" {
		t.Fatalf("duplicate after heal: %q", body)
	}
}

// TestAnswersBoundedWhileRedisStalls: with Redis cut off, slowed down past
// StoreTimeout, or the connections half-open, a delivery answers "fail"
// within StoreTimeout (the documented bound for a first delivery is
// WaitInFlight + 2 x StoreTimeout plus the handler); dropped connections are
// re-dialled and the delivery succeeds. After the fault, the event is
// handled exactly once.
func TestAnswersBoundedWhileRedisStalls(t *testing.T) {
	const timeout = 150 * time.Millisecond
	for _, tc := range []struct {
		name  string
		fault func(p *faultproxy.Proxy)
		heal  func(p *faultproxy.Proxy)
		ok    bool // the delivery during the fault succeeds
	}{
		{"partition both ways", func(p *faultproxy.Proxy) { p.Partition(faultproxy.Both) }, (*faultproxy.Proxy).Heal, false},
		{"partition to Redis", func(p *faultproxy.Proxy) { p.Partition(faultproxy.ToServer) }, (*faultproxy.Proxy).Heal, false},
		{"partition from Redis", func(p *faultproxy.Proxy) { p.Partition(faultproxy.ToClient) }, (*faultproxy.Proxy).Heal, false},
		{"latency spike", func(p *faultproxy.Proxy) { p.SetLatency(2 * timeout) }, func(p *faultproxy.Proxy) { p.SetLatency(0) }, false},
		{"half-open sockets", func(p *faultproxy.Proxy) { p.HalfOpen() }, func(*faultproxy.Proxy) {}, false},
		{"dropped connections", func(p *faultproxy.Proxy) { p.Drop() }, func(*faultproxy.Proxy) {}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := newFaultyPair(t, middleware.Options{StoreTimeout: timeout})
			paid := fp.a.signer.NewTrade("STALL", "1.00").Paid()
			tc.fault(fp.proxy)
			code, body, took := timed(fp.a, "/alipay/notify", paid)
			t.Logf("answered %d %q after %v", code, body, took.Round(time.Millisecond))
			if took > timeout+margin {
				t.Fatalf("answer after %v, want within StoreTimeout %v (+%v)", took, timeout, margin)
			}
			if want := map[bool]string{true: "success", false: "fail"}[tc.ok]; body != want {
				t.Fatalf("answer %d %q, want %q", code, body, want)
			}
			tc.heal(fp.proxy)
			// Once Redis answers again, the retries settle it: the event is
			// handled once in all. (A claim abandoned mid-fault may hold the
			// event for a lease, during which a retry answers fail.)
			deadline := time.Now().Add(middleware.DefaultLease + 10*time.Second)
			for {
				if _, body := fp.a.notify(t, paid); body == "success" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no success after the fault")
				}
			}
			if _, body := fp.b.notify(t, paid); body != "success" || fp.a.rec.total()+fp.b.rec.total() != 2 {
				t.Fatalf("after the fault: %q, runs %d (want the warm-up and this event)", body, fp.a.rec.total()+fp.b.rec.total())
			}
		})
	}
}

// TestDuplicatesCostBoundedStoreCalls counts the Redis commands that many
// duplicates of one event cost A while its handler runs in A, and while it
// runs in B (A's duplicates poll), with 5ms of added latency. Half of them
// are over MaxWaiting and answer at once.
func TestDuplicatesCostBoundedStoreCalls(t *testing.T) {
	const dups, maxWaiting = 40, 20
	for _, tc := range []struct {
		name     string
		ownerInA bool
		bound    int64
	}{
		// The owner's Complete; the duplicates call nothing.
		{"owner in this process", true, 1},
		// About 8 polls per WaitInFlight for all the duplicates together.
		{"owner in another process", false, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := newFaultyPair(t, middleware.Options{WaitInFlight: 600 * time.Millisecond, MaxWaiting: maxWaiting})
			fp.proxy.SetLatency(5 * time.Millisecond)
			owner := fp.b
			if tc.ownerInA {
				owner = fp.a
			}
			running, release := make(chan struct{}), make(chan struct{})
			owner.rec.onRun = func() { close(running); <-release }
			paid := fp.a.signer.NewTrade("DUPS", "1.00").Paid()
			ownerDone := make(chan string)
			go func() { _, body := owner.notify(t, paid); ownerDone <- body }()
			<-running
			before := fp.cmdsA.n.Load()
			answers := make(chan string, dups)
			for range dups {
				go func() { _, body := fp.a.notify(t, paid); answers <- body }()
			}
			// Those over the cap answer at once; then the rest wait.
			for range dups - maxWaiting {
				if body := <-answers; body != "fail" {
					t.Fatalf("over the cap: %q", body)
				}
			}
			want := "success"
			if !tc.ownerInA {
				want = "fail" // they give up polling: the owner still runs
				for range maxWaiting {
					if body := <-answers; body != want {
						t.Fatalf("waiting duplicate: %q, want %q", body, want)
					}
				}
			}
			close(release)
			if body := <-ownerDone; body != "success" {
				t.Fatal("owner:", body)
			}
			if tc.ownerInA {
				for range maxWaiting {
					if body := <-answers; body != want {
						t.Fatalf("waiting duplicate: %q, want %q", body, want)
					}
				}
			}
			calls := fp.cmdsA.n.Load() - before
			t.Logf("%d duplicates: %d Redis commands from A", dups, calls)
			if calls > tc.bound {
				t.Fatalf("%d duplicates cost %d Redis commands, want at most %d", dups, calls, tc.bound)
			}
		})
	}
}

var _ dedupe.Store = (*redisstore.Store)(nil)
