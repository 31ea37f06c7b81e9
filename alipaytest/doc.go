// Package alipaytest plays Alipay in a merchant's tests, the way
// net/http/httptest plays a client or a server.
//
// It signs callbacks exactly as Alipay does and turns them into requests for
// a handler under test:
//
//   - a [Signer] holds the signing identity: Alipay's RSA key (open platform,
//     RSA2 or RSA) or a partner's MD5 key (legacy mapi), the charset of the
//     signed bytes, the empty-value rule and the wire order;
//   - [Signer.Notify] and [Signer.Return] build realistic notify_url POSTs and
//     return_url GETs that a test overrides field by field with [Fields];
//   - a [Trade] tells one order's story as a series of notifications with
//     one trade_no: [Trade.Paid], [Trade.PartialRefund], [Trade.FullRefund],
//     [Trade.Finished], [Trade.ClosedUnpaid] and the [Trade.Return]; from a
//     [NewLegacySigner] it tells the legacy mapi story. [WAPSigner.NewTrade]
//     does the same for the legacy mobile web ([WAPTrade.Paid],
//     [WAPTrade.Finished], [WAPTrade.RefundSucceeded], [WAPTrade.Return]),
//     and [EscrowTrade] for escrow and dual-function trades;
//   - a [Message] is one signed callback: its parameters in wire order, the
//     string that was signed, the encoded body, and [Message.Request] for
//     handler tests;
//   - [NewNotifyVerifyServer] fakes the legacy notify_verify gateway;
//   - [NewGateway] fakes Alipay's gateway for trade queries
//     (alipay.trade.query, legacy single_trade_query) over HTTPS: it answers
//     for the trades a test tells it ([Gateway.SetStatus]), signs answers as
//     Alipay does, and injects the failures of a [Fault];
//   - [NewCertChain] builds a public-key-certificate chain shaped like
//     Alipay's and computes the serial-number strings (app_cert_sn,
//     alipay_root_cert_sn) Alipay's way.
//
// A typical test:
//
//	s := alipaytest.NewSigner(nil) // TestKey(), app_id DefaultAppID
//	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
//		AppID:            s.AppID,
//		AlipayPublicKeys: []string{s.PublicKeyPEM()},
//	})
//	// … build the handler under test from v …
//	rec := httptest.NewRecorder()
//	handler.ServeHTTP(rec, s.Paid("ORDER-1", "88.88").Request("/alipay/notify"))
//
// The kit is a cross-check of the verifier, so on purpose it imports nothing
// from package alipaynotify: signing, the string-to-sign, charsets and
// certificate serial numbers are written here a second time, and a bug in
// the verifier's code cannot hide by being shared. Where a name exists in
// both packages it means the same thing and has the same shape: [SignType]
// and [Protocol] (string types whose constants have the core's names and
// values), [Param], [Receiver] and [ChinaTime]. Where the shapes differ the
// kit's name says so: [WireParams] is the ordered, editable list of
// parameters as sent (alipaynotify.Params is the verifier's sorted,
// read-only result), and [CertSNOf] takes a parsed certificate (the core's
// CertSN, like [CertSNFromPEM], takes PEM).
//
// Signing rules (string-to-sign, charsets, MD5) follow docs/protocol.md,
// "Signatures and the string-to-sign"; the package is checked against the
// synthetic vectors in testdata and, in the interop suite, against Alipay's
// official Node SDK.
//
// Times are China time (UTC+8, a fixed zone; the machine's time zone
// database is never consulted) and amounts are decimal strings such as
// "88.88", never floats.
//
// Everything in this package is for tests: keys are generated on the fly or
// are published test keys, and the functions that return no error panic on
// misuse, like httptest.NewRequest.
package alipaytest
