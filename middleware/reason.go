package middleware

import (
	"errors"

	"github.com/alipaynotify/alipaynotify"
)

// Reason is a stable, low-cardinality label for why a callback was refused,
// fit for a metric label or an alert rule. The values never change meaning;
// new ones may be added.
type Reason string

// Reasons, one per class of refusal. The first group is decided before or at
// the signature (the callback may not come from Alipay at all); the second
// after it (Alipay signed the callback: these are money problems, and
// Rejection.Notification is set where one was built).
const (
	ReasonBodyTooLarge Reason = "body_too_large" // ErrBodyTooLarge
	ReasonMalformed    Reason = "malformed"      // alipaynotify.ErrMalformed
	ReasonCharset      Reason = "charset"        // alipaynotify.ErrCharset
	ReasonSignType     Reason = "sign_type"      // alipaynotify.ErrSignType
	ReasonSignature    Reason = "signature"      // alipaynotify.ErrSignature
	ReasonAmbiguous    Reason = "ambiguous"      // alipaynotify.ErrAmbiguous
	ReasonAmount       Reason = "amount"         // alipaynotify.ErrAmount

	ReasonExpired         Reason = "expired"           // alipaynotify.ErrExpired
	ReasonAppID           Reason = "app_id"            // alipaynotify.ErrAppID
	ReasonPartner         Reason = "partner"           // alipaynotify.ErrPartner
	ReasonSellerID        Reason = "seller_id"         // alipaynotify.ErrSellerID
	ReasonRemoteCheck     Reason = "remote_check"      // alipaynotify.ErrRemoteCheck
	ReasonOrder           Reason = "order"             // alipaynotify.ErrOrder: your CheckOrder
	ReasonTradeNoConflict Reason = "trade_no_conflict" // ErrTradeNoConflict
	ReasonNotVerified     Reason = "not_verified"      // ErrNotVerified: Deliver

	// ReasonOther is any error outside the classes above.
	ReasonOther Reason = "other"
)

// reasons maps each class, in the order checked, to its label. ErrOrder comes
// first: a CheckOrder error may wrap another class of its own.
var reasons = [...]struct {
	err    error
	reason Reason
}{
	{alipaynotify.ErrOrder, ReasonOrder},
	{ErrBodyTooLarge, ReasonBodyTooLarge},
	{ErrTradeNoConflict, ReasonTradeNoConflict},
	{ErrNotVerified, ReasonNotVerified},
	{alipaynotify.ErrMalformed, ReasonMalformed},
	{alipaynotify.ErrCharset, ReasonCharset},
	{alipaynotify.ErrSignType, ReasonSignType},
	{alipaynotify.ErrSignature, ReasonSignature},
	{alipaynotify.ErrAmbiguous, ReasonAmbiguous},
	{alipaynotify.ErrAmount, ReasonAmount},
	{alipaynotify.ErrExpired, ReasonExpired},
	{alipaynotify.ErrAppID, ReasonAppID},
	{alipaynotify.ErrPartner, ReasonPartner},
	{alipaynotify.ErrSellerID, ReasonSellerID},
	{alipaynotify.ErrRemoteCheck, ReasonRemoteCheck},
}

// ReasonOf returns the label of a refusal error, as passed to
// Hooks.Rejected: one switch instead of an errors.Is chain.
func ReasonOf(err error) Reason {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return ReasonOther
}

// Rejection describes a refused callback, for Hooks.Rejected.
type Rejection struct {
	// Source is the route it arrived on.
	Source alipaynotify.Source
	// Reason is the stable label of Err.
	Reason Reason
	// Err says why, matching one sentinel error with errors.Is.
	Err error
	// Notification is the callback when its signature verified before a
	// later check refused it (age, identity, notify_verify, CheckOrder,
	// trade_no conflict); nil otherwise. It is genuine Alipay data that
	// was refused: alert on it, never act on it as a payment.
	Notification *alipaynotify.Notification
}

func newRejection(src alipaynotify.Source, err error, n *alipaynotify.Notification) Rejection {
	if n == nil {
		if re := (*alipaynotify.RejectedError)(nil); errors.As(err, &re) {
			n = re.Notification
		}
	}
	return Rejection{Source: src, Reason: ReasonOf(err), Err: err, Notification: n}
}
