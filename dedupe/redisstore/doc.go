// Package redisstore keeps alipaynotify's exactly-once state in Redis, so
// that every instance of a merchant's service shares it. It works with a
// single server, Sentinel and Cluster alike through redis.UniversalClient:
//
//	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs})
//	store, err := redisstore.New(client, redisstore.Options{})
//
// # How it works
//
// Each event ID (and each Mark) of a trade is one Redis string key:
//
//	Prefix + "{" + hash(Trade) + "}" + hash(ID)
//
// where the hashes are the first 16 and 8 characters of the unpadded
// base64url SHA-256 of the strings. The braces make the trade's hash the
// Cluster hash tag, so all keys of a trade live in one slot and one script can
// use them together. A claim holds its random owner token; a done event holds
// "1", which Redis stores as a shared integer. With the default Prefix a
// remembered event costs about 120 bytes of Redis memory. A trade whose
// events carry a Binding has one more key, the trade's hash tag followed by
// "~", holding the Binding for the retention: about 165 bytes per trade.
//
// Every method is one Lua script, run with EVALSHA (falling back to EVAL when
// Redis has not cached the script yet, which costs one extra round trip per
// script and server), so each is atomic and takes one round trip: a first
// delivery costs two (Claim, then Complete), a duplicate one (Claim). Leases
// and retentions are key expiries (PX): they run on Redis's clock, never the
// client's. Extend, Complete and Release compare the token before they write.
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
// Memory policy matters too. An evicted done key lets a redelivered event run
// again, and an evicted claim lets two owners run at once: run the Redis that
// holds this store with maxmemory-policy noeviction (or volatile-ttl with
// ample memory). An LRU or LFU policy also disables Redis's shared integers,
// which adds about 16 bytes to every done event.
//
// Keys hash the trade and the ID rather than store them: two trades share
// keys only if 96 bits of their SHA-256 agree, and two IDs of one trade only
// if 48 bits do, which is negligible at any realistic volume.
package redisstore
