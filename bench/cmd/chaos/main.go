// Command chaos checks alipaynotify's exactly-once promise under failure. It
// starts a private redis-server (appendonly yes) and two chaosmerchant
// processes sharing it, then plays Alipay and the buyers' browsers:
// thousands of signed notify deliveries of distinct business events (trades
// paid, refunded, finished), about a third of them duplicates, with return_url
// redirects interleaved, each sent to either instance at random and resent
// Alipay-style until the answer is exactly "success". Each merchant reaches
// Redis through its own fault-injecting proxy (internal/faultproxy).
// Meanwhile it restarts Redis (SIGTERM, start again on the same port and
// directory), kills -9 each merchant in turn and restarts it, partitions
// merchant A from Redis for longer than the lease (both directions stall, so
// its owners lose their leases and are cancelled while B takes over), and
// adds latency spikes to both merchants' Redis traffic; the merchants'
// business handlers fail and panic at the rates given, and a few run longer
// than the lease, living on renewals.
//
// At the end it reads the merchants' run logs and reports events, deliveries,
// handler runs, double runs and lost events. It exits with status 1 if any
// event ran twice beyond the documented limits or was lost (never
// acknowledged, or acknowledged without a handler run).
//
// Usage (from bench/, needs redis-server on PATH or $REDIS_SERVER_BIN):
//
//	go run ./cmd/chaos [-events 7000] [-deliveries 10000] [-duration 60s]
//
// Two flags check the checker: -complete-delay 300ms makes the merchants
// pause before marking an event done, so that kill -9 lands between the side
// effect and Complete often enough to see the documented re-runs counted as
// such; -unshared gives each merchant its own dedupe state, and the run must
// then fail with double runs.
//
// Every address is on 127.0.0.1 and every loop is bounded in count and time.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/bench/internal/procstop"
	"github.com/alipaynotify/alipaynotify/internal/faultproxy"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
)

// config is the command line.
type config struct {
	events, deliveries  int
	returnRate          float64
	duration            time.Duration
	failRate, panicRate float64
	work                time.Duration
	completeDelay       time.Duration
	lease               time.Duration
	redisRestarts       int
	kills               int
	partitions          int
	partitionFor        time.Duration
	spikes              int
	spikeLatency        time.Duration
	spikeFor            time.Duration
	slowRate            float64
	slowWork            time.Duration
	maxAttempts         int
	merchant            string
	race                bool
	unshared            bool
	keep                bool
	seed                uint64
}

func main() {
	log.SetFlags(log.Ltime)
	log.SetPrefix("chaos: ")
	var cfg config
	flag.IntVar(&cfg.events, "events", 7000, "distinct business events (at least 3000 for a meaningful run)")
	flag.IntVar(&cfg.deliveries, "deliveries", 10000, "deliveries in all: one first notify per event, the rest duplicates and return redirects")
	flag.Float64Var(&cfg.returnRate, "return-rate", 0.4, "fraction of paid events whose buyer's browser also hits return_url")
	flag.DurationVar(&cfg.duration, "duration", 60*time.Second, "window over which first deliveries are spread")
	flag.Float64Var(&cfg.failRate, "fail", 0.05, "fraction of handler runs that return an error")
	flag.Float64Var(&cfg.panicRate, "panic", 0.05, "fraction of handler runs that panic")
	flag.DurationVar(&cfg.work, "work", 2*time.Millisecond, "business work per handler run before its record is written")
	flag.DurationVar(&cfg.completeDelay, "complete-delay", 0, "merchants pause this long before each Complete, widening the crash-after-side-effect window (to see the documented limit happen)")
	flag.DurationVar(&cfg.lease, "lease", 2*time.Second, "the merchants' claim lease")
	flag.IntVar(&cfg.redisRestarts, "redis-restarts", 2, "Redis restarts during the run")
	flag.IntVar(&cfg.kills, "kills", 2, "kill -9 and restart of a merchant during the run (alternating instances)")
	flag.IntVar(&cfg.partitions, "partitions", 1, "partitions of merchant A from Redis (both directions stall) during the run")
	flag.DurationVar(&cfg.partitionFor, "partition-for", 5*time.Second, "length of each partition (longer than -lease, so that A's owners lose their leases)")
	flag.IntVar(&cfg.spikes, "spikes", 2, "Redis latency spikes (both merchants) during the run")
	flag.DurationVar(&cfg.spikeLatency, "spike-latency", 250*time.Millisecond, "latency added each way to every Redis exchange during a spike")
	flag.DurationVar(&cfg.spikeFor, "spike-for", 3*time.Second, "length of each latency spike")
	flag.Float64Var(&cfg.slowRate, "slow", 0.02, "fraction of handler runs that work for -slow-work, longer than the lease")
	flag.DurationVar(&cfg.slowWork, "slow-work", 3*time.Second, "work of a slow handler run")
	flag.IntVar(&cfg.maxAttempts, "max-attempts", 16, "attempts per notify delivery before it counts as not acknowledged")
	flag.StringVar(&cfg.merchant, "merchant", "", "prebuilt chaosmerchant binary (default: go build it)")
	flag.BoolVar(&cfg.race, "race", false, "build chaosmerchant with the race detector")
	flag.BoolVar(&cfg.unshared, "unshared", false, "give each merchant its own Redis key prefix, so that they share no dedupe state: a check of this checker, the run must FAIL")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory with the logs")
	flag.Uint64Var(&cfg.seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	flag.Parse()
	if cfg.events <= 0 || cfg.deliveries < cfg.events || cfg.maxAttempts <= 0 {
		log.Fatal("need -events > 0, -deliveries >= -events and -max-attempts > 0")
	}
	ok, err := run(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if !ok {
		os.Exit(1)
	}
}

func run(cfg config) (bool, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	dir, err := os.MkdirTemp("", "alipaynotify-chaos-")
	if err != nil {
		return false, err
	}
	if cfg.keep {
		log.Printf("logs in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	log.Printf("seed %d", cfg.seed)
	rng := rand.New(rand.NewPCG(cfg.seed, 7))

	bin := cfg.merchant
	if bin == "" {
		bin = filepath.Join(dir, "chaosmerchant")
		args := []string{"build", "-o", bin}
		if cfg.race {
			args = append(args, "-race")
		}
		build := exec.CommandContext(ctx, "go", append(args, "github.com/alipaynotify/alipaynotify/bench/cmd/chaosmerchant")...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return false, fmt.Errorf("building chaosmerchant (run from bench/ or pass -merchant): %w", err)
		}
	}

	key, err := alipaytest.NewKeyPair(2048)
	if err != nil {
		return false, err
	}
	signer := alipaytest.NewSigner(key)
	pubkey := filepath.Join(dir, "alipay-public.pem")
	if err := os.WriteFile(pubkey, []byte(signer.PublicKeyPEM()), 0o644); err != nil {
		return false, err
	}
	sched := newSchedule(cfg, signer, rng)
	log.Printf("signed %d deliveries of %d events (%d duplicate notifies, %d return redirects) in %v",
		len(sched.deliveries), len(sched.events), sched.dupNotifies, sched.returns, time.Since(started).Round(time.Millisecond))

	redisDir := filepath.Join(dir, "redis")
	if err := os.Mkdir(redisDir, 0o755); err != nil {
		return false, err
	}
	// AOF with appendfsync everysec: what a merchant would run.
	rds, err := redistest.Launch(ctx, redistest.Options{Dir: redisDir, AppendOnly: true, Args: []string{"--appendfsync", "everysec"}})
	if err != nil {
		return false, err
	}
	defer rds.Close()
	log.Printf("redis-server %s on %s (appendonly yes)", redistest.Version(""), rds.Addr())

	merchants := make([]*merchant, 2)
	proxies := make([]*faultproxy.Proxy, 2)
	for i, name := range []string{"A", "B"} {
		port, err := redistest.FreePort()
		if err != nil {
			return false, err
		}
		if proxies[i], err = faultproxy.Start(rds.Addr()); err != nil {
			return false, err
		}
		defer proxies[i].Close()
		merchants[i] = &merchant{name: name, bin: bin, dir: dir, addr: "127.0.0.1:" + strconv.Itoa(port),
			args: []string{"-redis", proxies[i].Addr(), "-pubkey", pubkey, "-fail", fmt.Sprint(cfg.failRate), "-panic", fmt.Sprint(cfg.panicRate),
				"-work", cfg.work.String(), "-complete-delay", cfg.completeDelay.String(), "-lease", cfg.lease.String(),
				"-slow", fmt.Sprint(cfg.slowRate), "-slow-work", cfg.slowWork.String()}}
		if cfg.unshared {
			merchants[i].args = append(merchants[i].args, "-prefix", "chaos"+name)
		}
		if err := merchants[i].start(ctx); err != nil {
			return false, err
		}
		defer merchants[i].stop()
	}

	// The chaos: faults spread evenly over the dispatch window, the kinds
	// taking turns.
	type fault struct {
		at   time.Duration
		kind int // index in kinds
	}
	kills := 0
	kinds := []struct {
		n    int
		name func() string
		do   func() error
	}{
		{cfg.redisRestarts, func() string { return "restart Redis (SIGTERM)" }, func() error {
			start := time.Now()
			err := rds.Restart(ctx)
			log.Printf("Redis was down for %v", time.Since(start).Round(time.Millisecond))
			return err
		}},
		{cfg.kills, func() string { return "kill -9 merchant " + merchants[kills%2].name }, func() error {
			m := merchants[kills%2]
			kills++
			return m.crash(ctx, time.Second)
		}},
		{cfg.partitions, func() string { return fmt.Sprintf("partition merchant A from Redis for %v", cfg.partitionFor) }, func() error {
			proxies[0].Partition(faultproxy.Both)
			sleepUntil(ctx, time.Now().Add(cfg.partitionFor))
			proxies[0].Heal()
			return nil
		}},
		{cfg.spikes, func() string { return fmt.Sprintf("Redis latency +%v each way for %v", cfg.spikeLatency, cfg.spikeFor) }, func() error {
			for _, p := range proxies {
				p.SetLatency(cfg.spikeLatency)
			}
			sleepUntil(ctx, time.Now().Add(cfg.spikeFor))
			for _, p := range proxies {
				p.SetLatency(0)
			}
			return nil
		}},
	}
	var order []int // kinds, in turns
	for left := true; left; {
		left = false
		for k := range kinds {
			if kinds[k].n > 0 {
				kinds[k].n--
				order = append(order, k)
				left = true
			}
		}
	}
	var faults []fault
	for i, k := range order {
		faults = append(faults, fault{cfg.duration * time.Duration(i+1) / time.Duration(len(order)+1), k})
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	var faultErr atomic.Pointer[error]
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Go(func() {
		for _, f := range faults {
			if !sleepUntil(ctx, t0.Add(f.at)) {
				return
			}
			log.Printf("t=%v: %s", time.Since(t0).Round(time.Millisecond), kinds[f.kind].name())
			if err := kinds[f.kind].do(); err != nil {
				faultErr.CompareAndSwap(nil, &err)
				return
			}
		}
	})
	sem := make(chan struct{}, 256)
	seeds := make([]uint64, len(sched.deliveries))
	for i := range seeds {
		seeds[i] = rng.Uint64()
	}
	for i, d := range sched.deliveries {
		if !sleepUntil(ctx, t0.Add(d.at)) {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d.send(ctx, client, merchants, cfg.maxAttempts, rand.New(rand.NewPCG(seeds[i], 1)))
		})
	}
	wg.Wait()
	if e := faultErr.Load(); e != nil {
		return false, *e
	}
	if ctx.Err() != nil {
		return false, errors.New("interrupted")
	}
	log.Printf("all deliveries done after %v", time.Since(t0).Round(time.Millisecond))
	for _, m := range merchants {
		m.stop()
	}

	rep, err := analyse(sched, merchants)
	if err != nil {
		return false, err
	}
	rep.print(os.Stdout, cfg, time.Since(started))
	return rep.double == 0 && rep.lost == 0 && rep.ignoredLines == 0, nil
}

// sleepUntil sleeps until t and reports whether ctx is still live.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// merchant is one chaosmerchant instance: a stable address and log file
// across the processes ("boots") that serve it.
type merchant struct {
	name, bin, dir, addr string
	args                 []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	boots  int
	killed []string // boots ended by kill -9
}

func (m *merchant) runsPath() string { return filepath.Join(m.dir, "runs-"+m.name+".log") }

// start launches a new boot and waits until it answers /healthz.
func (m *merchant) start(ctx context.Context) error {
	m.mu.Lock()
	m.boots++
	boot := m.name + strconv.Itoa(m.boots)
	logf, err := os.OpenFile(filepath.Join(m.dir, "merchant-"+m.name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	cmd := exec.Command(m.bin, append([]string{"-addr", m.addr, "-runs", m.runsPath(), "-boot", boot}, m.args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		m.mu.Unlock()
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	m.cmd, m.exited = cmd, exited
	m.mu.Unlock()

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + m.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("merchant %s exited at start; see merchant-%s.log", boot, m.name)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("merchant %s did not come up on %s", boot, m.addr)
		}
	}
}

// crash kills the current boot with SIGKILL and starts a new one after pause.
func (m *merchant) crash(ctx context.Context, pause time.Duration) error {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.killed = append(m.killed, m.name+strconv.Itoa(m.boots))
	m.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-exited
	if !sleepUntil(ctx, time.Now().Add(pause)) {
		return ctx.Err()
	}
	return m.start(ctx)
}

// stop ends the current boot with SIGTERM (a graceful shutdown).
func (m *merchant) stop() {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	procstop.Gracefully(cmd.Process, exited, 10*time.Second)
}

// event is one business event and what the run learned about it.
type event struct {
	id    string // alipaynotify Event.String(): what the merchants log
	acked atomic.Bool
}

// delivery is one notify delivery (resent until "success") or one return
// redirect (sent once, as a browser would).
type delivery struct {
	at     time.Duration
	ev     *event
	notify bool
	body   []byte // notify: the POST body; return: the raw query

	attempts int
	acked    bool
	outcome  string // return: the page's outcome, or "unreachable"
}

// retryDelay is Alipay's schedule (4m, 10m, 10m, 1h, 2h, 6h, 15h) compressed
// to milliseconds, then capped.
var retryDelay = []time.Duration{40, 100, 100, 250, 500, 1000, 1500, 2000}

func (d *delivery) send(ctx context.Context, client *http.Client, ms []*merchant, maxAttempts int, rng *rand.Rand) {
	if !d.notify {
		d.attempts = 1
		m := ms[rng.IntN(len(ms))]
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.addr+"/alipay/return?"+string(d.body), nil)
		resp, err := client.Do(req)
		if err != nil {
			d.outcome = "unreachable"
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
		resp.Body.Close()
		d.outcome = string(b)
		if resp.StatusCode != http.StatusOK {
			d.outcome = "status " + strconv.Itoa(resp.StatusCode)
		}
		return
	}
	for d.attempts < maxAttempts && ctx.Err() == nil {
		d.attempts++
		m := ms[rng.IntN(len(ms))]
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+m.addr+"/alipay/notify", strings.NewReader(string(d.body)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
			resp.Body.Close()
			if string(b) == "success" {
				d.acked = true
				d.ev.acked.Store(true)
				return
			}
		}
		wait := retryDelay[min(d.attempts-1, len(retryDelay)-1)]
		if !sleepUntil(ctx, time.Now().Add(wait*time.Millisecond)) {
			return
		}
	}
}

// schedule is the whole run, decided before it starts.
type schedule struct {
	events      []*event
	deliveries  []*delivery
	dupNotifies int
	returns     int
}

// newSchedule tells trade stories until it has cfg.events events: paid then
// finished; paid, partly refunded, then refunded in full; paid alone. Each
// event gets one first notify; paid events get a return redirect at about the
// same time with probability cfg.returnRate; the remaining deliveries are
// duplicate notifies (the same parameters under a fresh notify_id, re-signed)
// within a few seconds of the first, often while it is still in flight.
// Events of one trade usually arrive in order, sometimes not.
func newSchedule(cfg config, s *alipaytest.Signer, rng *rand.Rand) *schedule {
	type dup struct {
		at       time.Duration
		notifyID string
	}
	type step struct {
		ev       *event
		at       time.Duration
		returnAt time.Duration // < 0: no return redirect
		dups     []dup
	}
	type trade struct {
		t     *alipaytest.Trade
		story []func(t *alipaytest.Trade) *alipaytest.Message
		steps []*step
	}
	jitter := func(max time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(max))) }
	paid := (*alipaytest.Trade).Paid
	finished := (*alipaytest.Trade).Finished
	refund1 := func(t *alipaytest.Trade) *alipaytest.Message { return t.PartialRefund("R1", "30.00") }
	refund2 := func(t *alipaytest.Trade) *alipaytest.Message { return t.FullRefund("R2") }

	// Decide everything sequentially, from the seed.
	sched := &schedule{}
	var trades []*trade
	var steps []*step
	for n := 0; len(sched.events) < cfg.events; n++ {
		tr := &trade{t: s.NewTrade(fmt.Sprintf("CHAOS-%06d", n), "100.00")}
		switch p := rng.Float64(); {
		case p < 0.4:
			tr.story = []func(*alipaytest.Trade) *alipaytest.Message{paid, finished}
		case p < 0.7:
			tr.story = []func(*alipaytest.Trade) *alipaytest.Message{paid, refund1, refund2}
		default:
			tr.story = []func(*alipaytest.Trade) *alipaytest.Message{paid}
		}
		tr.story = tr.story[:min(len(tr.story), cfg.events-len(sched.events))]
		at := jitter(cfg.duration)
		for i := range tr.story {
			st := &step{ev: &event{}, at: at + time.Duration(i)*(300*time.Millisecond+jitter(time.Second)), returnAt: -1}
			if rng.Float64() < 0.1 {
				st.at = max(0, st.at-jitter(2*time.Second)) // out of order
			}
			if i == 0 && rng.Float64() < cfg.returnRate {
				st.returnAt = max(0, st.at+jitter(600*time.Millisecond)-300*time.Millisecond)
				sched.returns++
			}
			tr.steps = append(tr.steps, st)
			steps = append(steps, st)
			sched.events = append(sched.events, st.ev)
		}
		trades = append(trades, tr)
	}
	for len(sched.events)+sched.returns+sched.dupNotifies < cfg.deliveries {
		st := steps[rng.IntN(len(steps))]
		st.dups = append(st.dups, dup{at: st.at + jitter(3*time.Second), notifyID: strconv.FormatUint(rng.Uint64(), 10)})
		sched.dupNotifies++
	}

	// Sign in parallel, one trade at a time per worker (a trade's refunds
	// accumulate, so its story is signed in order).
	perTrade := make([][]*delivery, len(trades))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(trades) {
					return
				}
				tr := trades[i]
				for k, st := range tr.steps {
					m := tr.story[k](tr.t)
					st.ev.id = fmt.Sprintf("%s|%s|%s||%s", alipaytest.DefaultAppID, tr.t.OutTradeNo, m.Get("trade_status"), m.Get("out_biz_no"))
					perTrade[i] = append(perTrade[i], &delivery{at: st.at, ev: st.ev, notify: true, body: m.Encode()})
					if st.returnAt >= 0 {
						perTrade[i] = append(perTrade[i], &delivery{at: st.returnAt, ev: st.ev, body: tr.t.Return().Encode()})
					}
					for _, d := range st.dups {
						p := m.Params.Clone()
						p.Set("notify_id", d.notifyID)
						p.Del("sign")
						perTrade[i] = append(perTrade[i], &delivery{at: d.at, ev: st.ev, notify: true, body: s.MustSign(p).Encode()})
					}
				}
			}
		})
	}
	wg.Wait()
	for _, ds := range perTrade {
		sched.deliveries = append(sched.deliveries, ds...)
	}
	slices.SortStableFunc(sched.deliveries, func(a, b *delivery) int { return int(a.at - b.at) })
	return sched
}

// report is what the run logs say.
type report struct {
	events, deliveries, notifies, returns, dupNotifies int
	attempts, retries                                  int
	runs                                               int
	double                                             int
	rerunCrash, rerunStore                             int
	lost, unacked, unhandled                           int
	ignoredLines                                       int
	returnOutcomes                                     map[string]int
	done, clost, cfail                                 int
	leaseLost                                          int
	killedBoots                                        []string
}

// analyse reads the merchants' run logs. A run is "explained" when its claim
// never got its done mark (no DONE line for its token) and either its process
// was killed -9 or Complete failed (CFAIL, CLOST): the documented limits, a
// crash or store failure after the side effect, under which the next
// delivery legitimately runs the handler again. Each event may have one
// unexplained run; any further unexplained run is a double run.
func analyse(s *schedule, ms []*merchant) (*report, error) {
	rep := &report{events: len(s.events), deliveries: len(s.deliveries), dupNotifies: s.dupNotifies, returnOutcomes: map[string]int{}}
	killed := map[string]bool{}
	for _, m := range ms {
		for _, b := range m.killed {
			killed[b] = true
			rep.killedBoots = append(rep.killedBoots, b)
		}
	}
	type run struct{ token, boot string }
	runs := map[string][]run{}
	done, cfail, clost := map[string]int{}, map[string]bool{}, map[string]bool{}
	for _, m := range ms {
		f, err := os.Open(m.runsPath())
		if err != nil {
			return nil, err
		}
		r := bufio.NewReader(f)
		for {
			line, err := r.ReadString('\n')
			if err == io.EOF {
				if line != "" {
					rep.ignoredLines++ // a torn record: must never happen with one write per line
				}
				break
			}
			if err != nil {
				f.Close()
				return nil, err
			}
			fields := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
			switch {
			case fields[0] == "RUN" && len(fields) == 5:
				runs[fields[1]] = append(runs[fields[1]], run{fields[2], fields[3]})
			case fields[0] == "DONE" && len(fields) == 2:
				done[fields[1]]++
			case fields[0] == "CLOST" && len(fields) == 2:
				clost[fields[1]] = true
			case fields[0] == "CFAIL" && len(fields) >= 2:
				cfail[fields[1]] = true
			case fields[0] == "LOST" && len(fields) == 2:
				rep.leaseLost++
			default:
				rep.ignoredLines++
			}
		}
		f.Close()
	}
	rep.done, rep.clost, rep.cfail = len(done), len(clost), len(cfail)
	known := map[string]bool{}
	for _, ev := range s.events {
		known[ev.id] = true
		rs := runs[ev.id]
		rep.runs += len(rs)
		switch {
		case !ev.acked.Load():
			rep.unacked++
			rep.lost++
		case len(rs) == 0:
			rep.unhandled++
			rep.lost++
		}
		if len(rs) < 2 {
			continue
		}
		unexplained, crash, store := 0, 0, 0
		for _, r := range rs {
			switch {
			case done[r.token] > 0:
				unexplained++
			case killed[r.boot]:
				crash++
			case cfail[r.token] || clost[r.token]:
				store++
			default:
				unexplained++
			}
		}
		extra := len(rs) - 1
		dbl := max(0, unexplained-1)
		rep.double += dbl
		rest := extra - dbl
		c := min(crash, rest)
		rep.rerunCrash += c
		rep.rerunStore += rest - c
		if dbl > 0 {
			log.Printf("DOUBLE RUN: %s ran %d times: %v", ev.id, len(rs), rs)
		}
	}
	for id, rs := range runs {
		if !known[id] {
			log.Printf("run of an event that was never sent: %s (%d runs)", id, len(rs))
			rep.double += len(rs)
		}
	}
	for _, d := range s.deliveries {
		rep.attempts += d.attempts
		if d.notify {
			rep.notifies++
			rep.retries += d.attempts - 1
		} else {
			rep.returns++
			rep.returnOutcomes[d.outcome]++
		}
	}
	return rep, nil
}

func (r *report) print(w io.Writer, cfg config, took time.Duration) {
	fmt.Fprintf(w, "\nchaos run: seed %d, %v, 2 merchant processes on one Redis (appendonly yes), lease %v, handler fail %.0f%% / panic %.0f%% / %.0f%% slow (%v), "+
		"%d Redis restarts, kill -9 of %v, %d partitions of A from Redis (%v), %d latency spikes (+%v each way, %v)\n\n",
		cfg.seed, took.Round(time.Second), cfg.lease, 100*cfg.failRate, 100*cfg.panicRate, 100*cfg.slowRate, cfg.slowWork,
		cfg.redisRestarts, r.killedBoots, cfg.partitions, cfg.partitionFor, cfg.spikes, cfg.spikeLatency, cfg.spikeFor)
	fmt.Fprintln(w, "| measure | count |")
	fmt.Fprintln(w, "|---|---:|")
	row := func(name string, v any) { fmt.Fprintf(w, "| %s | %v |\n", name, v) }
	row("distinct events", r.events)
	row("deliveries (notify chains + return redirects)", r.deliveries)
	row("… first notifies", r.notifies-r.dupNotifies)
	row("… duplicate notifies (fresh notify_id)", r.dupNotifies)
	row("… return redirects", r.returns)
	row("duplicates (% of deliveries)", fmt.Sprintf("%d (%.1f%%)", r.deliveries-r.events, 100*float64(r.deliveries-r.events)/float64(r.deliveries)))
	row("HTTP attempts (notify retries until \"success\")", fmt.Sprintf("%d (%d retries)", r.attempts, r.retries))
	row("handler runs on record", r.runs)
	row("claims completed (DONE) / lost (CLOST) / complete failed (CFAIL)", fmt.Sprintf("%d / %d / %d", r.done, r.clost, r.cfail))
	row("lease lost (handler cancelled with ErrLeaseLost, or Complete refused; answered fail)", r.leaseLost)
	row("**double runs** (must be 0)", r.double)
	row("re-run after crash (kill -9 between the side effect and Complete: documented limit)", r.rerunCrash)
	row("re-run after Complete failed (store down or lease lost: documented limit)", r.rerunStore)
	row("**lost events** (must be 0)", r.lost)
	row("… never acknowledged", r.unacked)
	row("… acknowledged, never handled", r.unhandled)
	if r.ignoredLines > 0 {
		row("unparseable log lines (must be 0)", r.ignoredLines)
	}
	keys := make([]string, 0, len(r.returnOutcomes))
	for k := range r.returnOutcomes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.returnOutcomes[k]))
	}
	row("return page outcomes", strings.Join(parts, ", "))
	verdict := "PASS"
	if r.double > 0 || r.lost > 0 || r.ignoredLines > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "\n%s: %d double runs, %d lost events\n", verdict, r.double, r.lost)
}
