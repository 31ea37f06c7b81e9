package redisstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/dedupe"
)

// The compact form of a trade (see the package documentation, "How it
// works"): a trade whose only record is one done event of a plain trade
// status, completed without a Binding, Mark or Stale flag and with a
// retention that is a whole number of compact units, is kept not as a hash
// but as a string key of the same name holding a small integer:
//
//	status code + 16 × (source code + 8 × retention in units)
//
// Redis shares the integers below 10 000 between all keys (unless its
// maxmemory-policy is an LRU or LFU one), so the value costs no memory of
// its own; the key expires at exactly handled-at + retention, from which
// handled-at is read back. A trade leaves the compact form (becomes the hash
// holding the same record under the status) as soon as anything else is to
// be recorded for it: a claim of another event, a binding. Every script
// reads both forms.
const (
	// compactStatusCodes bounds the status codes: 1-15 (0 is unused).
	compactStatusCodes = 16
	// compactSourceCodes bounds the source codes (dedupe.SourceCode).
	compactSourceCodes = 8
	// compactLimit bounds the compact values: Redis's OBJ_SHARED_INTEGERS.
	compactLimit = 10_000
	// defaultCompactUnit is the unit of the retention a compact value
	// holds: 190 days (the middleware's default retention) is 38 units,
	// and the largest, 77 units, 385 days.
	defaultCompactUnit = 5 * 24 * time.Hour
)

// compactStatuses are the statuses a compact value can hold, in the order of
// their codes (code = index + 1). Deployed values hold these codes: never
// reorder or remove, only append (at most 15 in all; an instance that finds
// a code it does not know fails the call rather than guess).
var compactStatuses = [...]alipaynotify.TradeStatus{
	alipaynotify.TradeSuccess, alipaynotify.TradeFinished, alipaynotify.TradeClosed,
	alipaynotify.WaitBuyerPay, alipaynotify.WaitSellerSendGoods, alipaynotify.WaitBuyerConfirmGoods,
	alipaynotify.WaitSellerConfirmTrade, alipaynotify.WaitSysConfirmPay, alipaynotify.WaitSysPaySeller,
}

// compactStatusCode returns the code of the status id, or 0 when id is not
// one of compactStatuses.
func compactStatusCode(id string) int64 {
	for i, s := range compactStatuses {
		if string(s) == id {
			return int64(i + 1)
		}
	}
	return 0
}

// compactValue returns the compact value that records ev done with done, or
// 0 when ev cannot be kept in the compact form: it records more than a plain
// status done (a Binding, a Mark, the Stale flag), or its retention is not a
// whole number of units within range.
func (s *Store) compactValue(ev dedupe.Event, done dedupe.Completion) int64 {
	status := compactStatusCode(ev.ID)
	if status == 0 || ev.Binding != "" || ev.Mark != "" || done.Stale || done.Retention%s.compactUnit != 0 {
		return 0
	}
	units := int64(done.Retention / s.compactUnit)
	value := status + compactStatusCodes*(int64(dedupe.SourceCode(done.Source))+compactSourceCodes*units)
	if units < 1 || value >= compactLimit {
		return 0
	}
	return value
}

// luaCompact is the start of the scripts that read the trade's key KEYS[1]
// in either form (they also need luaNow):
//
//   - compactOf() returns the compact value at KEYS[1], or nil when KEYS[1]
//     is a hash or missing; it fails the script on a value it cannot read.
//   - compactID(v) returns the status a compact value records.
//   - compactRecord(v, unit) returns the status and the done record (as the
//     hash keeps it, see doneFieldName) of a compact value, for unit
//     milliseconds per retention unit, and when the key expires; it fails
//     the script on a key without expiry (handled-at cannot be read).
//   - expandCompact(v, unit) replaces the compact form with the hash form,
//     keeping the key's expiry.
var luaCompact = func() string {
	var names strings.Builder
	for i, s := range compactStatuses {
		fmt.Fprintf(&names, "[%d] = '%s', ", i+1, s)
	}
	return `
local compactStatuses = {` + names.String() + `}
local function compactOf()
	if redis.call('TYPE', KEYS[1]).ok ~= 'string' then
		return nil
	end
	local v = tonumber(redis.call('GET', KEYS[1]))
	if not v or v < 0 or v >= ` + fmt.Sprint(compactLimit) + ` or v % 1 ~= 0 or not compactStatuses[v % 16] then
		error({err = 'ERR redisstore: unreadable compact record at ' .. KEYS[1]})
	end
	return v
end
local function compactID(v)
	return compactStatuses[v % 16]
end
local function compactRecord(v, unit)
	local at = redis.pcall('PEXPIRETIME', KEYS[1])
	if type(at) ~= 'number' then
		-- Before Redis 7.0.
		local ttl = redis.call('PTTL', KEYS[1])
		at = ttl >= 0 and now + ttl or ttl
	end
	if at < 0 then
		error({err = 'ERR redisstore: compact record without expiry at ' .. KEYS[1]})
	end
	local rest = math.floor(v / 16)
	local handled = at - math.floor(rest / 8) * tonumber(unit)
	return compactID(v), string.format('%.0f', handled * 32 + (rest % 8) * 4), at
end
local function expandCompact(v, unit)
	local id, record, at = compactRecord(v, unit)
	redis.call('DEL', KEYS[1])
	redis.call('HSET', KEYS[1], id, record)
	redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', at))
end
`
}()
