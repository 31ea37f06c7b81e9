package simulator

import (
	"cmp"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// Progress is a snapshot of a running simulation.
type Progress struct {
	// Simulated is the simulated time now; Wall the wall-clock time spent.
	Simulated time.Duration
	// Wall: see Simulated.
	Wall time.Duration
	// Events is the number of events; Done those finished.
	Events int
	// Done: see Events.
	Done int
	// Notifications, Acknowledged and GaveUp count genuine notifications:
	// all, acknowledged, and out of tries.
	Notifications int
	// Acknowledged: see Notifications.
	Acknowledged int
	// GaveUp: see Notifications.
	GaveUp int
	// Hostile and Refused count hostile inputs.
	Hostile int
	// Refused: see Hostile.
	Refused int
	// Deliveries is the number of requests answered so far.
	Deliveries int
	// Waiting is the number of deliveries scheduled and not yet sent;
	// NextAt is the simulated time of the earliest.
	Waiting int
	// NextAt: see Waiting.
	NextAt time.Duration
	// Behind is set when the earliest waiting delivery is overdue by more
	// than half the shortest retry interval: retries no longer follow the
	// schedule (Report.Lateness says why, at the end).
	Behind bool
	// Finished is set on the last call, when the run is over.
	Finished bool
}

// event is one event being played.
type event struct {
	info     Event
	msg      *alipaytest.Message   // notify, return, and hostile inputs built from a message
	copies   []*alipaytest.Message // duplicates of the first try
	raw      func(ctx context.Context, url string) (*http.Request, error)
	lostAcks int
	checkout *checkout    // the trade's order, written before any delivery
	gwStep   *gatewayStep // what the query gateway learns at this step
	visible  bool         // a trade query reports this step's status

	mu  sync.Mutex
	res Result
}

// run is the state of one Run.
type run struct {
	sim   *Simulator
	clock clock
	q     *queue
	evs   []*event

	deliveries  atomic.Int64
	done        atomic.Int64
	acked       atomic.Int64
	gaveUp      atomic.Int64
	refused     atomic.Int64
	notifyCount int
	hostile     int
	orders      *ordersFile // nil without Config.OrdersFile
}

// Run plays sc and returns the report. It returns early, with the report so
// far and ctx's error, when ctx ends. Other errors mean the scenario could
// not be played at all.
func (s *Simulator) Run(ctx context.Context, sc *Scenario) (*Report, error) {
	if err := s.CheckScenario(sc); err != nil {
		return nil, err
	}
	seed := s.cfg.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	rng := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	runID := s.cfg.RunID
	if runID == "" {
		runID = fmt.Sprintf("%06d", rng.IntN(1_000_000))
	}
	epoch := s.cfg.Epoch
	if epoch.IsZero() {
		epoch = time.Now()
	}
	p := &planner{sim: s, rng: rng, runID: runID, epoch: epoch.In(alipaytest.ChinaTime)}
	evs, err := p.plan(sc)
	if err != nil {
		return nil, err
	}

	r := &run{sim: s, evs: evs}
	if s.cfg.OrdersFile != "" {
		r.orders = &ordersFile{path: s.cfg.OrdersFile}
	}
	for _, ev := range evs {
		switch ev.info.Kind {
		case KindNotify:
			r.notifyCount++
		case KindHostile:
			r.hostile++
		}
	}
	r.clock = clock{start: time.Now(), speed: s.cfg.Speed}
	if s.cfg.OnStart != nil {
		s.cfg.OnStart(r.clock.start)
	}
	r.q = newQueue(r.clock)
	// What happens at Alipay and at the shop, off the wire: the buyer's
	// checkout (the order book) and each story step (the gateway).
	checkouts := map[*checkout]bool{}
	for _, ev := range evs {
		if c := ev.checkout; c != nil && !checkouts[c] {
			checkouts[c] = true
			r.q.push(&job{action: func() { r.orders.add(c) }, due: c.at})
		}
		if g := ev.gwStep; g != nil {
			r.q.push(&job{action: func() { s.gw.learn(g.trade, g.index, g.status) }, due: g.at})
		}
	}
	for _, ev := range evs {
		ev.res.Event = ev.info
		attempt, due := 1, ev.info.Start
		if ev.info.Kind == KindNotify && ev.info.LoseUntil > 0 {
			// The tries due in the window are lost in transit; the first
			// one after it is sent (CheckScenario makes sure there is one).
			k := 0
			for k < len(s.offsets)-1 && ev.info.Start+s.offsets[k] < ev.info.LoseUntil {
				k++
			}
			ev.res.LostTries = k
			ev.res.QueryVisible = ev.visible && s.gw != nil && k > 0
			attempt, due = k+1, ev.info.Start+s.offsets[k]
		}
		r.q.push(&job{ev: ev, attempt: attempt, due: due})
		for c := range ev.copies {
			r.q.push(&job{ev: ev, attempt: attempt, copy: c + 1, due: due})
		}
	}

	jobs := make(chan *job)
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				r.deliver(ctx, j)
				r.q.finish()
			}
		}()
	}
	stopProgress := r.progressLoop()
	r.q.run(ctx, jobs)
	wg.Wait()
	stopProgress()

	rep := r.report(sc.Name)
	if err := ctx.Err(); err != nil && rep.Interrupted {
		return rep, err
	}
	if r.orders != nil {
		if err := r.orders.failed(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// foundByQuery looks, among the queries, for those about res's order
// before its first late try was sent, and for one that answered its
// status.
func foundByQuery(res *Result, queries []query) {
	if len(res.Answers) == 0 {
		return
	}
	firstSent := res.Answers[0].Sent
	for _, a := range res.Answers {
		firstSent = min(firstSent, a.Sent)
	}
	for _, q := range queries {
		if q.outTradeNo != res.OutTradeNo || q.at >= firstSent {
			continue
		}
		res.Queries++
		if q.status == res.TradeStatus && (!res.FoundByQuery || q.at < res.FoundAt) {
			res.FoundByQuery, res.FoundAt = true, q.at
		}
	}
}

func (r *run) progressLoop() func() {
	if r.sim.cfg.OnProgress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(r.sim.cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				r.sim.cfg.OnProgress(r.progress(true))
				return
			case <-t.C:
				r.sim.cfg.OnProgress(r.progress(false))
			}
		}
	}()
	return func() { close(stop); <-exited }
}

func (r *run) progress(finished bool) Progress {
	p := Progress{
		Simulated:     r.clock.now(),
		Wall:          time.Since(r.clock.start),
		Events:        len(r.evs),
		Done:          int(r.done.Load()),
		Notifications: r.notifyCount,
		Acknowledged:  int(r.acked.Load()),
		GaveUp:        int(r.gaveUp.Load()),
		Hostile:       r.hostile,
		Refused:       int(r.refused.Load()),
		Deliveries:    int(r.deliveries.Load()),
		Finished:      finished,
	}
	if at, n, ok := r.q.next(); ok {
		p.NextAt, p.Waiting = at, n
		p.Behind = p.Simulated-at > r.sim.lateAfter
	}
	return p
}

func (r *run) report(name string) *Report {
	rep := &Report{
		Scenario:  name,
		Speed:     r.sim.cfg.Speed,
		Started:   r.clock.start,
		Wall:      time.Since(r.clock.start),
		Simulated: r.clock.now(),
	}
	var queries []query
	if r.sim.gw != nil {
		queries = r.sim.gw.queries(r.clock)
		rep.Totals.Queries = len(queries)
	}
	for _, ev := range r.evs {
		ev.mu.Lock()
		res := ev.res
		res.Answers = append([]Answer(nil), ev.res.Answers...)
		ev.mu.Unlock()
		slices.SortStableFunc(res.Answers, func(a, b Answer) int {
			return cmp.Or(cmp.Compare(a.Attempt, b.Attempt), cmp.Compare(a.Copy, b.Copy))
		})
		if !res.Done {
			rep.Interrupted = true
		}
		if res.QueryVisible {
			foundByQuery(&res, queries)
			res.OK = res.OK && res.FoundByQuery
		}
		rep.Results = append(rep.Results, res)
	}
	rep.total()
	rep.Lateness = explainLate(rep.Results, r.sim.cfg.Workers, r.sim.cfg.Speed, r.sim.lateAfter)
	return rep
}
