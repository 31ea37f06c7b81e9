package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/reconcile"
)

// epoch is the fake clocks' start.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, alipaynotify.ChinaTime)

// TestRunSchedule: Run ticks Interval ± Jitter apart (never all alike), asks
// about each listed order once a tick however often it is listed, delivers
// a paid order once across ticks, and returns ctx's error when ctx ends.
func TestRunSchedule(t *testing.T) {
	t.Parallel()
	const ticks = 8
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stats []reconcile.TickStats
	pending := func(context.Context) ([]string, error) {
		return []string{"S-PAID", "S-UNKNOWN", "S-PAID", "S-WAIT"}, nil
	}
	w := newWorld(t, worldOptions{recOpts: reconcile.ReconcilerOptions{
		Pending: pending, Interval: time.Minute, Jitter: 6 * time.Second,
		Hooks: reconcile.Hooks{TickDone: func(_ context.Context, s reconcile.TickStats) {
			if stats = append(stats, s); len(stats) == ticks {
				cancel()
			}
		}},
	}})
	paid := w.signer.NewTrade("S-PAID", "3.00")
	w.gateway.SetStatus(paid, "TRADE_SUCCESS")
	w.gateway.SetStatus(w.signer.NewTrade("S-WAIT", "3.00"), "WAIT_BUYER_PAY")
	clock := reconcile.NewFakeClock(epoch)
	reconcile.UseClock(w.rec, clock)

	if err := w.rec.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if len(stats) != ticks {
		t.Fatalf("%d ticks, want %d", len(stats), ticks)
	}
	if first := stats[0].Start.Sub(epoch); first < 0 || first > 6*time.Second {
		t.Errorf("first tick after %v, want within the jitter", first)
	}
	gaps := map[time.Duration]bool{}
	for i, s := range stats {
		want := reconcile.TickStats{Start: s.Start, Duration: s.Duration, Listed: 3, Repeated: 1, Queried: 3, NotFound: 1, NotPaid: 1, Paid: 1, Handled: 1}
		if i > 0 {
			want.Handled, want.Duplicates = 0, 1
			gap := s.Start.Sub(stats[i-1].Start)
			if gap < 54*time.Second || gap > 66*time.Second {
				t.Errorf("tick %d started %v after the previous one, want 1m ± 6s", i, gap)
			}
			gaps[gap] = true
		}
		if s != want {
			t.Errorf("tick %d: %+v, want %+v", i, s, want)
		}
	}
	if len(gaps) < 2 {
		t.Errorf("every gap is %v: no jitter", gaps)
	}
	for no, want := range map[string]int{"S-PAID": ticks, "S-UNKNOWN": ticks, "S-WAIT": ticks} {
		if got := w.gateway.Queries(no); got != want {
			t.Errorf("%s queried %d times, want %d (once a tick)", no, got, want)
		}
	}
	if w.biz.total() != 1 {
		t.Errorf("handler ran %d times, want 1", w.biz.total())
	}
}

// TestRunOverrunDelaysTheNextTick: a tick longer than the interval (more
// orders than the rate lets through in it) is not overlapped: the next one
// starts Interval ± Jitter after it ended.
func TestRunOverrunDelaysTheNextTick(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stats []reconcile.TickStats
	orders := []string{"O-1", "O-2", "O-3", "O-4", "O-5"}
	q := querierFunc(func(context.Context, string) (*alipaynotify.Notification, error) {
		return nil, alipaynotify.ErrTradeNotFound
	})
	w := newWorld(t, worldOptions{recOpts: reconcile.ReconcilerOptions{
		Querier: q, Pending: func(context.Context) ([]string, error) { return orders, nil },
		Interval: 2 * time.Second, Jitter: 100 * time.Millisecond, Rate: 1,
		Hooks: reconcile.Hooks{TickDone: func(_ context.Context, s reconcile.TickStats) {
			if stats = append(stats, s); len(stats) == 3 {
				cancel()
			}
		}},
	}})
	reconcile.UseClock(w.rec, reconcile.NewFakeClock(epoch))
	if err := w.rec.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	for i, s := range stats {
		if s.Queried != len(orders) || s.Duration < 4*time.Second {
			t.Errorf("tick %d: %+v, want 5 queries 1s apart", i, s)
		}
		if i == 0 {
			continue
		}
		end := stats[i-1].Start.Add(stats[i-1].Duration)
		if gap := s.Start.Sub(end); gap < 1900*time.Millisecond || gap > 2100*time.Millisecond {
			t.Errorf("tick %d started %v after the previous one ended, want 2s ± 100ms", i, gap)
		}
	}
}

// TestRunPendingFails: a failing Pending is reported and queries nothing;
// the next tick tries again.
func TestRunPendingFails(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errDB := errors.New("orders database down")
	var calls atomic.Int32
	var stats []reconcile.TickStats
	w := newWorld(t, worldOptions{recOpts: reconcile.ReconcilerOptions{
		Pending: func(context.Context) ([]string, error) {
			if calls.Add(1) == 1 {
				return nil, errDB
			}
			return []string{"PF-1"}, nil
		},
		Hooks: reconcile.Hooks{TickDone: func(_ context.Context, s reconcile.TickStats) {
			if stats = append(stats, s); len(stats) == 2 {
				cancel()
			}
		}},
	}})
	reconcile.UseClock(w.rec, reconcile.NewFakeClock(epoch))
	if err := w.rec.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if !errors.Is(stats[0].Err, reconcile.ErrPending) || !errors.Is(stats[0].Err, errDB) || stats[0].Queried != 0 {
		t.Errorf("first tick: %+v", stats[0])
	}
	if stats[1].Err != nil || stats[1].Queried != 1 || stats[1].NotFound != 1 {
		t.Errorf("second tick: %+v", stats[1])
	}
}

// TestRateUnderThousandPendingOrders: a tick of 1,000 pending orders sends
// 1,000 queries, one per order, whose start times (the tokens the limiter
// handed out, on a fake clock) are never closer than 1/Rate.
func TestRateUnderThousandPendingOrders(t *testing.T) {
	t.Parallel()
	const orders, rate = 1000, 10
	var list []string
	for i := range orders {
		list = append(list, fmt.Sprintf("RATE-%04d", i))
	}
	var mu sync.Mutex
	asked := map[string]int{}
	q := querierFunc(func(_ context.Context, no string) (*alipaynotify.Notification, error) {
		mu.Lock()
		defer mu.Unlock()
		asked[no]++
		return nil, alipaynotify.ErrTradeNotFound
	})
	w := newWorld(t, worldOptions{recOpts: reconcile.ReconcilerOptions{
		Querier: q, Pending: func(context.Context) ([]string, error) { return list, nil },
		Rate: rate, Concurrency: 8,
	}})
	clock := reconcile.NewFakeClock(epoch)
	reconcile.UseClock(w.rec, clock)
	st := reconcile.Tick(context.Background(), w.rec)
	if st.Queried != orders || st.Listed != orders || st.NotFound != orders || st.Unqueried != 0 {
		t.Fatalf("tick: %+v", st)
	}
	if len(asked) != orders {
		t.Fatalf("%d orders asked about, want %d", len(asked), orders)
	}
	for no, n := range asked {
		if n != 1 {
			t.Fatalf("%s asked %d times in one tick", no, n)
		}
	}
	starts := clock.Sleeps() // every query waits for its token
	if len(starts) != orders {
		t.Fatalf("%d tokens handed out, want %d", len(starts), orders)
	}
	slices.SortFunc(starts, time.Time.Compare)
	every := time.Second / rate
	for i := 1; i < len(starts); i++ {
		if d := starts[i].Sub(starts[i-1]); d < every {
			t.Fatalf("queries %d and %d start %v apart, want at least %v", i-1, i, d, every)
		}
	}
	if span, min := starts[len(starts)-1].Sub(starts[0]), (orders-1)*every; span < min {
		t.Errorf("1,000 queries spread over %v, want at least %v", span, min)
	}
	if st.Duration < (orders-1)*every {
		t.Errorf("the tick took %v of the fake clock, want at least %v", st.Duration, (orders-1)*every)
	}
}

// TestConcurrencyBound: no more than Concurrency queries are in flight at
// once, and the bound is reached.
func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	const concurrency = 3
	var inFlight, most atomic.Int32
	full := make(chan struct{})
	var once sync.Once
	q := querierFunc(func(ctx context.Context, _ string) (*alipaynotify.Notification, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		if n == concurrency {
			once.Do(func() { close(full) })
		}
		select { // hold every query until the bound is reached
		case <-full:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nil, alipaynotify.ErrTradeNotFound
	})
	var list []string
	for i := range 50 {
		list = append(list, fmt.Sprintf("C-%02d", i))
	}
	w := newWorld(t, worldOptions{recOpts: reconcile.ReconcilerOptions{
		Querier: q, Pending: func(context.Context) ([]string, error) { return list, nil },
		Concurrency: concurrency, Rate: 1e9,
	}})
	// Reconcile calls share the bound with the tick.
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if _, err := w.rec.Reconcile(context.Background(), fmt.Sprintf("ONE-OFF-%d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	st := reconcile.Tick(context.Background(), w.rec)
	wg.Wait()
	if st.Queried != len(list) || st.Failed != 0 {
		t.Errorf("tick: %+v", st)
	}
	if got := most.Load(); got != concurrency {
		t.Errorf("at most %d queries in flight, want %d", got, concurrency)
	}
}

// TestRunStopsWithoutLeaks: cancelling Run while queries hang returns
// promptly with context.Canceled, and every goroutine Run started has
// returned.
func TestRunStopsWithoutLeaks(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	hanging := make(chan struct{}, 100)
	q := querierFunc(func(ctx context.Context, _ string) (*alipaynotify.Notification, error) {
		hanging <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	list := []string{"L-1", "L-2", "L-3", "L-4", "L-5", "L-6"}
	w := newWorld(t, worldOptions{recOpts: reconcile.ReconcilerOptions{
		Querier: q, Pending: func(context.Context) ([]string, error) { return list, nil },
		Interval: 10 * time.Millisecond, Jitter: time.Millisecond, Concurrency: 4, Rate: 1e9, QueryTimeout: time.Hour,
	}})
	runtime.GC()
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.rec.Run(ctx) }()
	for range 4 { // four queries hang: the tick is mid-flight
		<-hanging
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	// Run has returned, so its workers have (it waits for them); the count
	// may lag while the runtime reaps the exited goroutines.
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 1000 {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before Run:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}
