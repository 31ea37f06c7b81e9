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
	for _, ev := range evs {
		switch ev.info.Kind {
		case KindNotify:
			r.notifyCount++
		case KindHostile:
			r.hostile++
		}
	}
	r.clock = clock{start: time.Now(), speed: s.cfg.Speed}
	r.q = newQueue(r.clock)
	for _, ev := range evs {
		ev.res.Event = ev.info
		r.q.push(&job{ev: ev, attempt: 1, due: ev.info.Start})
		for c := range ev.copies {
			r.q.push(&job{ev: ev, attempt: 1, copy: c + 1, due: ev.info.Start})
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
	return rep, nil
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
		rep.Results = append(rep.Results, res)
	}
	rep.total()
	rep.Lateness = explainLate(rep.Results, r.sim.cfg.Workers, r.sim.cfg.Speed, r.sim.lateAfter)
	return rep
}
