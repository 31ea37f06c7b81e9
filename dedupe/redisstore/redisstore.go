package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify/dedupe"
)

// defaultPrefix is Options.Prefix when left empty.
const defaultPrefix = "a"

// doneValue is what a done key of the per-event layout held (see the
// package documentation, "Upgrading"); the store still reads it, never
// writes it.
const doneValue = "1"

// tokenPrefix starts every claim token, so that a claim's value can never
// read as doneValue (or as any integer).
const tokenPrefix = "c"

// Lengths of the hashes in a key, in base64 characters (6 bits each).
const (
	// tradeHashChars is the trade's part: 96 bits, so that two trades of
	// one merchant never share keys.
	tradeHashChars = 16
	// idHashChars is the ID's part: 48 bits, plenty for the few IDs of one
	// trade.
	idHashChars = 8
)

// Options configures a Store. The zero value is valid.
type Options struct {
	// Prefix starts every key the store writes, so that the store can share
	// a Redis with other data or with other stores (say, staging and
	// production). It must not contain '{' or '}': the store puts a trade's
	// hash between braces as the Cluster hash tag. Keep it short; every
	// remembered event pays for it in memory.
	// Default: "a".
	Prefix string
	// DeadLetters bounds the dead letters the store keeps (the zero value:
	// the defaults of dedupe.DeadLetterOptions).
	DeadLetters dedupe.DeadLetterOptions
}

// Store is a dedupe.Store kept in Redis: a single server, Sentinel or Cluster
// through any redis.UniversalClient. Every instance of a service that uses a
// Store over the same Redis (and the same Prefix) shares the exactly-once
// state. See the package documentation for what that guarantees.
//
// A Store is safe for concurrent use. It does not own the client: close the
// client when done with it.
type Store struct {
	client redis.UniversalClient
	prefix string
	dl     dedupe.DeadLetterOptions
	// compactUnit is the retention unit of compact values (see
	// compactValue): defaultCompactUnit, which tests shorten to put their
	// short retentions in the compact form. Only stores with the same unit
	// may share keys.
	compactUnit time.Duration
}

var (
	_ dedupe.Store           = (*Store)(nil)
	_ dedupe.Inspector       = (*Store)(nil)
	_ dedupe.DeadLetterStore = (*Store)(nil)
)

// New returns a Store that keeps its state through client. It checks opts and
// does not talk to Redis: the first call of a method that fails to reach Redis
// reports it.
func New(client redis.UniversalClient, opts Options) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("redisstore: %w: nil client", dedupe.ErrInvalidArgument)
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = defaultPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("redisstore: %w: Options.Prefix contains '{' or '}'", dedupe.ErrInvalidArgument)
	}
	dl, err := opts.DeadLetters.Resolve()
	if err != nil {
		return nil, fmt.Errorf("redisstore: Options.%w", err)
	}
	return &Store{client: client, prefix: prefix, dl: dl, compactUnit: defaultCompactUnit}, nil
}

// Fields of a trade's hash (the key tradeTag returns). A done event (or
// Mark) is its ID as it is, so that the common small hash stays small; the
// other fields start with fieldEscape, as does the rare ID that starts with
// it (escaped), so that no ID can collide with another field:
//
//   - ID, or fieldEscape+"d"+ID when ID starts with fieldEscape: the event
//     (or Mark) is done. The value is a packed record: handled-at in Unix
//     milliseconds (Redis TIME) << 5 | source code (dedupe.SourceCode) << 2 |
//     stale << 1 | mark.
//   - fieldEscape+"c"+ID: the event's claim (its own key, idKey) runs out at
//     the value, Unix milliseconds on Redis's clock. Written by Claim and
//     Extend, deleted by Complete and Release; only Lookup reads it.
//   - fieldEscape alone: the trade's Binding, as bindingField.
const (
	fieldEscape  = "\x01"
	bindingField = fieldEscape
)

// doneFieldName returns the field of id's done record.
func doneFieldName(id string) string {
	if strings.HasPrefix(id, fieldEscape) {
		return fieldEscape + "d" + id
	}
	return id
}

// claimFieldName returns the field of the end of id's claim.
func claimFieldName(id string) string { return fieldEscape + "c" + id }

// Bits of a done record below the handled-at milliseconds.
const (
	recordMark      = 1
	recordStale     = 2
	recordSourceBit = 2 // the source code starts at this bit
	recordTimeShift = 5 // the milliseconds start at this bit
)

// luaNow is the start of the scripts that need the time: Redis's clock in
// Unix milliseconds. Lua numbers are doubles: exact for these integers.
const luaNow = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// luaBound is the start of the scripts that check a binding:
// otherBinding(new, old, compact) reports whether the trade recorded a
// binding other than the one given, in the hash KEYS[1] (as new; a trade
// in the compact form, compact not nil, has none) or, when the hash has
// none, at the per-event layout's key KEYS[3] (as old).
const luaBound = `
local function otherBinding(new, old, compact)
	local bound = not compact and redis.call('HGET', KEYS[1], '\1')
	if bound then
		return bound ~= new
	end
	local before = redis.call('GET', KEYS[3])
	return before ~= false and before ~= old
end
`

// claimScript takes a claim unless the event is done or claimed.
//
// KEYS[1] is the trade's key (a hash, or a string in the compact form),
// KEYS[2] the event's claim key (also where the per-event layout kept its
// done value), KEYS[3] the per-event layout's binding key, KEYS[4..] the
// per-event layout's keys of the Outranked IDs.
// ARGV[1] is the new token, ARGV[2] the lease in milliseconds, ARGV[3] and
// ARGV[4] the event's binding as bindingField and bindingValue (” for
// none), ARGV[5] the event's done field, ARGV[6] its claim field, ARGV[7]
// the compact unit in milliseconds, ARGV[8..] the done fields of the
// Outranked IDs. A trade in the compact form is read as it is, and becomes
// a hash when the claim is taken (to record the claim's end).
// It returns {1, stale (0 or 1)} for claimed, {2, 0} for done,
// {3, remaining lease in ms} for busy and {4, 0} for a binding conflict.
var claimScript = redis.NewScript(luaNow + luaCompact + luaBound + `
local compact = compactOf()
if ARGV[3] ~= '' and otherBinding(ARGV[3], ARGV[4], compact) then
	return {4, 0}
end
if compact then
	if compactID(compact) == ARGV[5] then
		return {2, 0}
	end
elseif redis.call('HEXISTS', KEYS[1], ARGV[5]) == 1 then
	return {2, 0}
end
local current = redis.call('GET', KEYS[2])
if current == '1' then
	return {2, 0}
end
if current then
	return {3, redis.call('PTTL', KEYS[2])}
end
if compact then
	expandCompact(compact, ARGV[7])
end
local lease = tonumber(ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', lease)
redis.call('HSET', KEYS[1], ARGV[6], string.format('%.0f', now + lease))
if redis.call('PTTL', KEYS[1]) < lease then
	redis.call('PEXPIRE', KEYS[1], lease)
end
for i = 8, #ARGV do
	if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
		return {1, 1}
	end
end
for i = 4, #KEYS do
	if redis.call('GET', KEYS[i]) == '1' then
		return {1, 1}
	end
end
return {1, 0}
`)

// Answers of claimScript.
const (
	claimScriptClaimed = 1
	claimScriptDone    = 2
	claimScriptBusy    = 3
	claimScriptBinding = 4
)

// extendScript sets the lease of the claim at KEYS[2] to ARGV[2]
// milliseconds if ARGV[1] is its token, and records the new end in the
// trade's hash KEYS[1] at ARGV[3], the event's claim field (turning a trade
// in the compact form into a hash first, for ARGV[4], the compact unit in
// milliseconds). It returns 1 if it did, else 0.
var extendScript = redis.NewScript(luaNow + luaCompact + `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
	return 0
end
local compact = compactOf()
if compact then
	expandCompact(compact, ARGV[4])
end
local lease = tonumber(ARGV[2])
redis.call('PEXPIRE', KEYS[2], lease)
redis.call('HSET', KEYS[1], ARGV[3], string.format('%.0f', now + lease))
if redis.call('PTTL', KEYS[1]) < lease then
	redis.call('PEXPIRE', KEYS[1], lease)
end
return 1
`)

// completeScript replaces the claim at KEYS[2] (and its claim field ARGV[6]
// in the trade's hash KEYS[1]) with the done record at ARGV[5], the event's
// done field, if ARGV[1] is its token; the record packs the time and ARGV[7]
// (source and stale bits), and deletes the ends of other claims that ran
// out (their owners died). It records the binding ARGV[3] (when not ”)
// unless another one is recorded (see claimScript for ARGV[4] and KEYS[3]),
// and marks ARGV[10] (the Mark's done field, when given) done. The trade
// then lives for ARGV[2] milliseconds (the retention) at least: if it held
// nothing done before, for exactly that (or as long as another event's claim
// still runs), else its expiry only grows.
//
// A trade in the compact form becomes a hash first (ARGV[9] is the compact
// unit in milliseconds). When the event alone is then left to remember (no
// other done event, binding or live claim), and ARGV[8], its compact value,
// is not 0, the trade is written in the compact form instead of the hash.
// It returns 1 if it completed the event, else 0.
var completeScript = redis.NewScript(luaNow + luaCompact + luaBound + `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
	return 0
end
redis.call('DEL', KEYS[2])
local compact = compactOf()
if compact then
	expandCompact(compact, ARGV[9])
end
local retention = tonumber(ARGV[2])
local doneBefore = false
local lastClaim = 0
local ended = {ARGV[6]}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
	local f = fields[i]
	if string.byte(f, 1) ~= 1 or f == '\1' or string.byte(f, 2) == 100 then
		doneBefore = true
	elseif f ~= ARGV[6] then
		local claimEnd = tonumber(fields[i + 1]) or 0
		if claimEnd > now then
			lastClaim = math.max(lastClaim, claimEnd)
		else
			table.insert(ended, f)
		end
	end
end
if ARGV[8] ~= '0' and not doneBefore and lastClaim == 0 then
	redis.call('SET', KEYS[1], ARGV[8])
	redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', now + retention))
	return 1
end
redis.call('HDEL', KEYS[1], unpack(ended))
local record = now * 32 + tonumber(ARGV[7])
redis.call('HSET', KEYS[1], ARGV[5], string.format('%.0f', record))
if ARGV[10] then
	redis.call('HSET', KEYS[1], ARGV[10], string.format('%.0f', record + 1))
end
if ARGV[3] ~= '' and not otherBinding(ARGV[3], ARGV[4]) then
	redis.call('HSET', KEYS[1], '\1', ARGV[3])
end
if doneBefore then
	if redis.call('PTTL', KEYS[1]) < retention then
		redis.call('PEXPIRE', KEYS[1], retention)
	end
else
	redis.call('PEXPIRE', KEYS[1], math.max(retention, lastClaim - now))
end
return 1
`)

// releaseScript deletes the claim at KEYS[2], and its end in the trade's
// hash KEYS[1] at ARGV[2] (the event's claim field; a trade in the compact
// form has none), if ARGV[1] is its token. It returns 1 if it did, else 0.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
	return 0
end
redis.call('DEL', KEYS[2])
if redis.call('TYPE', KEYS[1]).ok == 'hash' then
	redis.call('HDEL', KEYS[1], ARGV[2])
end
return 1
`)

// Claim implements dedupe.Store with one script run (one round trip once
// Redis has cached the script). The lease runs on Redis's clock.
func (s *Store) Claim(ctx context.Context, ev dedupe.Event, lease time.Duration) (dedupe.Claim, error) {
	const op = "claim"
	if err := dedupe.CheckClaim(ev, lease); err != nil {
		return dedupe.Claim{}, fmt.Errorf("redisstore: %w", err)
	}

	token := newToken()
	keys, args := s.claimArgs(ev, token, lease)
	answer, err := claimScript.Run(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return dedupe.Claim{}, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if len(answer) != 2 {
		return dedupe.Claim{}, fmt.Errorf("redisstore: %s: unexpected script answer %v", op, answer)
	}
	switch answer[0] {
	case claimScriptClaimed:
		return dedupe.Claim{State: dedupe.Claimed, Token: token, Stale: answer[1] == 1}, nil
	case claimScriptDone:
		return dedupe.Claim{State: dedupe.Done}, nil
	case claimScriptBinding:
		return dedupe.Claim{State: dedupe.Conflict}, nil
	case claimScriptBusy:
		// PTTL is -1 for a key without expiry, which the store never writes.
		return dedupe.Claim{State: dedupe.Busy, Remaining: time.Duration(max(answer[1], 0)) * time.Millisecond}, nil
	}
	return dedupe.Claim{}, fmt.Errorf("redisstore: %s: unexpected script answer %v", op, answer)
}

// claimArgs returns the keys and arguments of claimScript.
func (s *Store) claimArgs(ev dedupe.Event, token string, lease time.Duration) (keys []string, args []any) {
	tag := s.tradeTag(ev.Trade)
	keys = make([]string, 3, 3+len(ev.Outranked))
	keys[0], keys[1], keys[2] = tag, idKey(tag, ev.ID), bindingKey(tag)
	args = make([]any, 7, 7+len(ev.Outranked))
	args[0], args[1], args[2], args[3] = token, milliseconds(lease), bindingFieldValue(ev.Binding), bindingValue(ev.Binding)
	args[4], args[5], args[6] = doneFieldName(ev.ID), claimFieldName(ev.ID), milliseconds(s.compactUnit)
	for _, id := range ev.Outranked {
		keys = append(keys, idKey(tag, id))
		args = append(args, doneFieldName(id))
	}
	return keys, args
}

// Extend implements dedupe.Store with one script run. The new lease runs on
// Redis's clock from when the script runs.
func (s *Store) Extend(ctx context.Context, ev dedupe.Event, token string, lease time.Duration) (bool, error) {
	const op = "extend"
	if err := dedupe.CheckExtend(ev, token, lease); err != nil {
		return false, fmt.Errorf("redisstore: %w", err)
	}
	if !issued(token) {
		return false, nil
	}
	tag := s.tradeTag(ev.Trade)
	keys := []string{tag, idKey(tag, ev.ID)}
	return runOwnerScript(ctx, op, extendScript, s.client, keys, token, milliseconds(lease), claimFieldName(ev.ID), milliseconds(s.compactUnit))
}

// Complete implements dedupe.Store with one script run, which writes the
// event's done record and its Mark together.
//
// The Mark is written like a done event with ID Mark, replacing whatever
// done record the ID had: a later Claim of an Event whose ID equals another
// event's Mark reports Done. Callers keep marks and event IDs apart, for
// example with a prefix.
//
// The trade's record expires as a whole: a done event is remembered for
// done.Retention at least, and for as long as the trade's longest-lived
// done event when their retentions differ.
func (s *Store) Complete(ctx context.Context, ev dedupe.Event, token string, done dedupe.Completion) (bool, error) {
	const op = "complete"
	if err := dedupe.CheckComplete(ev, token, done); err != nil {
		return false, fmt.Errorf("redisstore: %w", err)
	}
	if !issued(token) {
		return false, nil
	}
	keys, args := s.completeArgs(ev, token, done)
	return runOwnerScript(ctx, op, completeScript, s.client, keys, args...)
}

// completeArgs returns the keys and arguments of completeScript.
func (s *Store) completeArgs(ev dedupe.Event, token string, done dedupe.Completion) (keys []string, args []any) {
	tag := s.tradeTag(ev.Trade)
	keys = []string{tag, idKey(tag, ev.ID), bindingKey(tag)}
	flags := int64(dedupe.SourceCode(done.Source)) << recordSourceBit
	if done.Stale {
		flags |= recordStale
	}
	args = []any{token, milliseconds(done.Retention), bindingFieldValue(ev.Binding), bindingValue(ev.Binding),
		doneFieldName(ev.ID), claimFieldName(ev.ID), flags, s.compactValue(ev, done), milliseconds(s.compactUnit)}
	if ev.Mark != "" {
		args = append(args, doneFieldName(ev.Mark))
	}
	return keys, args
}

// Release implements dedupe.Store with one script run.
func (s *Store) Release(ctx context.Context, ev dedupe.Event, token string) (bool, error) {
	const op = "release"
	if err := dedupe.CheckRelease(ev, token); err != nil {
		return false, fmt.Errorf("redisstore: %w", err)
	}
	if !issued(token) {
		return false, nil
	}
	tag := s.tradeTag(ev.Trade)
	keys := []string{tag, idKey(tag, ev.ID)}
	return runOwnerScript(ctx, op, releaseScript, s.client, keys, token, claimFieldName(ev.ID))
}

// runOwnerScript runs one of the compare-and-set scripts, which answer 1 when
// the token owned the claim and 0 when it did not.
func runOwnerScript(ctx context.Context, op string, script *redis.Script, client redis.Scripter, keys []string, args ...any) (bool, error) {
	answer, err := script.Run(ctx, client, keys, args...).Int64()
	if err != nil {
		return false, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return answer == 1, nil
}

// tradeTag returns the start of every key of trade, and the trade's own key
// (its hash, or its compact form): the prefix, then a hash of the trade between braces. Redis
// Cluster hashes only what is between the first braces of a key, so all keys
// of a trade land in one slot and one script may use them together.
func (s *Store) tradeTag(trade string) string {
	sum := sha256.Sum256([]byte(trade))
	return s.prefix + "{" + base64.RawURLEncoding.EncodeToString(sum[:tradeHashChars*6/8]) + "}"
}

// idKey returns the key of one ID of the trade that tag starts: the event's
// claim, and where the per-event layout kept the ID's done value.
func idKey(tag, id string) string {
	sum := sha256.Sum256([]byte(id))
	return tag + base64.RawURLEncoding.EncodeToString(sum[:idHashChars*6/8])
}

// bindingKey returns the key where the per-event layout kept the trade's
// Binding. '~' is not in the base64url alphabet of idKey, so it never
// collides with an ID's key.
func bindingKey(tag string) string { return tag + "~" }

// bindingFieldValue is what the trade's hash keeps of a binding: 64 bits of
// its SHA-256 (” stays ”: no binding).
func bindingFieldValue(b string) string {
	if b == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(b))
	return string(sum[:8])
}

// bindingValue is what the per-event layout kept of a binding at its
// binding key: a short hash (” stays ”: no binding). The leading 'b' kept
// it from ever reading as the done value.
func bindingValue(b string) string {
	if b == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(b))
	return "b" + base64.RawURLEncoding.EncodeToString(sum[:12])
}

// milliseconds returns d in whole milliseconds, rounded up so that a positive
// duration never becomes zero.
func milliseconds(d time.Duration) int64 {
	ms := int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	return ms
}

// newToken returns a new claim token: tokenPrefix, then 16 random bytes from
// crypto/rand in unpadded base64url.
func newToken() string {
	var b [16]byte
	// crypto/rand.Read never returns an error; it crashes the program if the
	// operating system cannot supply randomness.
	_, _ = rand.Read(b[:])
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// issued reports whether token could have come from newToken. Any other
// token owns nothing; checking that here, before Redis compares it with a
// key's value, keeps a caller's token "1" from matching a done key.
func issued(token string) bool {
	return strings.HasPrefix(token, tokenPrefix)
}
