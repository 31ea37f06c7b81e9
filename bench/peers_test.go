package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	gopayalipay "github.com/go-pay/gopay/alipay"
	smartwalle "github.com/smartwalle/alipay/v3"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// benchInput is the notification every verifier in this file is measured on.
type benchInput struct {
	body    []byte         // the raw notify POST body
	content string         // the string-to-sign
	sig     []byte         // the signature, decoded
	pubPEM  string         // Alipay's public key, PEM
	pubB64  string         // the same key as the console shows it (bare base64)
	key     *rsa.PublicKey // the same key, parsed
	signer  *alipaytest.Signer
}

// vectorFile is the synthetic vector the root package's BenchmarkVerifyNotification
// builds its notification from.
var vectorFile = filepath.Join("..", "testdata", "synthetic-rsa2-utf8.json")

// loadBenchInput builds exactly the notification of the root package's
// BenchmarkVerifyNotification: the synthetic RSA2 vector's parameters without
// its body field (24 signed fields + sign_type + sign = 26), re-signed with
// the vector's published test key, encoded in url.Values order.
func loadBenchInput(tb testing.TB) *benchInput {
	tb.Helper()
	raw, err := os.ReadFile(vectorFile)
	if err != nil {
		tb.Fatal(err)
	}
	var vec struct {
		Params        map[string]string `json:"params"`
		PublicKeyPem  string            `json:"publicKeyPem"`
		PrivateKeyPem string            `json:"privateKeyPem"`
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		tb.Fatal(err)
	}
	kp, err := alipaytest.ParseKeyPair(vec.PrivateKeyPem)
	if err != nil {
		tb.Fatal(err)
	}
	params := map[string]string{}
	for k, v := range vec.Params {
		if k != "sign" && k != "sign_type" && k != "body" {
			params[k] = v
		}
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + params[k]
	}
	content := strings.Join(pairs, "&")
	sum := sha256.Sum256([]byte(content))
	sig, err := rsa.SignPKCS1v15(nil, kp.PrivateKey(), crypto.SHA256, sum[:])
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
	s := alipaytest.NewSigner(kp)
	return &benchInput{
		body: []byte(form.Encode()), content: content, sig: sig,
		pubPEM: kp.PublicKeyPEM(), pubB64: kp.PublicKeyBase64(), key: kp.PublicKey(), signer: s,
	}
}

// verifyFunc verifies one raw notify body and returns the subject it read, to
// show whether the text came out as UTF-8.
type verifyFunc func(ctx context.Context, body []byte) (subject string, err error)

// implementations returns every verifier under comparison, configured with
// in's Alipay public key. Each starts from the raw body bytes, as a merchant's
// notify handler does.
func implementations(tb testing.TB, in *benchInput) []struct {
	name   string
	verify verifyFunc
} {
	tb.Helper()
	// The benchmark notification is the 2024 vector: its age is not measured.
	ours, err := alipaynotify.NewVerifier(alipaynotify.Options{AppID: alipaytest.DefaultAppID, AlipayPublicKeys: []string{in.pubPEM},
		MaxNotifyAge: 100 * 365 * 24 * time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	// smartwalle needs the app's own private key to exist; any RSA key will
	// do, it signs nothing here. production=false: an unknown alipay_cert_sn
	// must never trigger a certificate download.
	sw, err := smartwalle.New(alipaytest.DefaultAppID, alipaytest.TestKey().PrivateKeyPKCS1PEM(), false)
	if err != nil {
		tb.Fatal(err)
	}
	if err := sw.LoadAliPayPublicKey(in.pubB64); err != nil {
		tb.Fatal(err)
	}
	return []struct {
		name   string
		verify verifyFunc
	}{
		{"alipaynotify", func(ctx context.Context, body []byte) (string, error) {
			n, err := ours.VerifyNotify(ctx, body)
			if err != nil {
				return "", err
			}
			return n.Subject, nil
		}},
		{"smartwalle", func(ctx context.Context, body []byte) (string, error) {
			values, err := url.ParseQuery(string(body))
			if err != nil {
				return "", err
			}
			n, err := sw.DecodeNotification(ctx, values)
			if err != nil {
				return "", err
			}
			return n.Subject, nil
		}},
		{"gopay", func(ctx context.Context, body []byte) (string, error) {
			values, err := url.ParseQuery(string(body))
			if err != nil {
				return "", err
			}
			bm, err := gopayalipay.ParseNotifyByURLValues(values)
			if err != nil {
				return "", err
			}
			subject := bm.GetString("subject")
			if _, err := gopayalipay.VerifySign(in.pubB64, bm); err != nil {
				return "", err
			}
			return subject, nil
		}},
		{"gopay-request", func(ctx context.Context, body []byte) (string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/alipay/notify", bytes.NewReader(body))
			if err != nil {
				return "", err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			bm, err := gopayalipay.ParseNotifyToBodyMap(req)
			if err != nil {
				return "", err
			}
			subject := bm.GetString("subject")
			if _, err := gopayalipay.VerifySign(in.pubB64, bm); err != nil {
				return "", err
			}
			return subject, nil
		}},
	}
}

// TestPeersVerifyBenchInput: every implementation accepts the benchmark
// notification and rejects it with one signed value changed, so the
// benchmark compares verifiers that actually verify.
func TestPeersVerifyBenchInput(t *testing.T) {
	in := loadBenchInput(t)
	tampered := bytes.Replace(in.body, []byte("total_amount=100.00"), []byte("total_amount=1.00"), 1)
	if bytes.Equal(tampered, in.body) {
		t.Fatal("could not tamper with the body")
	}
	for _, impl := range implementations(t, in) {
		subject, err := impl.verify(t.Context(), in.body)
		if err != nil {
			t.Errorf("%s rejects the benchmark notification: %v", impl.name, err)
		} else if subject != "测试 商品 + 100% & more" {
			t.Errorf("%s read subject %q", impl.name, subject)
		}
		if _, err := impl.verify(t.Context(), tampered); err == nil {
			t.Errorf("%s accepts a tampered notification", impl.name)
		}
	}
	sum := sha256.Sum256([]byte(in.content))
	if err := rsa.VerifyPKCS1v15(in.key, crypto.SHA256, sum[:], in.sig); err != nil {
		t.Errorf("floor: %v", err)
	}
}

// BenchmarkVerify measures each implementation on the same 26-field RSA2
// notification, from raw body bytes to a verified result. impl=floor is the
// crypto floor: SHA-256 of the string-to-sign and one RSA verification.
// Compare with: benchstat -col /impl.
func BenchmarkVerify(b *testing.B) {
	in := loadBenchInput(b)
	b.Run("impl=floor", func(b *testing.B) {
		data := []byte(in.content)
		b.ReportAllocs()
		b.SetBytes(int64(len(in.body)))
		for b.Loop() {
			sum := sha256.Sum256(data)
			if err := rsa.VerifyPKCS1v15(in.key, crypto.SHA256, sum[:], in.sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, impl := range implementations(b, in) {
		b.Run("impl="+impl.name, func(b *testing.B) {
			ctx := context.Background()
			if _, err := impl.verify(ctx, in.body); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(in.body)))
			for b.Loop() {
				if _, err := impl.verify(ctx, in.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
