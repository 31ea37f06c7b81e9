// Package alipayops is an embeddable operations page for alipaynotify's
// middleware: the answer to an on-call engineer's "what happened to
// ORDER-123?", "which payments did Alipay give up on?" and "reprocess that
// order".
//
// Handler returns an http.Handler that the merchant mounts behind their own
// authentication. It searches an order by out_trade_no and shows its events
// (done, in flight with the lease left, or failed), lists the dead letters
// (callbacks whose business handler failed), and, only when
// Options.AllowActions turns them on, replays dead letters in-process
// (middleware.Middleware.Replay: verified again, deduplicated, run once) and
// forgets a handled event (middleware.Middleware.Forget, logged with the
// actor).
//
// The page is server-rendered HTML in Chinese with English, with inline CSS
// and no script or external asset, so it works without internet access. The
// actions are POST forms protected against cross-site request forgery (a
// same-origin check and an HMAC token bound to a SameSite=Strict session
// cookie); every response carries a Content-Security-Policy that allows
// nothing but the inline style, forbids framing and caching. Dead letters'
// bodies hold the buyer's data and are never shown.
//
// cmd/alipayops is the command-line counterpart, for a Redis store.
package alipayops
