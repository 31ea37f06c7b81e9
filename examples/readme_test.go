package examples_test

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
)

// readmeBinary builds the README's complete program (examples/readme/nethttp).
func readmeBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	bin := filepath.Join(t.TempDir(), "readme-nethttp")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command(goBin, append(args, "./readme/nethttp")...).CombinedOutput(); err != nil {
		t.Fatalf("building the README's program: %v\n%s", err, out)
	}
	return bin
}

// TestReadmeProgram runs the README's first-screen program as a merchant
// would, with Redis: a payment of its one order runs the handler once,
// whatever comes after it; CheckOrder refuses a genuine callback for an
// order it does not have or with another amount.
func TestReadmeProgram(t *testing.T) {
	bin := readmeBinary(t)
	signer := alipaytest.NewSigner(nil)
	s := startOnFreePort(t, bin, []string{
		"ALIPAY_APP_ID=" + alipaytest.DefaultAppID,
		"ALIPAY_PUBLIC_KEY=" + alipaytest.TestKey().PublicKeyPEM(),
		"REDIS_URL=redis://" + redistest.Addr(t) + "/0",
	})
	trade := signer.NewTrade("ORDER-1", "88.88")
	paid := trade.Paid()
	s.notify(t, paid, "success")
	s.notify(t, paid, "success")
	s.notify(t, trade.Paid(), "success") // Alipay re-sends the state with a new notify_id
	if code, _, body := s.send(t, "/alipay/return", trade.Return()); code != 200 || body != "Order ORDER-1: duplicate\n" {
		t.Errorf("return: %d %q, want 200 \"Order ORDER-1: duplicate\\n\"", code, body)
	}
	s.notify(t, signer.Paid("ORDER-1", "0.01"), "fail")  // another amount: refused by CheckOrder
	s.notify(t, signer.Paid("ORDER-2", "88.88"), "fail") // not an order of this shop
	if n := strings.Count(s.stderr.String(), "order ORDER-1: TRADE_SUCCESS 88.88"); n != 1 {
		t.Errorf("the handler ran %d times, want 1:\n%s", n, s.stderr.String())
	}
}

// TestReadmeProgramDeadRedis: with Redis unreachable the program exits at
// start-up (Middleware.CheckStore), before it serves a single callback.
func TestReadmeProgramDeadRedis(t *testing.T) {
	bin := readmeBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{
		"ADDR=" + freePort(t),
		"ALIPAY_APP_ID=" + alipaytest.DefaultAppID,
		"ALIPAY_PUBLIC_KEY=" + alipaytest.TestKey().PublicKeyPEM(),
		"REDIS_URL=redis://" + dead + "/0",
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("still running after 60s with a dead Redis:\n%s", out)
	}
	if err == nil || !strings.Contains(string(out), "store") {
		t.Fatalf("exit %v, want a failure naming the store:\n%s", err, out)
	}
}
