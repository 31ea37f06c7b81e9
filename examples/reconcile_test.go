package examples_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeCommand is one command of a README shell block: its environment
// assignments, its words, and whether it runs in the background (&).
type readmeCommand struct {
	env        []string
	args       []string
	background bool
}

// readmeCommands returns the commands of the README's shell block marked
// "<!-- readme-command: name -->": continuation lines joined, comments and
// blank lines dropped. The block holds no quotes, so words split on blanks.
func readmeCommands(t *testing.T, name string) []readmeCommand {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- readme-command: " + regexp.QuoteMeta(name) + " -->\n```sh\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatalf("README has no shell block marked readme-command: %s", name)
	}
	var code strings.Builder
	for _, line := range strings.Split(string(m[1]), "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i] // comments run to the end of the line
		}
		code.WriteString(line + "\n")
	}
	text := strings.ReplaceAll(code.String(), "\\\n", " ")
	if strings.ContainsAny(text, `"'$;|<>`+"`") {
		t.Fatalf("the README block uses shell syntax this test does not read:\n%s", m[1])
	}
	var cmds []readmeCommand
	for _, line := range strings.Split(text, "\n") {
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		var c readmeCommand
		if words[len(words)-1] == "&" {
			c.background, words = true, words[:len(words)-1]
		}
		for len(words) > 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(words[0]) {
			c.env, words = append(c.env, words[0]), words[1:]
		}
		c.args = words
		cmds = append(cmds, c)
	}
	return cmds
}

// TestReadmeReconcileCommand runs the README's reconciliation commands
// (section "Reconciliation"), with the built binaries for `go run` and free
// ports for 8080 and 9090: alipaysim loses every notification for a while,
// examples/nethttp's Reconciler finds each payment through alipaysim's
// gateway, the handler runs once per event, by query, and the late
// notifications are duplicates.
func TestReadmeReconcileCommand(t *testing.T) {
	cmds := readmeCommands(t, "reconcile")
	dir := t.TempDir()
	sim := filepath.Join(dir, "alipaysim")
	args := []string{"build", "-o", sim}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, "../cmd/alipaysim")...).CombinedOutput(); err != nil {
		t.Fatalf("building alipaysim: %v\n%s", err, out)
	}
	gatewayAddr := freePort(t)
	fix := func(s string) string { return strings.ReplaceAll(s, "127.0.0.1:9090", gatewayAddr) }

	var srv *server
	var report string
	ran := 0
	for _, c := range cmds {
		if len(c.args) < 3 || c.args[0] != "go" || c.args[1] != "run" {
			t.Fatalf("README command %q: want go run ./cmd/alipaysim or ./examples/nethttp", c.args)
		}
		switch c.args[2] {
		case "./examples/nethttp":
			if !c.background || len(c.args) != 3 {
				t.Fatalf("README: the example runs in the background with no arguments: %q", c.args)
			}
			var env []string
			for _, kv := range c.env {
				k, v, _ := strings.Cut(fix(kv), "=")
				if strings.HasSuffix(k, "_FILE") && !filepath.IsAbs(v) {
					v = filepath.Join(dir, v) // the example runs from another directory
				}
				env = append(env, k+"="+v)
			}
			srv = start(t, binary(t, "nethttp"), env)
		case "./cmd/alipaysim":
			if c.background || len(c.env) > 0 {
				t.Fatalf("README: alipaysim runs in the foreground: %q", c.args)
			}
			simArgs := c.args[3:]
			for i, a := range simArgs {
				simArgs[i] = fix(a)
				if srv != nil {
					simArgs[i] = strings.ReplaceAll(simArgs[i], "http://127.0.0.1:8080", srv.url)
				}
			}
			cmd := exec.Command(sim, simArgs...)
			cmd.Dir = dir
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("alipaysim %q: %v\n%s\n%s", simArgs, err, stdout.String(), stderr.String())
			}
			if srv != nil {
				report = stdout.String()
			}
			ran++
		default:
			t.Fatalf("README command %q: unknown program", c.args)
		}
	}
	if srv == nil || ran != 3 || report == "" {
		t.Fatalf("README block: %d alipaysim runs, example started: %v", ran, srv != nil)
	}
	// Every payment lost, then found by query first; the late notifications
	// were acknowledged.
	m := regexp.MustCompile(`PASS — notifications (\d+)/(\d+) acknowledged.*lost notifications (\d+) \(\d+ tries never sent\), (\d+)/(\d+) found by query first`).FindStringSubmatch(report)
	if m == nil || m[1] != m[2] || m[2] != m[3] || m[3] != m[4] || m[4] != m[5] {
		t.Fatalf("alipaysim report:\n%s", report)
	}
	trades, _ := strconv.Atoi(m[2])
	if strings.Count(report, "found by query; late notify acknowledged") != trades {
		t.Errorf("report rows:\n%s", report)
	}
	// The handler's lines: one per payment, each by query; a late
	// notification that ran the handler again would print a second line.
	srv.stop(t)
	seen := map[string]int{}
	for line := range srv.lines {
		var l struct {
			Source, OutTradeNo, TradeStatus string
		}
		dec := json.NewDecoder(strings.NewReader(line))
		if err := dec.Decode(&struct {
			Source      *string `json:"source"`
			OutTradeNo  *string `json:"out_trade_no"`
			TradeStatus *string `json:"trade_status"`
		}{&l.Source, &l.OutTradeNo, &l.TradeStatus}); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if l.Source != "query" || l.TradeStatus != "TRADE_SUCCESS" {
			t.Errorf("handled %s %s by %s, want by query", l.OutTradeNo, l.TradeStatus, l.Source)
		}
		seen[l.OutTradeNo]++
	}
	if len(seen) != trades {
		t.Errorf("%d orders handled, %d paid: %v", len(seen), trades, seen)
	}
	for o, n := range seen {
		if n != 1 {
			t.Errorf("%s handled %d times", o, n)
		}
	}
	book, err := os.ReadFile(filepath.Join(dir, "orders.txt"))
	if err != nil || strings.Count(string(book), "\n") != trades {
		t.Errorf("order book (%v):\n%s", err, book)
	}
	if !strings.Contains(srv.stderr.String(), "reconciler on") {
		t.Errorf("the example's log does not say the reconciler runs:\n%s", srv.stderr.String())
	}
}
