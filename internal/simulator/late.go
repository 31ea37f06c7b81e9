package simulator

import (
	"fmt"
	"slices"
	"time"
)

// LateCause says whose lateness the late deliveries of a run were.
type LateCause string

const (
	// LateSimulator: deliveries were started late while a worker was free.
	// The simulator's own timer or goroutines did not run in time, which
	// happens when the machine is overloaded.
	LateSimulator LateCause = "simulator"
	// LateMerchant: every worker was busy waiting for answers that took
	// longer than a delivery may lag (LatencyP99 > Allowed): the merchant
	// answered too slowly for the speed.
	LateMerchant LateCause = "merchant"
	// LateBurst: every worker was busy, but the merchant answered quickly:
	// the schedule put more deliveries into a short stretch of simulated
	// time than Workers requests at the merchant's latency can send in the
	// wall-clock time that stretch lasts at Speed. Neither the merchant nor
	// the simulator is at fault; spread the trades' starts or lower the
	// speed.
	LateBurst LateCause = "burst"
)

// Lateness explains the deliveries of a run that were sent late
// (Answer.Late), with the numbers that decide whose lateness it was.
type Lateness struct {
	// Cause is whose lateness it was, by the majority of the late
	// deliveries.
	Cause LateCause `json:"cause"`
	// Late is the number of late deliveries; WorkersBusy those of them that
	// waited while every worker was busy (Answer.WorkersBusy).
	Late int `json:"late"`
	// WorkersBusy: see Late.
	WorkersBusy int `json:"workers_busy"`
	// Workers is Config.Workers.
	Workers int `json:"workers"`
	// Speed is Config.Speed.
	Speed float64 `json:"speed"`
	// Allowed is the wall-clock lag after which a delivery is late: half the
	// shortest retry interval (at most a minute) of simulated time, divided
	// by Speed.
	Allowed time.Duration `json:"allowed_ns"`
	// MaxBehind is the largest wall-clock lag of a late delivery.
	MaxBehind time.Duration `json:"max_behind_ns"`
	// Burst is the largest number of deliveries due within one Allowed
	// stretch of wall-clock time (one lateAfter of simulated time).
	Burst int `json:"burst"`
	// LatencyP50 and LatencyP99 are the merchant's answer times over the
	// whole run (deliveries that got an HTTP answer).
	LatencyP50 time.Duration `json:"latency_p50_ns"`
	// LatencyP99: see LatencyP50.
	LatencyP99 time.Duration `json:"latency_p99_ns"`
}

// explainLate classifies the late deliveries of results; it returns nil
// when none was late. lateAfter is the simulated lag that makes a delivery
// late.
func explainLate(results []Result, workers int, speed float64, lateAfter time.Duration) *Lateness {
	l := &Lateness{Workers: workers, Speed: speed, Allowed: wallOf(lateAfter, speed)}
	var due []time.Duration
	var latencies []time.Duration
	for i := range results {
		for _, a := range results[i].Answers {
			due = append(due, a.Scheduled)
			if a.Err == "" {
				latencies = append(latencies, a.Latency)
			}
			if !a.Late {
				continue
			}
			l.Late++
			if a.WorkersBusy {
				l.WorkersBusy++
			}
			l.MaxBehind = max(l.MaxBehind, wallOf(a.Sent-a.Scheduled, speed))
		}
	}
	if l.Late == 0 {
		return nil
	}
	slices.Sort(due)
	for i, j := 0, 0; j < len(due); j++ {
		for due[j]-due[i] >= lateAfter {
			i++
		}
		l.Burst = max(l.Burst, j-i+1)
	}
	slices.Sort(latencies)
	l.LatencyP50, l.LatencyP99 = percentile(latencies, 50), percentile(latencies, 99)
	switch {
	case 2*l.WorkersBusy <= l.Late:
		l.Cause = LateSimulator
	case l.LatencyP99 > l.Allowed:
		l.Cause = LateMerchant
	default:
		l.Cause = LateBurst
	}
	return l
}

// wallOf converts a simulated duration into wall-clock time at speed.
func wallOf(sim time.Duration, speed float64) time.Duration {
	if speed <= 0 {
		return sim
	}
	return time.Duration(float64(sim) / speed)
}

// percentile returns the p-th percentile of sorted (nearest rank), 0 when
// empty.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n)
	return sorted[max(rank, 1)-1]
}

// String says, in one sentence with its numbers, whose lateness it was.
func (l *Lateness) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	head := fmt.Sprintf("%d deliveries sent up to %s late (more than %s, which is %s simulated at ×%g, counts as late)",
		l.Late, ms(l.MaxBehind), ms(l.Allowed), simOf(l.Allowed, l.Speed), l.Speed)
	switch l.Cause {
	case LateSimulator:
		return fmt.Sprintf("%s: the simulator's own scheduling fell behind — %d of them were started late while a worker was free "+
			"(the machine is overloaded); the merchant is not at fault", head, l.Late-l.WorkersBusy)
	case LateMerchant:
		return fmt.Sprintf("%s: the merchant answered slowly (p50 %s, p99 %s) and all %d workers were waiting on it",
			head, ms(l.LatencyP50), ms(l.LatencyP99), l.Workers)
	}
	return fmt.Sprintf("%s: the schedule put up to %d deliveries within %s, and the simulator's %d workers, "+
		"all busy, send about %d in that time at the merchant's p50 %s (p99 %s); "+
		"the merchant answered quickly and is not at fault: spread the trades' starts or lower the speed",
		head, l.Burst, ms(l.Allowed), l.Workers, capacity(l.Workers, l.Allowed, l.LatencyP50), ms(l.LatencyP50), ms(l.LatencyP99))
}

// capacity estimates how many requests workers send in d when each answer
// takes latency.
func capacity(workers int, d, latency time.Duration) int64 {
	if latency <= 0 {
		return 0
	}
	return int64(workers) * int64(d) / int64(latency)
}

// simOf converts a wall-clock duration into simulated time at speed, for
// display.
func simOf(wall time.Duration, speed float64) string {
	return time.Duration(float64(wall) * speed).Round(time.Second).String()
}
