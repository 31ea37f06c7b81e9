package dedupe

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Janitor tuning. The janitor only bounds memory: every read checks expiry
// itself, so an expired entry the janitor has not reached yet is never seen.
const (
	// memorySweepInterval is how often the janitor looks for expired entries.
	memorySweepInterval = time.Minute
	// memorySweepBatch is how many entries the janitor examines while holding
	// the lock once; it lets go of the lock between batches.
	memorySweepBatch = 1024
	// memorySweepMaxBatches bounds the batches of one sweep, and so the work
	// one sweep can do however large the store is.
	memorySweepMaxBatches = 64
)

// MemoryStore is the embedded default Store: all state lives in maps in this
// process, guarded by one mutex, so every method is trivially atomic.
//
// It is per-process: two instances of a service each have their own
// MemoryStore and do not see each other's claims, so a notification delivered
// to both may be handled twice. It is not persistent: a restart forgets every
// claim and every done event. Use it for a single instance, for development
// and for tests; use redisstore for anything that runs more than one
// instance or must survive a restart.
//
// Expiry follows the Redis store exactly: a claim whose lease ran out is as if
// absent, a done event is forgotten after its retention, and Event.Mark is
// remembered as a done event of the same trade. Expired entries are dropped
// when they are next looked at and, to bound memory, by a background janitor
// goroutine that samples the store every minute. Close stops the janitor.
//
// It implements Inspector (Lookup, Forget) and DeadLetterStore, keeping dead
// letters in the same maps, bounded by its DeadLetterOptions.
//
// The zero value is not usable; call NewMemoryStore or NewMemoryStoreWith.
type MemoryStore struct {
	state *memoryState
}

// memoryState is everything a MemoryStore holds. The janitor goroutine refers
// to it, never to the MemoryStore, so that a MemoryStore dropped without Close
// can still be garbage-collected and its janitor stopped.
type memoryState struct {
	mu      sync.Mutex
	entries map[memoryKey]memoryEntry
	// ids indexes the event IDs (and Marks) of entries by trade, for Lookup;
	// binding entries are not in it.
	ids         map[string]map[string]struct{}
	deadLetters map[deadLetterKey]DeadLetter
	dlOpts      DeadLetterOptions
	closed      bool

	stopOnce      sync.Once
	stopJanitor   chan struct{} // closed to ask the janitor to return
	janitorExited chan struct{} // closed by the janitor when it returns
}

// memoryKey names one event ID (or Mark) of one trade.
type memoryKey struct {
	trade, id string
	binding   bool // the trade's Binding entry (id is empty)
}

// memoryEntry is a live claim or a done event.
type memoryEntry struct {
	// ownerToken is the token of the claim's owner; empty for a done event.
	ownerToken string
	// binding is the trade's recorded Binding (only on the binding entry).
	binding string
	// expires is when the lease (claim) or retention (done) runs out.
	expires time.Time
	// handledAt, source and stale are what Complete recorded (done only);
	// mark is set for a done entry written as an Event.Mark.
	handledAt time.Time
	source    string
	stale     bool
	mark      bool
}

// deadLetterKey names one dead letter: one event.
type deadLetterKey struct{ trade, id string }

var (
	_ Store           = (*MemoryStore)(nil)
	_ Inspector       = (*MemoryStore)(nil)
	_ DeadLetterStore = (*MemoryStore)(nil)
)

// defaultDeadLetters is the zero DeadLetterOptions resolved.
var defaultDeadLetters = DeadLetterOptions{Max: DefaultMaxDeadLetters, Retention: DefaultDeadLetterRetention}

// MemoryOptions configures a MemoryStore. The zero value is valid.
type MemoryOptions struct {
	// DeadLetters bounds the store's dead letters (the zero value: the
	// defaults).
	DeadLetters DeadLetterOptions
}

// NewMemoryStore returns an empty MemoryStore with the default
// MemoryOptions and starts its janitor goroutine. Call Close when done with
// it; a store that is dropped without Close has its janitor stopped when it
// is garbage-collected.
func NewMemoryStore() *MemoryStore {
	return newMemoryStore(memorySweepInterval, defaultDeadLetters)
}

// NewMemoryStoreWith is NewMemoryStore with opts, which it checks first: an
// invalid option is an error wrapping ErrInvalidArgument.
func NewMemoryStoreWith(opts MemoryOptions) (*MemoryStore, error) {
	dl, err := opts.DeadLetters.Resolve()
	if err != nil {
		return nil, fmt.Errorf("dedupe: memory store: %w", err)
	}
	return newMemoryStore(memorySweepInterval, dl), nil
}

// newMemoryStore is NewMemoryStoreWith with the janitor's interval as a
// parameter, so that tests can watch the janitor work, and resolved dead
// letter options, so that tests can use a short retention.
func newMemoryStore(sweepInterval time.Duration, dl DeadLetterOptions) *MemoryStore {
	state := &memoryState{
		entries:       make(map[memoryKey]memoryEntry),
		ids:           make(map[string]map[string]struct{}),
		deadLetters:   make(map[deadLetterKey]DeadLetter),
		dlOpts:        dl,
		stopJanitor:   make(chan struct{}),
		janitorExited: make(chan struct{}),
	}
	go state.runJanitor(sweepInterval)
	store := &MemoryStore{state: state}
	runtime.AddCleanup(store, (*memoryState).stop, state)
	return store
}

// Claim implements Store. It is atomic: it holds the store's mutex
// throughout. ctx is only checked on entry.
func (s *MemoryStore) Claim(ctx context.Context, ev Event, lease time.Duration) (Claim, error) {
	const op = "claim"
	if err := CheckClaim(ev, lease); err != nil {
		return Claim{}, err
	}
	if err := checkContext(ctx, op); err != nil {
		return Claim{}, err
	}

	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return Claim{}, fmt.Errorf("%w: %s", ErrClosed, op)
	}
	now := time.Now()
	if ev.Binding != "" {
		if b, ok := st.live(bindingKey(ev.Trade), now); ok && b.binding != ev.Binding {
			return Claim{State: Conflict}, nil
		}
	}
	key := memoryKey{trade: ev.Trade, id: ev.ID}
	if entry, ok := st.live(key, now); ok {
		if entry.ownerToken == "" {
			return Claim{State: Done}, nil
		}
		return Claim{State: Busy, Remaining: entry.expires.Sub(now)}, nil
	}
	claim := Claim{State: Claimed, Token: newToken()}
	st.put(key, memoryEntry{ownerToken: claim.Token, expires: now.Add(lease)})
	for _, id := range ev.Outranked {
		if entry, ok := st.live(memoryKey{trade: ev.Trade, id: id}, now); ok && entry.ownerToken == "" {
			claim.Stale = true
			break
		}
	}
	return claim, nil
}

// Extend implements Store. It is atomic: it holds the store's mutex
// throughout. ctx is only checked on entry.
func (s *MemoryStore) Extend(ctx context.Context, ev Event, token string, lease time.Duration) (bool, error) {
	const op = "extend"
	if err := CheckExtend(ev, token, lease); err != nil {
		return false, err
	}
	return s.asOwner(ctx, op, ev, token, func(st *memoryState, key memoryKey, now time.Time) {
		st.put(key, memoryEntry{ownerToken: token, expires: now.Add(lease)})
	})
}

// asOwner runs change under the store's mutex if token owns ev's live claim,
// and reports whether it did. It is the shared body of Extend, Complete and
// Release; callers check their arguments first.
func (s *MemoryStore) asOwner(ctx context.Context, op string, ev Event, token string, change func(st *memoryState, key memoryKey, now time.Time)) (bool, error) {
	if err := checkContext(ctx, op); err != nil {
		return false, err
	}
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return false, fmt.Errorf("%w: %s", ErrClosed, op)
	}
	now := time.Now()
	key := memoryKey{trade: ev.Trade, id: ev.ID}
	if !st.owns(key, token, now) {
		return false, nil
	}
	change(st, key, now)
	return true, nil
}

// Complete implements Store. It is atomic: it holds the store's mutex
// throughout. ctx is only checked on entry.
//
// Event.Mark is remembered exactly like a done event with ID Mark, replacing
// whatever was stored for that ID (even a live claim): a later Claim of an
// Event whose ID equals another event's Mark reports Done. Callers keep
// marks and event IDs apart, for example with a prefix.
func (s *MemoryStore) Complete(ctx context.Context, ev Event, token string, done Completion) (bool, error) {
	const op = "complete"
	if err := CheckComplete(ev, token, done); err != nil {
		return false, err
	}
	return s.asOwner(ctx, op, ev, token, func(st *memoryState, key memoryKey, now time.Time) {
		// Milliseconds, like the Redis store's records.
		entry := memoryEntry{
			expires:   now.Add(done.Retention),
			handledAt: now.Truncate(time.Millisecond),
			source:    RecordedSource(done.Source),
			stale:     done.Stale,
		}
		st.put(key, entry)
		if ev.Mark != "" {
			entry.mark = true
			st.put(memoryKey{trade: ev.Trade, id: ev.Mark}, entry)
		}
		if ev.Binding != "" {
			bk := bindingKey(ev.Trade)
			if b, ok := st.live(bk, now); !ok || b.binding == ev.Binding {
				st.put(bk, memoryEntry{binding: ev.Binding, expires: now.Add(done.Retention)})
			}
		}
	})
}

// bindingKey names a trade's binding entry.
func bindingKey(trade string) memoryKey { return memoryKey{trade: trade, binding: true} }

// Release implements Store. It is atomic: it holds the store's mutex
// throughout. ctx is only checked on entry.
func (s *MemoryStore) Release(ctx context.Context, ev Event, token string) (bool, error) {
	const op = "release"
	if err := CheckRelease(ev, token); err != nil {
		return false, err
	}
	return s.asOwner(ctx, op, ev, token, func(st *memoryState, key memoryKey, _ time.Time) {
		st.remove(key)
	})
}

// Close stops the janitor and waits for it to return. Every later call of
// a method of the store fails with ErrClosed. Close is safe to
// call more than once and always returns nil.
func (s *MemoryStore) Close() error {
	st := s.state
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	st.stop()
	<-st.janitorExited
	return nil
}

// live returns the entry at key unless it is absent or expired, deleting it
// when it is expired. st.mu must be held.
func (st *memoryState) live(key memoryKey, now time.Time) (memoryEntry, bool) {
	entry, ok := st.entries[key]
	if !ok {
		return memoryEntry{}, false
	}
	if !now.Before(entry.expires) {
		st.remove(key)
		return memoryEntry{}, false
	}
	return entry, true
}

// put stores entry at key and indexes it. st.mu must be held.
func (st *memoryState) put(key memoryKey, entry memoryEntry) {
	st.entries[key] = entry
	if key.binding {
		return
	}
	ids := st.ids[key.trade]
	if ids == nil {
		ids = make(map[string]struct{})
		st.ids[key.trade] = ids
	}
	ids[key.id] = struct{}{}
}

// remove deletes the entry at key and its index entry. st.mu must be held.
func (st *memoryState) remove(key memoryKey) {
	delete(st.entries, key)
	if key.binding {
		return
	}
	if ids := st.ids[key.trade]; ids != nil {
		delete(ids, key.id)
		if len(ids) == 0 {
			delete(st.ids, key.trade)
		}
	}
}

// owns reports whether a live claim at key is held by token. st.mu must be
// held.
func (st *memoryState) owns(key memoryKey, token string, now time.Time) bool {
	entry, ok := st.live(key, now)
	// A done entry has an empty ownerToken and token is never empty.
	return ok && entry.ownerToken == token
}

// stop asks the janitor to return without waiting for it.
func (st *memoryState) stop() {
	st.stopOnce.Do(func() { close(st.stopJanitor) })
}

// runJanitor sweeps the store every interval until stop is called.
func (st *memoryState) runJanitor(interval time.Duration) {
	defer close(st.janitorExited)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-st.stopJanitor:
			return
		case <-ticker.C:
			st.sweep()
			st.sweepDeadLetters()
		}
	}
}

// sweep deletes expired entries the way Redis's active expiry does: it
// examines a batch of entries (Go starts every map iteration at a random
// place), deletes the expired ones, and goes on with another batch only while
// at least a quarter of the batch had expired, for at most
// memorySweepMaxBatches batches. A store no larger than one batch is swept
// completely.
func (st *memoryState) sweep() {
	for range memorySweepMaxBatches {
		examined, expired := st.sweepBatch()
		if examined < memorySweepBatch || expired*4 < examined {
			return
		}
	}
}

// sweepBatch examines up to memorySweepBatch entries under the lock, deletes
// the expired ones and reports how many it examined and deleted.
func (st *memoryState) sweepBatch() (examined, expired int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	for key, entry := range st.entries {
		if examined == memorySweepBatch {
			break
		}
		examined++
		if !now.Before(entry.expires) {
			st.remove(key)
			expired++
		}
	}
	return examined, expired
}

// newToken returns 16 random bytes from crypto/rand, base64 (RawURL) encoded.
func newToken() string {
	var b [16]byte
	// crypto/rand.Read never returns an error; it crashes the program if the
	// operating system cannot supply randomness.
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkContext reports, wrapped with op, why ctx is already done.
func checkContext(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dedupe: %s: %w", op, err)
	}
	return nil
}
