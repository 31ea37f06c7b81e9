package simulator

import (
	"strings"
	"testing"
	"time"
)

// lateRun builds the results of a run: n deliveries due at the simulated
// times due(i), sent behind (simulated) later, answered in latency.
func lateRun(n int, due func(int) time.Duration, behind time.Duration, busy bool, latency time.Duration) []Result {
	res := Result{}
	for i := range n {
		res.Answers = append(res.Answers, Answer{
			Scheduled: due(i), Sent: due(i) + behind, Late: behind > time.Minute,
			WorkersBusy: busy && behind > time.Minute, Latency: latency, Status: 200, Success: true,
		})
	}
	return []Result{res}
}

func atOnce(int) time.Duration { return 0 }

func TestExplainLate(t *testing.T) {
	const speed = 3600 // a minute of simulated time lasts 16.7 ms
	tests := []struct {
		name      string
		results   []Result
		cause     LateCause
		burst     int
		maxBehind time.Duration
		says      []string
	}{
		{
			name:    "burst answered quickly",
			results: lateRun(600, atOnce, 3*time.Minute, true, 2*time.Millisecond),
			cause:   LateBurst, burst: 600, maxBehind: 50 * time.Millisecond,
			says: []string{"600 deliveries sent up to 50.0 ms late", "more than 16.7 ms", "up to 600 deliveries within 16.7 ms",
				"32 workers", "about 266 in that time", "p50 2.0 ms", "not at fault"},
		},
		{
			name:    "merchant slower than the allowed lag",
			results: lateRun(40, atOnce, 2*time.Minute, true, 40*time.Millisecond),
			cause:   LateMerchant, burst: 40, maxBehind: 2 * time.Minute / speed,
			says: []string{"the merchant answered slowly", "p99 40.0 ms", "all 32 workers were waiting on it"},
		},
		{
			name:    "started late with workers free",
			results: lateRun(5, func(i int) time.Duration { return time.Duration(i) * time.Hour }, 90*time.Second, false, time.Millisecond),
			cause:   LateSimulator, burst: 1, maxBehind: 90 * time.Second / speed,
			says: []string{"the simulator's own scheduling fell behind", "5 of them were started late while a worker was free"},
		},
		{
			name: "burst counted within one allowed lag of simulated time",
			// 100 deliveries 1s apart in simulated time: 60 fit in a minute.
			results: lateRun(100, func(i int) time.Duration { return time.Duration(i) * time.Second }, 2*time.Minute, true, time.Millisecond),
			cause:   LateBurst, burst: 60, maxBehind: 2 * time.Minute / speed,
			says: []string{"up to 60 deliveries within 16.7 ms"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := explainLate(tc.results, 32, speed, time.Minute)
			if l == nil {
				t.Fatal("no explanation for late deliveries")
			}
			if l.Cause != tc.cause || l.Burst != tc.burst || l.MaxBehind != tc.maxBehind {
				t.Errorf("cause %s burst %d max behind %v, want %s %d %v", l.Cause, l.Burst, l.MaxBehind, tc.cause, tc.burst, tc.maxBehind)
			}
			msg := l.String()
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("message lacks %q:\n%s", s, msg)
				}
			}
		})
	}
	if l := explainLate(lateRun(10, atOnce, 30*time.Second, true, time.Millisecond), 32, speed, time.Minute); l != nil {
		t.Errorf("nothing late, got %+v", l)
	}
}

func TestWriteSummaryNamesLateness(t *testing.T) {
	rep := &Report{Speed: 3600, Results: lateRun(600, atOnce, 3*time.Minute, true, 2*time.Millisecond)}
	rep.total()
	rep.Lateness = explainLate(rep.Results, 32, rep.Speed, time.Minute)
	var b strings.Builder
	if err := rep.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "; 600 deliveries sent up to 50.0 ms late") || strings.Contains(b.String(), "could not keep up") {
		t.Errorf("summary: %s", b.String())
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tc := range []struct{ p, want int }{{50, 100}, {99, 198}, {100, 200}, {0, 1}} {
		if got := percentile(d, tc.p); got != time.Duration(tc.want) {
			t.Errorf("p%d = %d, want %d", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("empty: not 0")
	}
}
