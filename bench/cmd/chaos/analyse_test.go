package main

import (
	"os"
	"reflect"
	"testing"
)

// TestAnalyse checks the verdicts the chaos run rests on: which re-runs are
// the documented limits and which are double runs, and which events are lost.
func TestAnalyse(t *testing.T) {
	dir := t.TempDir()
	a := &merchant{name: "A", dir: dir, killed: []string{"A1"}}
	b := &merchant{name: "B", dir: dir}
	write := func(m *merchant, lines string) {
		if err := os.WriteFile(m.runsPath(), []byte(lines), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// once: one run, done. crash: A1 wrote its run and was killed before
	// Complete, B1 ran again. store: Complete failed, then a re-run.
	// double: two runs that both completed. lost: acknowledged, no run.
	// unacked: a run but never acknowledged. torn: a line cut short.
	write(a, "RUN\tonce\tt1\tA1\tnotify\nDONE\tt1\n"+
		"RUN\tcrash\tt2\tA1\tnotify\n"+
		"RUN\tdouble\tt5\tA2\tnotify\nDONE\tt5\n"+
		"LOST\tstore\n")
	write(b, "RUN\tcrash\tt3\tB1\tnotify\nDONE\tt3\n"+
		"RUN\tstore\tt4\tB1\treturn\nCFAIL\tt4\tredis: connection refused\n"+
		"RUN\tstore\tt7\tB1\tnotify\nDONE\tt7\n"+
		"RUN\tdouble\tt6\tB1\tnotify\nDONE\tt6\n"+
		"RUN\tunacked\tt8\tB1\tnotify\nDONE\tt8\n"+
		"RUN\tonce\tt9")
	s := &schedule{}
	for _, id := range []string{"once", "crash", "store", "double", "lost", "unacked"} {
		ev := &event{id: id}
		ev.acked.Store(id != "unacked")
		s.events = append(s.events, ev)
		s.deliveries = append(s.deliveries, &delivery{ev: ev, notify: true, attempts: 1, acked: id != "unacked"})
	}
	rep, err := analyse(s, []*merchant{a, b})
	if err != nil {
		t.Fatal(err)
	}
	want := report{events: 6, runs: 8, double: 1, rerunCrash: 1, rerunStore: 1, lost: 2, unacked: 1, unhandled: 1, ignoredLines: 1}
	got := report{events: rep.events, runs: rep.runs, double: rep.double, rerunCrash: rep.rerunCrash, rerunStore: rep.rerunStore,
		lost: rep.lost, unacked: rep.unacked, unhandled: rep.unhandled, ignoredLines: rep.ignoredLines}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("analyse = %+v\nwant      %+v", got, want)
	}
	if rep.done != 6 || rep.cfail != 1 || rep.clost != 0 || rep.leaseLost != 1 {
		t.Errorf("DONE/CFAIL/CLOST/LOST = %d/%d/%d/%d, want 6/1/0/1", rep.done, rep.cfail, rep.clost, rep.leaseLost)
	}
}
