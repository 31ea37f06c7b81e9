package alipaynotify

import (
	"encoding/json"
	"os"
	"testing"
)

// BenchmarkFormParse measures parsing the synthetic RSA2 vector's raw form
// body (27 fields, CJK and percent-encoded JSON), the first step of every
// verification.
func BenchmarkFormParse(b *testing.B) {
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
	body := []byte(vec.FormBody)
	var f form
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := f.parse(body, 256); err != nil {
			b.Fatal(err)
		}
	}
}
