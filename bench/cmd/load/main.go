// Command load measures alipaynotify's notify_url end to end: it fires signed
// notify deliveries over loopback HTTP, first deliveries of distinct events
// mixed with duplicates, at five servers, interleaved round by round:
//
//	off, memory, redis    the real middleware served in this process with
//	                      dedupe off (a no-op store), on (memory store) and
//	                      on (Redis store): the library's own cost
//	example-memory,       the examples/nethttp binary, configured through its
//	example-redis         environment as a merchant deploys it, without and
//	                      with REDIS_URL: what a merchant's server does,
//	                      including the example's per-step logging and its
//	                      one JSON line per handled event
//
// It prints throughput and latency percentiles per mode with their ratios to
// dedupe off, checks that the business handler ran exactly once per event
// (in the example modes, by counting the lines the example printed), the
// Redis round trips each delivery cost, and the Redis memory a remembered
// event costs.
//
// Usage (from bench/):
//
//	go run ./cmd/load [-redis 127.0.0.1:6379] [-n 6000] [-dup 0.3] [-c 16] [-rounds 5] [-modes off,memory,...] [-example bin]
//
// The redis mode uses -redis (default $ALIPAYNOTIFY_REDIS_ADDR) or, when that
// is empty, a private redis-server started for the run. The example-redis
// mode and the memory measurement always run on private, fresh
// redis-servers (they need redis-server on PATH or $REDIS_SERVER_BIN) so
// that nobody else's keys move the numbers. Only loopback addresses are ever
// contacted, and every run is bounded by -n and -timeout.
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
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
	"github.com/alipaynotify/alipaynotify/middleware"
)

// allModes are the modes a run can measure. off, memory and redis serve the
// middleware in this process over a no-op, a memory and a Redis store; the
// example-* modes run the examples/nethttp binary with its in-memory store
// and with REDIS_URL set.
var allModes = []string{"off", "memory", "redis", "example-memory", "example-redis"}

func isExampleMode(mode string) bool { return strings.HasPrefix(mode, "example-") }

// config is the command line.
type config struct {
	redisAddr   string
	n           int
	dup         float64
	concurrency int
	rounds      int
	modes       []string
	example     string
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
	flag.StringVar(&modes, "modes", strings.Join(allModes, ","), "comma-separated modes: "+strings.Join(allModes, ", "))
	flag.StringVar(&cfg.example, "example", "", "prebuilt examples/nethttp binary for the example-* modes (default: go build it)")
	flag.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "upper bound for one mode's run")
	flag.IntVar(&cfg.memEvents, "mem-events", 100_000, "completed events for the Redis memory measurement (0: skip)")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the delivery order")
	flag.Parse()
	cfg.modes = strings.Split(modes, ",")
	for _, m := range cfg.modes {
		if !slices.Contains(allModes, m) {
			log.Fatalf("-modes: unknown mode %q (known: %s)", m, strings.Join(allModes, ", "))
		}
	}
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
	var loadRedisPid int // the redis mode's redis-server, for its CPU time
	if slices.Contains(cfg.modes, "redis") {
		addr := cfg.redisAddr
		if addr == "" {
			srv, err := redistest.Launch(ctx, redistest.Options{Dir: mkdir(tmp, "redis-load")})
			if err != nil {
				return fmt.Errorf("dedupe=redis needs -redis, $ALIPAYNOTIFY_REDIS_ADDR or redis-server: %w", err)
			}
			defer srv.Close()
			addr = srv.Addr()
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
		loadRedisPid = redisPid(ctx, redisClient)
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
	// runInProcess serves the middleware in this process for one run.
	runInProcess := func(mode string, runID, n int) (result, error) {
		store, closeStore, err := newStore(mode, runID)
		if err != nil {
			return result{}, err
		}
		defer closeStore()
		var modeRT *roundTrips
		if mode == "redis" {
			modeRT = rt
			rt.reset()
		}
		srv, err := serveInProcess(verifier, store, modeRT)
		if err != nil {
			return result{}, err
		}
		rpid := 0
		if mode == "redis" {
			rpid = loadRedisPid
		}
		before := sampleCPU(0, rpid)
		res, err := deliver(ctx, cfg, plan, n, srv.url, modeRT)
		res.cpu = sampleCPU(0, rpid).sub(before)
		srv.srv.Close()
		res.handlerRuns = srv.runs.Load()
		return res, err
	}

	// The example modes run the examples/nethttp binary, configured by its
	// environment like any deployment: a fresh process per run, so the memory
	// store starts empty, and a private redis-server flushed before each run.
	var example exampleSetup
	if slices.ContainsFunc(cfg.modes, isExampleMode) {
		if example, err = setupExample(ctx, cfg, tmp, signer); err != nil {
			return err
		}
		defer example.close()
	}
	runExample := func(mode string, n int) (result, error) {
		redisURL := ""
		if mode == "example-redis" {
			if err := example.redis.FlushAll(ctx).Err(); err != nil {
				return result{}, err
			}
			redisURL = "redis://" + example.redisAddr + "/0"
		}
		proc, err := startExample(ctx, example.bin, alipaytest.DefaultAppID, example.keyFile, redisURL)
		if err != nil {
			return result{}, err
		}
		rpid := 0
		if mode == "example-redis" {
			rpid = example.redisPid
		}
		before := sampleCPU(proc.cmd.Process.Pid, rpid)
		res, err := deliver(ctx, cfg, plan, n, proc.url, nil)
		res.cpu = sampleCPU(proc.cmd.Process.Pid, rpid).sub(before)
		handled, stopErr := proc.stop()
		res.handlerRuns = int64(handled)
		return res, errors.Join(err, stopErr)
	}

	// One short warm-up run per mode (connections, scripts, heap), not reported.
	results := map[string][]result{}
	runID := 0
	for round := -1; round < cfg.rounds; round++ {
		for _, mode := range cfg.modes {
			runID++
			n := cfg.n
			if round < 0 {
				n = min(cfg.n, 500)
			}
			var res result
			var err error
			if isExampleMode(mode) {
				res, err = runExample(mode, n)
			} else {
				res, err = runInProcess(mode, runID, n)
			}
			// Exactly once with dedupe. Without, at least once per event and
			// at most once per delivery: concurrent duplicates in one process
			// share one waiter even when the store remembers nothing.
			if want := int64(res.firsts); mode == "off" && err == nil && (res.handlerRuns < want || res.handlerRuns > int64(res.n)) {
				err = fmt.Errorf("without dedupe the handler ran %d times for %d deliveries of %d events", res.handlerRuns, res.n, want)
			} else if mode != "off" && err == nil && res.handlerRuns != want {
				err = fmt.Errorf("the business handler ran %d times for %d distinct events", res.handlerRuns, want)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", mode, err)
			}
			if round >= 0 {
				results[mode] = append(results[mode], res)
				log.Printf("round %d %-14s %7.0f deliveries/s  p50 %v  p99 %v", round+1, mode, res.throughput(), res.all.q(0.5), res.all.q(0.99))
			}
		}
	}

	printLoadTable(cfg, results)
	if mem, rds := results["example-memory"], results["example-redis"]; len(mem) > 0 && len(rds) > 0 {
		fmt.Printf("\nexamples/nethttp with REDIS_URL vs in memory: %.2f× the throughput\n", median(rds).throughput()/median(mem).throughput())
	}
	printCPU(cfg, results)
	if rt != nil {
		printRoundTrips(results["redis"])
	}
	if cfg.memEvents > 0 {
		fmt.Printf("\nRedis memory per remembered event (used_memory and DBSIZE deltas, %d trades, default prefix, fresh redis-server %s):\n",
			cfg.memEvents, redistest.Version(""))
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
	firsts      int       // first deliveries (distinct events)
	cpu         cpuSample // CPU time the run cost each process
	handlerRuns int64     // business handler runs the server reported
	rtFirst     float64   // mean Redis round trips per first delivery
	rtDup       float64   // mean Redis round trips per duplicate
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

// inProcess serves the middleware over store on a fresh loopback listener
// in this process, counting handler runs and, when rt is set, the Redis
// commands of each delivery.
type inProcess struct {
	srv  *http.Server
	url  string
	runs atomic.Int64
}

func serveInProcess(v *alipaynotify.Verifier, store dedupe.Store, rt *roundTrips) (*inProcess, error) {
	mw, err := middleware.New(middleware.Options{Verifier: v, Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	s := &inProcess{}
	notify := mw.Notify(middleware.HandlerFunc(func(context.Context, *alipaynotify.Notification) error {
		s.runs.Add(1)
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
		return nil, err
	}
	s.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(l)
	s.url = "http://" + l.Addr().String() + "/alipay/notify"
	return s, nil
}

// deliver sends the first n deliveries of p to url with cfg.concurrency
// clients; every one must be answered "success". rt, when set, holds the
// Redis round trips the server counted per delivery.
func deliver(ctx context.Context, cfg config, p *plan, n int, url string, rt *roundTrips) (result, error) {
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
	res := result{wall: wall, n: n, all: lat}
	for i := range n {
		if p.first[i] {
			res.first = append(res.first, lat[i])
			res.firsts++
		} else {
			res.dup = append(res.dup, lat[i])
		}
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
	fmt.Println("| server, dedupe | deliveries/s | × off | p50 | × off | p99 | × off | p50 first | p99 first | p50 dup | p99 dup |")
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

// printCPU prints the CPU time per delivery each process spent, summed over
// the measured rounds. On a machine whose cores the load generator, the
// server and Redis all share, throughput is bounded by the total; the column
// without redis-server estimates the ratio with Redis on its own host.
func printCPU(cfg config, results map[string][]result) {
	perDelivery := func(rs []result) (self, server, rds float64) {
		var n int
		var sum cpuSample
		for _, r := range rs {
			n += r.n
			sum.self += r.cpu.self
			sum.server += r.cpu.server
			sum.redis += r.cpu.redis
		}
		us := func(d time.Duration) float64 { return float64(d) / 1e3 / float64(n) }
		return us(sum.self), us(sum.server), us(sum.redis)
	}
	var offTotal float64
	if off := results["off"]; len(off) > 0 {
		a, b, c := perDelivery(off)
		offTotal = a + b + c
	}
	fmt.Printf("\nCPU time per delivery (µs, all measured rounds; load process = HTTP clients + in-process server; /proc and getrusage):\n\n")
	fmt.Println("| server, dedupe | load process | example process | redis-server | total | off total ÷ total | off total ÷ (total − redis-server) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, mode := range cfg.modes {
		rs := results[mode]
		if len(rs) == 0 {
			continue
		}
		self, server, rds := perDelivery(rs)
		total := self + server + rds
		ratio := func(base, x float64) string {
			if base == 0 || x == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f", base/x)
		}
		fmt.Printf("| %s | %.0f | %.0f | %.0f | %.0f | %s | %s |\n", mode, self, server, rds, total, ratio(offTotal, total), ratio(offTotal, total-rds))
		if rds == 0 && (mode == "redis" || mode == "example-redis") {
			fmt.Printf("(%s: redis-server's CPU not measured: its pid is not a redis-server process here)\n", mode)
		}
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
	srv, err := redistest.Launch(ctx, redistest.Options{Dir: dir})
	if err != nil {
		return cost, err
	}
	defer srv.Close()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 64})
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
	// snapshot reads used_memory and the key count.
	snapshot := func() (mem, keys int64, err error) {
		if mem, err = usedMemory(ctx, c); err != nil {
			return 0, 0, err
		}
		keys, err = c.DBSize(ctx).Result()
		return mem, keys, err
	}
	phase := func(event func(int) dedupe.Event) (bytes, keys float64, err error) {
		before, keysBefore, err := snapshot()
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
		after, keysAfter, err := snapshot()
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
	ok, err := store.Complete(ctx, ev, c.Token, dedupe.Completion{Retention: middleware.DefaultRetention, Source: dedupe.SourceNotify})
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
