package alipaynotify

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Charset is the character set a callback was signed in.
type Charset string

// Supported charsets. GBK and GB2312 text is decoded with the GB18030
// decoder, a superset of both.
const (
	UTF8   Charset = "utf-8"
	GBK    Charset = "gbk"
	GB2312 Charset = "gb2312"
)

// parseCharset accepts utf-8, utf8, gbk and gb2312 in any letter case.
func parseCharset(b []byte) (Charset, bool) {
	if len(b) > 8 {
		return "", false
	}
	var lower [8]byte
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower[:len(b)]) {
	case "utf-8", "utf8":
		return UTF8, true
	case "gbk":
		return GBK, true
	case "gb2312":
		return GB2312, true
	}
	return "", false
}

// toUTF8 turns the raw bytes of the signed parameters into Params: empty
// parameters, which the drop-empty rule does not sign, and the signature
// itself are left out. All keys and values share one string allocation.
func toUTF8(f *form, cs Charset) (Params, error) {
	return appendUTF8(nil, f, cs)
}

// appendUTF8 is toUTF8 appending to params, which it reuses when it has room
// for every parameter.
func appendUTF8(params Params, f *form, cs Charset) (Params, error) {
	if cap(params)-len(params) < len(f.params) {
		params = make(Params, len(params), len(params)+len(f.params))
	}
	if cs == UTF8 {
		// One string holds every key and value: f.buf without the
		// signature (a third of a usual callback), which Params leaves out.
		cut, cutEnd := len(f.buf), len(f.buf)
		if sign, ok := f.inSlot(slotSign); ok {
			cut, cutEnd = sign.voff, sign.voff+len(sign.val)
		}
		// f.buf is already UTF-8: validate it once and convert it once. The
		// signature is left out of the check too: it has been decoded as
		// base64 or hex, so it is ASCII.
		if !utf8.Valid(f.buf[:cut]) || !utf8.Valid(f.buf[cutEnd:]) {
			for _, p := range f.params {
				if !utf8.Valid(p.val) || !utf8.Valid(p.key) {
					return nil, fieldErr(ErrCharset, safeField(p.key), "value is not valid utf-8")
				}
			}
		}
		var sb strings.Builder
		sb.Grow(len(f.buf) - (cutEnd - cut))
		sb.Write(f.buf[:cut])
		sb.Write(f.buf[cutEnd:])
		s := sb.String()
		at := func(off, n int) string {
			if off >= cutEnd {
				off -= cutEnd - cut
			}
			return s[off : off+n]
		}
		for i := range f.params {
			p := &f.params[i]
			if unsigned(p) {
				continue
			}
			params = append(params, Param{Key: at(p.koff, len(p.key)), Value: at(p.voff, len(p.val))})
		}
		return params, nil
	}
	dec := simplifiedchinese.GB18030.NewDecoder()
	out := make([]byte, 0, len(f.buf)*3/2)
	offs := make([]int, 0, 4*len(f.params))
	for _, p := range f.params {
		if unsigned(&p) {
			continue
		}
		ks := len(out)
		out = append(out, p.key...) // keys are ASCII in practice; validated below
		ke := len(out)
		if !utf8.Valid(out[ks:ke]) {
			return nil, fieldErr(ErrCharset, safeField(p.key), "parameter name is not text")
		}
		vs := len(out)
		var ok bool
		out, ok = appendGB(dec, out, p.val)
		if !ok {
			return nil, fieldErr(ErrCharset, safeField(p.key), "value is not valid "+string(cs))
		}
		offs = append(offs, ks, ke, vs, len(out))
	}
	s := string(out)
	for i := 0; i < len(offs); i += 4 {
		o := offs[i : i+4]
		params = append(params, Param{Key: s[o[0]:o[1]], Value: s[o[2]:o[3]]})
	}
	return params, nil
}

// unsigned reports whether a parameter stays out of Params: an empty value
// (the drop-empty rule does not sign it, so anyone can add one) or the
// signature.
func unsigned(p *rawParam) bool { return len(p.val) == 0 || string(p.key) == "sign" }

// appendGB decodes GBK/GB18030 bytes, rejecting invalid sequences rather than
// replacing them with U+FFFD.
func appendGB(dec interface {
	Bytes([]byte) ([]byte, error)
}, dst, src []byte) ([]byte, bool) {
	ascii := true
	for _, c := range src {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return append(dst, src...), true
	}
	if !validGB18030(src) {
		return dst, false
	}
	u, err := dec.Bytes(src)
	if err != nil {
		return dst, false
	}
	return append(dst, u...), true
}

// validGB18030 checks the byte structure of GBK/GB18030 text: ASCII, two-byte
// sequences lead 0x81-0xFE trail 0x40-0xFE except 0x7F, and GB18030
// four-byte sequences. The x/text decoder replaces bad sequences with U+FFFD
// instead of failing, so this check makes invalid input an error.
func validGB18030(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80:
			i++
		case c == 0x80 || c == 0xFF:
			return false
		case i+1 < len(b) && b[i+1] >= 0x40 && b[i+1] <= 0xFE && b[i+1] != 0x7F:
			i += 2
		case i+3 < len(b) && b[i+1] >= 0x30 && b[i+1] <= 0x39 && b[i+2] >= 0x81 && b[i+2] <= 0xFE && b[i+3] >= 0x30 && b[i+3] <= 0x39:
			i += 4
		default:
			return false
		}
	}
	return true
}
