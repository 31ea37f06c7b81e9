package middleware

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/alipaynotify/alipaynotify/dedupe"
)

// Polling of an event whose claim another process holds: the first pause,
// doubled after every Busy answer up to the last.
const (
	pollFirst = 10 * time.Millisecond
	pollMax   = 500 * time.Millisecond
)

// gates lets one delivery of an event at a time in this process talk to the
// store: the holder of an event's gate claims, polls and runs the handler;
// duplicates queue behind it and, when it has seen the event done, answer
// without calling the store. So duplicates of one event share one waiter.
type gates struct {
	mu sync.Mutex
	m  map[gateKey]*gate
}

// gateKey names an event as the store does (the Binding too: deliveries that
// differ in it may get different answers).
type gateKey struct{ trade, id, binding string }

// gate is one event's turn. turn holds a token while nobody holds the gate.
type gate struct {
	key  gateKey
	turn chan struct{}

	// Guarded by gates.mu.
	refs   int    // deliveries holding or waiting for the gate
	owners uint64 // times a holder claimed the event or found it busy
	owning bool   // the current holder holds the claim or polls a busy one

	// Guarded by holding the turn.
	done     bool          // a holder saw the event done (or made it so)
	nextPoll time.Time     // a holder found the event busy: poll no sooner
	backoff  time.Duration // the pause after that poll
}

// enter joins ev's gate, unless max deliveries already wait behind its
// holder. waiting is the number of deliveries behind the holder so far.
func (gs *gates) enter(ev dedupe.Event, max int) (g *gate, snapshot uint64, behindOwner, ok bool) {
	k := gateKey{ev.Trade, ev.ID, ev.Binding}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g = gs.m[k]
	if g == nil {
		if gs.m == nil {
			gs.m = make(map[gateKey]*gate)
		}
		g = &gate{key: k, turn: make(chan struct{}, 1)}
		g.turn <- struct{}{}
		gs.m[k] = g
	}
	if g.refs > max { // the holder and max waiting
		return nil, 0, false, false
	}
	g.refs++
	return g, g.owners, g.owning, true
}

// leave drops the delivery's reference, and the gate with the last one.
func (gs *gates) leave(g *gate) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if g.refs--; g.refs == 0 {
		delete(gs.m, g.key)
	}
}

// setOwning records whether the holder holds or waits on an owner's claim.
func (gs *gates) setOwning(g *gate, owning bool) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if owning && !g.owning {
		g.owners++
	}
	g.owning = owning
}

// ownersSince reports whether a holder held or waited on the claim since
// snapshot.
func (gs *gates) ownersSince(g *gate, snapshot uint64) bool {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return g.owners != snapshot
}

// acquire waits for the gate until deadline or the end of ctx and reports
// whether it got it.
func (g *gate) acquire(ctx context.Context, deadline time.Time) bool {
	select {
	case <-g.turn:
		return true
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-g.turn:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	// The gate may have come free at the same moment.
	select {
	case <-g.turn:
		return true
	default:
		return false
	}
}

// release hands the gate on.
func (g *gate) release() { g.turn <- struct{}{} }

// pollPause is the pause before the next poll of a busy event: the gate's
// backoff with jitter (half to all of it), no longer than the owner's lease
// has left. It advances the backoff.
func (g *gate) pollPause(remaining time.Duration) time.Duration {
	g.backoff = min(max(2*g.backoff, pollFirst), pollMax)
	pause := g.backoff/2 + rand.N(g.backoff/2+1)
	if remaining > 0 {
		pause = min(pause, remaining+time.Millisecond)
	}
	return pause
}
