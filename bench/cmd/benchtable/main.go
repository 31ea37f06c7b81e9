// Command benchtable turns `go test -bench` output into a Markdown table of
// medians with ratios to a baseline, for BENCHMARKS.md.
//
// Usage:
//
//	benchtable -base impl=floor results/peers.txt
//	benchtable -base VerifyFloor results/root-verify.txt
//	benchtable -base dedupe=off results/endtoend.txt
//
// With -base key=value, a benchmark's baseline is the benchmark whose name has
// that sub-benchmark component instead of its own (Verify/impl=gopay →
// Verify/impl=floor; EndToEnd/dedupe=redis/dup → EndToEnd/dedupe=off/dup).
// Otherwise -base names the baseline benchmark itself. Every metric is the
// median over the runs in the input; "min" is the fastest run, the estimate
// least disturbed by other load on the machine.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// benchLine matches "BenchmarkName-2   	 1000	 41127 ns/op	 ..." and keeps the
// name (without the -GOMAXPROCS suffix) and the metrics.
var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

type series struct {
	name    string
	metrics map[string][]float64 // unit → values
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchtable: ")
	base := flag.String("base", "", "baseline: a sub-benchmark key=value, or a benchmark name")
	flag.Parse()
	var in io.Reader = os.Stdin
	if flag.NArg() == 1 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		in = f
	}
	all, err := parse(in)
	if err != nil {
		log.Fatal(err)
	}
	if len(all) == 0 {
		log.Fatal("no benchmark lines in the input")
	}
	write(os.Stdout, all, *base)
}

func parse(r io.Reader) ([]*series, error) {
	var order []*series
	byName := map[string]*series{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s := byName[m[1]]
		if s == nil {
			s = &series{name: m[1], metrics: map[string][]float64{}}
			byName[m[1]] = s
			order = append(order, s)
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			s.metrics[f[i+1]] = append(s.metrics[f[i+1]], v)
		}
	}
	return order, sc.Err()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// baseOf returns the name of name's baseline.
func baseOf(name, base string) string {
	key, _, ok := strings.Cut(base, "=")
	if !ok {
		return base
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, key+"=") {
			parts[i] = base
		}
	}
	return strings.Join(parts, "/")
}

func write(w io.Writer, all []*series, base string) {
	byName := map[string]*series{}
	for _, s := range all {
		byName[s.name] = s
	}
	fmt.Fprintln(w, "| benchmark | runs | ns/op (median) | ns/op (min) | × base (median) | × base (min) | B/op | allocs/op |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range all {
		ns := s.metrics["ns/op"]
		ratio, ratioMin := "–", "–"
		if b := byName[baseOf(s.name, base)]; b != nil && len(b.metrics["ns/op"]) > 0 {
			ratio = fmt.Sprintf("%.2f", median(ns)/median(b.metrics["ns/op"]))
			ratioMin = fmt.Sprintf("%.2f", slices.Min(ns)/slices.Min(b.metrics["ns/op"]))
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %s | %s | %.0f | %.0f |\n", s.name, len(ns), median(ns), slices.Min(ns),
			ratio, ratioMin, median(s.metrics["B/op"]), median(s.metrics["allocs/op"]))
	}
}
