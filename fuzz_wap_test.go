package alipaynotify_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// FuzzWAPNotify feeds the WAP paths two inputs: a raw body to both entry
// points (the form checks, the MD5 and 0001 verification, decryption of
// arbitrary ciphertext), and a notify_data document that is signed with the
// partner's MD5 key first, so that the fuzzer reaches the XML parser behind
// the signature. Nothing panics, every error is a sentinel class, and a
// verified WAP notification always names its trade and status.
func FuzzWAPNotify(f *testing.F) {
	for _, name := range []string{"synthetic-wap-md5-notify-utf8", "synthetic-wap-rsa-0001-notify-utf8",
		"synthetic-wap-callback-md5-utf8", "synthetic-wap-callback-rsa-0001-utf8"} {
		vec := loadWAPVector(f, name)
		body := vec.FormBody + vec.Query
		doc := vec.Params["notify_data"]
		if vec.ExpectedDecryptedNotifyData != "" {
			doc = vec.ExpectedDecryptedNotifyData
		}
		f.Add([]byte(body), doc)
	}
	f.Add([]byte("service=a&v=1&sec_id=0001&notify_data=AAAA&sign=AAAA"), `<!DOCTYPE notify [<!ENTITY x "y">]><notify>&x;</notify>`)
	f.Add([]byte("request_token=requestToken&result=success&sign=x&sign_type=0001"), `<?xml version="1.0"?><notify><a/><b>1</b></notify>`)
	v := wapVectorVerifier(f, nil)
	signer := alipaytest.NewWAPSigner(testPartner, wapMD5Key)
	classes := []error{alipaynotify.ErrMalformed, alipaynotify.ErrAmbiguous, alipaynotify.ErrExpired, alipaynotify.ErrCharset, alipaynotify.ErrSignType, alipaynotify.ErrSignature,
		alipaynotify.ErrAppID, alipaynotify.ErrPartner, alipaynotify.ErrSellerID, alipaynotify.ErrAmount}
	check := func(t *testing.T, n *alipaynotify.Notification, err error) {
		t.Helper()
		if err == nil {
			if n == nil || n.OutTradeNo == "" || n.TradeStatus == "" {
				t.Fatalf("verified without a trade: %+v", n)
			}
			if n.Protocol == alipaynotify.ProtocolWAP && n.Merchant() != testPartner {
				t.Fatalf("WAP merchant %q", n.Merchant())
			}
			return
		}
		for _, c := range classes {
			if errors.Is(err, c) {
				return
			}
		}
		t.Fatalf("unclassified error: %v", err)
	}
	f.Fuzz(func(t *testing.T, body []byte, doc string) {
		n, err := v.VerifyNotify(context.Background(), body)
		check(t, n, err)
		n, err = v.VerifyReturn(context.Background(), string(body))
		check(t, n, err)

		// The kit's Encode wants UTF-8; build the body by hand so that any
		// bytes reach the verifier.
		sign, err := signer.SignContent(alipaytest.WAPNotifyContent(alipaytest.WAPService, alipaytest.WAPNotifyVersion, "MD5", doc))
		if err != nil {
			t.Fatal(err)
		}
		signed := "service=" + url.QueryEscape(alipaytest.WAPService) + "&sign=" + sign + "&sec_id=MD5&v=" +
			url.QueryEscape(alipaytest.WAPNotifyVersion) + "&notify_data=" + url.QueryEscape(doc)
		n, err = v.VerifyNotify(context.Background(), []byte(signed))
		check(t, n, err)
		if err == nil && strings.Contains(doc, "<!") && !strings.Contains(doc, "<![CDATA[") && !strings.Contains(doc, "<!--") {
			t.Fatalf("a declaration got through: %q", doc)
		}
	})
}
