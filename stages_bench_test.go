package alipaynotify

import (
	"encoding/json"
	"net/url"
	"os"
	"testing"
)

// stagesBody is BenchmarkVerifyNotification's input without a valid
// signature: the synthetic RSA2 vector's form, body field left out, keys
// sorted. Only the stages before and after the RSA check run on it.
func stagesBody(b testing.TB) []byte {
	raw, err := os.ReadFile("testdata/synthetic-rsa2-utf8.json")
	if err != nil {
		b.Fatal(err)
	}
	var vec struct {
		FormBody string `json:"formBody"`
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		b.Fatal(err)
	}
	q, err := url.ParseQuery(vec.FormBody)
	if err != nil {
		b.Fatal(err)
	}
	q.Del("body")
	return []byte(q.Encode())
}

// BenchmarkVerifyStages measures each step of the verify path that the crypto
// floor does not pay for, on BenchmarkVerifyNotification's notification.
// "fill" includes toUTF8 and the Notification's allocation; "all" runs every
// stage but toUTF8 (which fill runs) in sequence: everything but SHA-256 and
// the RSA check. Allocating stages run far more often than in a verification,
// so the garbage collector weighs more on them than there.
func BenchmarkVerifyStages(b *testing.B) {
	body := stagesBody(b)
	var f form
	if err := f.parse(body, DefaultMaxParams); err != nil {
		b.Fatal(err)
	}
	sign, _ := f.get("sign")
	newN := func() *Notification {
		params, err := toUTF8(&f, UTF8)
		if err != nil {
			b.Fatal(err)
		}
		return &Notification{Source: SourceNotify, Protocol: ProtocolOpenPlatform, SignType: SignRSA2, Charset: UTF8, Params: params}
	}
	stages := []struct {
		name string
		run  func()
	}{
		{"parse", func() {
			if err := f.parse(body, DefaultMaxParams); err != nil {
				b.Fatal(err)
			}
		}},
		{"lookups", func() {
			if wapKindOf(&f) != notWAP || !f.has("app_id") {
				b.Fatal("kind")
			}
			f.get("sign")
			f.get("sign_type")
			f.get("charset")
			f.get("alipay_cert_sn")
		}},
		{"base64", func() {
			var sig [maxSignatureBytes]byte
			if _, ok := decodeSignature(&sig, sign); !ok {
				b.Fatal("signature")
			}
		}},
		{"content", func() {
			f.hasEmptyValue()
			f.content = f.appendContent(f.content[:0], contentRule{})
		}},
		{"boundaries", func() {
			if err := checkBoundaries(&f); err != nil {
				b.Fatal(err)
			}
		}},
		{"toUTF8", func() {
			if _, err := toUTF8(&f, UTF8); err != nil {
				b.Fatal(err)
			}
		}},
		{"fill", func() {
			if err := newN().fill(); err != nil {
				b.Fatal(err)
			}
		}},
	}
	for _, s := range stages {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.run()
			}
		})
	}
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, s := range stages {
				if s.name != "toUTF8" {
					s.run()
				}
			}
		}
	})
}
