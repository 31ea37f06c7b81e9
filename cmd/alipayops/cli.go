package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
	"github.com/alipaynotify/alipaynotify/dedupe/redisstore"
)

// Exit statuses of run.
const (
	exitOK          = 0 // done
	exitFailed      = 1 // the operation failed: a replay was not acknowledged, a dead letter cannot be re-sent
	exitUsage       = 2 // bad flags or command
	exitUnreachable = 3 // the store could not be reached (or failed)
	exitNotFound    = 4 // no such order, event or dead letter
)

const usage = `alipayops inspects and corrects alipaynotify's dedupe state in Redis.

Usage:
  alipayops [store flags] [-json] <command> [command flags]

Store (one of):
  -redis URL              a single server: redis://[user:password@]host:port/db (rediss:// for TLS)
  -redis-cluster ADDRS    a Cluster: comma-separated seed addresses host:port,...
  -sentinel MASTER,ADDRS  Sentinel: the master's name, then the sentinels' addresses
  The password of a Cluster or Sentinel deployment is read from $ALIPAYOPS_REDIS_PASSWORD.
  -prefix P               the store's key prefix (redisstore.Options.Prefix; default "a")
  -timeout D              bound of each store call and of each re-sent notification (default 10s)
  -json                   print JSON for scripts instead of text for people

Commands:
  lookup -merchant M -order O
      What happened to an order: its events (done, in flight, failed) and dead letters.
      M is the app_id (open platform) or the partner (legacy).
  deadletters [-limit N]
      The callbacks whose handler failed, oldest failure first (default limit 100).
  replay (-merchant M -order O -event ID | -all [-limit N]) -notify-url URL
      Re-sends dead letters' notifications to the merchant's notify_url exactly as
      Alipay would (the same signed POST body); "success" means replayed (or
      already handled: a duplicate). A return (source return) cannot be re-sent:
      returns expire within an hour. Replay it from the ops page (package ops),
      which replays in-process.
  forget -merchant M -order O -event ID [-actor NAME]
      Releases one handled event, so that its next delivery runs the handler again.
      The actor (default $USER) is logged with the action, to stderr.

Exit status: 0 done, 1 the operation failed (a replay answered "fail"),
2 usage, 3 the store is unreachable, 4 not found.

Example:
  alipayops -redis redis://localhost:6379/0 lookup -merchant 2021000000000001 -order ORDER-123
`

// usageError is a command line that cannot run.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError ends a command with code, after msg.
type exitError struct {
	code int
	msg  string
	// printed: the command already printed its JSON answer, which says
	// what failed.
	printed bool
}

func (e exitError) Error() string { return e.msg }

// cli is one run of the command.
type cli struct {
	stdout, stderr io.Writer
	json           bool
	timeout        time.Duration
	store          *redisstore.Store
	client         redis.UniversalClient
	http           *http.Client
	logger         *slog.Logger
	getenv         func(string) string
}

// run runs the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	return runEnv(args, stdout, stderr, os.Getenv)
}

// runEnv is run with the environment read through getenv.
func runEnv(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdout: stdout, stderr: stderr, getenv: getenv}
	err := c.main(args)
	if err == nil {
		return exitOK
	}
	code := exitFailed
	var ue usageError
	var ee exitError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		code = exitUsage
		fmt.Fprintf(stderr, "alipayops: %s\nRun alipayops -help for the usage.\n", ue.msg)
		return code
	case errors.As(err, &ee):
		code = ee.code
	}
	if c.json && !ee.printed {
		c.printJSON(map[string]any{"error": err.Error(), "exit": code})
	}
	fmt.Fprintln(stderr, "alipayops:", err)
	return code
}

func (c *cli) main(args []string) error {
	fs := flag.NewFlagSet("alipayops", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, usage) }
	redisURL := fs.String("redis", "", "")
	cluster := fs.String("redis-cluster", "", "")
	sentinel := fs.String("sentinel", "", "")
	prefix := fs.String("prefix", "", "")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "")
	fs.BoolVar(&c.json, "json", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() == 0 {
		return usageError{"no command: lookup, deadletters, replay or forget"}
	}
	if c.timeout <= 0 {
		return usageError{"-timeout must be positive"}
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	commands := map[string]func([]string) error{"lookup": c.lookup, "deadletters": c.deadLetters, "replay": c.replay, "forget": c.forget}
	do, ok := commands[cmd]
	if !ok {
		return usageError{fmt.Sprintf("unknown command %q: lookup, deadletters, replay or forget", cmd)}
	}
	opts, err := clientOptions(*redisURL, *cluster, *sentinel, c.getenv("ALIPAYOPS_REDIS_PASSWORD"))
	if err != nil {
		return err
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = c.timeout, c.timeout, c.timeout
	opts.MaxRetries = 1
	c.client = redis.NewUniversalClient(opts)
	defer c.client.Close()
	if c.store, err = redisstore.New(c.client, redisstore.Options{Prefix: *prefix}); err != nil {
		return usageError{err.Error()}
	}
	c.http = &http.Client{Timeout: c.timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c.logger = slog.New(slog.NewTextHandler(c.stderr, nil))
	return do(rest)
}

// clientOptions returns the options of the Redis client one of the three
// store flags names.
func clientOptions(redisURL, cluster, sentinel, password string) (*redis.UniversalOptions, error) {
	set := 0
	for _, s := range []string{redisURL, cluster, sentinel} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return nil, usageError{"name the store with exactly one of -redis, -redis-cluster and -sentinel"}
	}
	switch {
	case redisURL != "":
		o, err := redis.ParseURL(redisURL)
		if err != nil {
			return nil, usageError{fmt.Sprintf("-redis: %v", err)}
		}
		return &redis.UniversalOptions{Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig}, nil
	case cluster != "":
		addrs, err := addrList("-redis-cluster", cluster)
		if err != nil {
			return nil, err
		}
		return &redis.UniversalOptions{Addrs: addrs, Password: password, IsClusterMode: true}, nil
	}
	master, rest, _ := strings.Cut(sentinel, ",")
	if master == "" || rest == "" {
		return nil, usageError{"-sentinel: want the master's name, then the sentinels' addresses: mymaster,host:26379,..."}
	}
	addrs, err := addrList("-sentinel", rest)
	if err != nil {
		return nil, err
	}
	return &redis.UniversalOptions{Addrs: addrs, MasterName: master, Password: password}, nil
}

// addrList splits a comma-separated list of host:port addresses.
func addrList(flagName, s string) ([]string, error) {
	var out []string
	for a := range strings.SplitSeq(s, ",") {
		a = strings.TrimSpace(a)
		if _, port, ok := strings.Cut(a, ":"); !ok || port == "" {
			return nil, usageError{fmt.Sprintf("%s: %q is not host:port", flagName, a)}
		}
		out = append(out, a)
	}
	return out, nil
}

// call runs one store call bounded by the timeout; a failure is the store's.
func call[T any](c *cli, f func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	v, err := f(ctx)
	if err != nil {
		if errors.Is(err, dedupe.ErrInvalidArgument) {
			return v, usageError{err.Error()}
		}
		return v, exitError{code: exitUnreachable, msg: "the store failed: " + err.Error()}
	}
	return v, nil
}

// orderFlags are the flags naming an order.
type orderFlags struct{ merchant, order *string }

func addOrderFlags(fs *flag.FlagSet) orderFlags {
	return orderFlags{fs.String("merchant", "", "app_id or partner"), fs.String("order", "", "out_trade_no")}
}

func (o orderFlags) check() error {
	if *o.merchant == "" || *o.order == "" {
		return usageError{"name the order with -merchant and -order"}
	}
	return nil
}

func (o orderFlags) trade() string { return dedupe.TradeOf(*o.merchant, *o.order) }

// subFlags returns the flag set of a command.
func (c *cli) subFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses a command's flags, refusing stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// deadLettersOf returns the dead letters of trade (all when trade is "").
func (c *cli) deadLettersOf(trade string, limit int) ([]dedupe.DeadLetter, error) {
	all, err := call(c, func(ctx context.Context) ([]dedupe.DeadLetter, error) { return c.store.DeadLetters(ctx, limit) })
	if err != nil || trade == "" {
		return all, err
	}
	return slices.DeleteFunc(all, func(d dedupe.DeadLetter) bool { return d.Trade != trade }), nil
}

func (c *cli) lookup(args []string) error {
	fs := c.subFlags("lookup")
	o := addOrderFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	trade := o.trade()
	rec, err := call(c, func(ctx context.Context) (dedupe.TradeRecord, error) { return c.store.Lookup(ctx, trade) })
	if err != nil {
		return err
	}
	dls, err := c.deadLettersOf(trade, dedupe.DefaultMaxDeadLetters)
	if err != nil {
		return err
	}
	out := lookupJSON{Merchant: *o.merchant, OutTradeNo: *o.order, Trade: trade, Bound: rec.Bound, Events: []eventJSON{}, DeadLetters: []deadLetterJSON{}}
	for _, e := range rec.Events {
		out.Events = append(out.Events, eventOf(e))
	}
	for _, d := range dls {
		out.DeadLetters = append(out.DeadLetters, deadLetterOf(d))
	}
	if len(out.Events) == 0 && len(out.DeadLetters) == 0 && !out.Bound {
		return exitError{code: exitNotFound, msg: fmt.Sprintf("no record of order %q of merchant %q (nothing handled, in flight or failed)", *o.order, *o.merchant)}
	}
	if c.json {
		return c.printJSON(out)
	}
	fmt.Fprintf(c.stdout, "order %s (merchant %s)", out.OutTradeNo, out.Merchant)
	if out.Bound {
		fmt.Fprint(c.stdout, ", trade_no recorded")
	}
	fmt.Fprintln(c.stdout)
	for _, e := range out.Events {
		switch e.State {
		case "done":
			at := e.HandledAt
			if e.Legacy {
				at = "(legacy layout: time unknown)"
			}
			fmt.Fprintf(c.stdout, "  %-28s done       %s  source=%s stale=%t\n", e.ID, at, orDash(e.Source), e.Stale)
		default:
			fmt.Fprintf(c.stdout, "  %-28s in flight  lease left %v\n", e.ID, time.Duration(e.LeaseLeftMS)*time.Millisecond)
		}
	}
	for _, d := range out.DeadLetters {
		fmt.Fprintf(c.stdout, "  %-28s failed     %d attempts, last %s: %s\n", d.Event, d.Attempts, d.Last, d.Error)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c *cli) deadLetters(args []string) error {
	fs := c.subFlags("deadletters")
	limit := fs.Int("limit", 100, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit <= 0 {
		return usageError{"deadletters: -limit must be positive"}
	}
	dls, err := c.deadLettersOf("", *limit)
	if err != nil {
		return err
	}
	out := deadLettersJSON{DeadLetters: []deadLetterJSON{}}
	for _, d := range dls {
		out.DeadLetters = append(out.DeadLetters, deadLetterOf(d))
	}
	if c.json {
		return c.printJSON(out)
	}
	if len(dls) == 0 {
		fmt.Fprintln(c.stdout, "no dead letters")
		return nil
	}
	for _, d := range out.DeadLetters {
		fmt.Fprintf(c.stdout, "%s %s %s: %d attempts (%s source), first %s, last %s: %s\n",
			d.Merchant, d.OutTradeNo, d.Event, d.Attempts, d.Source, d.First, d.Last, d.Error)
	}
	return nil
}

func (c *cli) forget(args []string) error {
	fs := c.subFlags("forget")
	o := addOrderFlags(fs)
	id := fs.String("event", "", "")
	actor := fs.String("actor", "", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	if *id == "" {
		return usageError{"forget: name the event with -event (as lookup lists it, e.g. TRADE_SUCCESS)"}
	}
	if *actor == "" {
		*actor = c.getenv("USER")
	}
	if *actor == "" {
		return usageError{"forget: say who asks with -actor (or $USER)"}
	}
	trade := o.trade()
	at := time.Now()
	was, err := call(c, func(ctx context.Context) (bool, error) { return c.store.Forget(ctx, trade, *id) })
	if err != nil {
		return err
	}
	c.logger.Warn("alipayops: an operator forgot a handled event; its next delivery runs the handler again",
		"actor", *actor, "trade", trade, "event", *id, "at", at.In(alipaynotify.ChinaTime).Format(time.RFC3339), "was_done", was)
	if !was {
		return exitError{code: exitNotFound, msg: fmt.Sprintf("event %s of order %q was not done: nothing forgotten", *id, *o.order)}
	}
	if c.json {
		return c.printJSON(forgetJSON{Trade: trade, Event: *id, Actor: *actor, At: chinaTime(at), WasDone: was})
	}
	fmt.Fprintf(c.stdout, "forgot %s of order %s (merchant %s): its next delivery runs the handler again\n", *id, *o.order, *o.merchant)
	return nil
}

func (c *cli) replay(args []string) error {
	fs := c.subFlags("replay")
	o := addOrderFlags(fs)
	id := fs.String("event", "", "")
	all := fs.Bool("all", false, "")
	notifyURL := fs.String("notify-url", "", "")
	limit := fs.Int("limit", 100, "")
	if err := parse(fs, args); err != nil {
		return err
	}
	one := *o.merchant != "" || *o.order != "" || *id != ""
	switch {
	case *all == one:
		return usageError{"replay: name one dead letter (-merchant, -order, -event) or -all"}
	case one && (*o.merchant == "" || *o.order == "" || *id == ""):
		return usageError{"replay: name the dead letter with -merchant, -order and -event"}
	case *limit <= 0:
		return usageError{"replay: -limit must be positive"}
	}
	u, err := url.Parse(*notifyURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{"replay: -notify-url must be the merchant's notify_url, http:// or https://"}
	}
	var dls []dedupe.DeadLetter
	if one {
		trade := o.trade()
		f, err := call(c, func(ctx context.Context) (found, error) {
			d, ok, err := c.store.DeadLetter(ctx, trade, *id)
			return found{d, ok}, err
		})
		if err != nil {
			return err
		}
		if !f.ok {
			return exitError{code: exitNotFound, msg: fmt.Sprintf("no dead letter for event %s of order %q", *id, *o.order)}
		}
		dls = []dedupe.DeadLetter{f.dl}
	} else if dls, err = c.deadLettersOf("", *limit); err != nil {
		return err
	}
	out := replayJSON{Results: []replayResultJSON{}}
	failed := 0
	for _, d := range dls {
		r, err := c.replayOne(d, u.String())
		if err != nil {
			return err
		}
		if r.Status != "replayed" && r.Status != "duplicate" {
			failed++
		}
		out.Results = append(out.Results, r)
	}
	if c.json {
		if err := c.printJSON(out); err != nil {
			return err
		}
	} else {
		if len(out.Results) == 0 {
			fmt.Fprintln(c.stdout, "no dead letters")
		}
		for _, r := range out.Results {
			fmt.Fprintf(c.stdout, "%s %s %s: %s", r.Merchant, r.OutTradeNo, r.Event, r.Status)
			if r.Detail != "" {
				fmt.Fprintf(c.stdout, ": %s", r.Detail)
			}
			fmt.Fprintln(c.stdout)
		}
	}
	if failed > 0 {
		return exitError{code: exitFailed, msg: fmt.Sprintf("%d of %d dead letters not replayed", failed, len(dls)), printed: c.json}
	}
	return nil
}

// found is a dead letter and whether there is one.
type found struct {
	dl dedupe.DeadLetter
	ok bool
}

// replayOne re-sends one dead letter's notification to notifyURL. An error
// is the store's; the merchant's answer is in the result.
func (c *cli) replayOne(d dedupe.DeadLetter, notifyURL string) (replayResultJSON, error) {
	merchant, order, _ := strings.Cut(d.Trade, "|")
	r := replayResultJSON{Trade: d.Trade, Merchant: merchant, OutTradeNo: order, Event: d.ID}
	done, err := c.isDone(d.Trade, d.ID)
	if err != nil {
		return r, err
	}
	switch {
	case done:
		r.Status, r.Detail = "duplicate", "already handled: not re-sent"
	case d.Source != dedupe.SourceNotify:
		r.Status = "not_resendable"
		r.Detail = fmt.Sprintf("a %s callback cannot be re-sent to notify_url (a return expires within an hour): replay it from the ops page, which replays in-process", orDash(d.Source))
		return r, nil
	default:
		status, answer, err := c.post(notifyURL, d.Body)
		r.HTTPStatus, r.Answer = status, answer
		if err != nil {
			r.Status, r.Detail = "failed", err.Error()
			return r, nil
		}
		if answer != "success" {
			r.Status, r.Detail = "failed", fmt.Sprintf("the merchant answered %d %q: the handler still fails (or the notification is refused): see its logs", status, answer)
			return r, nil
		}
		r.Status = "replayed"
	}
	// Handled now or before: the dead letter is done with.
	if _, err := call(c, func(ctx context.Context) (bool, error) { return c.store.ClearFailure(ctx, d.Trade, d.ID) }); err != nil {
		return r, err
	}
	return r, nil
}

// isDone reports whether the event is done.
func (c *cli) isDone(trade, id string) (bool, error) {
	rec, err := call(c, func(ctx context.Context) (dedupe.TradeRecord, error) { return c.store.Lookup(ctx, trade) })
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(rec.Events, func(e dedupe.EventRecord) bool { return e.ID == id && e.State == dedupe.RecordDone }), nil
}

// maxAnswer bounds the merchant's answer that is read.
const maxAnswer = 1 << 10

// post sends body to notifyURL as Alipay does and returns the answer.
func (c *cli) post(notifyURL string, body []byte) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, notifyURL, strings.NewReader(string(body)))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("notify_url unreachable: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
