// Command chaosmerchant is the merchant service that cmd/chaos runs two of:
// alipaynotify's middleware on net/http with the Redis dedupe store, and a
// business handler whose side effect is one line appended to a log file.
//
// The business handler is cooperative, as the middleware asks: it works for
// -work (or, on a -slow fraction of runs, for -slow-work, longer than the
// lease, so that it needs renewals) unless its context ends first, and then
// returns the context's cause instead of writing. It fails or panics at the
// rates set by -fail and -panic; otherwise its last action is a single
// O_APPEND write of
//
//	RUN <tab> event identity <tab> claim token <tab> boot <tab> source
//
// so that a handler run is on record exactly when the handler succeeded.
// A thin wrapper around the store appends what happened to the claim
// afterwards: DONE (Complete wrote the done mark), CLOST (Complete found the
// claim gone) or CFAIL (Complete failed on a store error). cmd/chaos reads
// these lines to tell a double run from the documented limits of the
// exactly-once contract (a crash or a store failure after the side effect).
//
// Usage:
//
//	chaosmerchant -addr 127.0.0.1:8001 -redis 127.0.0.1:6379 -pubkey alipay.pem \
//	    -runs runs-A.log -boot A1 [-fail 0.05] [-panic 0.05] [-lease 2s] [-complete-delay 0] \
//	    [-slow 0] [-slow-work 3s] [-store-timeout 2s]
//
// It listens on loopback only and stops on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
	"github.com/alipaynotify/alipaynotify/middleware"
)

func main() {
	log.SetFlags(log.Lmicroseconds)
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	redisAddr := flag.String("redis", "", "Redis address (required)")
	prefix := flag.String("prefix", "chaos", "redisstore key prefix")
	pubkey := flag.String("pubkey", "", "file holding Alipay's public key, PEM (required)")
	appID := flag.String("app-id", "2021000000000001", "accepted app_id")
	runsPath := flag.String("runs", "", "file the business handler appends its runs to (required)")
	boot := flag.String("boot", "", "name of this process's life, written on every line (required)")
	failRate := flag.Float64("fail", 0, "fraction of handler runs that return an error")
	panicRate := flag.Float64("panic", 0, "fraction of handler runs that panic")
	work := flag.Duration("work", 0, "time the handler spends on its business before the write")
	completeDelay := flag.Duration("complete-delay", 0, "pause before each Complete: widens the window in which a crash after the side effect leaves the event to be re-run")
	lease := flag.Duration("lease", 2*time.Second, "middleware Options.Lease")
	waitInFlight := flag.Duration("wait-in-flight", time.Second, "middleware Options.WaitInFlight")
	storeTimeout := flag.Duration("store-timeout", 2*time.Second, "middleware Options.StoreTimeout")
	slowRate := flag.Float64("slow", 0, "fraction of handler runs that work for -slow-work instead of -work")
	slowWork := flag.Duration("slow-work", 3*time.Second, "work of a slow handler run (longer than the lease: it lives on renewals)")
	flag.Parse()
	if *redisAddr == "" || *pubkey == "" || *runsPath == "" || *boot == "" {
		flag.Usage()
		os.Exit(2)
	}
	log.SetPrefix("chaosmerchant " + *boot + ": ")
	cfg := config{addr: *addr, redisAddr: *redisAddr, prefix: *prefix, pubkey: *pubkey, appID: *appID, runsPath: *runsPath, boot: *boot,
		failRate: *failRate, panicRate: *panicRate, slowRate: *slowRate, work: *work, slowWork: *slowWork, completeDelay: *completeDelay,
		lease: *lease, waitInFlight: *waitInFlight, storeTimeout: *storeTimeout}
	if err := run(cfg); err != nil {
		log.Fatal(err)
	}
}

// config is the command line.
type config struct {
	addr, redisAddr, prefix, pubkey, appID, runsPath, boot string
	failRate, panicRate, slowRate                          float64
	work, slowWork, completeDelay                          time.Duration
	lease, waitInFlight, storeTimeout                      time.Duration
}

func run(cfg config) error {
	addr, redisAddr, prefix, pubkey, appID, runsPath, boot := cfg.addr, cfg.redisAddr, cfg.prefix, cfg.pubkey, cfg.appID, cfg.runsPath, cfg.boot
	pem, err := os.ReadFile(pubkey)
	if err != nil {
		return err
	}
	v, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: appID, AlipayPublicKeys: []string{string(pem)}})
	if err != nil {
		return err
	}
	runs, err := os.OpenFile(runsPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer runs.Close()
	client := redis.NewClient(&redis.Options{
		Addr: redisAddr, PoolSize: 32,
		DialTimeout: 250 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		// Ride out a Redis restart (a few hundred ms) inside one store call.
		MaxRetries: 6, MinRetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 300 * time.Millisecond,
	})
	defer client.Close()
	inner, err := redisstore.New(client, redisstore.Options{Prefix: prefix})
	if err != nil {
		return err
	}
	store := &recordingStore{Store: inner, log: runs, delay: cfg.completeDelay}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	mw, err := middleware.New(middleware.Options{
		Verifier: v, Store: store, Lease: cfg.lease, WaitInFlight: cfg.waitInFlight, StoreTimeout: cfg.storeTimeout, Logger: logger,
		Hooks: middleware.Hooks{LeaseLost: func(_ context.Context, n *alipaynotify.Notification) {
			io.WriteString(runs, "LOST\t"+n.Event().String()+"\n")
		}},
	})
	if err != nil {
		return err
	}

	business := middleware.HandlerFunc(func(ctx context.Context, n *alipaynotify.Notification) error {
		work := cfg.work
		if rand.Float64() < cfg.slowRate {
			work = cfg.slowWork
		}
		if work > 0 {
			t := time.NewTimer(work)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return context.Cause(ctx) // e.g. middleware.ErrLeaseLost: stop, write nothing
			}
		}
		if rand.Float64() < cfg.panicRate {
			panic("chaos: injected panic")
		}
		if rand.Float64() < cfg.failRate {
			return errors.New("chaos: injected failure")
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		d, _ := middleware.DeliveryFromContext(ctx)
		line := "RUN\t" + n.Event().String() + "\t" + d.ClaimToken + "\t" + boot + "\t" + string(n.Source) + "\n"
		_, err := io.WriteString(runs, line) // one write(2) with O_APPEND: the run is on record, whole, or not at all
		return err
	})
	mux := http.NewServeMux()
	mux.Handle("/alipay/notify", mw.Notify(business))
	mux.Handle("/alipay/return", mw.Return(business, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := middleware.DeliveryFromContext(r.Context())
		io.WriteString(w, d.Outcome.String())
	})))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })

	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %s: loopback only", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		// Injected panics are recovered by net/http, which logs each one.
		ErrorLog: log.New(io.Discard, "", 0)}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Printf("listening on %s", l.Addr())
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// recordingStore appends what became of each claim after the handler's run:
// DONE, CLOST or CFAIL with the claim token, one O_APPEND write each.
type recordingStore struct {
	dedupe.Store
	log   io.Writer
	delay time.Duration
}

// Complete implements dedupe.Store.
func (s *recordingStore) Complete(ctx context.Context, ev dedupe.Event, token string, done dedupe.Completion) (bool, error) {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	ok, err := s.Store.Complete(ctx, ev, token, done)
	switch {
	case err != nil:
		io.WriteString(s.log, "CFAIL\t"+token+"\t"+strings.ReplaceAll(err.Error(), "\n", " ")+"\n")
	case !ok:
		io.WriteString(s.log, "CLOST\t"+token+"\n")
	default:
		io.WriteString(s.log, "DONE\t"+token+"\n")
	}
	return ok, err
}
