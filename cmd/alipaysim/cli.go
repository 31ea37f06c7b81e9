package main

import (
	"context"
	"crypto/rsa"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
	"github.com/alipaynotify/alipaynotify/internal/simulator"
)

// Exit statuses of Main.
const (
	exitOK    = 0 // every genuine event acknowledged, every hostile input refused
	exitFail  = 1 // the merchant misbehaved, or the run was interrupted
	exitUsage = 2 // bad flags, scenario file or key
)

const usageHead = `alipaysim plays Alipay (and the buyer's browser) against a running merchant.

It POSTs signed notifications to notify_url and retries each one on Alipay's
schedule (at once, then +2m, +10m, +10m, +1h, +2h, +6h, +15h: 8 tries over
24h22m) until the answer's body is exactly "success"; every retry carries the
same body and notify_id. It can race the buyer's return_url GET against the
payment notification, send concurrent duplicates, lose acknowledgements,
deliver statuses out of order, and send hostile inputs that must be refused.
-speed compresses time (3600: one simulated hour per second).

It can also play Alipay's trade-query gateway (-gateway) and lose every
notification for a while (-lose-notifies): the merchant's reconciler must find
the payments by query, and the late notifications are then duplicates.

Usage:
  alipaysim -url URL (-key FILE | -genkey | -md5-key KEY | -wap-key FILE -merchant-pubkey FILE) [traffic flags]
  alipaysim -url URL -key FILE -scenario FILE [run flags]
  alipaysim -genkey [-key-out FILE] [-pubkey-out FILE]

Example — configure the merchant with the printed public key, then:
  alipaysim -genkey -key-out alipay.pem -pubkey-out alipay_pub.pem
  alipaysim -url http://127.0.0.1:8080 -key alipay.pem -trades 20 -refunds \
      -dup 3 -race-return -out-of-order -hostile -charset gbk -speed 3600

Example — lost notifications, found by the merchant's reconciler (README,
"Reconciliation"): the merchant queries http://127.0.0.1:9090/gateway.do,
signs with the private half of app_public.pem, and reads orders.txt:
  alipaysim -url http://127.0.0.1:8080 -key alipay.pem -app-pubkey app_public.pem \
      -gateway 127.0.0.1:9090 -orders-file orders.txt -lose-notifies 30m -trades 5 -speed 600

Flags:
`

const usageTail = `
Scenario file (-scenario): one JSON object; unknown fields are errors;
durations are strings ("90s", "30m"), amounts are strings in yuan.
  {
    "name": "a day of traffic",
    "trades": [
      {"story": "paid", "amount": "88.88", "race_return": true, "duplicates": 2},
      {"story": "paid", "charset": "gbk", "subject": "中文商品", "repeat": 10},
      {"story": "partial_refund", "refunds": ["10.00", "5.00"], "lost_acks": 1},
      {"story": "full_refund", "refunds": ["20.00"], "start": "1h"},
      {"story": "finished", "out_of_order": true},
      {"story": "closed_unpaid", "sign_type": "MD5"},
      {"story": "escrow_refunded", "charset": "gbk", "duplicates": 1},
      {"story": "paid", "sign_type": "WAP_MD5", "race_return": true}
    ],
    "hostile": ["forged_signature", {"kind": "tampered_amount", "at": "5m"}]
  }
Trade fields: story (required: paid, finished, closed_unpaid, partial_refund,
full_refund; legacy escrow, MD5 only: escrow_finished, escrow_refunded,
dual_instant), out_trade_no, amount, subject, refunds, charset (utf-8, gbk,
gb2312), sign_type (RSA2, RSA, MD5; mobile web, paid and finished stories in
utf-8: WAP_MD5, WAP_0001), start, interval (between story steps, default
30m), duplicates, race_return, out_of_order, lost_acks, repeat, lose_notifies
(a duration). The scenario's "gateway" field is the -gateway address.
Hostile kinds: forged_signature, tampered_amount, garbage_body,
oversized_body, wrong_method (as a string, or {"kind", "at", "sign_type",
"charset"}).

Keys: RSA2/RSA events are signed with Alipay's private key (-key, PEM or
bare base64, PKCS#1 or PKCS#8; or -genkey); the merchant verifies them with
the public half. MD5 events are legacy mapi callbacks signed with -md5-key
for -partner; legacy callbacks carry no charset, so the merchant must expect
the one sent. Mobile web (alipay.wap.*) WAP_MD5 events use -md5-key too;
WAP_0001 events are signed with Alipay's WAP key (-wap-key) and their
notify_data is encrypted to the merchant's public key (-merchant-pubkey),
which the merchant decrypts with its private key.

Gateway and lost notifications: with -gateway, alipaysim answers the
merchant's trade queries as Alipay would at that simulated time, signed with
-key (open platform; requests checked with -app-pubkey) or -md5-key (legacy
single_trade_query). -lose-notifies D drops every try of each notification
due within D of the trade's start (no return visit); the first try after that
is delivered. The report says, per lost notification, whether a query
answered its status first ("found by query"); with -gateway a payment not
found so fails the run. -orders-file appends "out_trade_no amount" lines
(amount in yuan) to the merchant's order book before each trade starts.
Make the merchant's app key pair with -genkey too:
  alipaysim -genkey -key-out app_private.pem -pubkey-out app_public.pem

Every request carries the header Alipaysim-Delivery: e<event>.t<try>.c<copy>,
matching the report. Progress: a live line when stdout is a terminal, else a
line on stderr every -progress.

Exit status: 0 when every genuine notification was acknowledged within the
schedule, every return visit got a page (status < 400), every hostile
input was refused and, with -gateway, every lost payment was found by query
first; 1 otherwise (or when interrupted); 2 for usage errors.
`

// options are the parsed flags.
type options struct {
	base, notifyPath, returnPath string
	scenario                     string

	trades        int
	story         string
	amount        string
	subject       string
	refunds       bool
	refundAmounts string
	dup           int
	raceReturn    bool
	outOfOrder    bool
	lostAcks      int
	loseNotifies  time.Duration
	hostile       bool
	charset       string
	signType      string
	interval      time.Duration
	stagger       time.Duration

	speed      float64
	schedule   string
	timeout    time.Duration
	workers    int
	seed       uint64
	raceWindow time.Duration
	oversize   int

	keyFile, appID, partner, sellerID, md5Key string
	wapKeyFile, merchantPubkeyFile            string
	gateway, appPubkeyFile, ordersFile        string
	genkey                                    bool
	keyOut, pubkeyOut                         string

	json     bool
	table    string
	progress time.Duration
}

// trafficFlags are the flags that build a scenario; they conflict with
// -scenario.
var trafficFlags = []string{"trades", "story", "amount", "subject", "refunds", "refund-amounts", "dup", "race-return",
	"out-of-order", "lost-acks", "lose-notifies", "hostile", "charset", "sign-type", "interval", "stagger"}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("alipaysim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
		fmt.Fprint(stderr, usageTail)
	}
	fs.StringVar(&o.base, "url", "", "merchant base `URL`, e.g. http://127.0.0.1:8080 (required to run)")
	fs.StringVar(&o.notifyPath, "notify-path", "/alipay/notify", "notify_url `path` under -url")
	fs.StringVar(&o.returnPath, "return-path", "/alipay/return", "return_url `path` under -url (empty: no return visits)")
	fs.StringVar(&o.scenario, "scenario", "", "JSON scenario `file` (instead of the traffic flags)")

	fs.IntVar(&o.trades, "trades", 1, "number of trades")
	fs.StringVar(&o.story, "story", "paid", "what happens to each trade: paid, finished, closed_unpaid, partial_refund, full_refund, escrow_finished, escrow_refunded, dual_instant (MD5), or mixed (cycle through those the sign type can tell)")
	fs.StringVar(&o.amount, "amount", "88.88", "order `amount` in yuan")
	fs.StringVar(&o.subject, "subject", "", "order `title` (default alipaytest's 测试商品)")
	fs.BoolVar(&o.refunds, "refunds", false, "refund each paid trade partially (-refund-amounts); turns -story paid into partial_refund")
	fs.StringVar(&o.refundAmounts, "refund-amounts", "10.00,5.00", "comma-separated partial refund `amounts`")
	fs.IntVar(&o.dup, "dup", 0, "send `n` extra concurrent copies of each notification's first delivery")
	fs.BoolVar(&o.raceReturn, "race-return", false, "send the buyer's return_url visit racing each payment notification")
	fs.BoolVar(&o.outOfOrder, "out-of-order", false, "deliver each trade's statuses latest first (turns -story paid into finished)")
	fs.IntVar(&o.lostAcks, "lost-acks", 0, "ignore the first `n` \"success\" answers of each notification, so Alipay retries")
	fs.DurationVar(&o.loseNotifies, "lose-notifies", 0, "lose every notification of each trade in transit for this simulated `duration` (no return visit either), then deliver Alipay's late retries: the merchant must find the payments by querying -gateway first")
	fs.BoolVar(&o.hostile, "hostile", false, "also send each hostile input once (forged signature, tampered amount, garbage, oversized body, wrong method)")
	fs.StringVar(&o.charset, "charset", "utf-8", "`charset` of the signed bytes: utf-8, gbk, gb2312")
	fs.StringVar(&o.signType, "sign-type", "RSA2", "sign `type`: RSA2, RSA (need -key or -genkey), MD5, WAP_MD5 (need -md5-key) or WAP_0001 (needs -wap-key and -merchant-pubkey)")
	fs.DurationVar(&o.interval, "interval", 30*time.Minute, "simulated time between the steps of a story")
	fs.DurationVar(&o.stagger, "stagger", 0, "simulated time between the starts of consecutive trades")

	fs.Float64Var(&o.speed, "speed", 1, "time compression `factor`: 3600 plays an hour per second")
	fs.StringVar(&o.schedule, "schedule", "0,2m,10m,10m,1h,2h,6h,15h", "retry `intervals` before each try")
	fs.DurationVar(&o.timeout, "timeout", simulator.DefaultTimeout, "wall-clock timeout of one delivery (Alipay's is 15s)")
	fs.IntVar(&o.workers, "workers", simulator.DefaultWorkers, "deliveries in flight at once")
	fs.Uint64Var(&o.seed, "seed", 0, "random `seed`: repeatable return offsets and generated order numbers (0: random)")
	fs.DurationVar(&o.raceWindow, "race-window", simulator.DefaultRaceWindow, "simulated time within which a return visit races its notification")
	fs.IntVar(&o.oversize, "oversize", simulator.DefaultOversizeBytes, "size in `bytes` of the oversized_body input")

	fs.StringVar(&o.keyFile, "key", "", "Alipay's private key `file` (PEM or base64) for RSA2/RSA")
	fs.StringVar(&o.appID, "app-id", alipaytest.DefaultAppID, "app_id of open-platform callbacks")
	fs.StringVar(&o.partner, "partner", alipaytest.DefaultPID, "legacy partner ID of MD5 callbacks")
	fs.StringVar(&o.sellerID, "seller-id", "", "seller_id (default: -partner)")
	fs.StringVar(&o.md5Key, "md5-key", "", "the partner's MD5 `key` for MD5 and WAP_MD5 callbacks")
	fs.StringVar(&o.wapKeyFile, "wap-key", "", "Alipay's mobile web private key `file` (PEM or base64) for WAP_0001")
	fs.StringVar(&o.merchantPubkeyFile, "merchant-pubkey", "", "the merchant's public key `file` (PEM or base64) that WAP_0001 notify_data is encrypted to")
	fs.StringVar(&o.gateway, "gateway", "", "serve a fake Alipay trade-query gateway (alipay.trade.query, single_trade_query) over plain HTTP on this `address`, e.g. 127.0.0.1:9090; the merchant queries http://ADDRESS/gateway.do (default: the scenario's gateway field, else none)")
	fs.StringVar(&o.appPubkeyFile, "app-pubkey", "", "the merchant's app public key `file` (应用公钥, PEM or base64) that checks its open-platform queries to -gateway")
	fs.StringVar(&o.ordersFile, "orders-file", "", "append each trade's order to this order book `file` before the trade starts: one \"out_trade_no amount\" line (amount in yuan)")
	fs.BoolVar(&o.genkey, "genkey", false, "generate an RSA-2048 key pair and print the public key PEM; without -url, exit after that")
	fs.StringVar(&o.keyOut, "key-out", "", "with -genkey: write the private key (PKCS#8 PEM) to `file`, to reuse with -key")
	fs.StringVar(&o.pubkeyOut, "pubkey-out", "", "with -genkey: write the public key PEM to `file`")

	fs.BoolVar(&o.json, "json", false, "print the report as JSON instead of a table")
	fs.StringVar(&o.table, "table", "auto", "table rows: all, failures, none (summary line only), or auto (all up to 60 events, else failures)")
	fs.DurationVar(&o.progress, "progress", 10*time.Second, "period of progress lines on stderr when stdout is not a terminal (0: none)")
	return fs
}

// usageError is reported with exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// Main runs alipaysim with args (without the program name) and returns the
// exit status. It stops early, reporting what it has, on an interrupt
// signal.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return run(ctx, args, stdout, stderr)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := newFlagSet(&o, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "alipaysim: unexpected argument %q (see -help)\n", fs.Arg(0))
		return exitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	code, err := runWith(ctx, &o, set, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "alipaysim: %v\n", err)
		var ue usageError
		var se *simulator.ScenarioError
		if errors.As(err, &ue) || errors.As(err, &se) {
			fmt.Fprintln(stderr, "Run alipaysim -help for usage.")
			return exitUsage
		}
		return exitFail
	}
	return code
}

func runWith(ctx context.Context, o *options, set map[string]bool, stdout, stderr io.Writer) (code int, err error) {
	var key *alipaytest.KeyPair
	switch {
	case o.genkey && o.keyFile != "":
		return 0, usagef("-genkey and -key exclude each other")
	case o.genkey && o.base == "":
		_, err := generateKey(o, stdout, stderr)
		if err != nil {
			return 0, err
		}
		return exitOK, nil
	case o.genkey:
		// Generated below, once the other flags are known to be good.
	case o.keyOut != "" || o.pubkeyOut != "":
		return 0, usagef("-key-out and -pubkey-out go with -genkey")
	case o.keyFile != "":
		k, err := readKey("-key", o.keyFile)
		if err != nil {
			return 0, err
		}
		key = k
	}
	if o.base == "" {
		return 0, usagef("-url is required (the merchant's base URL, e.g. http://127.0.0.1:8080)")
	}
	var wapKey *alipaytest.KeyPair
	if o.wapKeyFile != "" {
		k, err := readKey("-wap-key", o.wapKeyFile)
		if err != nil {
			return 0, err
		}
		wapKey = k
	}
	var merchantPub *rsa.PublicKey
	if o.merchantPubkeyFile != "" {
		data, err := os.ReadFile(o.merchantPubkeyFile)
		if err != nil {
			return 0, usagef("-merchant-pubkey: %v", err)
		}
		if merchantPub, err = alipaynotify.ParsePublicKey(string(data)); err != nil {
			return 0, usagef("-merchant-pubkey %s: not an RSA public key (want PEM or base64)", o.merchantPubkeyFile)
		}
	}
	var appPub *rsa.PublicKey
	if o.appPubkeyFile != "" {
		data, err := os.ReadFile(o.appPubkeyFile)
		if err != nil {
			return 0, usagef("-app-pubkey: %v", err)
		}
		if appPub, err = alipaynotify.ParsePublicKey(string(data)); err != nil {
			return 0, usagef("-app-pubkey %s: not an RSA public key (want PEM or base64)", o.appPubkeyFile)
		}
	}
	notifyURL, returnURL, err := urls(o)
	if err != nil {
		return 0, err
	}
	schedule, err := simulator.ParseSchedule(o.schedule)
	if err != nil {
		return 0, usagef("-schedule: %v", err)
	}
	if o.speed <= 0 {
		return 0, usagef("-speed must be positive")
	}
	if o.workers <= 0 || o.timeout <= 0 {
		return 0, usagef("-workers and -timeout must be positive")
	}
	switch o.table {
	case "auto", "all", "failures", "none":
	default:
		return 0, usagef("-table: want auto, all, failures or none, got %q", o.table)
	}

	var sc *simulator.Scenario
	if o.scenario != "" {
		for _, name := range trafficFlags {
			if set[name] {
				return 0, usagef("-%s cannot be combined with -scenario: put it in the scenario file", name)
			}
		}
		sc, err = simulator.LoadScenario(o.scenario)
		if err != nil {
			var se *simulator.ScenarioError
			if errors.As(err, &se) {
				return 0, err
			}
			return 0, usagef("%v", err)
		}
	} else {
		if !set["sign-type"] && slices.Contains(simulator.EscrowStories, simulator.Story(o.story)) {
			o.signType = "MD5" // the only way Alipay signs escrow callbacks
		}
		sc, err = scenarioFromFlags(o)
		if err != nil {
			return 0, err
		}
	}

	if o.gateway == "" {
		o.gateway = sc.Gateway
	}
	switch {
	case o.gateway == "" && o.appPubkeyFile != "":
		return 0, usagef("-app-pubkey goes with -gateway")
	case o.gateway != "" && o.appPubkeyFile == "" && (o.keyFile != "" || o.genkey):
		return 0, usagef("-gateway needs -app-pubkey FILE, the merchant's app public key, to check its open-platform queries")
	}
	if o.genkey {
		if key, err = generateKey(o, stdout, stderr); err != nil {
			return 0, err
		}
	}
	cfg := simulator.Config{
		NotifyURL: notifyURL,
		ReturnURL: returnURL,
		Key:       key,
		AppID:     o.appID,
		Partner:   o.partner,
		SellerID:  o.sellerID,
		MD5Key:    o.md5Key,
		WAPKey:    wapKey,
		// Alipay holds the merchant's public key only.
		MerchantPublicKey: merchantPub,
		QueryGateway:      o.gateway,
		AppPublicKey:      appPub,
		OrdersFile:        o.ordersFile,
		Speed:             o.speed,
		Schedule:          schedule,
		Timeout:           o.timeout,
		Workers:           o.workers,
		Seed:              o.seed,
		RaceWindow:        o.raceWindow,
		OversizeBytes:     o.oversize,
	}
	// A live line on the terminal that shows the report (stderr with
	// -json), else periodic lines on stderr.
	live := stdout
	if o.json {
		live = stderr
	}
	switch {
	case simulator.IsTerminal(live):
		cfg.OnProgress = simulator.NewProgressPrinter(live, stderr, o.progress).Update
		cfg.ProgressEvery = 200 * time.Millisecond
	case o.progress > 0:
		cfg.OnProgress = simulator.NewProgressPrinter(nil, stderr, o.progress).Update
		cfg.ProgressEvery = min(o.progress, time.Second)
	}
	if o.ordersFile != "" {
		// Fail now, not at the first checkout, if the book cannot be written.
		fh, err := os.OpenFile(o.ordersFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return 0, usagef("-orders-file: %v", err)
		}
		fh.Close()
	}
	sim, err := simulator.New(cfg)
	if err != nil {
		return 0, usagef("%v", strings.TrimPrefix(err.Error(), "simulator: "))
	}
	defer sim.Close()
	if err := sim.CheckScenario(sc); err != nil {
		return 0, keyHint(err)
	}
	if u := sim.GatewayURL(); u != "" {
		fmt.Fprintf(stderr, "alipaysim: trade-query gateway at %s (point the merchant's ALIPAY_GATEWAY_URL there)\n", u)
	}
	rep, err := sim.Run(ctx, sc)
	if rep == nil {
		return 0, err
	}
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintf(stderr, "alipaysim: interrupted (%v); the report covers what was sent\n", err)
	case err != nil:
		fmt.Fprintf(stderr, "alipaysim: %v\n", err)
		defer func() { code = exitFail }()
	}
	if o.json {
		if err := rep.WriteJSON(stdout); err != nil {
			return 0, err
		}
	} else if o.table == "none" {
		if err := rep.WriteSummary(stdout); err != nil {
			return 0, err
		}
	} else {
		failuresOnly := o.table == "failures" || (o.table == "auto" && len(rep.Results) > 60)
		if err := rep.WriteTable(stdout, failuresOnly); err != nil {
			return 0, err
		}
	}
	if rep.OK() {
		return exitOK, nil
	}
	return exitFail, nil
}

// keyHint turns a missing-key scenario error into advice on the flags.
func keyHint(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "needs Alipay's private key"):
		return usagef("%s: pass -key FILE or -genkey", msg)
	case strings.Contains(msg, "needs the partner's MD5 key"):
		return usagef("%s: pass -md5-key", msg)
	case strings.Contains(msg, "needs Alipay's WAP private key"):
		return usagef("%s: pass -wap-key FILE and -merchant-pubkey FILE", msg)
	case strings.Contains(msg, "needs a return URL"):
		return usagef("%s: set -return-path", msg)
	}
	return err
}

func urls(o *options) (notify, ret string, err error) {
	u, err := url.Parse(o.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", usagef("-url %q is not an http(s) URL", o.base)
	}
	join := func(p string) string {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		return strings.TrimSuffix(o.base, "/") + p
	}
	notify = join(o.notifyPath)
	if o.returnPath != "" {
		ret = join(o.returnPath)
	}
	return notify, ret, nil
}

func scenarioFromFlags(o *options) (*simulator.Scenario, error) {
	if o.trades < 0 {
		return nil, usagef("-trades must not be negative")
	}
	if o.trades == 0 && !o.hostile {
		return nil, usagef("nothing to send: -trades 0 without -hostile")
	}
	var refunds []string
	if o.refunds {
		for _, a := range strings.Split(o.refundAmounts, ",") {
			if a = strings.TrimSpace(a); a != "" {
				refunds = append(refunds, a)
			}
		}
		if len(refunds) == 0 {
			return nil, usagef("-refunds needs -refund-amounts")
		}
	}
	stories := []simulator.Story{simulator.Story(o.story)}
	if o.story == "mixed" {
		switch strings.ToUpper(o.signType) {
		case "MD5": // instant transfer and escrow
			stories = append(slices.Clone(simulator.Stories), simulator.EscrowStories...)
		case "WAP_MD5", "WAP_0001":
			stories = []simulator.Story{simulator.StoryPaid, simulator.StoryFinished}
		default:
			stories = simulator.Stories
		}
	}
	sc := &simulator.Scenario{}
	for i := range o.trades {
		t := simulator.Trade{
			Story:        stories[i%len(stories)],
			Amount:       o.amount,
			Subject:      o.subject,
			Charset:      o.charset,
			SignType:     o.signType,
			Start:        simulator.Duration(time.Duration(i) * o.stagger),
			Interval:     simulator.Duration(o.interval),
			Duplicates:   o.dup,
			LostAcks:     o.lostAcks,
			LoseNotifies: simulator.Duration(o.loseNotifies),
		}
		if o.refunds {
			switch t.Story {
			case simulator.StoryPaid:
				t.Story = simulator.StoryPartialRefund
				t.Refunds = refunds
			case simulator.StoryPartialRefund, simulator.StoryFullRefund:
				t.Refunds = refunds
			case simulator.StoryFinished, simulator.StoryClosedUnpaid,
				simulator.StoryEscrowFinished, simulator.StoryEscrowRefunded, simulator.StoryDualInstant:
				if o.story != "mixed" {
					return nil, usagef("-refunds does not go with -story %s", o.story)
				}
			}
		} else if t.Story == simulator.StoryPartialRefund {
			t.Refunds = []string{"10.00"}
		}
		if o.outOfOrder {
			if t.Story == simulator.StoryPaid {
				t.Story = simulator.StoryFinished
			}
			t.OutOfOrder = t.Story != simulator.StoryClosedUnpaid
		}
		t.RaceReturn = o.raceReturn && t.Story != simulator.StoryClosedUnpaid
		if o.loseNotifies != 0 && o.raceReturn {
			return nil, usagef("-lose-notifies and -race-return exclude each other: the buyer of a lost payment never returns")
		}
		sc.Trades = append(sc.Trades, t)
	}
	if o.hostile {
		// Hostile inputs are open platform or mapi callbacks: with a mobile
		// web sign type, MD5 ones for WAP_MD5 (same key), else the default.
		signType, charset := o.signType, o.charset
		switch strings.ToUpper(signType) {
		case "WAP_MD5":
			signType = "MD5"
		case "WAP_0001":
			signType = ""
		}
		for _, k := range simulator.HostileKinds {
			sc.Hostile = append(sc.Hostile, simulator.Hostile{Kind: k, SignType: signType, Charset: charset})
		}
	}
	if err := sc.Validate(); err != nil {
		var se *simulator.ScenarioError
		if errors.As(err, &se) {
			// Name the flag rather than the generated trade.
			return nil, usagef("%s", flagHint(se))
		}
		return nil, err
	}
	return sc, nil
}

func flagHint(se *simulator.ScenarioError) string {
	field := se.Path
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		field = field[i+1:]
	}
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	flagName := map[string]string{
		"story": "-story", "amount": "-amount", "refunds": "-refund-amounts", "charset": "-charset",
		"sign_type": "-sign-type", "subject": "-subject", "duplicates": "-dup", "lost_acks": "-lost-acks",
		"interval": "-interval", "start": "-stagger", "kind": "-hostile", "lose_notifies": "-lose-notifies",
	}[field]
	if flagName == "" {
		return se.Err.Error()
	}
	return flagName + ": " + se.Err.Error()
}

// readKey reads the private key file path given with flagName.
func readKey(flagName, path string) (*alipaytest.KeyPair, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("%s: %v", flagName, err)
	}
	k, err := alipaytest.ParseKeyPair(string(data))
	if err != nil {
		return nil, usagef("%s %s: not an RSA private key (want PEM or base64, PKCS#1 or PKCS#8)", flagName, path)
	}
	return k, nil
}

// generateKey makes an RSA-2048 pair, saves what was asked for, and prints
// the public key: on stdout when that is all alipaysim does, on stderr when
// a run follows (stdout then carries the report).
func generateKey(o *options, stdout, stderr io.Writer) (*alipaytest.KeyPair, error) {
	k, err := alipaytest.NewKeyPair(2048)
	if err != nil {
		return nil, err
	}
	if o.keyOut != "" {
		if err := os.WriteFile(o.keyOut, []byte(k.PrivateKeyPKCS8PEM()), 0o600); err != nil {
			return nil, usagef("-key-out: %v", err)
		}
	}
	if o.pubkeyOut != "" {
		if err := os.WriteFile(o.pubkeyOut, []byte(k.PublicKeyPEM()), 0o644); err != nil {
			return nil, usagef("-pubkey-out: %v", err)
		}
	}
	out := stdout
	if o.base != "" {
		out = stderr
		fmt.Fprintln(stderr, "alipaysim: signing with a new key; configure the merchant with this Alipay public key:")
	}
	fmt.Fprint(out, k.PublicKeyPEM())
	if o.keyOut == "" {
		fmt.Fprintln(stderr, "alipaysim: the private key was not saved (use -key-out FILE to sign with it again via -key)")
	}
	return k, nil
}
