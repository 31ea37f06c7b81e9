package redisstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
)

// legacyProbeIDs are the IDs Lookup looks for in the per-event layout, whose
// keys hash the IDs and so cannot be listed: the plain trade statuses (the
// IDs dedupe.EventFor gives non-refund events). Refund events done in that
// layout are not listed (Claim and Forget still find them).
var legacyProbeIDs = []alipaynotify.TradeStatus{
	alipaynotify.WaitBuyerPay, alipaynotify.WaitSellerConfirmTrade, alipaynotify.WaitSysConfirmPay,
	alipaynotify.TradeSuccess, alipaynotify.WaitSellerSendGoods, alipaynotify.WaitBuyerConfirmGoods,
	alipaynotify.WaitSysPaySeller, alipaynotify.TradeFinished, alipaynotify.TradeClosed,
}

// lookupScript reads a trade: it returns {Redis's time in ms, the fields
// and values of the trade's hash KEYS[1] (for a trade in the compact form,
// the field and value its hash form would hold, for ARGV[1], the compact
// unit in milliseconds), 1 if the per-event layout's binding key KEYS[2]
// exists else 0, {1 or 0 for each KEYS[3..]: holds the per-event layout's
// done value}}. It writes nothing.
var lookupScript = redis.NewScript(luaNow + luaCompact + `
local legacy = {}
for i = 3, #KEYS do
	legacy[i - 2] = (redis.call('GET', KEYS[i]) == '1') and 1 or 0
end
local fields
local compact = compactOf()
if compact then
	local id, record = compactRecord(compact, ARGV[1])
	fields = {id, record}
else
	fields = redis.call('HGETALL', KEYS[1])
end
return {now, fields, redis.call('EXISTS', KEYS[2]), legacy}
`)

// forgetScript deletes the done record at ARGV[1] (an ID's done field) from
// the trade's hash KEYS[1] unless it is a Mark's (or the trade's key, when
// the trade is in the compact form and that is the record), and the
// per-event layout's done value at KEYS[2] (never a claim). It returns 1 if
// it deleted either, else 0.
var forgetScript = redis.NewScript(luaNow + luaCompact + `
local forgot = 0
local compact = compactOf()
if compact then
	if compactID(compact) == ARGV[1] then
		redis.call('DEL', KEYS[1])
		forgot = 1
	end
else
	local record = redis.call('HGET', KEYS[1], ARGV[1])
	if record and tonumber(record) % 2 == 0 then
		redis.call('HDEL', KEYS[1], ARGV[1])
		forgot = 1
	end
end
if redis.call('GET', KEYS[2]) == '1' then
	redis.call('DEL', KEYS[2])
	forgot = 1
end
return forgot
`)

// Lookup implements dedupe.Inspector with one read-only script run. Done
// events of the per-event layout are listed (with Legacy set) for the plain
// trade statuses only: that layout hashed the IDs.
func (s *Store) Lookup(ctx context.Context, trade string) (dedupe.TradeRecord, error) {
	const op = "lookup"
	if err := dedupe.CheckLookup(trade); err != nil {
		return dedupe.TradeRecord{}, fmt.Errorf("redisstore: %w", err)
	}
	tag := s.tradeTag(trade)
	keys := make([]string, 2, 2+len(legacyProbeIDs))
	keys[0], keys[1] = tag, bindingKey(tag)
	for _, id := range legacyProbeIDs {
		keys = append(keys, idKey(tag, string(id)))
	}
	answer, err := lookupScript.Run(ctx, s.client, keys, milliseconds(s.compactUnit)).Slice()
	if err != nil {
		return dedupe.TradeRecord{}, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	rec, err := parseLookup(answer)
	if err != nil {
		return dedupe.TradeRecord{}, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return rec, nil
}

// parseLookup reads lookupScript's answer.
func parseLookup(answer []any) (dedupe.TradeRecord, error) {
	var rec dedupe.TradeRecord
	if len(answer) != 4 {
		return rec, fmt.Errorf("unexpected script answer of %d elements", len(answer))
	}
	nowMS, ok1 := answer[0].(int64)
	fields, ok2 := answer[1].([]any)
	oldBinding, ok3 := answer[2].(int64)
	legacy, ok4 := answer[3].([]any)
	if !ok1 || !ok2 || !ok3 || !ok4 || len(fields)%2 != 0 || len(legacy) > len(legacyProbeIDs) {
		return rec, fmt.Errorf("unexpected script answer")
	}
	rec.Bound = oldBinding == 1
	done := make(map[string]dedupe.EventRecord)
	inFlight := make(map[string]dedupe.EventRecord)
	for i := 0; i < len(fields); i += 2 {
		name, ok1 := fields[i].(string)
		value, ok2 := fields[i+1].(string)
		if !ok1 || !ok2 || name == "" {
			return rec, fmt.Errorf("unexpected field in the trade's hash")
		}
		switch kind, id := fieldKind(name); kind {
		case fieldBinding:
			rec.Bound = true
		case fieldDone:
			packed, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return rec, fmt.Errorf("unreadable done record: %w", err)
			}
			if packed&recordMark != 0 {
				continue
			}
			done[id] = dedupe.EventRecord{
				ID:        id,
				State:     dedupe.RecordDone,
				HandledAt: time.UnixMilli(packed >> recordTimeShift),
				Source:    dedupe.SourceOf(uint8(packed>>recordSourceBit) & 7),
				Stale:     packed&recordStale != 0,
			}
		case fieldClaim:
			endMS, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return rec, fmt.Errorf("unreadable claim record: %w", err)
			}
			if endMS > nowMS {
				inFlight[id] = dedupe.EventRecord{ID: id, State: dedupe.RecordInFlight, LeaseLeft: time.Duration(endMS-nowMS) * time.Millisecond}
			}
		default:
			return rec, fmt.Errorf("unknown field in the trade's hash")
		}
	}
	for i, v := range legacy {
		if n, _ := v.(int64); n == 1 {
			id := string(legacyProbeIDs[i])
			if _, ok := done[id]; !ok {
				done[id] = dedupe.EventRecord{ID: id, State: dedupe.RecordDone, Legacy: true}
			}
		}
	}
	for id, r := range inFlight {
		if _, ok := done[id]; !ok {
			done[id] = r
		}
	}
	for _, r := range done {
		rec.Events = append(rec.Events, r)
	}
	slices.SortFunc(rec.Events, func(a, b dedupe.EventRecord) int { return strings.Compare(a.ID, b.ID) })
	return rec, nil
}

// Forget implements dedupe.Inspector with one script run. It deletes the
// event's done record, in the per-trade layout and in the per-event layout
// alike, and leaves Marks, claims and the binding alone. (In the per-event
// layout a Mark's key cannot be told from an event's: Forget deletes the
// done value of the ID it is given.)
func (s *Store) Forget(ctx context.Context, trade, id string) (bool, error) {
	const op = "forget"
	if err := dedupe.CheckForget(trade, id); err != nil {
		return false, fmt.Errorf("redisstore: %w", err)
	}
	tag := s.tradeTag(trade)
	return runOwnerScript(ctx, op, forgetScript, s.client, []string{tag, idKey(tag, id)}, doneFieldName(id))
}

// Kinds of a trade's hash fields (see doneFieldName).
const (
	fieldUnknown = iota
	fieldDone
	fieldClaim
	fieldBinding
)

// fieldKind says what a field of a trade's hash holds, and for which ID.
func fieldKind(name string) (kind int, id string) {
	rest, escaped := strings.CutPrefix(name, fieldEscape)
	switch {
	case !escaped:
		return fieldDone, name
	case rest == "":
		return fieldBinding, ""
	case rest[0] == 'd':
		return fieldDone, rest[1:]
	case rest[0] == 'c':
		return fieldClaim, rest[1:]
	}
	return fieldUnknown, ""
}

// sortDeadLetters orders dead letters as DeadLetters promises: the oldest
// Last first; ties by trade and ID, so that the order is stable.
func sortDeadLetters(dls []dedupe.DeadLetter) {
	slices.SortStableFunc(dls, func(a, b dedupe.DeadLetter) int {
		return cmp.Or(a.Last.Compare(b.Last), strings.Compare(a.Trade, b.Trade), strings.Compare(a.ID, b.ID))
	})
}
