package alipaynotify_test

import (
	"time"
	_ "time/tzdata" // TestChinaTimeIgnoresLocal runs in America/Los_Angeles, installed or not

	"github.com/alipaynotify/alipaynotify"
)

// century is an age window no dated fixture falls out of.
const century = 100 * 365 * 24 * time.Hour

// newVerifier is NewVerifier for tests of fixed, dated callbacks (the shared
// vectors, hand-built fixtures): unless the test sets them, it widens the age
// windows to a century. freshness_test.go tests the windows themselves.
func newVerifier(o alipaynotify.Options) (*alipaynotify.Verifier, error) {
	if o.MaxNotifyAge == 0 {
		o.MaxNotifyAge = century
	}
	if o.MaxReturnAge == 0 {
		o.MaxReturnAge = century
	}
	return alipaynotify.NewVerifier(o)
}

// refundOf is the refund n reports, the zero Refund when it reports none.
func refundOf(n *alipaynotify.Notification) alipaynotify.Refund {
	if n.Refund == nil {
		return alipaynotify.Refund{}
	}
	return *n.Refund
}
