package redisstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
)

// TestSlogLogger: go-redis's printf-style lines reach the slog handler at the
// configured level (Warn by default), tagged as go-redis's.
func TestSlogLogger(t *testing.T) {
	for _, tt := range []struct {
		name  string
		level slog.Leveler
		want  string
	}{
		{"default level", nil, "level=WARN"},
		{"info", slog.LevelInfo, "level=INFO"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := redisstore.SlogLogger{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), Level: tt.level}
			l.Printf(context.Background(), "redis: connection pool: %s", "dial tcp: refused")
			out := buf.String()
			for _, want := range []string{tt.want, `msg="redis: connection pool: dial tcp: refused"`, "component=go-redis"} {
				if !strings.Contains(out, want) {
					t.Errorf("log line %q lacks %q", out, want)
				}
			}
		})
	}
	var buf bytes.Buffer
	quiet := redisstore.SlogLogger{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))}
	quiet.Printf(context.Background(), "redis: %d", 1)
	if buf.Len() != 0 {
		t.Errorf("a Warn line passed an Error-level handler: %q", buf.String())
	}
}
