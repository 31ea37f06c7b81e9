// Package dedupe holds the exactly-once state behind alipaynotify: which business
// events have been handled, which are being handled right now and by whom.
//
// A Store is deliberately small. Every method takes a context first and is a
// single atomic step on the backing store; "already done" and "claimed by
// someone else" are states reported in a Claim, never errors. An error always
// means the store itself failed (network, timeout, closed), and callers fail
// closed on it.
//
// # Two Event types
//
// alipaynotify.Event (Notification.Event) is the business identity of a
// callback: merchant, out_trade_no, trade status and refund identity, what a
// merchant reads and logs. Event, in this package, is the store's key derived
// from it by EventFor: the same identity flattened into Trade and ID strings,
// plus what the store needs to decide atomically (Outranked and Mark for
// stale statuses, Binding for the trade_no check). Merchants meet only the
// first; stores see only the second. (The Event of the internal simulator is one
// callback it sends, not an identity.)
//
// # Stores
//
// Two implementations ship with the module: NewMemoryStore (this package, the
// embedded default; one process only) and redisstore.New (Redis single,
// Sentinel or Cluster; shared by every instance of a merchant's service). Both
// pass the exported conformance suite in package storetest, which third-party
// stores can run against themselves, and check their arguments with the same
// functions (CheckClaim, CheckExtend, CheckComplete, CheckRelease).
//
// # Operators' interfaces
//
// Beside Store, both stores implement two optional interfaces for the
// people who run a merchant's service, off the path of a delivery:
// Inspector (Lookup shows what is remembered about a trade, found with
// TradeOf; Forget releases one event's done state so that it runs again) and
// DeadLetterStore (the callbacks whose handler failed, kept with their
// verified bytes so that they can be replayed). Package storetest checks
// both when a store implements them.
package dedupe

import (
	"context"
	"time"
)

// Event names one business event for a Store: the key under which its claim
// and done state live. EventFor derives it from a verified notification (from
// its alipaynotify.Event, the business identity, plus the store's own
// bookkeeping); the middleware never builds one otherwise.
//
// Events of one trade share Trade; a store keeps all of a trade's keys together
// (the Redis store puts them in one hash slot so its scripts work on Cluster).
// ID is unique within the trade. The strings may be long; stores hash them.
type Event struct {
	// Trade identifies the trade, e.g. "2021000000000001|ORDER-42".
	Trade string
	// ID identifies the event within the trade, e.g. "TRADE_SUCCESS".
	ID string
	// Outranked lists the IDs (of the same trade) whose done state makes this
	// event stale: a later status was already handled. Empty: never stale.
	Outranked []string
	// Mark, when not empty, is an extra ID that Complete marks done together
	// with ID, so that it can appear in the Outranked list of other events.
	Mark string
	// Binding, when not empty, is a value the whole trade must keep (Alipay's
	// trade_no for an out_trade_no). Complete records it for the trade, unless
	// another value is already recorded; Claim reports Conflict when the
	// trade recorded a different one. Empty: no check, nothing recorded.
	Binding string
}

// State is the outcome of a Claim.
type State int

const (
	// Claimed means the caller now owns the event's claim and must Complete or
	// Release it (or let the lease run out).
	Claimed State = iota + 1
	// Done means the event was completed before; the caller must not run it.
	Done
	// Busy means another owner holds a live claim on the event.
	Busy
	// Conflict means the trade recorded a different Binding: the event must
	// not be handled (same out_trade_no, another trade_no).
	Conflict
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Done:
		return "done"
	case Busy:
		return "busy"
	case Conflict:
		return "conflict"
	}
	return "invalid"
}

// Claim is the answer of Store.Claim.
type Claim struct {
	// State says whether the caller owns the claim, the event is done, or
	// another owner holds it.
	State State
	// Token is the random owner token when State is Claimed. Extend, Complete
	// and Release only act when given the current owner's token, and the
	// handler can use it to fence its own writes.
	Token string
	// Stale is set with Claimed when one of Event.Outranked is already done.
	Stale bool
	// Remaining is, with Busy, how long the current owner's lease still runs
	// (zero when the store cannot tell).
	Remaining time.Duration
}

// Store keeps the exactly-once state. Implementations must be safe for
// concurrent use by many goroutines and, for shared stores, many processes.
// Errors mean the store failed, except those wrapping ErrInvalidArgument,
// which mean the caller passed an invalid argument. A Claim with a nil error
// always reports one of the four States, and Claimed always with a Token: the
// middleware treats anything else as a store failure. Methods should return
// soon after ctx is done; the middleware gives every call a deadline and
// abandons a call that overruns it.
type Store interface {
	// Claim atomically: reports Conflict if ev.Binding differs from the
	// trade's recorded binding; Done if the event was completed; Busy if a
	// live claim exists; otherwise takes a claim with a new random token that
	// expires after lease (on the store's own clock) and reports Claimed, with
	// Stale set if any Outranked event is done.
	Claim(ctx context.Context, ev Event, lease time.Duration) (Claim, error)
	// Extend atomically renews the claim's lease to lease if token still owns
	// it, and reports whether it did.
	Extend(ctx context.Context, ev Event, token string, lease time.Duration) (bool, error)
	// Complete atomically replaces the claim with the done state, remembered
	// for at least done.Retention (and marks ev.Mark done for as long), if
	// token still owns the claim; it reports whether it did. A false answer
	// means the lease was lost and nothing was written. The done state
	// records done.Source, done.Stale and the time of the call on the store's
	// own clock, which an Inspector shows.
	Complete(ctx context.Context, ev Event, token string, done Completion) (bool, error)
	// Release atomically deletes the claim if token still owns it, so that the
	// next delivery can claim the event again; it reports whether it did.
	Release(ctx context.Context, ev Event, token string) (bool, error)
}

// Completion is what Store.Complete records with an event's done state.
type Completion struct {
	// Retention is how long the done state is remembered at least: a
	// delivery of the event within it reads Done. It must be positive.
	Retention time.Duration
	// Source says how the callback that got handled arrived: one of the
	// Source constants (SourceNotify, SourceReturn, SourceReplay,
	// SourceQuery); any other non-empty value is recorded as SourceOther, and
	// "" as unknown. The middleware passes the Notification's Source.
	Source string
	// Stale is the Claim's Stale flag: a later status of the trade had been
	// handled before this event was.
	Stale bool
}
