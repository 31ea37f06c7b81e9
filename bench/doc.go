// Package bench holds alipaynotify's benchmarks against peer SDKs and the
// commands that measure the library end to end:
//
//   - peers_test.go: verification of one realistic 26-field RSA2
//     notification by alipaynotify, by the bare crypto floor, by
//     github.com/smartwalle/alipay/v3 and by github.com/go-pay/gopay;
//     compat_test.go: which notification shapes each peer accepts.
//   - cmd/load: notify deliveries over loopback through the real middleware,
//     dedupe off, on (memory) and on (Redis), with throughput, latency,
//     Redis round trips and Redis memory per remembered event.
//   - cmd/chaos with cmd/chaosmerchant: deliveries to two merchant processes
//     while Redis restarts, an instance is killed -9 and the handler fails
//     and panics; it proves no event is lost and none is handled twice.
//
// bench is a separate Go module so that the library never depends on the peer
// SDKs; scripts/bench.sh in the repository root runs everything and
// BENCHMARKS.md records the numbers.
package bench
