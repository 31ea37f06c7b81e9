package redisstore

import (
	"context"
	"fmt"
	"log/slog"
)

// SlogLogger routes go-redis's own log lines (lost connections, pool and
// Cluster topology messages) through a slog.Logger, so that they reach the
// same handler, format and destination as the rest of the service's logs.
// go-redis keeps one logger for the whole process; install it once at
// start-up, before creating clients:
//
//	redis.SetLogger(redisstore.SlogLogger{Logger: logger})
type SlogLogger struct {
	// Logger receives the lines. Default: slog.Default().
	Logger *slog.Logger
	// Level is the level of every line: go-redis logs only trouble, without
	// a level of its own. Default: slog.LevelWarn.
	Level slog.Leveler
}

// Printf implements go-redis's logging interface (redis.SetLogger).
func (l SlogLogger) Printf(ctx context.Context, format string, v ...any) {
	logger := l.Logger
	if logger == nil {
		logger = slog.Default()
	}
	level := slog.LevelWarn
	if l.Level != nil {
		level = l.Level.Level()
	}
	if !logger.Enabled(ctx, level) {
		return
	}
	logger.Log(ctx, level, fmt.Sprintf(format, v...), "component", "go-redis")
}
