// Package alipaynotify verifies Alipay payment callbacks and turns them into
// typed Notifications.
//
// Alipay reports a payment two ways: the buyer's browser is redirected to
// return_url (once, if the buyer does not close the tab first) and Alipay's
// server POSTs to notify_url (retried for about 25 hours until the merchant
// answers "success"). Both must be verified, and neither can be trusted
// before it is. This package is the domain core: it checks signatures (RSA2,
// RSA, public-key-certificate mode, legacy partner MD5 with the optional
// notify_verify remote check), decodes utf-8, gbk and gb2312 payloads to UTF-8,
// parses money exactly and times in China time, and names each business event
// so that the dedupe and middleware packages can run a merchant's handler
// exactly once per trade status change.
//
// A Verifier is configured once with Options and is safe for concurrent use:
//
//	v, err := alipaynotify.NewVerifier(alipaynotify.Options{
//		AppID:            "2021000000000001",
//		AlipayPublicKeys: []string{alipayPublicKeyPEM},
//	})
//	n, err := v.VerifyNotify(ctx, body) // the raw POST body
//
// Errors match one sentinel per class (ErrSignature, ErrCharset, ErrAppID,
// ...) with errors.Is, and usually carry a *FieldError naming the parameter.
package alipaynotify
