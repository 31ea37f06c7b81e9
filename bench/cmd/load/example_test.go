package main

import (
	"os"
	"testing"
	"time"

	"github.com/alipaynotify/alipaynotify/internal/redistest"
)

func TestLogField(t *testing.T) {
	for _, tc := range []struct {
		line, want string
		ok         bool
	}{
		{`time=2026-12-02T01:00:00Z level=INFO msg=listening addr=127.0.0.1:41234 notify_url=http://127.0.0.1:41234/alipay/notify`, "127.0.0.1:41234", true},
		{`time=2026-12-02T01:00:00Z level=INFO msg="shutting down"`, "", false},
		{`time=2026-12-02T01:00:00Z level=INFO msg=claimed addr=127.0.0.1:1`, "", false},
		{`time=2026-12-02T01:00:00Z level=INFO msg=listening`, "", false},
	} {
		got, ok := logField(tc.line, "listening", "addr")
		if got != tc.want || ok != tc.ok {
			t.Errorf("logField(%q) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

// TestRunAllModes runs a small load through every mode, examples/nethttp
// (built by the run) included; run fails unless every delivery is answered
// "success" and, with dedupe, the business handler ran once per event.
func TestRunAllModes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds examples/nethttp and starts redis-servers")
	}
	if _, err := redistest.Bin(""); err != nil {
		t.Skip(err)
	}
	cfg := config{
		redisAddr:   os.Getenv("ALIPAYNOTIFY_REDIS_ADDR"),
		n:           300,
		dup:         0.3,
		concurrency: 4,
		rounds:      1,
		modes:       allModes,
		timeout:     time.Minute,
		seed:        1,
	}
	if err := run(cfg); err != nil {
		t.Fatal(err)
	}
}
