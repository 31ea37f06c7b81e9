package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alipaynotify/alipaynotify/dedupe"
)

// Dead letters live in two keys with one fixed hash tag, so in one Cluster
// slot, and every script declares both:
//
//   - Prefix + "{dl}i", a sorted set of entry names scored by the entry's
//     Last failure (Unix milliseconds, Redis TIME);
//   - Prefix + "{dl}d", a hash holding each entry's parts under the entry's
//     name followed by one letter (see the dl* constants).
//
// An entry's name is deadLetterName(trade, id). Both keys expire
// Retention after the newest failure; entries past their own retention are
// dropped by the next RecordFailure (a hundred at a time) and never read.
const (
	deadLetterIndexSuffix = "{dl}i"
	deadLetterDataSuffix  = "{dl}d"
)

// deadLetterNameChars is the length of an entry's name: 96 bits of SHA-256.
const deadLetterNameChars = 16

// luaDeadLetterParts lists the letters of an entry's parts in the data hash:
// trade, id, source, body, err, attempts (n), first failure (f).
const luaDeadLetterParts = `
local parts = {'t', 'i', 's', 'b', 'e', 'n', 'f'}
local function drop(e)
	redis.call('ZREM', KEYS[1], e)
	local fields = {}
	for i, p in ipairs(parts) do fields[i] = e .. p end
	redis.call('HDEL', KEYS[2], unpack(fields))
end
`

// recordFailureScript records a failure of entry ARGV[1]: ARGV[2..6] are the
// trade, id, source, body and err, ARGV[7] the maximum of entries, ARGV[8]
// the retention in ms. It returns {attempts, evicted}.
var recordFailureScript = redis.NewScript(luaNow + luaDeadLetterParts + `
local retention = tonumber(ARGV[8])
local oldest = now - retention
for _, e in ipairs(redis.call('ZRANGE', KEYS[1], '-inf', '(' .. string.format('%.0f', oldest), 'BYSCORE', 'LIMIT', 0, 100)) do
	drop(e)
end
local e = ARGV[1]
local attempts = 1
local evicted = 0
local last = redis.call('ZSCORE', KEYS[1], e)
if last and tonumber(last) >= oldest then
	attempts = redis.call('HINCRBY', KEYS[2], e .. 'n', 1)
	redis.call('HSET', KEYS[2], e .. 's', ARGV[4], e .. 'b', ARGV[5], e .. 'e', ARGV[6])
else
	if last then
		drop(e)
	end
	local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[7]) + 1
	if over > 0 then
		for _, old in ipairs(redis.call('ZRANGE', KEYS[1], 0, over - 1)) do
			drop(old)
			evicted = evicted + 1
		end
	end
	redis.call('HSET', KEYS[2], e .. 't', ARGV[2], e .. 'i', ARGV[3], e .. 's', ARGV[4],
		e .. 'b', ARGV[5], e .. 'e', ARGV[6], e .. 'n', 1, e .. 'f', string.format('%.0f', now))
end
redis.call('ZADD', KEYS[1], string.format('%.0f', now), e)
redis.call('PEXPIRE', KEYS[1], retention)
redis.call('PEXPIRE', KEYS[2], retention)
return {attempts, evicted}
`)

// clearFailureScript deletes entry ARGV[1]; ARGV[2] is the retention in
// ms. It returns 1 if the entry was there and within its retention, else 0.
var clearFailureScript = redis.NewScript(luaNow + luaDeadLetterParts + `
local last = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not last then
	return 0
end
drop(ARGV[1])
if tonumber(last) < now - tonumber(ARGV[2]) then
	return 0
end
return 1
`)

// readDeadLettersScript returns entries within their retention (ARGV[1], in
// ms): the named ones (ARGV[3..]) when ARGV[2] is ”, else up to ARGV[2]
// of them, the oldest Last first. Each entry is {last, trade, id, source,
// body, err, attempts, first}. It writes nothing.
var readDeadLettersScript = redis.NewScript(luaNow + `
local oldest = string.format('%.0f', now - tonumber(ARGV[1]))
local names = {}
if ARGV[2] == '' then
	for i = 3, #ARGV do
		local last = redis.call('ZSCORE', KEYS[1], ARGV[i])
		if last and tonumber(last) >= tonumber(oldest) then
			table.insert(names, ARGV[i])
			table.insert(names, last)
		end
	end
else
	names = redis.call('ZRANGE', KEYS[1], oldest, '+inf', 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]), 'WITHSCORES')
end
local out = {}
for i = 1, #names, 2 do
	local e = names[i]
	local parts = redis.call('HMGET', KEYS[2], e .. 't', e .. 'i', e .. 's', e .. 'b', e .. 'e', e .. 'n', e .. 'f')
	table.insert(parts, 1, names[i + 1])
	table.insert(out, parts)
end
return out
`)

// deadLetterKeys returns the keys of the dead letters: the index and the
// data.
func (s *Store) deadLetterKeys() []string {
	return []string{s.prefix + deadLetterIndexSuffix, s.prefix + deadLetterDataSuffix}
}

// deadLetterName returns the name of the entry of an event: 96 bits of the
// SHA-256 of the trade's length, the trade and the id.
func deadLetterName(trade, id string) string {
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(trade)) + ":" + trade + id))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:deadLetterNameChars*6/8])
}

// RecordFailure implements dedupe.DeadLetterStore with one script run, which
// also drops entries past their retention and evicts the oldest when a new
// entry would exceed Options.DeadLetters.Max.
func (s *Store) RecordFailure(ctx context.Context, dl dedupe.DeadLetter) (dedupe.Recorded, error) {
	const op = "record failure"
	if err := dedupe.CheckDeadLetter(dl); err != nil {
		return dedupe.Recorded{}, fmt.Errorf("redisstore: %w", err)
	}
	answer, err := recordFailureScript.Run(ctx, s.client, s.deadLetterKeys(),
		deadLetterName(dl.Trade, dl.ID), dl.Trade, dl.ID, dl.Source, dl.Body, dl.Err,
		s.dl.Max, milliseconds(s.dl.Retention)).Int64Slice()
	if err != nil {
		return dedupe.Recorded{}, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if len(answer) != 2 {
		return dedupe.Recorded{}, fmt.Errorf("redisstore: %s: unexpected script answer %v", op, answer)
	}
	return dedupe.Recorded{Attempts: int(answer[0]), Evicted: int(answer[1])}, nil
}

// ClearFailure implements dedupe.DeadLetterStore with one script run.
func (s *Store) ClearFailure(ctx context.Context, trade, id string) (bool, error) {
	const op = "clear failure"
	if err := dedupe.CheckDeadLetterKey(op, trade, id); err != nil {
		return false, fmt.Errorf("redisstore: %w", err)
	}
	return runOwnerScript(ctx, op, clearFailureScript, s.client, s.deadLetterKeys(),
		deadLetterName(trade, id), milliseconds(s.dl.Retention))
}

// DeadLetters implements dedupe.DeadLetterStore with one read-only script
// run.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]dedupe.DeadLetter, error) {
	const op = "dead letters"
	if err := dedupe.CheckDeadLetterLimit(limit); err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	dls, err := s.readDeadLetters(ctx, strconv.Itoa(limit))
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	sortDeadLetters(dls)
	return dls, nil
}

// DeadLetter implements dedupe.DeadLetterStore with one read-only script
// run.
func (s *Store) DeadLetter(ctx context.Context, trade, id string) (dedupe.DeadLetter, bool, error) {
	const op = "dead letter"
	if err := dedupe.CheckDeadLetterKey(op, trade, id); err != nil {
		return dedupe.DeadLetter{}, false, fmt.Errorf("redisstore: %w", err)
	}
	dls, err := s.readDeadLetters(ctx, "", deadLetterName(trade, id))
	if err != nil {
		return dedupe.DeadLetter{}, false, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	for _, dl := range dls {
		// Names are 96 bits of a hash: compare what they stand for.
		if dl.Trade == trade && dl.ID == id {
			return dl, true, nil
		}
	}
	return dedupe.DeadLetter{}, false, nil
}

// readDeadLetters runs readDeadLettersScript and parses its entries.
func (s *Store) readDeadLetters(ctx context.Context, limit string, names ...string) ([]dedupe.DeadLetter, error) {
	args := make([]any, 0, 2+len(names))
	args = append(args, milliseconds(s.dl.Retention), limit)
	for _, n := range names {
		args = append(args, n)
	}
	answer, err := readDeadLettersScript.Run(ctx, s.client, s.deadLetterKeys(), args...).Slice()
	if err != nil {
		return nil, err
	}
	dls := make([]dedupe.DeadLetter, 0, len(answer))
	for _, a := range answer {
		dl, ok := parseDeadLetter(a)
		if !ok {
			return nil, fmt.Errorf("unexpected dead letter in the script answer")
		}
		dls = append(dls, dl)
	}
	return dls, nil
}

// parseDeadLetter reads one entry of readDeadLettersScript's answer:
// {last, trade, id, source, body, err, attempts, first}, all strings.
func parseDeadLetter(a any) (dedupe.DeadLetter, bool) {
	parts, ok := a.([]any)
	if !ok || len(parts) != 8 {
		return dedupe.DeadLetter{}, false
	}
	var strs [8]string
	for i, p := range parts {
		if strs[i], ok = p.(string); !ok {
			return dedupe.DeadLetter{}, false
		}
	}
	last, err1 := strconv.ParseInt(strs[0], 10, 64)
	attempts, err2 := strconv.Atoi(strs[6])
	first, err3 := strconv.ParseInt(strs[7], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return dedupe.DeadLetter{}, false
	}
	return dedupe.DeadLetter{
		Trade: strs[1], ID: strs[2], Source: strs[3], Body: []byte(strs[4]), Err: strs[5],
		Attempts: attempts, First: time.UnixMilli(first), Last: time.UnixMilli(last),
	}, true
}
