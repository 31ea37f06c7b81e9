package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 64 << 10
	DefaultLease        = 30 * time.Second
	DefaultRetention    = 190 * 24 * time.Hour // covers Alipay's quarterly re-notification
	DefaultWaitInFlight = 5 * time.Second
	DefaultStoreTimeout = 2 * time.Second
	DefaultMaxWaiting   = 32
)

// Options configure the middleware. The zero value of every optional field is
// the safe default; New validates them once.
type Options struct {
	// Verifier checks every callback. Required.
	Verifier *alipaynotify.Verifier
	// Store keeps the exactly-once state. Default: an in-memory store, which is
	// per-process and forgets everything on restart; use redisstore for more
	// than one instance.
	Store dedupe.Store
	// Lease is how long a claim lasts without renewal; the middleware renews
	// it every Lease/3 while the handler runs, each renewal bounded by
	// Lease/3. Once a full Lease has passed since the start of the last call
	// that set the lease (the claim or a successful renewal), the handler's
	// context is cancelled with cause ErrLeaseLost. A process that dies
	// mid-handler blocks the event for at most Lease. Default: 30s.
	Lease time.Duration
	// Retention is how long a handled event is remembered. Default: 190 days,
	// which covers Alipay's 25-hour retries and the quarterly re-notification
	// some merchants get.
	Retention time.Duration
	// WaitInFlight bounds how long a duplicate waits for another delivery
	// that holds the claim. After it, notify answers "fail" (Alipay retries)
	// and the return page renders with OutcomeInFlight. Default: 5s.
	WaitInFlight time.Duration
	// MaxWaiting caps the deliveries of one event that wait in this process
	// while another delivery of it is in flight. They share one waiter: the
	// first polls the store (backing off from 10ms to 500ms) and the rest
	// queue behind it without calling the store. A delivery beyond the cap
	// answers "fail" at once (OutcomeInFlight). Default: 32.
	MaxWaiting int
	// StoreTimeout bounds every Claim and every Release, and each Complete
	// with its retries. Extend is bounded by Lease/3. A store call that
	// overruns its bound is abandoned (its context is cancelled) and counts
	// as a store failure. Default: 2s.
	StoreTimeout time.Duration
	// DisableDeadLetters turns off the dead letters: by default, when the
	// Store keeps them (dedupe.DeadLetterStore, as both stores of this module
	// do), a callback whose business handler fails is kept with its error
	// and attempt count until it is handled, so that an operator can list
	// and replay it after Alipay gave up (see Middleware.Replay); each
	// success then costs one more store call, in the background.
	DisableDeadLetters bool
	// MaxBodyBytes limits a notify body. Default: 64 KiB.
	MaxBodyBytes int64
	// AtLeastOnce runs the handler without a claim when the store fails,
	// trading duplicates for availability. Default: false (fail closed:
	// answer "fail" and never run the handler unguarded).
	AtLeastOnce bool
	// SkipStale marks stale events done without running the handler.
	// Default: false (stale events are delivered once, flagged Stale).
	SkipStale bool
	// CheckTradeNo decides when a notification whose trade_no differs from
	// the one already recorded for its out_trade_no is refused: that is an
	// attack or a bug, never a new event. Recording costs one more store key
	// per trade (about 165 bytes in Redis). Default: TradeNoCheckLegacy.
	CheckTradeNo TradeNoCheck
	// ReturnErrorHandler renders the page for a return that cannot be
	// verified. Default: 400 with a short plain-text message; the reason is
	// logged, never shown.
	ReturnErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives one record per rejected callback, failure and store
	// error. Default: slog.Default().
	Logger *slog.Logger
	// Hooks are called on every step, for metrics. Nil fields are skipped.
	Hooks Hooks
}

// TradeNoCheck selects the callbacks whose trade_no is bound to their
// out_trade_no.
type TradeNoCheck int

const (
	// TradeNoCheckLegacy checks legacy mapi and mobile web (WAP) callbacks,
	// whose trades live long and carry many events (escrow). The open
	// platform enforces out_trade_no uniqueness per app itself.
	TradeNoCheckLegacy TradeNoCheck = iota
	// TradeNoCheckAll checks every callback.
	TradeNoCheckAll
	// TradeNoCheckOff never checks.
	TradeNoCheckOff
)

func (c TradeNoCheck) applies(p alipaynotify.Protocol) bool {
	switch c {
	case TradeNoCheckAll:
		return true
	case TradeNoCheckLegacy:
		return p != alipaynotify.ProtocolOpenPlatform
	}
	return false
}

func (o *Options) validate() error {
	if o.Verifier == nil {
		return fmt.Errorf("%w: Verifier is required", ErrConfig)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"Lease", &o.Lease, DefaultLease}, {"Retention", &o.Retention, DefaultRetention}, {"WaitInFlight", &o.WaitInFlight, DefaultWaitInFlight},
		{"StoreTimeout", &o.StoreTimeout, DefaultStoreTimeout}} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			return fmt.Errorf("%w: %s must not be negative", ErrConfig, d.name)
		}
	}
	if o.Lease < 30*time.Millisecond {
		return fmt.Errorf("%w: Lease must be at least 30ms", ErrConfig)
	}
	if o.Retention < o.Lease {
		return fmt.Errorf("%w: Retention must not be shorter than Lease", ErrConfig)
	}
	if o.Retention <= o.Verifier.MaxAge() {
		// A callback the verifier still accepts must find its done mark, or
		// it runs the handler again.
		return fmt.Errorf("%w: Retention (%v) must be longer than the oldest callback the Verifier accepts (%v: its MaxNotifyAge, MaxReturnAge)",
			ErrConfig, o.Retention, o.Verifier.MaxAge())
	}
	if o.CheckTradeNo < TradeNoCheckLegacy || o.CheckTradeNo > TradeNoCheckOff {
		return fmt.Errorf("%w: CheckTradeNo is not a TradeNoCheck constant", ErrConfig)
	}
	switch {
	case o.MaxWaiting == 0:
		o.MaxWaiting = DefaultMaxWaiting
	case o.MaxWaiting < 0:
		return fmt.Errorf("%w: MaxWaiting must not be negative", ErrConfig)
	}
	switch {
	case o.MaxBodyBytes == 0:
		o.MaxBodyBytes = DefaultMaxBodyBytes
	case o.MaxBodyBytes < 0:
		return fmt.Errorf("%w: MaxBodyBytes must not be negative", ErrConfig)
	}
	if o.Store == nil {
		o.Store = dedupe.NewMemoryStore()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ReturnErrorHandler == nil {
		o.ReturnErrorHandler = defaultReturnError
	}
	return nil
}

// defaultReturnError tells the buyer, in Chinese with English beneath,
// that the page cannot show a payment result: the link expired (a return
// older than the Verifier's MaxReturnAge, such as a bookmarked or replayed
// result page), or it could not be verified. Neither says whether the order
// is paid: the notification decides that.
func defaultReturnError(w http.ResponseWriter, _ *http.Request, err error) {
	if errors.Is(err, alipaynotify.ErrExpired) {
		http.Error(w, "此支付结果链接已过期，请到订单页查看支付状态。\nThis payment result link has expired: see the order page for the payment status.", http.StatusGone)
		return
	}
	http.Error(w, "无法验证此支付结果。\nThis payment result could not be verified.", http.StatusBadRequest)
}
