// Package redisproc starts and stops private redis-server processes on
// 127.0.0.1 for the bench commands. It only ever signals the processes it
// started itself.
package redisproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify/bench/internal/procstop"
)

// Server is one redis-server process that this package started. Stop it when
// done; Restart stops it and starts it again on the same port and directory.
type Server struct {
	// Addr is "127.0.0.1:port".
	Addr string
	// Dir is the working directory (data and log files).
	Dir string

	bin  string
	port int
	args []string
	cmd  *exec.Cmd
	exit chan struct{}
}

// Options configure Start.
type Options struct {
	// Bin is the redis-server binary. Default: $REDIS_SERVER_BIN, else
	// redis-server from PATH.
	Bin string
	// Dir holds the data and the log. Required.
	Dir string
	// AppendOnly turns AOF persistence on (appendfsync everysec), so that a
	// restart keeps every write Redis acknowledged before a clean shutdown.
	AppendOnly bool
}

// Bin returns the redis-server binary to use, or an error if there is none.
func Bin(bin string) (string, error) {
	if bin == "" {
		bin = os.Getenv("REDIS_SERVER_BIN")
	}
	if bin == "" {
		bin = "redis-server"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("redis-server not found (install Debian's redis-server package or set REDIS_SERVER_BIN): %w", err)
	}
	return path, nil
}

// Start starts redis-server on a free 127.0.0.1 port and waits until it
// answers PING.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := Bin(opts.Bin)
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("redisproc: Options.Dir is required")
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: opts.Dir, bin: bin, port: port}
		s.args = []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", opts.Dir,
			"--save", "", "--logfile", filepath.Join(opts.Dir, "redis.log"), "--daemonize", "no"}
		if opts.AppendOnly {
			s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "everysec")
		} else {
			s.args = append(s.args, "--appendonly", "no")
		}
		if lastErr = s.start(ctx); lastErr == nil {
			return s, nil
		}
	}
	return nil, lastErr
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start(ctx context.Context) error {
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Dir = s.Dir
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exit = make(chan struct{})
	go func(cmd *exec.Cmd, exit chan struct{}) { cmd.Wait(); close(exit) }(s.cmd, s.exit)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.Ping(ctx).Err(); err == nil {
			return nil
		} else if time.Now().After(deadline) || ctx.Err() != nil {
			s.Stop()
			return fmt.Errorf("redis-server on %s did not answer: %v", s.Addr, err)
		}
		select {
		case <-s.exit:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			return fmt.Errorf("redis-server on %s exited: %s", s.Addr, lastLines(string(log), 3))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM (Redis then writes what persistence needs and exits)
// and waits up to 10 s before killing the process.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	procstop.Gracefully(s.cmd.Process, s.exit, 10*time.Second)
	s.cmd = nil
}

// Restart stops the server with SIGTERM and starts it again on the same
// port and directory. It returns how long Redis was unreachable.
func (s *Server) Restart(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	s.Stop()
	err := s.start(ctx)
	return time.Since(start), err
}

// Pid returns the process id, or 0 when stopped.
func (s *Server) Pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Version returns redis-server's version string ("7.0.15").
func Version(bin string) string {
	bin, err := Bin(bin)
	if err != nil {
		return "unknown"
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v
		}
	}
	return strings.TrimSpace(string(out))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
