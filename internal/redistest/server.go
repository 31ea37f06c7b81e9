// Package redistest runs redis-server processes for the tests and the
// benchmark commands.
//
// Tests ask for the Redis deployments they need:
//
//   - [Addr]: a standalone server shared by the test binary's tests;
//   - [ClusterAddrs]: a 3-master Redis Cluster, shared the same way;
//   - [Start]: a private server the test may stop, kill and restart, with
//     AOF persistence or as a Sentinel.
//
// Addr and ClusterAddrs reuse the deployments named by
// $ALIPAYNOTIFY_REDIS_ADDR and $ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS
// (scripts/redis-dev.sh exports both); otherwise they start them on first
// use, and the package's TestMain stops them through [Main] or [Run]. The
// binary is $REDIS_SERVER_BIN, else redis-server from PATH. Without one a test
// that needs Redis is skipped, or fails when $CI is set: CI never silently
// skips.
//
// Every process the package starts listens on 127.0.0.1 only, is stopped
// (SIGTERM, then SIGKILL) when its test or program is done, and its
// temporary directory removed. On Linux it also dies with the process that
// started it, so a test binary that panics or times out leaves no server
// behind (only the shared servers' small directories).
// The package only ever signals processes it started.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Environment variables the package reads.
const (
	// EnvAddr names a standalone Redis the tests may write to
	// ("127.0.0.1:6379").
	EnvAddr = "ALIPAYNOTIFY_REDIS_ADDR"
	// EnvClusterAddrs lists seed addresses of a Redis Cluster the tests may
	// write to, separated by commas.
	EnvClusterAddrs = "ALIPAYNOTIFY_REDIS_CLUSTER_ADDRS"
	// EnvServerBin is the redis-server binary. Default: redis-server from
	// PATH.
	EnvServerBin = "REDIS_SERVER_BIN"
)

// Options configure a server. The zero value is a standalone server without
// persistence in a temporary directory.
type Options struct {
	// Bin is the redis-server binary. Default: see [Bin].
	Bin string
	// Dir holds the data, the configuration and the log (redis.log). Default:
	// a new temporary directory, removed by Close.
	Dir string
	// AppendOnly turns AOF persistence on with appendfsync always: a restart
	// keeps every write Redis acknowledged. Args may set another
	// appendfsync.
	AppendOnly bool
	// ClusterNode makes the server a cluster-enabled node (with a port whose
	// cluster bus port, port+10000, is free too).
	ClusterNode bool
	// Config, when not empty, is written to Dir/redis.conf and given to
	// redis-server first. A Sentinel needs one: it rewrites it.
	Config string
	// Args are more redis-server arguments, given last ("--sentinel",
	// "--replicaof", "127.0.0.1", "6379").
	Args []string
	// Detach starts the server in its own session and lets it outlive the
	// program that started it (scripts/redis-dev.sh). Without Detach the
	// server dies with that program, on Linux.
	Detach bool
}

// Server is a redis-server process that this package started, on
// 127.0.0.1. Stop and Restart keep its port and directory; Close stops it
// for good.
type Server struct {
	opts    Options
	bin     string
	dir     string
	ownDir  bool // dir is temporary: Close removes it
	port    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	exitErr error         // cmd.Wait's result, once exited is closed
}

// Bin returns the redis-server binary: bin when not empty, else
// $REDIS_SERVER_BIN, else redis-server from PATH.
func Bin(bin string) (string, error) {
	if bin == "" {
		bin = os.Getenv(EnvServerBin)
	}
	if bin == "" {
		bin = "redis-server"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("redistest: redis-server not found (install Debian's redis-server package or set %s): %w", EnvServerBin, err)
	}
	return path, nil
}

// Version returns the version of the redis-server binary that [Bin] finds
// for bin ("7.0.15"), or "unknown".
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

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// clusterPort returns a port in [20000, 32000) that is free, and whose
// cluster bus port (port+10000, below 65536 and below Linux's ephemeral
// range for the client port) is free too.
func clusterPort() (int, error) {
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if portFree(port) && portFree(port+10000) {
			return port, nil
		}
	}
	return 0, errors.New("redistest: no free port pair for a cluster node")
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// startAttempts is how many ports Launch tries: another process can take a
// free port between picking it and redis-server binding it.
const startAttempts = 10

// Launch starts a redis-server on a free port and waits until it answers.
// If the port was taken meanwhile, it tries another one. Close the server
// when done.
func Launch(ctx context.Context, opts Options) (*Server, error) {
	bin, err := Bin(opts.Bin)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, bin: bin, dir: opts.Dir}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "alipaynotify-redis-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	for attempt := 1; ; attempt++ {
		if opts.ClusterNode {
			s.port, err = clusterPort()
		} else {
			s.port, err = FreePort()
		}
		if err == nil {
			err = s.start(ctx)
		}
		if err == nil {
			return s, nil
		}
		if attempt == startAttempts || !errors.Is(err, errAddrInUse) {
			s.removeDir()
			return nil, err
		}
	}
}

// errAddrInUse marks a start that failed because the port was taken.
var errAddrInUse = errors.New("address already in use")

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the server's port.
func (s *Server) Port() int { return s.port }

// Dir returns the server's directory.
func (s *Server) Dir() string { return s.dir }

// Pid returns the process id, or 0 when the server is not running.
func (s *Server) Pid() int {
	if !s.Running() {
		return 0
	}
	return s.cmd.Process.Pid
}

// Running reports whether the process is running.
func (s *Server) Running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// start runs redis-server on s.port and waits until that process answers
// PING. On failure it stops the process and returns an error with the end
// of its log; the error matches errAddrInUse when the port was taken.
func (s *Server) start(ctx context.Context) error {
	var args []string
	if s.opts.Config != "" {
		conf := filepath.Join(s.dir, "redis.conf")
		if err := os.WriteFile(conf, []byte(s.opts.Config), 0o644); err != nil {
			return err
		}
		args = append(args, conf)
	}
	logFile := filepath.Join(s.dir, "redis.log")
	_ = os.Remove(logFile) // the log of this start only
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--logfile", logFile,
		"--daemonize", "no",
		"--save", "",
	)
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.ClusterNode {
		args = append(args, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-node-timeout", "5000")
	}
	args = append(args, s.opts.Args...)

	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = sysProcAttr(s.opts.Detach)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: starting %s: %w", s.bin, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		s.exitErr = cmd.Wait()
		close(exited)
	}(s.exited)

	err := s.waitReady(ctx)
	if err == nil {
		return nil
	}
	s.signalAndWait(syscall.SIGKILL, 0)
	log, _ := os.ReadFile(logFile)
	err = fmt.Errorf("redistest: redis-server on %s did not come up: %w\n%s", s.Addr(), err, lastLines(string(log), 10))
	if strings.Contains(string(log), "already in use") {
		return errors.Join(errAddrInUse, err)
	}
	return err
}

// waitReady waits (at most 10 s) until the server answers, and checks that
// the process answering is ours: when another one holds the port, ours
// exits.
func (s *Server) waitReady(ctx context.Context) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, Protocol: 2})
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	wait := time.NewTicker(20 * time.Millisecond)
	defer wait.Stop()
	for {
		info, err := c.Info(ctx, "server").Result()
		if err == nil {
			if pid := infoField(info, "process_id"); pid != strconv.Itoa(s.cmd.Process.Pid) {
				err = fmt.Errorf("another process (pid %s) answers on the port", pid)
			} else {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("it exited (%v)", s.exitErr)
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-wait.C:
		}
	}
}

// infoField returns the value of name in an INFO answer.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// stopGrace is how long Stop waits after SIGTERM before killing.
const stopGrace = 10 * time.Second

// Stop stops the server with SIGTERM (Redis then writes what persistence
// needs) and waits for it to exit, killing it after 10 s. It does nothing
// when the server is not running. It returns an error if it had to kill.
func (s *Server) Stop() error {
	if !s.Running() {
		return nil
	}
	if !s.signalAndWait(syscall.SIGTERM, stopGrace) {
		return fmt.Errorf("redistest: redis-server on %s ignored SIGTERM for %v: killed", s.Addr(), stopGrace)
	}
	return nil
}

// Kill kills the server with SIGKILL (kill -9: nothing is written) and
// waits for it to exit.
func (s *Server) Kill() {
	if s.Running() {
		s.signalAndWait(syscall.SIGKILL, 0)
	}
}

// signalAndWait sends sig and waits for the process to exit; after grace
// it sends SIGKILL and waits again. It reports whether the process exited
// within grace.
func (s *Server) signalAndWait(sig syscall.Signal, grace time.Duration) bool {
	_ = s.cmd.Process.Signal(sig)
	if sig != syscall.SIGKILL {
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-s.exited:
			return true
		case <-timer.C:
		}
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	return sig == syscall.SIGKILL
}

// Restart starts the server again on the same port and directory, stopping
// it first (SIGTERM) if it is running, and waits until it answers. Clients
// reconnect to the same address.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.start(ctx)
}

// Close stops the server (SIGTERM, then SIGKILL after 10 s) and removes its
// directory if Launch made it.
func (s *Server) Close() error {
	err := s.Stop()
	s.removeDir()
	return err
}

func (s *Server) removeDir() {
	if s.ownDir {
		_ = os.RemoveAll(s.dir)
		s.ownDir = false
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
