// Package interop holds the interop tests of alipaynotify against Alipay's
// official Node SDK (npm alipay-sdk, pinned to 4.14.0 in package.json and
// package-lock.json). The tests are behind the "interop" build tag and need
// Node 20+ with the SDK installed:
//
//	cd interop && npm ci && cd ..
//	go test -race -count=1 -tags interop ./interop/...
//
// Without node or interop/node_modules they skip, unless the CI environment
// variable is set, in which case they fail.
//
// sdk.mjs drives the SDK in batch mode (one node process per direction):
// "sign" builds the string-to-sign with the SDK's own notification content
// builder and signs it with the SDK's algorithm table; "verify" runs the
// SDK's checkNotifySignV2 on a form body. For the trade query (query_test.go),
// "request" signs the Go client's query with the SDK's util.js sign() and
// splits it with formatUrl, "response" builds and self-checks a signed
// answer, and "checkresponse" runs checkResponseSign on an answer.
package interop
