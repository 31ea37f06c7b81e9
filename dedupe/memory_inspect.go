package dedupe

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// lock takes the store's mutex for op after checking ctx, and fails with
// ErrClosed once the store is closed. The caller unlocks st.mu.
func (s *MemoryStore) lock(ctx context.Context, op string) (*memoryState, error) {
	if err := checkContext(ctx, op); err != nil {
		return nil, err
	}
	st := s.state
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrClosed, op)
	}
	return st, nil
}

// Lookup implements Inspector. It holds the store's mutex throughout, and
// drops the trade's expired entries it meets.
func (s *MemoryStore) Lookup(ctx context.Context, trade string) (TradeRecord, error) {
	const op = "lookup"
	if err := CheckLookup(trade); err != nil {
		return TradeRecord{}, err
	}
	st, err := s.lock(ctx, op)
	if err != nil {
		return TradeRecord{}, err
	}
	defer st.mu.Unlock()
	now := time.Now()
	var rec TradeRecord
	_, rec.Bound = st.live(bindingKey(trade), now)
	// live may remove entries, and with them the index: iterate a copy.
	for _, id := range slices.Sorted(maps.Keys(st.ids[trade])) {
		entry, ok := st.live(memoryKey{trade: trade, id: id}, now)
		switch {
		case !ok || entry.mark:
		case entry.ownerToken != "":
			rec.Events = append(rec.Events, EventRecord{ID: id, State: RecordInFlight, LeaseLeft: entry.expires.Sub(now)})
		default:
			rec.Events = append(rec.Events, EventRecord{ID: id, State: RecordDone, HandledAt: entry.handledAt, Source: entry.source, Stale: entry.stale})
		}
	}
	return rec, nil
}

// Forget implements Inspector: it deletes the event's done entry, unless it
// is a Mark or a claim.
func (s *MemoryStore) Forget(ctx context.Context, trade, id string) (bool, error) {
	const op = "forget"
	if err := CheckForget(trade, id); err != nil {
		return false, err
	}
	st, err := s.lock(ctx, op)
	if err != nil {
		return false, err
	}
	defer st.mu.Unlock()
	key := memoryKey{trade: trade, id: id}
	entry, ok := st.live(key, time.Now())
	if !ok || entry.ownerToken != "" || entry.mark {
		return false, nil
	}
	st.remove(key)
	return true, nil
}

// RecordFailure implements DeadLetterStore. It copies dl.Body.
func (s *MemoryStore) RecordFailure(ctx context.Context, dl DeadLetter) (Recorded, error) {
	const op = "record failure"
	if err := CheckDeadLetter(dl); err != nil {
		return Recorded{}, err
	}
	st, err := s.lock(ctx, op)
	if err != nil {
		return Recorded{}, err
	}
	defer st.mu.Unlock()
	now := time.Now().Truncate(time.Millisecond)
	key := deadLetterKey{dl.Trade, dl.ID}
	old, ok := st.liveDeadLetter(key, now)
	entry := DeadLetter{
		Trade: dl.Trade, ID: dl.ID, Source: dl.Source,
		Body: slices.Clone(dl.Body), Err: dl.Err,
		Attempts: 1, First: now, Last: now,
	}
	var rec Recorded
	if ok {
		entry.Attempts, entry.First = old.Attempts+1, old.First
	} else {
		// At the maximum, expired entries make room before live ones are
		// evicted; below it, the janitor drops them.
		if len(st.deadLetters) >= st.dlOpts.Max {
			st.pruneDeadLetters(now)
		}
		for len(st.deadLetters) >= st.dlOpts.Max {
			st.evictOldestDeadLetter()
			rec.Evicted++
		}
	}
	st.deadLetters[key] = entry
	rec.Attempts = entry.Attempts
	return rec, nil
}

// ClearFailure implements DeadLetterStore.
func (s *MemoryStore) ClearFailure(ctx context.Context, trade, id string) (bool, error) {
	const op = "clear failure"
	if err := CheckDeadLetterKey(op, trade, id); err != nil {
		return false, err
	}
	st, err := s.lock(ctx, op)
	if err != nil {
		return false, err
	}
	defer st.mu.Unlock()
	key := deadLetterKey{trade, id}
	_, ok := st.liveDeadLetter(key, time.Now())
	delete(st.deadLetters, key)
	return ok, nil
}

// DeadLetters implements DeadLetterStore. The entries' Bodies are copies.
func (s *MemoryStore) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	const op = "dead letters"
	if err := CheckDeadLetterLimit(limit); err != nil {
		return nil, err
	}
	st, err := s.lock(ctx, op)
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	st.pruneDeadLetters(time.Now())
	all := make([]DeadLetter, 0, len(st.deadLetters))
	for _, dl := range st.deadLetters {
		all = append(all, dl)
	}
	slices.SortFunc(all, func(a, b DeadLetter) int {
		return cmp.Or(a.Last.Compare(b.Last), strings.Compare(a.Trade, b.Trade), strings.Compare(a.ID, b.ID))
	})
	all = all[:min(limit, len(all))]
	for i := range all {
		all[i].Body = slices.Clone(all[i].Body)
	}
	return all, nil
}

// DeadLetter implements DeadLetterStore. The entry's Body is a copy.
func (s *MemoryStore) DeadLetter(ctx context.Context, trade, id string) (DeadLetter, bool, error) {
	const op = "dead letter"
	if err := CheckDeadLetterKey(op, trade, id); err != nil {
		return DeadLetter{}, false, err
	}
	st, err := s.lock(ctx, op)
	if err != nil {
		return DeadLetter{}, false, err
	}
	defer st.mu.Unlock()
	dl, ok := st.liveDeadLetter(deadLetterKey{trade, id}, time.Now())
	if !ok {
		return DeadLetter{}, false, nil
	}
	dl.Body = slices.Clone(dl.Body)
	return dl, true, nil
}

// liveDeadLetter returns the entry at key unless it is absent or past its
// retention, deleting it then. st.mu must be held.
func (st *memoryState) liveDeadLetter(key deadLetterKey, now time.Time) (DeadLetter, bool) {
	dl, ok := st.deadLetters[key]
	if !ok {
		return DeadLetter{}, false
	}
	if !now.Before(dl.Last.Add(st.dlOpts.Retention)) {
		delete(st.deadLetters, key)
		return DeadLetter{}, false
	}
	return dl, true
}

// pruneDeadLetters deletes every entry past its retention. st.mu must be
// held. It examines every entry: there are at most dlOpts.Max.
func (st *memoryState) pruneDeadLetters(now time.Time) {
	for key := range st.deadLetters {
		st.liveDeadLetter(key, now)
	}
}

// evictOldestDeadLetter deletes the entry with the oldest Last. st.mu must
// be held.
func (st *memoryState) evictOldestDeadLetter() {
	var oldest deadLetterKey
	var oldestLast time.Time
	found := false
	for key, dl := range st.deadLetters {
		if !found || dl.Last.Before(oldestLast) {
			oldest, oldestLast, found = key, dl.Last, true
		}
	}
	delete(st.deadLetters, oldest)
}

// sweepDeadLetters is the janitor's pass over the dead letters.
func (st *memoryState) sweepDeadLetters() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pruneDeadLetters(time.Now())
}
