package alipaytest_test

import (
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// TestConstructorsFillDefaults checks the package doc's recipe: a verifier
// configured from the fields of a constructed signer (s.AppID, s.Partner,
// s.MD5Key, its keys) accepts what the signer signs.
func TestConstructorsFillDefaults(t *testing.T) {
	open := alipaytest.NewSigner(nil)
	legacy := alipaytest.NewLegacySigner("", "")
	wapMD5 := alipaytest.NewWAPSigner("", "")
	wapRSA := alipaytest.NewWAPRSASigner(nil, nil)
	tests := []struct {
		name string
		opts alipaynotify.Options
		msg  *alipaytest.Message
	}{
		{"open platform", alipaynotify.Options{AppID: open.AppID, AlipayPublicKeys: []string{open.Key.PublicKeyPEM()}}, open.Paid("D-1", "1.00")},
		{"legacy mapi", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: legacy.Partner, MD5Key: legacy.MD5Key}}, legacy.Paid("D-2", "1.00")},
		{"mobile web MD5", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: wapMD5.Partner, MD5Key: wapMD5.MD5Key}}, wapMD5.Notify(nil)},
		{"mobile web 0001", alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: wapRSA.Partner, WAP: alipaynotify.WAPOptions{
			PublicKeys: []string{wapRSA.AlipayKey.PublicKeyPEM()}, MerchantPrivateKey: wapRSA.MerchantKey.PrivateKeyPKCS8PEM(),
		}}}, wapRSA.Notify(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := alipaynotify.NewVerifier(tc.opts)
			if err != nil {
				t.Fatalf("NewVerifier from the signer's fields: %v", err)
			}
			if _, err := v.VerifyNotify(t.Context(), tc.msg.Encode()); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
	if open.AppID != alipaytest.DefaultAppID || legacy.Partner != alipaytest.DefaultPID || legacy.MD5Key != alipaytest.DefaultMD5Key ||
		wapMD5.Partner != alipaytest.DefaultPID || wapRSA.Partner != alipaytest.DefaultPID {
		t.Errorf("defaults not filled: app_id %q, partner %q/%q/%q", open.AppID, legacy.Partner, wapMD5.Partner, wapRSA.Partner)
	}
}
