package alipaynotify_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify"
	"github.com/alipaynotify/alipaynotify/alipaytest"
)

// maximalWAPFields are the business fields of the largest WAP notification
// the protocol allows (docs/protocol-legacy.md, "notify_data XML"): every
// element seen, the occasional ones included, at its documented maximum
// length; subject is given by the caller.
func maximalWAPFields(s *alipaytest.WAPSigner, subject string) *alipaytest.WireParams {
	p := s.NotifyFields(alipaytest.Fields{
		"subject":      subject,
		"trade_no":     strings.Repeat("2", 64),
		"out_trade_no": strings.Repeat("O", 64),
		"buyer_email":  strings.Repeat("b", 88) + "@example.com",
		"seller_email": strings.Repeat("s", 88) + "@example.com",
		"notify_id":    strings.Repeat("n", 64),
		"quantity":     "9999999999",
		"total_fee":    "99999999.99",
		"price":        "99999999.99",
	})
	p.Set("gmt_close", p.Get("gmt_payment"))
	p.Set("refund_status", "REFUND_SUCCESS")
	p.Set("gmt_refund", p.Get("gmt_payment"))
	p.Set("partner", testPartner)
	p.Set("out_channel_type", "BALANCE")
	p.Set("out_channel_amount", "99999999.99")
	return p
}

// wapRSASigner returns a sec_id=0001 signer with the merchant key (nil: the
// kit's 1024-bit WAP test key), and a verifier for it.
func wapRSASigner(t testing.TB, merchant *alipaytest.KeyPair) (*alipaytest.WAPSigner, *alipaynotify.Verifier) {
	t.Helper()
	if merchant == nil {
		merchant = alipaytest.WAPMerchantTestKey()
	}
	s := alipaytest.NewWAPRSASigner(alipaytest.WAPAlipayTestKey(), merchant)
	s.Partner = testPartner
	v, err := newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: s.MerchantPrivateKeyPEM(), PublicKeys: []string{s.AlipayPublicKeyPEM()}}}})
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// forgedWAPBody is a sec_id=0001 notification of blocks genuine RSA blocks
// (zeros encrypted to the merchant key, so each one costs a full private-key
// operation) with a well-formed signature that verifies nothing.
func forgedWAPBody(t testing.TB, s *alipaytest.WAPSigner, blocks int) []byte {
	t.Helper()
	pub := s.MerchantKey.PublicKey()
	block, err := rsa.EncryptPKCS1v15(rand.Reader, pub, make([]byte, 100)) //lint:ignore SA1019 the WAP protocol's encryption
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, 0, blocks*len(block))
	for range blocks {
		ct = append(ct, block...)
	}
	m, err := s.SignNotifyData(validWAPXML)
	if err != nil {
		t.Fatal(err)
	}
	m.Params.Set("notify_data", base64.StdEncoding.EncodeToString(ct))
	m.Params.Set("sign", base64.StdEncoding.EncodeToString(make([]byte, s.AlipayKey.PublicKey().Size())))
	return m.Encode()
}

// TestWAPMaximalNotification: the largest notification the protocol allows
// verifies with a 1024-bit and a 2048-bit merchant key at Alipay's 100-byte
// chunks, and so does one of exactly MaxWAPNotifyDataBlocks blocks; one block
// more is refused.
func TestWAPMaximalNotification(t *testing.T) {
	for _, merchant := range []*alipaytest.KeyPair{nil, alipaytest.TestKey()} {
		s, v := wapRSASigner(t, merchant)
		bits := s.MerchantKey.PublicKey().N.BitLen()
		for _, subject := range []struct{ name, text string }{
			{"Chinese subject", strings.Repeat("测", 256)},
			{"escaped subject", strings.Repeat("&", 256)},
			{"supplementary subject", strings.Repeat("𠮷", 256)},
		} {
			t.Run(fmt.Sprintf("%d bits/%s", bits, subject.name), func(t *testing.T) {
				doc := alipaytest.WAPNotifyXML(maximalWAPFields(s, subject.text))
				blocks := (len(doc) + 99) / 100
				t.Logf("%d bytes of XML, %d blocks", len(doc), blocks)
				if blocks > alipaynotify.MaxWAPNotifyDataBlocks {
					t.Fatalf("the maximal notification needs %d blocks", blocks)
				}
				n, err := v.VerifyNotify(context.Background(), wapNotifyOf(t, s, doc).Encode())
				if err != nil {
					t.Fatal(err)
				}
				eq(t, n.Subject, subject.text)
				eq(t, n.Legacy.BuyerEmail, strings.Repeat("b", 88)+"@example.com")
			})
		}
		t.Run(fmt.Sprintf("%d bits/at and over the cap", bits), func(t *testing.T) {
			base := alipaytest.WAPNotifyXML(maximalWAPFields(s, "测"))
			pad := func(size int) string {
				// An unknown element fills the document to size bytes.
				return strings.Replace(base, "</notify>", "<x>"+strings.Repeat("x", size-len(base)-7)+"</x></notify>", 1)
			}
			atCap := pad(alipaynotify.MaxWAPNotifyDataBlocks * 100)
			if _, err := v.VerifyNotify(context.Background(), wapNotifyOf(t, s, atCap).Encode()); err != nil {
				t.Fatalf("%d blocks: %v", alipaynotify.MaxWAPNotifyDataBlocks, err)
			}
			before := alipaynotify.WAPBlockDecryptions()
			_, err := v.VerifyNotify(context.Background(), wapNotifyOf(t, s, pad(alipaynotify.MaxWAPNotifyDataBlocks*100+1)).Encode())
			assertOverCap(t, err)
			if d := alipaynotify.WAPBlockDecryptions() - before; d != 0 {
				t.Errorf("%d blocks decrypted for a refused notification", d)
			}
		})
	}
}

func assertOverCap(t *testing.T, err error) {
	t.Helper()
	var fe *alipaynotify.FieldError
	if !errors.Is(err, alipaynotify.ErrMalformed) || !errors.As(err, &fe) || fe.Field != "notify_data" {
		t.Fatalf("err = %v, want ErrMalformed on notify_data", err)
	}
}

// TestWAPForgedBoundedWork: a forged sec_id=0001 notification over the cap,
// or with a signature that cannot verify, costs no private-key operation;
// one within the cap costs one per block and no more.
func TestWAPForgedBoundedWork(t *testing.T) {
	for _, merchant := range []*alipaytest.KeyPair{nil, alipaytest.TestKey()} {
		s, v := wapRSASigner(t, merchant)
		k := s.MerchantKey.PublicKey().Size()
		genuine := wapNotifyOf(t, s, validWAPXML)
		cases := []struct {
			name   string
			body   []byte
			blocks uint64 // private-key operations expected
			over   bool
		}{
			{"within the cap", forgedWAPBody(t, s, 9), 9, false},
			{"at the cap", forgedWAPBody(t, s, alipaynotify.MaxWAPNotifyDataBlocks), alipaynotify.MaxWAPNotifyDataBlocks, false},
			{"one block over", forgedWAPBody(t, s, alipaynotify.MaxWAPNotifyDataBlocks+1), 0, true},
			{"16 KiB of base64 (the former bound)", forgedWAPBody(t, s, (12<<10)/k), 0, true},
			{"1 MiB", forgedWAPBody(t, s, (1<<20)/k), 0, true},
			{"over the cap and not base64", genuine.Tampered("notify_data", strings.Repeat("!", 4*alipaynotify.MaxWAPNotifyDataBlocks*k)).Encode(), 0, true},
			{"signature not base64", genuine.Tampered("sign", "***").Encode(), 0, false},
			{"signature of the wrong size", genuine.Tampered("sign", base64.StdEncoding.EncodeToString(make([]byte, 64))).Encode(), 0, false},
			{"signature too long", genuine.Tampered("sign", strings.Repeat("A", 1<<20)).Encode(), 0, false},
			{"partial block", genuine.Tampered("notify_data", base64.StdEncoding.EncodeToString(make([]byte, 3*k-1))).Encode(), 0, false},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%d bits/%s", 8*k, tc.name), func(t *testing.T) {
				before := alipaynotify.WAPBlockDecryptions()
				_, err := v.VerifyNotify(context.Background(), tc.body)
				if got := alipaynotify.WAPBlockDecryptions() - before; got != tc.blocks {
					t.Errorf("%d private-key operations, want %d", got, tc.blocks)
				}
				if tc.over {
					assertOverCap(t, err)
				} else if err != alipaynotify.ErrSignature {
					t.Errorf("err = %#v, want exactly ErrSignature", err)
				}
			})
		}
	}
}

// BenchmarkWAPForged compares what a forged callback costs: an open-platform
// RSA2 one (the reference), and sec_id=0001 ones with a 1024-bit (the WAP
// kits' size) and a 2048-bit merchant key, of a real notification's 9
// blocks, at the cap, and of 16 KiB of base64 (the former bound, now
// refused before any decryption).
func BenchmarkWAPForged(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, v *alipaynotify.Verifier, body []byte) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := v.VerifyNotify(ctx, body); err == nil {
				b.Fatal("a forged callback verified")
			}
		}
	}
	b.Run("rsa2", func(b *testing.B) {
		body, _, _, pub := benchNotification(b)
		v, err := newVerifier(alipaynotify.Options{AppID: "2021000000000001", AlipayPublicKeys: []string{pub}})
		if err != nil {
			b.Fatal(err)
		}
		forged := strings.Replace(string(body), "total_amount=", "total_amount=1", 1)
		run(b, v, []byte(forged))
	})
	for _, merchant := range []*alipaytest.KeyPair{nil, alipaytest.TestKey()} {
		s, v := wapRSASigner(b, merchant)
		k := s.MerchantKey.PublicKey().Size()
		for _, blocks := range []int{9, alipaynotify.MaxWAPNotifyDataBlocks, (12 << 10) / k} {
			b.Run(fmt.Sprintf("0001-%d/%d-blocks", 8*k, blocks), func(b *testing.B) {
				run(b, v, forgedWAPBody(b, s, blocks))
			})
		}
	}
}

// TestWAPMerchantKeyTooLong: a merchant key above 4096 bits would make each
// block of a forged notify_data dearer; NewVerifier refuses it. (The key is
// test-only, generated with openssl genrsa 4104.)
func TestWAPMerchantKeyTooLong(t *testing.T) {
	pem, err := os.ReadFile(filepath.Join("testdata", "wap-merchant-key-4104-bits.pem"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = newVerifier(alipaynotify.Options{Legacy: alipaynotify.LegacyOptions{Partner: testPartner, WAP: alipaynotify.WAPOptions{MerchantPrivateKey: string(pem), PublicKeys: []string{alipaytest.WAPAlipayTestKey().PublicKeyPEM()}}}})
	var fe *alipaynotify.FieldError
	if !errors.Is(err, alipaynotify.ErrConfig) || !errors.As(err, &fe) || fe.Field != "Legacy.WAP.MerchantPrivateKey" || !strings.Contains(err.Error(), "4104 bits is too long") {
		t.Fatalf("err = %v, want ErrConfig on MerchantPrivateKey", err)
	}
	if strings.Contains(err.Error(), "MII") {
		t.Error("the error quotes the key")
	}
}
