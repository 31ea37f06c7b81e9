package alipaytest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// CanonicalCharset maps the charset names Alipay uses to "utf-8", "gbk" or
// "gb2312" (case-insensitive, surrounding spaces ignored; "" means utf-8,
// "utf8" is accepted). It fails for any other charset.
func CanonicalCharset(name string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "utf-8", "utf8":
		return "utf-8", nil
	case "gbk":
		return "gbk", nil
	case "gb2312":
		return "gb2312", nil
	}
	return "", fmt.Errorf("alipaytest: unsupported charset %q (want utf-8, gbk or gb2312)", name)
}

// EncodeText returns the bytes of s in charset: UTF-8 as is; GBK and GB2312
// through the GBK encoder (GB2312 is a subset of GBK, and Alipay's Java stack
// encodes both with the same tables for the characters GB2312 has). It fails
// for a rune the charset cannot represent.
func EncodeText(s, charset string) ([]byte, error) {
	cs, err := CanonicalCharset(charset)
	if err != nil {
		return nil, err
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("alipaytest: text is not valid UTF-8")
	}
	if cs == "utf-8" {
		return []byte(s), nil
	}
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("alipaytest: text not representable in %s: %w", cs, err)
	}
	return b, nil
}

// DecodeText is the inverse of EncodeText: it turns bytes in charset into a
// UTF-8 string, failing on bytes that are not valid in that charset.
func DecodeText(b []byte, charset string) (string, error) {
	cs, err := CanonicalCharset(charset)
	if err != nil {
		return "", err
	}
	if cs == "utf-8" {
		if !utf8.Valid(b) {
			return "", errors.New("alipaytest: bytes are not valid UTF-8")
		}
		return string(b), nil
	}
	s, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
	if err != nil {
		return "", fmt.Errorf("alipaytest: bytes not valid %s: %w", cs, err)
	}
	if strings.ContainsRune(string(s), utf8.RuneError) {
		return "", fmt.Errorf("alipaytest: bytes not valid %s", cs)
	}
	return string(s), nil
}

// Encode percent-encodes p in order as an application/x-www-form-urlencoded
// body (or raw query) whose escapes are bytes in charset: unreserved
// A-Z a-z 0-9 - _ . ~ as is, space as '+', every other byte as %XX with
// upper-case hex, exactly like url.QueryEscape applied to the charset bytes.
func Encode(p *WireParams, charset string) ([]byte, error) {
	var b strings.Builder
	for k, v := range p.All() {
		kb, err := EncodeText(k, charset)
		if err != nil {
			return nil, err
		}
		vb, err := EncodeText(v, charset)
		if err != nil {
			return nil, fmt.Errorf("%w (parameter %s)", err, k)
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(string(kb)))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(string(vb)))
	}
	return []byte(b.String()), nil
}

// DecodeWireParams parses an application/x-www-form-urlencoded body or raw
// query whose escapes are bytes in charset, keeping the wire order and any
// duplicates. '+' is a space; a malformed escape is an error.
func DecodeWireParams(encoded []byte, charset string) (*WireParams, error) {
	p := &WireParams{}
	if len(encoded) == 0 {
		return p, nil
	}
	for part := range strings.SplitSeq(string(encoded), "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		kb, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("alipaytest: bad escape in key: %w", err)
		}
		vb, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("alipaytest: bad escape in value of %s: %w", kb, err)
		}
		ks, err := DecodeText([]byte(kb), charset)
		if err != nil {
			return nil, err
		}
		vs, err := DecodeText([]byte(vb), charset)
		if err != nil {
			return nil, fmt.Errorf("%w (parameter %s)", err, ks)
		}
		p.Add(ks, vs)
	}
	return p, nil
}
