package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
)

// The operator's API: what happened to an order, forgetting one handled
// event, and the dead letters (callbacks whose business handler failed) with
// their replay. Package ops (an embeddable page) and cmd/alipayops (a CLI)
// are built on it. Every store call is bounded by Options.StoreTimeout.

// ErrUnsupported: the dedupe store does not implement what an operator call
// needs (dedupe.Inspector for Lookup and Forget, dedupe.DeadLetterStore for
// the dead letters). Both stores of this module implement both.
var ErrUnsupported = errors.New("middleware: the dedupe store does not support this operation")

// TradeView is what the store knows about one order: Lookup's answer.
type TradeView struct {
	// Merchant and OutTradeNo are the order asked about; Trade is the
	// store's key for it (dedupe.TradeOf).
	Merchant, OutTradeNo, Trade string
	// Events are its events done or in flight, and Bound reports whether a
	// trade_no was recorded for it (see dedupe.TradeRecord).
	Events []dedupe.EventRecord
	Bound  bool
	// Failed are its dead letters: events whose handler failed and that
	// were not handled since. Their Body holds the buyer's data: show it to
	// nobody.
	Failed []dedupe.DeadLetter
}

// Lookup answers "what happened to this order?": merchant is the app_id
// (open platform) or the partner (legacy), as in Notification.Merchant. Its
// dead letters are found by reading the whole dead-letter list (bounded by
// the store's dead-letter maximum), an operator's call, not a hot path.
func (m *Middleware) Lookup(ctx context.Context, merchant, outTradeNo string) (TradeView, error) {
	in, ok := m.opts.Store.(dedupe.Inspector)
	if !ok {
		return TradeView{}, ErrUnsupported
	}
	trade := dedupe.TradeOf(merchant, outTradeNo)
	view := TradeView{Merchant: merchant, OutTradeNo: outTradeNo, Trade: trade}
	rec, err := storeCall(m, ctx, "lookup", m.opts.StoreTimeout, func(ctx context.Context) (dedupe.TradeRecord, error) {
		return in.Lookup(ctx, trade)
	}, nil)
	if err != nil {
		return view, fmt.Errorf("%w: %w", ErrStore, err)
	}
	view.Events, view.Bound = rec.Events, rec.Bound
	if dl, ok := m.opts.Store.(dedupe.DeadLetterStore); ok {
		all, err := storeCall(m, ctx, "deadletters", m.opts.StoreTimeout, func(ctx context.Context) ([]dedupe.DeadLetter, error) {
			return dl.DeadLetters(ctx, maxListed)
		}, nil)
		if err != nil {
			return view, fmt.Errorf("%w: %w", ErrStore, err)
		}
		for _, d := range all {
			if d.Trade == trade {
				view.Failed = append(view.Failed, d)
			}
		}
	}
	return view, nil
}

// maxListed bounds one read of the dead-letter list: the default store
// maximum.
const maxListed = dedupe.DefaultMaxDeadLetters

// Forget releases one handled event's done mark, so that the next delivery
// of it runs the business handler again: the supported way to reprocess an
// order after a handler bug returned nil. The operator names the event
// (trade as in TradeView.Trade, id as in dedupe.EventRecord.ID): there is no
// bulk form. actor says who asks (a user name); the action is logged with
// who, what and when, and reported to Hooks.Forgotten. It reports whether
// the event was done.
func (m *Middleware) Forget(ctx context.Context, trade, id, actor string) (bool, error) {
	in, ok := m.opts.Store.(dedupe.Inspector)
	if !ok {
		return false, ErrUnsupported
	}
	if actor == "" {
		return false, fmt.Errorf("%w: Forget needs the actor: who asks", dedupe.ErrInvalidArgument)
	}
	at := time.Now()
	forgot, err := storeCall(m, ctx, "forget", m.opts.StoreTimeout, func(ctx context.Context) (bool, error) {
		return in.Forget(ctx, trade, id)
	}, nil)
	if err != nil {
		m.storeError(ctx, "forget", err)
		return false, fmt.Errorf("%w: %w", ErrStore, err)
	}
	m.opts.Logger.WarnContext(ctx, "alipaynotify: an operator forgot a handled event; its next delivery runs the handler again",
		"actor", actor, "trade", trade, "event", id, "at", at.In(alipaynotify.ChinaTime).Format(time.RFC3339), "was_done", forgot)
	if h := m.opts.Hooks.Forgotten; h != nil {
		h(ctx, Forgotten{Trade: trade, ID: id, Actor: actor, At: at, WasDone: forgot})
	}
	return forgot, nil
}

// Forgotten describes an operator's Forget, for Hooks.Forgotten.
type Forgotten struct {
	// Trade and ID name the event; Actor is who asked; At is when.
	Trade, ID, Actor string
	At               time.Time
	// WasDone reports whether the event was done (and is now forgotten).
	WasDone bool
}

// DeadLetters lists up to limit dead letters, the oldest failure first.
// An entry whose event was handled since (by another instance, or by a
// delivery whose clearing failed) is cleared and left out, when the store
// can tell (dedupe.Inspector). Their Body holds the buyer's data: never show
// or log it.
func (m *Middleware) DeadLetters(ctx context.Context, limit int) ([]dedupe.DeadLetter, error) {
	dl, ok := m.opts.Store.(dedupe.DeadLetterStore)
	if !ok {
		return nil, ErrUnsupported
	}
	all, err := storeCall(m, ctx, "deadletters", m.opts.StoreTimeout, func(ctx context.Context) ([]dedupe.DeadLetter, error) {
		return dl.DeadLetters(ctx, limit)
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	in, ok := m.opts.Store.(dedupe.Inspector)
	if !ok {
		return all, nil
	}
	out := all[:0:0]
	done := map[string]map[string]bool{} // trade → done event IDs
	for _, d := range all {
		ids, seen := done[d.Trade]
		if !seen {
			rec, err := storeCall(m, ctx, "lookup", m.opts.StoreTimeout, func(ctx context.Context) (dedupe.TradeRecord, error) {
				return in.Lookup(ctx, d.Trade)
			}, nil)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrStore, err)
			}
			ids = map[string]bool{}
			for _, e := range rec.Events {
				ids[e.ID] = e.State == dedupe.RecordDone
			}
			done[d.Trade] = ids
		}
		if ids[d.ID] {
			m.clearFailure(ctx, dedupe.Event{Trade: d.Trade, ID: d.ID}, true)
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// DeadLetter returns the dead letter of one event, and whether there is one.
func (m *Middleware) DeadLetter(ctx context.Context, trade, id string) (dedupe.DeadLetter, bool, error) {
	dl, ok := m.opts.Store.(dedupe.DeadLetterStore)
	if !ok {
		return dedupe.DeadLetter{}, false, ErrUnsupported
	}
	type found struct {
		dl dedupe.DeadLetter
		ok bool
	}
	f, err := storeCall(m, ctx, "deadletter", m.opts.StoreTimeout, func(ctx context.Context) (found, error) {
		d, ok, err := dl.DeadLetter(ctx, trade, id)
		return found{d, ok}, err
	}, nil)
	if err != nil {
		return dedupe.DeadLetter{}, false, fmt.Errorf("%w: %w", ErrStore, err)
	}
	return f.dl, f.ok, nil
}

// Replay runs a dead letter again through verify → claim → business
// handler → done, as a delivery like any other: the callback is verified
// again (Verifier.VerifyReceived, its age measured at dl.Last, when it was
// last received), and the handler runs only if the event is not done, deduped
// against Alipay's own retries of it. The done event records the source
// "replay". On success the dead letter is cleared; on failure it is updated.
// A dead letter that no longer verifies (the keys changed, it was tampered
// with in the store) is refused: Outcome OutcomeRejected, Err says why.
func (m *Middleware) Replay(ctx context.Context, dl dedupe.DeadLetter, business http.Handler) *Delivery {
	src := alipaynotify.Source(dl.Source)
	n, err := m.opts.Verifier.VerifyReceived(ctx, src, dl.Body, dl.Last)
	if err != nil {
		m.reject(ctx, src, err, nil)
		return &Delivery{Outcome: OutcomeRejected, Err: err}
	}
	d := m.deliverWithout(ctx, &Delivery{Notification: n, raw: dl.Body, via: dedupe.SourceReplay}, business)
	if d.Outcome.Acknowledged() {
		// Handled now, or before (a duplicate, a skipped stale event).
		m.clearFailure(ctx, dedupe.EventFor(n), true)
	}
	return d
}

// recordFailure keeps d's callback as a dead letter, when the store keeps
// them and d arrived as a callback.
func (m *Middleware) recordFailure(ctx context.Context, d *Delivery) {
	dls, ok := m.opts.Store.(dedupe.DeadLetterStore)
	if !ok || m.opts.DisableDeadLetters || len(d.raw) == 0 || len(d.raw) > dedupe.MaxDeadLetterBody {
		return
	}
	n := d.Notification
	ev := dedupe.EventFor(n)
	msg := d.Err.Error()
	if len(msg) > dedupe.MaxDeadLetterErr {
		msg = msg[:dedupe.MaxDeadLetterErr-len(" …(cut)")] + " …(cut)"
	}
	letter := dedupe.DeadLetter{Trade: ev.Trade, ID: ev.ID, Source: string(n.Source), Body: d.raw, Err: msg}
	rec, err := storeCall(m, context.WithoutCancel(ctx), "deadletter", m.opts.StoreTimeout, func(ctx context.Context) (dedupe.Recorded, error) {
		return dls.RecordFailure(ctx, letter)
	}, nil)
	if err != nil {
		m.storeError(ctx, "deadletter", err)
		return
	}
	if rec.Evicted > 0 {
		m.opts.Logger.ErrorContext(ctx, "alipaynotify: the dead-letter list is full: the oldest entries were dropped and can no longer be replayed",
			"dropped", rec.Evicted)
	}
	m.failedHere.add(ev)
	if h := m.opts.Hooks.DeadLettered; h != nil {
		h(ctx, n, rec)
	}
}

// failedEvents remembers, bounded, the events this process kept dead
// letters for, so that only their success costs a ClearFailure: the happy
// path keeps its two store calls (one for a duplicate). A dead letter another
// process recorded, or one forgotten here when the set overflowed, is
// cleared when DeadLetters finds its event done.
type failedEvents struct {
	mu sync.Mutex
	m  map[[2]string]struct{}
}

// maxFailedEvents bounds failedEvents; past it the set starts again.
const maxFailedEvents = 4096

func (f *failedEvents) add(ev dedupe.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) >= maxFailedEvents {
		f.m = make(map[[2]string]struct{})
	}
	f.m[[2]string{ev.Trade, ev.ID}] = struct{}{}
}

// take reports whether ev is in the set, and removes it.
func (f *failedEvents) take(ev dedupe.Event) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [2]string{ev.Trade, ev.ID}
	_, ok := f.m[k]
	delete(f.m, k)
	return ok
}

// clearFailure deletes the event's dead letter now that it is handled, when
// this process recorded one (or always, with force). It runs in the
// background, bounded by StoreTimeout, off the answer's path: a dead letter
// left behind is harmless (its replay is a duplicate), and DeadLetters clears
// it when it finds the event done.
func (m *Middleware) clearFailure(ctx context.Context, ev dedupe.Event, force bool) {
	dls, ok := m.opts.Store.(dedupe.DeadLetterStore)
	if !ok || m.opts.DisableDeadLetters || !(m.failedHere.take(ev) || force) {
		return
	}
	ctx = context.WithoutCancel(ctx)
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		if _, err := storeCall(m, ctx, "clearfailure", m.opts.StoreTimeout, func(ctx context.Context) (bool, error) {
			return dls.ClearFailure(ctx, ev.Trade, ev.ID)
		}, nil); err != nil {
			m.storeError(ctx, "clearfailure", err)
		}
	}()
}

// Wait waits for the middleware's background store calls (the clearing of
// dead letters after a success) to end, each bounded by StoreTimeout. Call it
// on shutdown, after the server stopped serving, before closing the store.
func (m *Middleware) Wait() { m.background.Wait() }
