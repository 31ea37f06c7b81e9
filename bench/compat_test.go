package bench

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// TestPeerCompat signs the notification shapes Alipay and its SDKs produce
// and records which implementation accepts each, and whether the subject
// comes out as UTF-8. alipaynotify must accept every shape; the peers'
// results are reported (go test -v), not enforced, and BENCHMARKS.md explains
// each refusal.
func TestPeerCompat(t *testing.T) {
	in := loadBenchInput(t)
	const subject = "测试 商品"
	signer := func(mod func(s *alipaytest.Signer)) *alipaytest.Signer {
		s := *in.signer
		mod(&s)
		return &s
	}
	plain := signer(func(*alipaytest.Signer) {})
	shapes := []struct {
		name string
		body []byte
	}{
		{"benchmark notification (utf-8, RSA2)", in.body},
		{"alipaytest paid, Alipay's wire order", plain.Notify(alipaytest.Fields{"subject": subject}).Encode()},
		{"charset=gbk", signer(func(s *alipaytest.Signer) { s.Charset = "gbk" }).Notify(alipaytest.Fields{"subject": subject}).Encode()},
		{"empty value, signed as k= (Node/PHP SDKs)", signer(func(s *alipaytest.Signer) { s.EmptyValues = alipaytest.KeepEmpty }).
			Notify(alipaytest.Fields{"subject": subject, "body": ""}).Encode()},
		{"empty value, left out (Java/.NET SDKs)", plain.Notify(alipaytest.Fields{"subject": subject, "body": ""}).Encode()},
		{"sign_type signed (V2 rule)", signer(func(s *alipaytest.Signer) { s.Rule = alipaytest.V2 }).Notify(alipaytest.Fields{"subject": subject}).Encode()},
		{"sign_type=RSA (SHA-1)", signer(func(s *alipaytest.Signer) { s.SignType = alipaytest.SignRSA }).Notify(alipaytest.Fields{"subject": subject}).Encode()},
		{"partial refund", func() []byte {
			tr := plain.NewTrade("COMPAT-1", "100.00")
			tr.Extra = alipaytest.Fields{"subject": subject}
			return tr.PartialRefund("R1", "10.00").Encode()
		}()},
	}
	impls := implementations(t, in)
	var table strings.Builder
	fmt.Fprintf(&table, "\n| shape |")
	for _, impl := range impls {
		fmt.Fprintf(&table, " %s |", impl.name)
	}
	fmt.Fprintf(&table, "\n|---|")
	for range impls {
		table.WriteString("---|")
	}
	for _, sh := range shapes {
		fmt.Fprintf(&table, "\n| %s |", sh.name)
		for _, impl := range impls {
			got, err := impl.verify(t.Context(), sh.body)
			want := subject
			if sh.name == shapes[0].name {
				want = "测试 商品 + 100% & more"
			}
			cell := "ok"
			switch {
			case err != nil:
				cell = "rejected"
			case !utf8.ValidString(got):
				cell = "ok, subject left in GBK bytes"
			case got != want:
				cell = fmt.Sprintf("ok, subject %q", got)
			}
			if impl.name == "alipaynotify" && cell != "ok" {
				t.Errorf("alipaynotify on %s: %s (%v)", sh.name, cell, err)
			}
			fmt.Fprintf(&table, " %s |", cell)
		}
	}
	t.Log(table.String())
}
