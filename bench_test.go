package alipaynotify_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
)

// benchNotification is a realistic 26-field RSA2 notification (CJK subject,
// fund_bill_list JSON, passback_params): the synthetic RSA2 vector without
// its body field, re-signed with the vector's test key. It returns the raw body, the string-to-sign, the signature and
// the public key.
func benchNotification(tb testing.TB) (body []byte, content string, sig []byte, pubPEM string) {
	tb.Helper()
	vec := loadVector(tb, "synthetic-rsa2-utf8")
	var raw struct {
		PrivateKeyPem string `json:"privateKeyPem"`
	}
	loadJSON(tb, "synthetic-rsa2-utf8", &raw)
	block, _ := pem.Decode([]byte(raw.PrivateKeyPem))
	keyAny, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		k1, err1 := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err1 != nil {
			tb.Fatal(err)
		}
		keyAny = k1
	}
	key := keyAny.(*rsa.PrivateKey)
	params := map[string]string{}
	for k, v := range vec.Params {
		if k != "sign" && k != "sign_type" {
			params[k] = v
		}
	}
	delete(params, "body") // 24 signed fields + sign_type + sign = 26
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(k + "=" + params[k])
	}
	content = sb.String()
	sum := sha256.Sum256([]byte(content))
	sig, err = rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	form.Set("sign_type", "RSA2")
	form.Set("sign", base64.StdEncoding.EncodeToString(sig))
	if len(form) != 26 {
		tb.Fatalf("benchmark notification has %d fields, want 26", len(form))
	}
	return []byte(form.Encode()), content, sig, vec.PublicKeyPem
}

// BenchmarkVerifyNotification measures the whole path from raw body bytes to
// a verified, typed Notification.
func BenchmarkVerifyNotification(b *testing.B) {
	body, _, _, pub := benchNotification(b)
	v, err := newVerifier(alipaynotify.Options{AppID: "2021000000000001", AlipayPublicKeys: []string{pub}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.VerifyNotify(ctx, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.VerifyNotify(ctx, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyFloor is the crypto floor for the same notification: SHA-256
// of the string-to-sign and one RSA verification, nothing else.
func BenchmarkVerifyFloor(b *testing.B) {
	body, content, sig, pub := benchNotification(b)
	key, err := alipaynotify.ParsePublicKey(pub)
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(content)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		sum := sha256.Sum256(data)
		if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}
