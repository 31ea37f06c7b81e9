// Command load measures alipaynotify's notify_url end to end: it serves the
// real middleware on 127.0.0.1 in this process and fires signed notify
// deliveries at it over loopback HTTP, first deliveries of distinct events
// mixed with duplicates, with dedupe off, on (memory store) and on (Redis
// store), interleaved round by round. It prints throughput and latency
// percentiles per mode with their ratios to dedupe off, the Redis round trips
// each delivery cost, and the Redis memory a remembered event costs.
//
// Usage (from bench/):
//
//	go run ./cmd/load [-redis 127.0.0.1:6379] [-n 6000] [-dup 0.3] [-c 16] [-rounds 5]
//
// The Redis mode uses -redis (default $ALIPAYNOTIFY_REDIS_ADDR) or, when that
// is empty, a private redis-server started for the run. The memory
// measurement always runs on a private, fresh redis-server (it needs
// redis-server on PATH or $REDIS_SERVER_BIN) so that nobody else's keys
// move the number. Only loopback addresses are ever contacted, and every
// run is bounded by -n and -timeout.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/bench/internal/nopstore"
	"github.com/alipaynotify/alipaynotify/bench/internal/redisproc"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// config is the command line.
type config struct {
	redisAddr   string
	n           int
	dup         float64
	concurrency int
	rounds      int
	modes       []string
	timeout     time.Duration
	memEvents   int
	seed        uint64
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("load: ")
	var cfg config
	var modes string
	flag.StringVar(&cfg.redisAddr, "redis", os.Getenv("ALIPAYNOTIFY_REDIS_ADDR"), "Redis for the dedupe=redis mode (default $ALIPAYNOTIFY_REDIS_ADDR; empty: start a private redis-server)")
	flag.IntVar(&cfg.n, "n", 6000, "deliveries per mode and round")
	flag.Float64Var(&cfg.dup, "dup", 0.3, "fraction of deliveries that resend an event already delivered")
	flag.IntVar(&cfg.concurrency, "c", 16, "concurrent deliveries")
	flag.IntVar(&cfg.rounds, "rounds", 5, "measured rounds; modes run interleaved within each round and the median round is reported")
	flag.StringVar(&modes, "modes", "off,memory,redis", "comma-separated dedupe modes: off, memory, redis")
	flag.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "upper bound for one mode's run")
	flag.IntVar(&cfg.memEvents, "mem-events", 100_000, "completed events for the Redis memory measurement (0: skip)")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the delivery order")
	flag.Parse()
	cfg.modes = strings.Split(modes, ",")
	if cfg.n <= 0 || cfg.dup < 0 || cfg.dup >= 1 || cfg.concurrency <= 0 || cfg.rounds <= 0 {
		log.Fatal("need -n > 0, 0 <= -dup < 1, -c > 0, -rounds > 0")
	}
	if err := run(cfg); err != nil {
		log.Fatal(err)
	}
}

func run(cfg config) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "alipaynotify-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	signer := alipaytest.NewSigner(alipaytest.TestKey())
	verifier, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{signer.PublicKeyPEM()}})
	if err != nil {
		return err
	}
	plan := newPlan(cfg, signer)

	var redisClient *redis.Client
	var rt *roundTrips
	if slices.Contains(cfg.modes, "redis") {
		addr := cfg.redisAddr
		if addr == "" {
			srv, err := redisproc.Start(ctx, redisproc.Options{Dir: mkdir(tmp, "redis-load")})
			if err != nil {
				return fmt.Errorf("dedupe=redis needs -redis, $ALIPAYNOTIFY_REDIS_ADDR or redis-server: %w", err)
			}
			defer srv.Stop()
			addr = srv.Addr
			log.Printf("started a private redis-server on %s", addr)
		}
		if !isLoopback(addr) {
			return fmt.Errorf("-redis %s: only loopback addresses are allowed", addr)
		}
		redisClient = redis.NewClient(&redis.Options{Addr: addr, PoolSize: 4 * cfg.concurrency})
		defer redisClient.Close()
		if err := redisClient.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis %s: %w", addr, err)
		}
		rt = &roundTrips{}
		redisClient.AddHook(rt)
	}
	newStore := func(mode string, run int) (dedupe.Store, func(), error) {
		switch mode {
		case "off":
			return nopstore.Store{}, func() {}, nil
		case "memory":
			s := dedupe.NewMemoryStore()
			return s, func() { s.Close() }, nil
		case "redis":
			// A fresh prefix per run: the same pre-signed events are new again.
			s, err := redisstore.New(redisClient, redisstore.Options{Prefix: "load" + strconv.Itoa(run) + "x" + strconv.FormatInt(time.Now().UnixNano(), 36)})
			return s, func() {}, err
		}
		return nil, nil, fmt.Errorf("unknown mode %q", mode)
	}

	// One short warm-up run per mode (connections, scripts, heap), not reported.
	results := map[string][]result{}
	runID := 0
	for round := -1; round < cfg.rounds; round++ {
		for _, mode := range cfg.modes {
			runID++
			store, closeStore, err := newStore(mode, runID)
			if err != nil {
				return err
			}
			n := cfg.n
			if round < 0 {
				n = min(cfg.n, 500)
			}
			var modeRT *roundTrips
			if mode == "redis" {
				modeRT = rt
				rt.reset()
			}
			res, err := deliver(ctx, cfg, plan, n, verifier, store, modeRT)
			closeStore()
			if err != nil {
				return fmt.Errorf("%s: %w", mode, err)
			}
			if round >= 0 {
				results[mode] = append(results[mode], res)
				log.Printf("round %d %-6s %7.0f deliveries/s  p50 %v  p99 %v", round+1, mode, res.throughput(), res.all.q(0.5), res.all.q(0.99))
			}
		}
	}

	printLoadTable(cfg, results)
	if rt != nil {
		printRoundTrips(results["redis"])
	}
	if cfg.memEvents > 0 {
		fmt.Printf("\nRedis memory per remembered event (used_memory and DBSIZE deltas, %d trades, default prefix, fresh redis-server %s):\n",
			cfg.memEvents, redisproc.Version(""))
		for _, binding := range []bool{false, true} {
			label := "open platform, middleware defaults (no trade_no binding)"
			if binding {
				label = "with the trade_no binding (legacy callbacks by default; every callback with TradeNoCheckAll)"
			}
			cost, err := memoryPerEvent(ctx, cfg.memEvents, signer, verifier, binding, mkdir(tmp, "redis-mem-"+strconv.FormatBool(binding)))
			if err != nil {
				fmt.Printf("Redis memory, %s: not measured (%v)\n", label, err)
				continue
			}
			fmt.Printf("Redis memory, %s: first event of a trade (TRADE_SUCCESS): %.1f bytes, %.2f keys\n", label, cost.firstBytes, cost.firstKeys)
			fmt.Printf("Redis memory, %s: each further event of the trade (TRADE_FINISHED): %.1f bytes, %.2f keys\n", label, cost.laterBytes, cost.laterKeys)
		}
	}
	return nil
}

// plan is the delivery sequence every run replays: which pre-signed body each
// delivery sends and whether it is the event's first delivery.
type plan struct {
	bodies [][]byte
	seq    []int  // body index per delivery
	first  []bool // the delivery is the event's first
}

// newPlan signs the distinct events (in parallel; RSA signing dominates) and
// lays out cfg.n deliveries: a duplicate resends an event first delivered at
// least 2*c deliveries earlier, so it normally finds the event done rather
// than in flight.
func newPlan(cfg config, s *alipaytest.Signer) *plan {
	rng := rand.New(rand.NewPCG(cfg.seed, 42))
	p := &plan{}
	distinct := 0
	for i := 0; i < cfg.n; i++ {
		if distinct > 2*cfg.concurrency && rng.Float64() < cfg.dup {
			p.seq = append(p.seq, rng.IntN(distinct-2*cfg.concurrency))
			p.first = append(p.first, false)
			continue
		}
		p.seq = append(p.seq, distinct)
		p.first = append(p.first, true)
		distinct++
	}
	p.bodies = make([][]byte, distinct)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= distinct {
					return
				}
				p.bodies[i] = s.NewTrade(fmt.Sprintf("LOAD-%08d", i), "88.88").Paid().Encode()
			}
		})
	}
	wg.Wait()
	log.Printf("signed %d distinct events for %d deliveries per run in %v", distinct, cfg.n, time.Since(start).Round(time.Millisecond))
	return p
}

// result is one run of one mode.
type result struct {
	wall        time.Duration
	n           int
	all, first  latencies
	dup         latencies
	handlerRuns int64
	rtFirst     float64 // mean Redis round trips per first delivery
	rtDup       float64 // mean Redis round trips per duplicate
	rtMaxFirst  int64
	rtMaxDup    int64
}

func (r result) throughput() float64 { return float64(r.n) / r.wall.Seconds() }

type latencies []time.Duration

// q returns the q-quantile (nearest rank).
func (l latencies) q(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

type ctxKey struct{}

// deliveryCount is the per-delivery Redis command counter the hook fills.
type deliveryCount struct{ n atomic.Int64 }

// roundTrips counts Redis commands (a pipeline counts once) per delivery,
// through a counter the server puts in each request's context.
type roundTrips struct {
	mu               sync.Mutex
	firstSum, dupSum int64
	firstN, dupN     int64
	firstMax, dupMax int64
	unattributed     atomic.Int64
}

func (h *roundTrips) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.firstSum, h.dupSum, h.firstN, h.dupN, h.firstMax, h.dupMax = 0, 0, 0, 0, 0, 0
	h.unattributed.Store(0)
}

func (h *roundTrips) count(ctx context.Context) {
	if c, ok := ctx.Value(ctxKey{}).(*deliveryCount); ok {
		c.n.Add(1)
	} else {
		h.unattributed.Add(1)
	}
}

func (h *roundTrips) record(first bool, n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if first {
		h.firstSum, h.firstN, h.firstMax = h.firstSum+n, h.firstN+1, max(h.firstMax, n)
	} else {
		h.dupSum, h.dupN, h.dupMax = h.dupSum+n, h.dupN+1, max(h.dupMax, n)
	}
}

// DialHook implements redis.Hook.
func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.count(ctx); return next(ctx, cmd) }
}

// ProcessPipelineHook implements redis.Hook.
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.count(ctx); return next(ctx, cmds) }
}

// deliver serves the middleware on a fresh loopback listener and sends the
// first n deliveries of p with cfg.concurrency clients.
func deliver(ctx context.Context, cfg config, p *plan, n int, v *alipaynotify.Verifier, store dedupe.Store, rt *roundTrips) (result, error) {
	mw, err := middleware.New(middleware.Options{Verifier: v, Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return result{}, err
	}
	var runs atomic.Int64
	notify := mw.Notify(middleware.HandlerFunc(func(context.Context, *alipaynotify.Notification) error {
		runs.Add(1)
		return nil
	}))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt == nil {
			notify.ServeHTTP(w, r)
			return
		}
		c := &deliveryCount{}
		notify.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
		rt.record(r.Header.Get("X-Load-First") == "1", c.n.Load())
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	defer srv.Close()
	url := "http://" + l.Addr().String() + "/alipay/notify"
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: cfg.concurrency, MaxConnsPerHost: cfg.concurrency, DisableCompression: true}}
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.concurrency {
		wg.Go(func() {
			buf := make([]byte, 16)
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil || firstErr.Load() != nil {
					return
				}
				body := p.bodies[p.seq[i]]
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if p.first[i] {
					req.Header.Set("X-Load-First", "1")
				}
				resp, err := client.Do(req)
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				k, _ := io.ReadFull(resp.Body, buf)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if string(buf[:k]) != "success" {
					err := fmt.Errorf("delivery %d answered %d %q", i, resp.StatusCode, buf[:k])
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if e := firstErr.Load(); e != nil {
		return result{}, *e
	}
	if ctx.Err() != nil {
		return result{}, fmt.Errorf("run exceeded -timeout %v", cfg.timeout)
	}
	res := result{wall: wall, n: n, all: lat, handlerRuns: runs.Load()}
	firsts := 0
	for i := range n {
		if p.first[i] {
			res.first = append(res.first, lat[i])
			firsts++
		} else {
			res.dup = append(res.dup, lat[i])
		}
	}
	if _, off := store.(nopstore.Store); !off && res.handlerRuns != int64(firsts) {
		return result{}, fmt.Errorf("the handler ran %d times for %d distinct events", res.handlerRuns, firsts)
	}
	if rt != nil {
		rt.mu.Lock()
		if rt.firstN > 0 {
			res.rtFirst = float64(rt.firstSum) / float64(rt.firstN)
		}
		if rt.dupN > 0 {
			res.rtDup = float64(rt.dupSum) / float64(rt.dupN)
		}
		res.rtMaxFirst, res.rtMaxDup = rt.firstMax, rt.dupMax
		rt.mu.Unlock()
		if u := rt.unattributed.Load(); u > 0 {
			log.Printf("note: %d Redis commands outside any delivery", u)
		}
	}
	return res, nil
}

// median returns the run whose throughput is the median of rs.
func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int {
		switch ta, tb := a.throughput(), b.throughput(); {
		case ta < tb:
			return -1
		case ta > tb:
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

// medianOf returns the median over rs of f.
func medianOf(rs []result, f func(result) time.Duration) time.Duration {
	v := make([]time.Duration, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func printLoadTable(cfg config, results map[string][]result) {
	fmt.Printf("\nnotify deliveries over loopback HTTP: %d per run (%.0f%% duplicates), %d concurrent, GOMAXPROCS=%d, median of %d interleaved rounds\n\n",
		cfg.n, 100*cfg.dup, cfg.concurrency, runtime.GOMAXPROCS(0), cfg.rounds)
	fmt.Println("| dedupe | deliveries/s | × off | p50 | × off | p99 | × off | p50 first | p99 first | p50 dup | p99 dup |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	off := results["off"]
	for _, mode := range cfg.modes {
		rs := results[mode]
		if len(rs) == 0 {
			continue
		}
		thr := median(rs).throughput()
		p50 := medianOf(rs, func(r result) time.Duration { return r.all.q(0.5) })
		p99 := medianOf(rs, func(r result) time.Duration { return r.all.q(0.99) })
		ratio := func(x, base float64) string {
			if len(off) == 0 || base == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f", x/base)
		}
		var offThr, offP50, offP99 float64
		if len(off) > 0 {
			offThr = median(off).throughput()
			offP50 = float64(medianOf(off, func(r result) time.Duration { return r.all.q(0.5) }))
			offP99 = float64(medianOf(off, func(r result) time.Duration { return r.all.q(0.99) }))
		}
		fmt.Printf("| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", mode, thr, ratio(thr, offThr),
			ms(p50), ratio(float64(p50), offP50), ms(p99), ratio(float64(p99), offP99),
			ms(medianOf(rs, func(r result) time.Duration { return r.first.q(0.5) })),
			ms(medianOf(rs, func(r result) time.Duration { return r.first.q(0.99) })),
			ms(medianOf(rs, func(r result) time.Duration { return r.dup.q(0.5) })),
			ms(medianOf(rs, func(r result) time.Duration { return r.dup.q(0.99) })))
	}
}

func printRoundTrips(rs []result) {
	if len(rs) == 0 {
		return
	}
	var f, d float64
	var mf, md int64
	for _, r := range rs {
		f += r.rtFirst
		d += r.rtDup
		mf, md = max(mf, r.rtMaxFirst), max(md, r.rtMaxDup)
	}
	fmt.Printf("\nRedis round trips per delivery (go-redis hook, all measured rounds): first delivery %.3f (max %d), duplicate %.3f (max %d)\n",
		f/float64(len(rs)), mf, d/float64(len(rs)), md)
}

// memoryCost is what remembered events cost in Redis.
type memoryCost struct {
	firstBytes, firstKeys float64 // per trade's first event (TRADE_SUCCESS)
	laterBytes, laterKeys float64 // per further event of the same trade (TRADE_FINISHED)
}

// memoryPerEvent completes events through the Redis store on a fresh private
// redis-server: first a TRADE_SUCCESS event for each of `events` trades, then
// a TRADE_FINISHED event for each of the same trades, and returns the
// used_memory and DBSIZE growth per event of each phase. Events come from
// dedupe.EventFor on verified (open platform) notifications; without binding
// their trade_no Binding is cleared, as the middleware does for open platform
// callbacks under its default CheckTradeNo, so they carry exactly what the
// middleware stores in each configuration.
func memoryPerEvent(ctx context.Context, events int, s *alipaytest.Signer, v *alipaynotify.Verifier, binding bool, dir string) (memoryCost, error) {
	var cost memoryCost
	srv, err := redisproc.Start(ctx, redisproc.Options{Dir: dir})
	if err != nil {
		return cost, err
	}
	defer srv.Stop()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	defer c.Close()
	store, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		return cost, err
	}
	trade := s.NewTrade("MEM-TEMPLATE", "88.88")
	paid, err := v.VerifyNotify(ctx, trade.Paid().Encode())
	if err != nil {
		return cost, err
	}
	finished, err := v.VerifyNotify(ctx, trade.Finished().Encode())
	if err != nil {
		return cost, err
	}
	event := func(template *alipaynotify.Notification) func(i int) dedupe.Event {
		return func(i int) dedupe.Event {
			m := *template
			m.OutTradeNo = fmt.Sprintf("ORDER-%08d", i)
			ev := dedupe.EventFor(&m)
			if !binding {
				ev.Binding = ""
			}
			return ev
		}
	}
	// Load the scripts first so that they are not part of the deltas.
	if err := completeOne(ctx, store, event(paid)(-1)); err != nil {
		return cost, err
	}
	phase := func(event func(int) dedupe.Event) (bytes, keys float64, err error) {
		before, err := usedMemory(ctx, c)
		if err != nil {
			return 0, 0, err
		}
		keysBefore, err := c.DBSize(ctx).Result()
		if err != nil {
			return 0, 0, err
		}
		var next atomic.Int64
		var firstErr atomic.Pointer[error]
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= events || firstErr.Load() != nil {
						return
					}
					if err := completeOne(ctx, store, event(i)); err != nil {
						firstErr.CompareAndSwap(nil, &err)
						return
					}
				}
			})
		}
		wg.Wait()
		if e := firstErr.Load(); e != nil {
			return 0, 0, *e
		}
		after, err := usedMemory(ctx, c)
		if err != nil {
			return 0, 0, err
		}
		keysAfter, err := c.DBSize(ctx).Result()
		if err != nil {
			return 0, 0, err
		}
		return float64(after-before) / float64(events), float64(keysAfter-keysBefore) / float64(events), nil
	}
	if cost.firstBytes, cost.firstKeys, err = phase(event(paid)); err != nil {
		return cost, err
	}
	cost.laterBytes, cost.laterKeys, err = phase(event(finished))
	return cost, err
}

func completeOne(ctx context.Context, store dedupe.Store, ev dedupe.Event) error {
	c, err := store.Claim(ctx, ev, time.Minute)
	if err != nil {
		return err
	}
	if c.State != dedupe.Claimed {
		return fmt.Errorf("claim of a fresh event: %v", c.State)
	}
	ok, err := store.Complete(ctx, ev, c.Token, middleware.DefaultRetention)
	if err == nil && !ok {
		err = errors.New("complete lost the claim")
	}
	return err
}

func usedMemory(ctx context.Context, c *redis.Client) (int64, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("INFO memory has no used_memory")
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func mkdir(parent, name string) string {
	dir := parent + string(os.PathSeparator) + name
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	return dir
}
