package dedupe

import (
	"context"
	"fmt"
	"time"

	"github.com/alipaynotify/alipaynotify"
)

// The sources a store records with a done event (Completion.Source). Stores
// keep each in a few bits, so Lookup shows these values exactly and any other
// non-empty source as SourceOther.
const (
	// SourceNotify: Alipay's server POST to notify_url.
	SourceNotify = string(alipaynotify.SourceNotify)
	// SourceReturn: the buyer's browser GET to return_url.
	SourceReturn = string(alipaynotify.SourceReturn)
	// SourceReplay: an operator replayed a recorded callback (a dead letter).
	SourceReplay = "replay"
	// SourceQuery: the merchant learned the status by querying Alipay.
	SourceQuery = "query"
	// SourceOther: any other non-empty source.
	SourceOther = "other"
)

// recordedSources lists the sources a store records exactly, in the order of
// their codes (code = index + 1; 0 is "unknown", 7 SourceOther). The Redis
// store keeps the codes in its done records: never reorder, only append (at
// most six in all).
var recordedSources = [...]string{SourceNotify, SourceReturn, SourceReplay, SourceQuery}

// sourceOtherCode is SourceCode's answer for a source it does not know.
const sourceOtherCode = 7

// SourceCode returns the 3-bit code a store records for a Completion.Source:
// 0 for "", 1-6 for the known sources, 7 for any other. SourceOf reads it
// back.
func SourceCode(source string) uint8 {
	if source == "" {
		return 0
	}
	for i, s := range recordedSources {
		if s == source {
			return uint8(i + 1)
		}
	}
	return sourceOtherCode
}

// SourceOf returns the source a SourceCode stands for: "" for 0 (or an
// unassigned code), SourceOther for 7.
func SourceOf(code uint8) string {
	switch {
	case code == sourceOtherCode:
		return SourceOther
	case code >= 1 && int(code) <= len(recordedSources):
		return recordedSources[code-1]
	}
	return ""
}

// RecordedSource returns what a store shows for a Completion.Source:
// SourceOf(SourceCode(source)).
func RecordedSource(source string) string { return SourceOf(SourceCode(source)) }

// TradeOf returns the Event.Trade that EventFor gives the trade events of
// a merchant (app_id on the open platform, partner on legacy protocols) and
// an out_trade_no: the string an Inspector's Lookup takes.
func TradeOf(merchant, outTradeNo string) string {
	return alipaynotify.Event{Merchant: merchant, OutTradeNo: outTradeNo}.Trade()
}

// RecordState says what a store knows about one event of a trade.
type RecordState int

const (
	// RecordDone: the event was completed and is remembered: a delivery reads
	// Done.
	RecordDone RecordState = iota + 1
	// RecordInFlight: an owner holds a live claim on the event (its handler
	// is running, or the owner died and the lease has not run out yet).
	RecordInFlight
)

// String returns the state's name.
func (s RecordState) String() string {
	switch s {
	case RecordDone:
		return "done"
	case RecordInFlight:
		return "in flight"
	}
	return "invalid"
}

// EventRecord is what an Inspector knows about one event of a trade.
type EventRecord struct {
	// ID is the event's Event.ID (for trade events from EventFor, the
	// status, or "status|refund_status|refund" for a refund).
	ID string
	// State is RecordDone or RecordInFlight.
	State RecordState
	// LeaseLeft is, for RecordInFlight, how much of the owner's lease is left
	// on the store's clock.
	LeaseLeft time.Duration
	// HandledAt is, for RecordDone, when Complete recorded the event, on the
	// store's clock (millisecond precision); zero when Legacy.
	HandledAt time.Time
	// Source is, for RecordDone, the Completion.Source as recorded (see
	// RecordedSource); "" when unknown or Legacy.
	Source string
	// Stale is, for RecordDone, the Completion.Stale flag.
	Stale bool
	// Legacy is set for a done event that a store found in a layout written
	// before stores recorded HandledAt, Source and Stale (the Redis store's
	// per-event keys; see the redisstore package documentation, "Upgrading"):
	// it is done, and nothing more is known.
	Legacy bool
}

// TradeRecord is what an Inspector knows about one trade.
type TradeRecord struct {
	// Events are the trade's done and in-flight events, sorted by ID. Marks
	// (Event.Mark) are not events and are left out, as are expired claims and
	// forgotten events.
	Events []EventRecord
	// Bound reports whether the trade has a recorded Binding (Alipay's
	// trade_no, see Event.Binding). Stores keep only a hash of it.
	Bound bool
}

// Inspector is implemented by stores that can show and correct what they
// remember about a trade, for an operator asking "what happened to this
// order?" or "let this order run again". Both stores of this module
// implement it; package storetest checks it when a store does.
//
// Lookup and Forget are for operators: they are not on the path of a
// delivery, and Forget must only ever be called for one event an operator
// named (there is deliberately no bulk form).
type Inspector interface {
	// Lookup returns what the store remembers about trade (an Event.Trade,
	// see TradeOf): an empty TradeRecord when nothing.
	Lookup(ctx context.Context, trade string) (TradeRecord, error)
	// Forget deletes the done state of one event of trade, so that the next
	// delivery of the event claims it and runs the handler again, and
	// reports whether the event was done. It touches nothing else: not the
	// trade's other events, not a live claim (of this event or another), not
	// the marks, not the binding. So a forgotten event that a later status
	// outranks is flagged stale when it runs again, as it would have been.
	Forget(ctx context.Context, trade, id string) (bool, error)
}

// CheckLookup reports, wrapping ErrInvalidArgument, why a store cannot look
// up trade: it is empty.
func CheckLookup(trade string) error {
	if trade == "" {
		return fmt.Errorf("%w: lookup: empty trade", ErrInvalidArgument)
	}
	return nil
}

// CheckForget reports, wrapping ErrInvalidArgument, why a store cannot
// forget the event: an empty trade or id.
func CheckForget(trade, id string) error {
	return checkTradeID("forget", trade, id)
}

// checkTradeID reports an empty trade or id for op.
func checkTradeID(op, trade, id string) error {
	if trade == "" {
		return fmt.Errorf("%w: %s: empty trade", ErrInvalidArgument, op)
	}
	if id == "" {
		return fmt.Errorf("%w: %s: empty id", ErrInvalidArgument, op)
	}
	return nil
}
