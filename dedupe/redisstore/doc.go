// Package redisstore keeps alipaynotify's exactly-once state in Redis, so
// that every instance of a merchant's service shares it. It works with a
// single server, Sentinel and Cluster alike through redis.UniversalClient:
//
//	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs})
//	store, err := redisstore.New(client, redisstore.Options{})
//
// # How it works
//
// Each trade is one Redis key, a hash (or, for the commonest trade, the
// compact form below), kept for the retention of its done events:
//
//	Prefix + "{" + hash(Trade) + "}"
//
// where the hash is the first 16 characters of the unpadded base64url
// SHA-256 of the trade. Its fields are the trade's done events and Marks,
// each under its ID as it is (so that Lookup can list them) with a packed
// record of when it was handled (Redis TIME, in milliseconds), from which
// source, and whether it was stale; the trade's Binding, as 64 bits of its
// SHA-256; and the end of each live claim, for Lookup. A claim itself is
// one short-lived string key holding its random owner token:
//
//	Prefix + "{" + hash(Trade) + "}" + hash(ID)
//
// (the first 8 characters of the ID's hash). The braces make the trade's
// hash the Cluster hash tag, so all keys of a trade live in one slot and one
// script can use them together. A trade's hash expires as a whole: its first
// completion sets its expiry to the retention, later ones only ever lengthen
// it, so every done event is remembered for its retention at least.
//
// The commonest trade, one plain trade status done (the IDs dedupe.EventFor
// gives non-refund events: "TRADE_SUCCESS", ...), completed without a
// Binding, Mark or Stale flag and with a retention that is a whole number of
// 5 days up to 385 days (the middleware's default, 190 days, is one), is
// kept in a compact form instead: the same key, as a string holding a small
// integer that packs the status (from a fixed table), the source and the
// retention. Redis shares the integers below 10 000 between all keys, so the
// value costs no memory of its own; the key expires exactly one retention
// after the event was handled, which is how Lookup reads handled-at back.
// As soon as anything else is recorded for the trade (a claim of another
// event, a refund, a binding), it becomes the hash, holding the same record
// and keeping the same expiry; a Complete that leaves a hash with nothing but
// its own event writes the compact form instead. Every script reads both
// forms.
//
// With the default Prefix, a trade in the compact form costs about 120 bytes
// of Redis memory. Small hashes are stored compactly too (listpack): a trade
// whose first event is kept in a hash costs about 168 bytes, and each
// further event of a trade about 32 more, so two events per trade cost about
// 100 bytes per event. A recorded Binding keeps the trade in a hash and adds
// about 16 bytes: 184 bytes for one event, 108 per event at two.
// BENCHMARKS.md has the measurements (TestMemoryPerEvent). Redis does not
// share integers under an LRU or LFU maxmemory-policy (which this store must
// not run under anyway, see below); there the compact form costs 16 bytes
// more.
//
// Dead letters (DeadLetterStore) live in two keys with the fixed hash tag
// "{dl}", so in one slot: a sorted set indexing the entries by their last
// failure, and a hash of their parts. They are bounded by
// Options.DeadLetters (10 000 entries and 7 days after the last failure by
// default); a typical entry with a 1.2 KB notification costs about 2.1 KB.
//
// Every method is one Lua script, run with EVALSHA (falling back to EVAL when
// Redis has not cached the script yet, which costs one extra round trip per
// script and server), so each is atomic and takes one round trip: a first
// delivery costs two (Claim, then Complete), a duplicate one (Claim). Leases
// and retentions are key expiries (PX) and handled-at times are Redis TIME:
// they run on Redis's clock, never the client's. Extend, Complete and Release
// compare the token before they write. The Inspector and DeadLetterStore
// methods are one script each too; Lookup and the dead-letter reads write
// nothing.
//
// # What it guarantees, and where that ends
//
// While Redis keeps its data, at most one caller at a time holds a live claim
// on an event, and an event is marked done only by the owner of a live claim.
// An owner that paused (a long GC, a stalled network) past its lease cannot
// mark the event done over the owner that claimed it next: its Complete
// answers false and writes nothing.
//
// Expiry alone is not mutual exclusion, as Redis's own documentation on
// distributed locks warns. The handler of an owner whose lease ran out may
// still be running its side effects while the next owner runs them too; the
// store can only refuse the late Complete. Choose leases well above the
// handler's worst case, Extend long-running claims, and where side effects
// must not double, fence them with the claim token (for example, store the
// token with the order update and accept the update only from the token that
// currently owns the event).
//
// Redis replicates asynchronously. When a master fails over (Sentinel or
// Cluster), a claim or a done mark written just before the failover may be
// missing on the new master, and the event may then be handled again.
// Restarts lose whatever persistence had not saved: with appendonly yes and
// appendfsync everysec, up to about a second of writes; with appendfsync
// always, nothing that was acknowledged; with persistence off, everything.
//
// Memory policy matters too. An evicted trade lets its redelivered events run
// again, and an evicted claim lets two owners run at once: run the Redis that
// holds this store with maxmemory-policy noeviction (or volatile-ttl with
// ample memory).
//
// Keys hash the trade rather than store it: two trades share keys only if 96
// bits of their SHA-256 agree, and two claims of one trade only if 48 bits of
// their IDs' do, which is negligible at any realistic volume.
//
// # Upgrading from the per-event layout
//
// Earlier versions kept each done event (and Mark) as its own string key,
// the claim key above holding "1", and a trade's Binding at the trade's tag
// followed by "~". The store still reads those keys, never writes them:
// Claim answers Done for an event done in that layout, Conflict for a
// trade_no other than the one bound there, and Stale when an Outranked ID is
// done there; Forget deletes such a key for the one ID it is given; Lookup
// lists the plain trade statuses done there (flagged Legacy: that layout
// hashed the IDs, so refund events cannot be listed). The old keys expire on
// their own within their retention (190 days by default), after which this
// compatibility reading costs nothing but a few GETs per Claim.
//
// Instances running an earlier version do not read the per-trade hashes: an
// event completed by an upgraded instance and delivered again to an old one
// would run again. Do not run both versions against one Redis at the same
// time: stop the old instances before starting the new ones (Alipay retries
// the callbacks answered meanwhile).
package redisstore
