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

// doneValue is what a done key holds. Redis keeps the small integers 0-9999
// as shared objects, so a done key costs no memory for its value.
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
}

var _ dedupe.Store = (*Store)(nil)

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
	return &Store{client: client, prefix: prefix}, nil
}

// claimScript takes a claim unless the event is done or claimed.
//
// KEYS[1] is the event's key, KEYS[2] the trade's binding key, KEYS[3..] the
// keys of its Outranked IDs. ARGV[1] is the new token, ARGV[2] the lease in
// milliseconds, ARGV[3] the event's binding (” for none).
// It returns {1, stale (0 or 1)} for claimed, {2, 0} for done,
// {3, remaining lease in ms} for busy and {4, 0} for a binding conflict.
var claimScript = redis.NewScript(`
if ARGV[3] ~= '' then
	local bound = redis.call('GET', KEYS[2])
	if bound and bound ~= ARGV[3] then
		return {4, 0}
	end
end
local current = redis.call('GET', KEYS[1])
if current == '1' then
	return {2, 0}
end
if current then
	return {3, redis.call('PTTL', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 3, #KEYS do
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

// extendScript sets the lease of the claim at KEYS[1] to ARGV[2] milliseconds
// if ARGV[1] is its token. It returns 1 if it did, else 0.
var extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
	return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// completeScript replaces the claim at KEYS[1] with the done value, kept for
// ARGV[2] milliseconds, if ARGV[1] is its token; then records ARGV[3] (the
// binding, when not ”) at KEYS[2] unless another binding is there, and marks
// KEYS[3] (the event's Mark, when given) done, both for as long. It returns 1
// if it did, else 0.
var completeScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
	return 0
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
if ARGV[3] ~= '' then
	local bound = redis.call('GET', KEYS[2])
	if not bound or bound == ARGV[3] then
		redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
	end
end
if #KEYS > 2 then
	redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
end
return 1
`)

// releaseScript deletes the claim at KEYS[1] if ARGV[1] is its token. It
// returns 1 if it did, else 0.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
	return 0
end
redis.call('DEL', KEYS[1])
return 1
`)

// Claim implements dedupe.Store with one script run (one round trip once
// Redis has cached the script). The lease runs on Redis's clock.
func (s *Store) Claim(ctx context.Context, ev dedupe.Event, lease time.Duration) (dedupe.Claim, error) {
	const op = "claim"
	if err := dedupe.CheckClaim(ev, lease); err != nil {
		return dedupe.Claim{}, fmt.Errorf("redisstore: %w", err)
	}

	tag := s.tradeTag(ev.Trade)
	keys := make([]string, 2, 2+len(ev.Outranked))
	keys[0] = idKey(tag, ev.ID)
	keys[1] = bindingKey(tag)
	for _, id := range ev.Outranked {
		keys = append(keys, idKey(tag, id))
	}
	token := newToken()
	answer, err := claimScript.Run(ctx, s.client, keys, token, milliseconds(lease), bindingValue(ev.Binding)).Int64Slice()
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
	keys := []string{idKey(s.tradeTag(ev.Trade), ev.ID)}
	return runOwnerScript(ctx, op, extendScript, s.client, keys, token, milliseconds(lease))
}

// Complete implements dedupe.Store with one script run, which writes the
// event's done state and its Mark together.
//
// The Mark is written like a done event with ID Mark, replacing whatever the
// key held (even a live claim): a later Claim of an Event whose ID equals
// another event's Mark reports Done. Callers keep marks and event IDs apart,
// for example with a prefix.
func (s *Store) Complete(ctx context.Context, ev dedupe.Event, token string, retention time.Duration) (bool, error) {
	const op = "complete"
	if err := dedupe.CheckComplete(ev, token, retention); err != nil {
		return false, fmt.Errorf("redisstore: %w", err)
	}
	if !issued(token) {
		return false, nil
	}
	tag := s.tradeTag(ev.Trade)
	keys := []string{idKey(tag, ev.ID), bindingKey(tag)}
	if ev.Mark != "" {
		keys = append(keys, idKey(tag, ev.Mark))
	}
	return runOwnerScript(ctx, op, completeScript, s.client, keys, token, milliseconds(retention), bindingValue(ev.Binding))
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
	keys := []string{idKey(s.tradeTag(ev.Trade), ev.ID)}
	return runOwnerScript(ctx, op, releaseScript, s.client, keys, token)
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

// tradeTag returns the start of every key of trade: the prefix, then a hash
// of the trade between braces. Redis Cluster hashes only what is between the
// first braces of a key, so all keys of a trade land in one slot and one
// script may use them together.
func (s *Store) tradeTag(trade string) string {
	sum := sha256.Sum256([]byte(trade))
	return s.prefix + "{" + base64.RawURLEncoding.EncodeToString(sum[:tradeHashChars*6/8]) + "}"
}

// idKey returns the key of one ID (an event's or a Mark) of the trade that tag
// starts.
func idKey(tag, id string) string {
	sum := sha256.Sum256([]byte(id))
	return tag + base64.RawURLEncoding.EncodeToString(sum[:idHashChars*6/8])
}

// bindingKey returns the key of the trade's Binding. '~' is not in the
// base64url alphabet of idKey, so it never collides with an ID's key.
func bindingKey(tag string) string { return tag + "~" }

// bindingValue stores a binding as a short hash (” stays ”: no binding).
// The leading 'b' keeps it from ever reading as the done value.
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
