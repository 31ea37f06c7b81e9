package alipaynotify

import (
	"bytes"
	"errors"
	"strconv"
)

// Sentinel errors, one per class of failure. Every error returned by a
// Verifier matches exactly one of them with errors.Is; most also carry a
// *FieldError naming the parameter that failed. The one addition: an
// ErrOrder error keeps your CheckOrder error in its chain too, so that
// errors.Is and errors.As reach your own errors (if your CheckOrder returns
// one of these sentinels, it matches as well). Error text never contains a
// key, a signature or the request body.
var (
	// ErrMalformed: the body or query is not a well-formed callback (bad
	// percent-encoding, duplicate or empty keys, too many parameters, a
	// required field missing, a value that does not parse).
	ErrMalformed = errors.New("alipaynotify: malformed callback")
	// ErrCharset: the charset is not utf-8, gbk or gb2312, or a value is not
	// valid text in the declared charset.
	ErrCharset = errors.New("alipaynotify: unsupported or invalid charset")
	// ErrSignType: the sign_type is missing, unknown, or not configured (for
	// example MD5 without a partner key, DSA, SM2).
	ErrSignType = errors.New("alipaynotify: unsupported sign type")
	// ErrSignature: no configured key verifies the signature.
	ErrSignature = errors.New("alipaynotify: signature verification failed")
	// ErrAppID: app_id (or auth_app_id) is not the configured one.
	ErrAppID = errors.New("alipaynotify: unexpected app_id")
	// ErrPartner: a legacy callback's seller is not the configured partner.
	ErrPartner = errors.New("alipaynotify: unexpected partner")
	// ErrSellerID: seller_id is not one of the configured sellers.
	ErrSellerID = errors.New("alipaynotify: unexpected seller_id")
	// ErrAmount: an amount is not a decimal with at most two places, or is
	// negative where it cannot be.
	ErrAmount = errors.New("alipaynotify: invalid amount")
	// ErrOrder: the merchant's order check rejected the callback (unknown
	// out_trade_no, amount mismatch, ...).
	ErrOrder = errors.New("alipaynotify: order check failed")
	// ErrAmountMismatch: the callback's order amount is not the order's
	// (Notification.CheckTotalAmount). It reaches you inside ErrOrder when
	// your CheckOrder returns it.
	ErrAmountMismatch = errors.New("alipaynotify: amount does not match the order")
	// ErrRemoteCheck: the legacy notify_verify call did not answer "true".
	ErrRemoteCheck = errors.New("alipaynotify: notify_verify remote check failed")
	// ErrAmbiguous: the signature verifies, but the parameters could be cut
	// differently from the way they were signed, so the callback cannot be
	// trusted to mean one thing: a name outside the protocol's alphabet, a
	// value outside its field's grammar, free text holding "&k=" for a
	// parameter name k this package reads, a refund without gmt_refund, or a
	// callback of one kind sent as another (a notify as a return, a return
	// as a notify). A genuine callback re-cut by an attacker ends here.
	ErrAmbiguous = errors.New("alipaynotify: ambiguous callback")
	// ErrExpired: the callback's signed time is outside the accepted window:
	// a return older than Options.MaxReturnAge, a notification older than
	// Options.MaxNotifyAge.
	ErrExpired = errors.New("alipaynotify: callback expired")
	// ErrConfig: the Options passed to NewVerifier are invalid.
	ErrConfig = errors.New("alipaynotify: invalid configuration")
	// ErrTradeNotFound: a trade query's answer says Alipay has no trade with
	// the out_trade_no asked about (ACQ.TRADE_NOT_EXIST, legacy
	// TRADE_NOT_EXIST): nothing yet, not a failure to retry.
	ErrTradeNotFound = errors.New("alipaynotify: trade not found")
	// ErrGateway: a trade query's answer is an error of Alipay's gateway
	// (any code but 10000, legacy is_success=F other than TRADE_NOT_EXIST).
	// The error is a *GatewayError carrying the codes.
	ErrGateway = errors.New("alipaynotify: gateway error")
)

// FieldError is the typed error carrying which parameter failed and why. It
// wraps one of the sentinel errors, so both errors.Is(err, ErrAmount) and
// errors.As(err, &fieldErr) work.
type FieldError struct {
	// Field is the callback parameter (or option) name, e.g. "total_amount".
	Field string
	// Reason is a short human explanation; it never quotes a key or the body.
	Reason string
	// Err is the sentinel class (ErrMalformed, ErrAmount, ...).
	Err error
}

// Error implements error.
func (e *FieldError) Error() string {
	msg := e.Err.Error()
	if e.Field != "" {
		msg += ": " + strconv.Quote(e.Field)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Unwrap returns the sentinel class.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(class error, field, reason string) error {
	return &FieldError{Field: field, Reason: reason, Err: class}
}

// maxFieldNameInError bounds how much of an attacker-chosen key goes into an
// error message.
const maxFieldNameInError = 64

// safeField returns a printable, bounded version of a key taken from a
// request, for error messages. A key that folds in personal data is cut as
// maskKey cuts it.
func safeField(b []byte) string {
	if i := bytes.IndexAny(b, "=&"); i >= 0 && containsPII(string(b)) {
		b = append(b[:i:i], "***"...)
	}
	if len(b) > maxFieldNameInError {
		b = b[:maxFieldNameInError]
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		} else {
			out = append(out, '?')
		}
	}
	return string(out)
}

// RejectedError is the error of a callback whose signature verified but which
// a later check refused: its age (ErrExpired), its identity (ErrAppID,
// ErrPartner, ErrSellerID), the legacy notify_verify remote check
// (ErrRemoteCheck) or the merchant's CheckOrder (ErrOrder). Those are money
// problems rather than noise: Alipay signed this callback, and retries it for
// about 25 hours. Notification is the callback as verified, for logs, metrics
// and alerts; it was refused, so never act on it as a payment. errors.Is and
// errors.As see through a RejectedError to the class and any FieldError.
//
// A callback refused before or at its signature (malformed, a bad
// signature, an ambiguous reading) has no Notification, and its error is
// never a RejectedError.
type RejectedError struct {
	// Notification is the verified callback that was refused.
	Notification *Notification
	// Err is the reason, matching one of the sentinel errors.
	Err error
}

// Error returns the reason's text.
func (e *RejectedError) Error() string { return e.Err.Error() }

// Unwrap returns the reason.
func (e *RejectedError) Unwrap() error { return e.Err }

// rejected wraps err, raised by a check after the signature, with the
// verified n, unless the refusal means n cannot be trusted to mean one thing
// (ErrAmbiguous, ErrMalformed): then n is not handed on.
func rejected(n *Notification, err error) error {
	if err == nil || errors.Is(err, ErrAmbiguous) || errors.Is(err, ErrMalformed) {
		return err
	}
	n.verifiedBy = nil // refused: Verifier.Produced must not vouch for it
	return &RejectedError{Notification: n, Err: err}
}
