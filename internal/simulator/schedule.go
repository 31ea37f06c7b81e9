package simulator

import (
	"container/heap"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// AlipaySchedule is when Alipay delivers one notification, as the interval
// before each try: at once, then after 2m, 10m, 10m, 1h, 2h, 6h and 15h —
// 8 tries over 24h22m (docs/protocol.md, "Delivery, retries and the
// answer").
var AlipaySchedule = []time.Duration{
	0,
	2 * time.Minute,
	10 * time.Minute,
	10 * time.Minute,
	time.Hour,
	2 * time.Hour,
	6 * time.Hour,
	15 * time.Hour,
}

// Offsets turns a schedule of intervals into the simulated time of each try
// after the first: AlipaySchedule gives 0, 2m, 12m, 22m, 1h22m, 3h22m,
// 9h22m, 24h22m.
func Offsets(schedule []time.Duration) []time.Duration {
	out := make([]time.Duration, len(schedule))
	var t time.Duration
	for i, d := range schedule {
		t += d
		out[i] = t
	}
	return out
}

// ParseSchedule reads a comma-separated list of intervals such as
// "0,2m,10m,10m,1h,2h,6h,15h".
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for i, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "0" {
			out = append(out, 0)
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("schedule item %d: %q is not a duration such as 2m", i+1, f)
		}
		out = append(out, d)
	}
	return out, nil
}

// FormatSim formats a simulated offset as "+HH:MM:SS" (hours may exceed 24).
func FormatSim(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	s := int64(d / time.Second)
	return fmt.Sprintf("%s%02d:%02d:%02d", sign, s/3600, s/60%60, s%60)
}

// clock maps simulated offsets to wall-clock time: simulated time runs
// speed times faster than real time from start.
type clock struct {
	start time.Time
	speed float64
}

func (c clock) wall(sim time.Duration) time.Time {
	return c.start.Add(time.Duration(float64(sim) / c.speed))
}

func (c clock) now() time.Duration {
	return time.Duration(float64(time.Since(c.start)) * c.speed)
}

// job is one delivery waiting for its time.
type job struct {
	// action, when set, is run instead of a delivery: something that
	// happens off the wire at its time (a checkout, a gateway update).
	action  func()
	ev      *event
	attempt int // 1-based try of the notification chain
	copy    int // 0: the chain's own delivery; >0: a concurrent duplicate
	due     time.Duration
	seq     uint64
	// workersBusy is set by the queue when, at some moment after the job
	// fell due and before a worker took it, every worker was busy (the
	// queue waited to hand a job over): its lateness, if any, is the
	// workers' and the merchant's, not the queue's.
	workersBusy bool
}

type jobHeap []*job

func (h jobHeap) Len() int { return len(h) }
func (h jobHeap) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].seq < h[j].seq
}
func (h jobHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)   { *h = append(*h, x.(*job)) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return j
}

// queue is a timer-driven scheduler: jobs wait in a heap ordered by due
// time, one time.Timer sleeps until the earliest, and due jobs are handed to
// the workers. It ends when no job is waiting and none is being delivered.
type queue struct {
	clock clock

	mu      sync.Mutex
	h       jobHeap
	seq     uint64
	pending int // pushed and not yet finished
	wake    chan struct{}
}

func newQueue(c clock) *queue {
	return &queue{clock: c, wake: make(chan struct{}, 1)}
}

// push schedules j. Call it before finishing the job that caused it, so
// that pending never drops to zero while work remains.
func (q *queue) push(j *job) {
	q.mu.Lock()
	q.seq++
	j.seq = q.seq
	heap.Push(&q.h, j)
	q.pending++
	q.mu.Unlock()
	q.poke()
}

// finish marks a job handed out by run as delivered.
func (q *queue) finish() {
	q.mu.Lock()
	q.pending--
	q.mu.Unlock()
	q.poke()
}

func (q *queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next returns the sim time of the earliest waiting job and how many wait.
func (q *queue) next() (time.Duration, int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.h) == 0 {
		return 0, 0, false
	}
	return q.h[0].due, len(q.h), true
}

// run hands due jobs to out until every job is finished or ctx ends, then
// closes out.
func (q *queue) run(ctx context.Context, out chan<- *job) {
	defer close(out)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// blockedTill is when the queue last got a job taken after waiting for
	// a free worker; a job due before then waited for the workers too.
	var blockedTill time.Time
	for {
		q.mu.Lock()
		if q.pending == 0 {
			q.mu.Unlock()
			return
		}
		var due *job
		wait := time.Duration(-1)
		if len(q.h) > 0 {
			if d := time.Until(q.clock.wall(q.h[0].due)); d <= 0 {
				due = heap.Pop(&q.h).(*job)
			} else {
				wait = d
			}
		}
		q.mu.Unlock()

		if due != nil {
			due.workersBusy = !blockedTill.Before(q.clock.wall(due.due))
			select {
			case out <- due:
				continue
			default: // every worker is busy
			}
			due.workersBusy = true
			select {
			case out <- due:
				blockedTill = time.Now()
				continue
			case <-ctx.Done():
				return
			}
		}
		var fire <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			fire = timer.C
		}
		select {
		case <-q.wake:
		case <-fire:
		case <-ctx.Done():
			return
		}
		timer.Stop()
	}
}
