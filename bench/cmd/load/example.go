package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/bench/internal/procstop"
	"github.com/alipaynotify/alipaynotify/internal/redistest"
)

// exampleEnv lists the variables examples/nethttp reads (see
// examples/internal/merchant.Config); the load command sets the ones it
// needs and strips the rest from the inherited environment, so that a
// REDIS_URL or legacy key of the caller's never changes a mode.
var exampleEnv = []string{"ADDR", "ALIPAY_APP_ID", "ALIPAY_PUBLIC_KEY_FILE", "ALIPAY_PARTNER", "ALIPAY_MD5_KEY",
	"ALIPAY_NOTIFY_VERIFY_URL", "ALIPAY_LEGACY_CHARSET", "ALIPAY_MERCHANT_PRIVATE_KEY_FILE", "REDIS_URL"}

// buildExample compiles examples/nethttp into dir. The bench module
// requires the library through a replace to ../, so the example is built
// from the library module's root, which go list reports.
func buildExample(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/alipaynotify/alipaynotify").Output()
	if err != nil {
		return "", fmt.Errorf("locating the library module (run from bench/ or pass -example): %w", err)
	}
	root := strings.TrimSpace(string(out))
	bin := filepath.Join(dir, "nethttp")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/nethttp")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building examples/nethttp: %w", err)
	}
	return bin, nil
}

// exampleProc is one run of the examples/nethttp binary, configured
// through its environment like any deployment of it.
type exampleProc struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{}

	handled  int           // lines the business handler printed
	stdout   chan struct{} // closed when standard output is drained
	stderrMu sync.Mutex
	stderr   []string // the last lines of the log, for errors
}

// startExample starts bin on an ephemeral loopback port with the open
// platform credentials (appID and the public key in keyFile) and, when
// redisURL is set, the Redis dedupe store; it returns once the example has
// logged its listen address.
func startExample(ctx context.Context, bin, appID, keyFile, redisURL string) (*exampleProc, error) {
	env := []string{"ADDR=127.0.0.1:0", "ALIPAY_APP_ID=" + appID, "ALIPAY_PUBLIC_KEY_FILE=" + keyFile}
	if redisURL != "" {
		env = append(env, "REDIS_URL="+redisURL)
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(exampleEnv, name) {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &exampleProc{cmd: cmd, exited: make(chan struct{}), stdout: make(chan struct{})}
	listening := make(chan string, 1)
	var readers sync.WaitGroup
	readers.Go(func() {
		defer close(p.stdout)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), `{"event":"handled"`) {
				p.handled++
			}
		}
		io.Copy(io.Discard, stdout) // an over-long line: keep draining
	})
	readers.Go(func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if addr, ok := logField(line, "listening", "addr"); ok {
				select {
				case listening <- addr:
				default:
				}
			}
			p.stderrMu.Lock()
			p.stderr = append(p.stderr, line)
			if len(p.stderr) > 20 {
				p.stderr = p.stderr[1:]
			}
			p.stderrMu.Unlock()
		}
		io.Copy(io.Discard, stderr)
	})
	go func() {
		readers.Wait() // Wait closes the pipes: drain them first
		cmd.Wait()
		close(p.exited)
	}()

	select {
	case addr := <-listening:
		p.url = "http://" + addr + "/alipay/notify"
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("examples/nethttp exited at start:\n%s", p.log())
	case <-time.After(15 * time.Second):
	case <-ctx.Done():
	}
	p.cmd.Process.Kill()
	<-p.exited
	return nil, fmt.Errorf("examples/nethttp did not log its listen address:\n%s", p.log())
}

// stop shuts the example down with SIGTERM (a graceful shutdown) and
// returns how many events its business handler handled.
func (p *exampleProc) stop() (int, error) {
	if !procstop.Gracefully(p.cmd.Process, p.exited, 30*time.Second) {
		return 0, errors.New("examples/nethttp ignored SIGTERM for 30s")
	}
	<-p.stdout
	if !p.cmd.ProcessState.Success() {
		return p.handled, fmt.Errorf("examples/nethttp: %v:\n%s", p.cmd.ProcessState, p.log())
	}
	return p.handled, nil
}

func (p *exampleProc) log() string {
	p.stderrMu.Lock()
	defer p.stderrMu.Unlock()
	return strings.Join(p.stderr, "\n")
}

// logField returns the value of field in a log/slog text line whose msg is
// msg.
func logField(line, msg, field string) (string, bool) {
	if !strings.Contains(line, " msg="+msg+" ") && !strings.HasSuffix(line, " msg="+msg) {
		return "", false
	}
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, field+"="); ok {
			return v, true
		}
	}
	return "", false
}

// exampleSetup is what the example modes share: the binary, the public key
// file it is configured with, and a private redis-server.
type exampleSetup struct {
	bin, keyFile string
	redisAddr    string
	redisPid     int
	redis        *redis.Client
	close        func()
}

// setupExample builds (or takes) the examples/nethttp binary, writes the
// signer's public key for it and starts a private redis-server, which the
// example-redis mode flushes before each run.
func setupExample(ctx context.Context, cfg config, tmp string, signer *alipaytest.Signer) (exampleSetup, error) {
	var e exampleSetup
	e.bin = cfg.example
	if e.bin == "" {
		bin, err := buildExample(ctx, tmp)
		if err != nil {
			return e, err
		}
		e.bin = bin
	}
	e.keyFile = filepath.Join(tmp, "alipay-public.pem")
	if err := os.WriteFile(e.keyFile, []byte(signer.PublicKeyPEM()), 0o644); err != nil {
		return e, err
	}
	e.close = func() {}
	if !slices.Contains(cfg.modes, "example-redis") {
		return e, nil
	}
	srv, err := redistest.Launch(ctx, redistest.Options{Dir: mkdir(tmp, "redis-example")})
	if err != nil {
		return e, fmt.Errorf("example-redis needs redis-server: %w", err)
	}
	e.redisAddr, e.redisPid = srv.Addr(), srv.Pid()
	e.redis = redis.NewClient(&redis.Options{Addr: srv.Addr()})
	e.close = func() { e.redis.Close(); srv.Close() }
	log.Printf("started a private redis-server for examples/nethttp on %s", srv.Addr())
	return e, nil
}
