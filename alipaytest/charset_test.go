package alipaytest_test

import (
	"bytes"
	"testing"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

func TestEncodeText(t *testing.T) {
	tests := []struct {
		text, charset string
		want          []byte
		wantErr       bool
	}{
		{"测试", "utf-8", []byte("\xe6\xb5\x8b\xe8\xaf\x95"), false},
		{"测试", "UTF8", []byte("\xe6\xb5\x8b\xe8\xaf\x95"), false},
		{"测试", "gbk", []byte("\xb2\xe2\xca\xd4"), false},
		{"测试", "GB2312", []byte("\xb2\xe2\xca\xd4"), false},
		{"：", "gbk", []byte("\xa3\xba"), false},
		{"abc", "", []byte("abc"), false},
		{"😀", "gbk", nil, true},      // not in GBK
		{"x", "latin1", nil, true},   // unsupported charset
		{"\xff", "utf-8", nil, true}, // not UTF-8
	}
	for _, tt := range tests {
		got, err := alipaytest.EncodeText(tt.text, tt.charset)
		if (err != nil) != tt.wantErr || !bytes.Equal(got, tt.want) {
			t.Errorf("EncodeText(%q, %s) = %x, %v; want %x, err %v", tt.text, tt.charset, got, err, tt.want, tt.wantErr)
		}
		if err == nil {
			back, err := alipaytest.DecodeText(got, tt.charset)
			if err != nil || back != tt.text {
				t.Errorf("DecodeText round trip = %q, %v", back, err)
			}
		}
	}
	if _, err := alipaytest.DecodeText([]byte{0xff, 0xfe}, "utf-8"); err == nil {
		t.Error("DecodeText accepted bad UTF-8")
	}
	if _, err := alipaytest.DecodeText([]byte{0x81}, "gbk"); err == nil {
		t.Error("DecodeText accepted a truncated GBK sequence")
	}
}

func TestEncodeDecodeParams(t *testing.T) {
	p := alipaytest.NewWireParams(
		"subject", "测试 商品+100%&x=y",
		"email", "a@b.c",
		"unreserved", "AZaz09-_.~",
		"json", `[{"amount":"1.00"}]`,
		"passback_params", "k%3Dv%26w",
		"empty", "",
	)
	tests := []struct {
		charset, want string
	}{
		{"utf-8", "subject=%E6%B5%8B%E8%AF%95+%E5%95%86%E5%93%81%2B100%25%26x%3Dy&email=a%40b.c&unreserved=AZaz09-_.~&json=%5B%7B%22amount%22%3A%221.00%22%7D%5D&passback_params=k%253Dv%2526w&empty="},
		{"gbk", "subject=%B2%E2%CA%D4+%C9%CC%C6%B7%2B100%25%26x%3Dy&email=a%40b.c&unreserved=AZaz09-_.~&json=%5B%7B%22amount%22%3A%221.00%22%7D%5D&passback_params=k%253Dv%2526w&empty="},
	}
	for _, tt := range tests {
		t.Run(tt.charset, func(t *testing.T) {
			got, err := alipaytest.Encode(p, tt.charset)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
			back, err := alipaytest.DecodeWireParams(got, tt.charset)
			if err != nil {
				t.Fatal(err)
			}
			if back.Len() != p.Len() {
				t.Fatalf("round trip has %d params", back.Len())
			}
			for k, v := range p.All() {
				if back.Get(k) != v {
					t.Errorf("%s: %q after round trip, want %q", k, back.Get(k), v)
				}
			}
		})
	}
	if _, err := alipaytest.DecodeWireParams([]byte("a=%zz"), "utf-8"); err == nil {
		t.Error("DecodeWireParams accepted a bad escape")
	}
}
