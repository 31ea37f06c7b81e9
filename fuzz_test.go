package alipaynotify_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
)

// FuzzVerify feeds arbitrary bodies to both verifier entry points: no panic,
// every error is one of the sentinel classes, and nothing but the genuine
// seed bodies verifies.
func FuzzVerify(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		if b := loadVector(f, name).body(); b != "" {
			f.Add([]byte(b))
		}
	}
	rsaVec := loadVector(f, "synthetic-rsa2-utf8")
	if _, err := os.Stat("testdata"); err != nil {
		f.Fatal(err)
	}
	v, err := newVerifier(alipaynotify.Options{
		AppID: "2021000000000001", AlipayPublicKeys: []string{rsaVec.PublicKeyPem},
		Legacy: alipaynotify.LegacyOptions{Partner: testPartner, MD5Key: "0123456789abcdefghijklmnopqrstuv"},
	})
	if err != nil {
		f.Fatal(err)
	}
	classes := []error{alipaynotify.ErrMalformed, alipaynotify.ErrAmbiguous, alipaynotify.ErrExpired, alipaynotify.ErrCharset, alipaynotify.ErrSignType, alipaynotify.ErrSignature,
		alipaynotify.ErrAppID, alipaynotify.ErrPartner, alipaynotify.ErrSellerID, alipaynotify.ErrAmount}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, ret := range []bool{false, true} {
			var n *alipaynotify.Notification
			var err error
			if ret {
				n, err = v.VerifyReturn(context.Background(), string(body))
			} else {
				n, err = v.VerifyNotify(context.Background(), body)
			}
			if err == nil {
				if n == nil || n.OutTradeNo == "" && n.NotifyType == "trade_status_sync" {
					t.Fatalf("verified without a trade: %+v", n)
				}
				continue
			}
			known := false
			for _, c := range classes {
				known = known || errors.Is(err, c)
			}
			if !known {
				t.Fatalf("unclassified error: %v", err)
			}
		}
	})
}
